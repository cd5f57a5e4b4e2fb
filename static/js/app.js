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

  // After htmx swaps a card in place (the overage consent form), move focus
  // to what it now says: a confirmation to answer, else the result notice,
  // so keyboard and screen-reader users land where the page changed.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    // An outerHTML swap replaced the target: find its successor by id.
    var card = target && target.id ? document.getElementById(target.id) : null;
    if (!card) return;
    var next = card.querySelector(".confirm-billable, .form-error, .card-notices .message");
    if (next) {
      next.setAttribute("tabindex", "-1");
      next.focus();
    }
  });
})();
