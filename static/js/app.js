// Small enhancements; every form still works without JavaScript.
(function () {
  "use strict";
  // A <select data-autosubmit> submits its form on change (the account switcher).
  document.addEventListener("change", function (event) {
    var field = event.target.closest("[data-autosubmit]");
    if (field && field.form) field.form.requestSubmit();
  });
  // A [data-once] button is disabled once its form is sent; the form's
  // idempotency token is what really stops a second charge.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-once]");
    if (button) {
      window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });
})();
