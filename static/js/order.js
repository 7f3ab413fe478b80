/* Bazaar order pages: small enhancements over server-rendered text (strict CSP: no inline code).
 *
 * - [data-countdown-seconds]: the server wrote "3 days 4 hours"; keep it current as time passes.
 *   It counts down from the server's figure (the server's clock decides deadlines, not the
 *   visitor's).
 * - [data-order-status-url] (the page Stripe Checkout returns to): ask the order's status until
 *   Stripe's confirmation has arrived, then reload to show it. The page never trusts the redirect.
 */
(function () {
  "use strict";

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  // The same words as the server's `time_left` filter (marketplace/templatetags/orders.py).
  function timeLeft(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return "less than a minute";
    seconds = Math.ceil(seconds / 60) * 60;
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    if (days) return plural(days, "day") + (hours ? " " + plural(hours, "hour") : "");
    if (hours) return plural(hours, "hour") + (minutes ? " " + plural(minutes, "minute") : "");
    return plural(minutes, "minute");
  }

  function startCountdowns() {
    var items = Array.prototype.slice.call(document.querySelectorAll("[data-countdown-seconds]"));
    if (!items.length) return;
    var started = Date.now();
    var initial = items.map(function (el) {
      return parseInt(el.getAttribute("data-countdown-seconds"), 10) || 0;
    });
    function tick() {
      var elapsed = (Date.now() - started) / 1000;
      items.forEach(function (el, i) {
        var left = initial[i] - elapsed;
        el.textContent = left > 0 ? timeLeft(left) : "a moment";
      });
    }
    window.setInterval(tick, 15000);
  }

  function pollStatus(box) {
    var url = box.getAttribute("data-order-status-url");
    var every = (parseInt(box.getAttribute("data-poll-seconds"), 10) || 2) * 1000;
    var tries = parseInt(box.getAttribute("data-poll-tries"), 10) || 30;
    var slow = box.querySelector("[data-poll-slow]");

    function ask() {
      if (tries-- <= 0) {
        if (slow) slow.hidden = false;
        return;
      }
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (data && (data.paid || data.payment_failed)) {
            window.location.reload();
          } else {
            window.setTimeout(ask, every);
          }
        })
        .catch(function () {
          window.setTimeout(ask, every);
        });
    }
    window.setTimeout(ask, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    startCountdowns();
    var box = document.querySelector("[data-order-status-url]");
    if (box) pollStatus(box);
  });
})();
