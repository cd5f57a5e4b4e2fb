// Small enhancements; every form still works without JavaScript.
(function () {
  "use strict";
  // A [data-once] button is disabled once its form is sent; the form's
  // idempotency token is what really stops a second charge.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-once]");
    if (button) {
      window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });
})();
