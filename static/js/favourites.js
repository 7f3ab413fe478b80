/* Save buttons (favourites/listing_button.html, store_button.html) without a page reload.
 *
 * Each button is a form that works on its own (POST, then back to the page). With this script the
 * same form is posted with fetch; the server answers JSON ({saved, action, message}) and the
 * button turns into its other state in place. Any failure falls back to the ordinary submit.
 */
(function () {
  "use strict";

  var HEADER = "X-Requested-With";
  var VALUE = "favourites";

  function setState(form, button, saved, action) {
    form.setAttribute("action", action);
    button.classList.toggle("is-saved", saved);
    var label = button.querySelector("[data-favourite-label]");
    var hint = button.querySelector("[data-favourite-hint]");
    if (label) label.textContent = button.getAttribute(saved ? "data-label-saved" : "data-label-unsaved");
    if (hint) hint.textContent = button.getAttribute(saved ? "data-hint-saved" : "data-hint-unsaved");
  }

  function announce(message) {
    var region = document.getElementById("favourites-status");
    if (!region) {
      region = document.createElement("p");
      region.id = "favourites-status";
      region.className = "visually-hidden";
      region.setAttribute("role", "status");
      document.body.appendChild(region);
    }
    region.textContent = message;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-favourite-form")) return;
    if (!window.fetch || !window.FormData) return;
    var button = form.querySelector("[data-favourite-button]");
    if (!button) return;
    event.preventDefault();
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    var headers = {};
    headers[HEADER] = VALUE;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: headers,
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        setState(form, button, Boolean(data.saved), data.action);
        announce(data.message || "");
        button.removeAttribute("aria-busy");
      })
      .catch(function () {
        button.removeAttribute("aria-busy");
        form.submit(); // the ordinary post shows what happened
      });
  });
})();
