/* Bazaar — small progressive enhancements. Loaded from this origin (strict CSP: no inline JS). */
(function () {
  "use strict";

  // Dismissible alerts: the close button removes its alert and returns focus to the page.
  document.addEventListener("click", function (event) {
    var button = event.target.closest('[data-dismiss="alert"]');
    if (!button) return;
    var alert = button.closest("[data-alert]");
    if (!alert) return;
    var container = alert.parentElement;
    alert.remove();
    if (container && container.classList.contains("messages") && !container.children.length) {
      container.remove();
    }
    var main = document.getElementById("main");
    if (main) main.focus({ preventScroll: true });
  });

  // Listing form: a product counts stock, a service has a duration. Hide the field that does not
  // apply (the server still checks both).
  function syncKindFields(form) {
    var kind = form.querySelector('select[name="kind"]');
    if (!kind) return;
    var stock = form.querySelector(".field--name-stock");
    var duration = form.querySelector(".field--name-duration_minutes");
    if (!stock || !duration) return;
    var isService = kind.value === "service";
    // Never hide a field that shows an error: the seller must see it.
    stock.hidden = isService && !stock.classList.contains("field--invalid");
    duration.hidden = !isService && !duration.classList.contains("field--invalid");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector('select[name="kind"]') || !form.querySelector(".field--name-stock")) {
        return;
      }
      syncKindFields(form);
      form.addEventListener("change", function (event) {
        if (event.target.name === "kind") syncKindFields(form);
      });
    });
  });
})();
