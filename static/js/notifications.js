/* Bazaar notifications bell: keeps the unread count current and turns the bell into a dropdown.
 *
 * The server renders the count and the latest five (notifications/bell.html), so the bell is
 * right before this runs. This script polls the unread count every `data-poll-seconds` while the
 * tab is visible, reloads the list when the dropdown opens, and marks a notification read through
 * the API before following it. No inline code: the Content-Security-Policy refuses it.
 */
(function () {
  "use strict";

  var LEVELS = { info: "Info", success: "Success", warning: "Warning", error: "Error" };
  var ID_PLACEHOLDER = "999999999";

  function csrfToken(root) {
    var cookies = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < cookies.length; i++) {
      var cookie = cookies[i].trim();
      if (cookie.indexOf("csrftoken=") === 0) {
        return decodeURIComponent(cookie.slice("csrftoken=".length));
      }
    }
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* The URL to go to when it stays on this site, else null (never javascript:, never off-site). */
  function localUrl(url) {
    if (!url) return null;
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.origin === window.location.origin ? parsed.href : null;
    } catch (error) {
      return null;
    }
  }

  function relativeTime(iso) {
    var then = new Date(iso);
    if (isNaN(then.getTime())) return "";
    var seconds = Math.round((then.getTime() - Date.now()) / 1000);
    if (Math.abs(seconds) < 60) return "now";
    var format = new Intl.RelativeTimeFormat(document.documentElement.lang || "en", {
      numeric: "auto",
    });
    var units = [
      ["year", 31536000],
      ["month", 2592000],
      ["week", 604800],
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
    ];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(seconds) >= units[i][1]) {
        return format.format(Math.round(seconds / units[i][1]), units[i][0]);
      }
    }
    return "";
  }

  function Bell(root) {
    this.root = root;
    this.toggle = root.querySelector("[data-notifications-toggle]");
    this.badge = root.querySelector("[data-notifications-badge]");
    this.status = root.querySelector("[data-notifications-status]");
    this.panel = root.querySelector("[data-notifications-panel]");
    this.list = root.querySelector("[data-notifications-list]");
    this.empty = root.querySelector("[data-notifications-empty]");
    this.readAllForm = root.querySelector("[data-notifications-read-all]");
    this.template = root.querySelector("[data-notifications-item-template]");
    this.pollMs = Math.max(1, parseInt(root.dataset.pollSeconds, 10) || 30) * 1000;
    this.count = parseInt(this.badge.textContent, 10) || 0;
    this.timer = null;
    this.stopped = false;
    this.listRequest = 0;
  }

  Bell.prototype.start = function () {
    var bell = this;
    this.root.classList.add("is-ready");
    this.panel.hidden = true;

    this.toggle.addEventListener("click", function () {
      bell.setOpen(bell.toggle.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && bell.isOpen()) {
        bell.setOpen(false);
        bell.toggle.focus();
      }
    });
    document.addEventListener("click", function (event) {
      if (bell.isOpen() && !bell.root.contains(event.target)) bell.setOpen(false);
    });
    this.root.addEventListener("focusout", function (event) {
      if (bell.isOpen() && event.relatedTarget && !bell.root.contains(event.relatedTarget)) {
        bell.setOpen(false);
      }
    });
    this.list.addEventListener("click", function (event) {
      bell.onItemClick(event);
    });
    this.readAllForm.addEventListener("submit", function (event) {
      event.preventDefault();
      bell.markAllRead();
    });
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        bell.cancelPoll();
      } else {
        bell.refreshCount();
      }
    });
    this.schedulePoll();
  };

  Bell.prototype.isOpen = function () {
    return this.toggle.getAttribute("aria-expanded") === "true";
  };

  Bell.prototype.setOpen = function (open) {
    this.toggle.setAttribute("aria-expanded", open ? "true" : "false");
    this.panel.hidden = !open;
    this.root.classList.toggle("is-open", open);
    if (open) this.loadList();
  };

  Bell.prototype.request = function (url, method) {
    return fetch(url, {
      method: method || "GET",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "X-CSRFToken": csrfToken(this.root),
        "X-Requested-With": "XMLHttpRequest",
      },
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        var signedOut = new Error("signed out");
        signedOut.signedOut = true;
        throw signedOut;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.status === 204 ? null : response.json();
    });
  };

  /* --- The unread count ---------------------------------------------------------------------- */

  Bell.prototype.cancelPoll = function () {
    window.clearTimeout(this.timer);
    this.timer = null;
  };

  Bell.prototype.schedulePoll = function () {
    var bell = this;
    this.cancelPoll();
    if (this.stopped || document.hidden) return;
    this.timer = window.setTimeout(function () {
      bell.refreshCount();
    }, this.pollMs);
  };

  Bell.prototype.refreshCount = function () {
    var bell = this;
    this.cancelPoll();
    if (this.stopped || document.hidden) return Promise.resolve();
    return this.request(this.root.dataset.countUrl)
      .then(function (data) {
        var previous = bell.count;
        bell.setCount(data.unread_count);
        if (data.unread_count > previous) {
          var added = data.unread_count - previous;
          bell.announce(added === 1 ? "1 new notification" : added + " new notifications");
          if (bell.isOpen()) bell.loadList();
        }
      })
      .catch(function (error) {
        // Signed out in another tab: stop asking. Other failures: try again next time.
        if (error.signedOut) bell.stopped = true;
      })
      .then(function () {
        bell.schedulePoll();
      });
  };

  Bell.prototype.setCount = function (count) {
    this.count = Math.max(0, count | 0);
    this.badge.textContent = this.count > 99 ? "99+" : String(this.count);
    this.badge.hidden = this.count === 0;
    this.toggle.setAttribute(
      "aria-label",
      this.count ? "Notifications, " + this.count + " unread" : "Notifications"
    );
  };

  Bell.prototype.announce = function (text) {
    this.status.textContent = text;
  };

  /* --- The dropdown list --------------------------------------------------------------------- */

  Bell.prototype.loadList = function () {
    var bell = this;
    var ticket = ++this.listRequest;
    this.list.setAttribute("aria-busy", "true");
    return this.request(this.root.dataset.listUrl)
      .then(function (data) {
        if (ticket !== bell.listRequest) return; // a newer load has started
        bell.renderList(data.results);
        bell.setCount(bell.count); // keep the label in step after a re-render
      })
      .catch(function () {
        // Keep what is shown; the server-rendered list still links to every notification.
      })
      .then(function () {
        bell.list.removeAttribute("aria-busy");
      });
  };

  Bell.prototype.renderList = function (notifications) {
    var openTemplate = this.root.dataset.openUrlTemplate;
    var fragment = document.createDocumentFragment();
    notifications.forEach(function (notification) {
      var item = this.template.content.firstElementChild.cloneNode(true);
      var level = Object.prototype.hasOwnProperty.call(LEVELS, notification.level)
        ? notification.level
        : "info";
      item.classList.add("bell__item--" + level);
      item.classList.toggle("is-unread", !notification.is_read);
      var link = item.querySelector("a");
      link.href = openTemplate.replace(ID_PLACEHOLDER, String(notification.id));
      link.dataset.notificationId = String(notification.id);
      link.dataset.actionUrl = notification.action_url || "";
      var field = function (name) {
        return item.querySelector('[data-field="' + name + '"]');
      };
      field("state").textContent = LEVELS[level] + (notification.is_read ? ":" : ", unread:");
      field("title").textContent = notification.title;
      var message = field("message");
      if (notification.message) {
        message.textContent =
          notification.message.length > 120
            ? notification.message.slice(0, 119) + "…"
            : notification.message;
      } else {
        message.remove();
      }
      var time = field("created_at");
      time.dateTime = notification.created_at;
      time.textContent = relativeTime(notification.created_at);
      fragment.appendChild(item);
    }, this);
    this.list.replaceChildren(fragment);
    this.empty.hidden = notifications.length > 0;
  };

  /* Mark read through the API, then follow the notification. A modified click (new tab) or a
   * failed request follows the link itself, whose server view marks it read too. */
  Bell.prototype.onItemClick = function (event) {
    var link = event.target.closest("a[data-notification-id]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    var bell = this;
    var item = link.closest(".bell__item");
    var readUrl = this.root.dataset.readUrlTemplate.replace(
      ID_PLACEHOLDER,
      link.dataset.notificationId
    );
    var wasUnread = item && item.classList.contains("is-unread");
    this.request(readUrl, "POST")
      .then(function () {
        if (wasUnread) {
          item.classList.remove("is-unread");
          bell.setCount(bell.count - 1);
        }
        window.location.assign(localUrl(link.dataset.actionUrl) || link.href);
      })
      .catch(function () {
        window.location.assign(link.href);
      });
  };

  Bell.prototype.markAllRead = function () {
    var bell = this;
    if (document.querySelector("[data-notifications-page-count]")) {
      // On the notifications page the whole page changes: let the form reload it.
      this.readAllForm.submit();
      return;
    }
    // A list still loading was read before this: drop it, or it would show them unread again.
    this.listRequest++;
    this.request(this.root.dataset.readAllUrl, "POST")
      .then(function () {
        bell.setCount(0);
        bell.list.querySelectorAll(".is-unread").forEach(function (item) {
          item.classList.remove("is-unread");
          var state = item.querySelector('[data-field="state"]');
          state.textContent = state.textContent.replace(", unread:", ":");
        });
        bell.announce("All notifications marked read");
      })
      .catch(function () {
        bell.readAllForm.submit(); // the page's own form does it without the API
      });
  };

  function init() {
    var root = document.querySelector("[data-notifications-bell]");
    if (root) new Bell(root).start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
