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

  // The top bar's menu button (phones and tablets): it shows only when this script runs, and
  // opens and closes the links below the bar. Escape or a click elsewhere closes them.
  function setUpMenu() {
    var button = document.querySelector("[data-menu-toggle]");
    if (!button) return;
    var menu = document.getElementById(button.getAttribute("aria-controls"));
    var bar = button.closest(".topbar");
    if (!menu || !bar) return;

    function setOpen(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      bar.classList.toggle("is-menu-open", open);
    }

    function isOpen() {
      return button.getAttribute("aria-expanded") === "true";
    }

    bar.classList.add("has-menu");
    button.hidden = false;
    setOpen(false);

    button.addEventListener("click", function () {
      setOpen(!isOpen());
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !isOpen()) return;
      setOpen(false);
      button.focus();
    });
    document.addEventListener("click", function (event) {
      if (isOpen() && !bar.contains(event.target)) setOpen(false);
    });
    // Widening the window to the desktop bar puts the links back in the row: start closed.
    if (window.matchMedia) {
      var desktop = window.matchMedia("(min-width: 860px)");
      var reset = function () {
        if (desktop.matches) setOpen(false);
      };
      if (desktop.addEventListener) desktop.addEventListener("change", reset);
    }
  }

  // Browse filters: the page sends them open; on a phone they fold away so the first listings
  // show without scrolling (their summary says how many are on). A filter with an error stays
  // in view.
  function setUpFilters() {
    var panel = document.querySelector("[data-filters]");
    if (!panel || !window.matchMedia) return;
    var phone = window.matchMedia("(max-width: 899.98px)");
    if (phone.matches && !panel.querySelector(".field--invalid")) panel.open = false;
    if (phone.addEventListener) {
      phone.addEventListener("change", function () {
        panel.open = !phone.matches;
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpMenu();
    setUpFilters();
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
