// A Print button for receipts. It stays hidden without JavaScript (the
// browser's own Print menu works the same); app.css hides it on paper.
(function () {
  "use strict";
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
