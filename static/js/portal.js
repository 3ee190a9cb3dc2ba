/* Small glue for htmx. The portal works without this file; it only adds conveniences. */
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  // htmx requests carry the CSRF token in the header Litestar checks.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["x-csrftoken"] = csrfToken();
  });
  // After a failed submit, move focus to the error summary (GOV.UK pattern, ux.md B3).
  function focusErrors(root) {
    var summary = (root || document).querySelector(".error-summary");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () { focusErrors(document); });
  document.addEventListener("htmx:afterSwap", function (event) {
    focusErrors(event.detail.target);
    if (document.activeElement === document.body) {
      var target = event.detail.target;
      if (target && target.focus) {
        if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
        target.focus();
      }
    }
  });
})();
