"""The top-bar bell in a real browser: count, dropdown, follow a notification, live updates."""

import re

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.factories import UserFactory
from notifications.models import Notification
from notifications.services import notify

pytestmark = pytest.mark.browser

# Lets the test play "the tab went to the background" without a real second window. Playwright
# runs it through the DevTools protocol, which the page's Content-Security-Policy does not govern.
FAKE_VISIBILITY = """
Object.defineProperty(Document.prototype, "hidden", {
  configurable: true,
  get() { return window.__bazaarHidden === true; },
});
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true,
  get() { return window.__bazaarHidden === true ? "hidden" : "visible"; },
});
"""


def set_hidden(page, hidden):
    page.evaluate(
        "hidden => { window.__bazaarHidden = hidden;"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        hidden,
    )


def signed_in_context(browser, client, live_server, user):
    """A browser context carrying the session `client.force_login` created."""
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    context.add_init_script(FAKE_VISIBILITY)
    return context


def test_bell_counts_opens_follows_and_updates_without_reload(
    live_server, transactional_db, browser, csp_watch, client, settings
):
    from playwright.sync_api import expect

    settings.NOTIFICATIONS_POLL_SECONDS = 1
    url = live_server.url
    user = UserFactory()
    mug = notify(
        user, "listing.approved", {"listing_title": "Blue mug", "action_url": reverse("account")}
    )
    notify(
        user,
        "store.created",
        {"store_name": "Clay Corner", "action_url": reverse("listing-list")},
    )

    context = signed_in_context(browser, client, live_server, user)
    page = csp_watch.attach(context.new_page())
    count_polls = []
    api_posts = []

    def watch(request):
        if "/api/v1/notifications/unread-count/" in request.url:
            count_polls.append(request.url)
        elif request.method == "POST" and "/api/v1/notifications/" in request.url:
            api_posts.append(request.url)

    page.on("request", watch)

    page.goto(url + reverse("home"))

    toggle = page.get_by_role("button", name="Notifications, 2 unread")
    badge = page.locator("[data-notifications-badge]")
    panel = page.locator("#notifications-panel")
    expect(badge).to_have_text("2")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(panel).to_be_hidden()

    # Opens on click, closes on Escape (focus back on the bell) and on a click elsewhere.
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    toggle.click()
    expect(panel).to_be_visible()
    page.locator(".footer__legal").click()
    expect(panel).to_be_hidden()

    # The list, newest first, coloured by level, unread ones marked.
    toggle.click()
    items = panel.locator(".bell__item")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Your store “Clay Corner” is open")
    expect(items.nth(1)).to_have_class(re.compile(r"bell__item--success.*is-unread"))
    assert panel.get_by_role("link", name="See all").get_attribute("href") == reverse(
        "notifications:list"
    )

    # Following one marks it read through the API, then lands on its action_url.
    panel.get_by_role("link", name=re.compile("Blue mug")).click()
    page.wait_for_url(url + reverse("account"))
    assert any(post.endswith(f"/api/v1/notifications/{mug.pk}/read/") for post in api_posts)
    mug.refresh_from_db()
    assert mug.is_read is True
    expect(page.locator("[data-notifications-badge]")).to_have_text("1")
    expect(page.get_by_role("button", name="Notifications, 1 unread")).to_be_visible()

    # Something new happens while the page is open: the badge catches up without a reload.
    notify(user, "listing.rejected", {"listing_title": "Vase", "reason": "Blurry photo."})
    expect(badge).to_have_text("2", timeout=5000)
    expect(page.get_by_role("button", name="Notifications, 2 unread")).to_be_visible()
    page.locator("[data-notifications-toggle]").click()
    expect(panel.locator(".bell__item").first).to_contain_text("“Vase” was not approved")
    page.keyboard.press("Escape")

    # In a background tab it stops asking; back in front, it asks straight away.
    set_hidden(page, True)
    polls_while_hidden = len(count_polls)
    notify(user, "listing.approved", {"listing_title": "Jug", "action_url": "/"})
    page.wait_for_timeout(2500)
    assert len(count_polls) == polls_while_hidden
    expect(badge).to_have_text("2")
    set_hidden(page, False)
    expect(badge).to_have_text("3", timeout=800)  # well before the next 1 s poll would be due

    # "Mark all read" in the dropdown.
    page.locator("[data-notifications-toggle]").click()
    panel.get_by_role("button", name="Mark all read").click()
    expect(badge).to_be_hidden()
    expect(page.get_by_role("button", name="Notifications", exact=True)).to_be_visible()
    assert not Notification.objects.filter(recipient=user, is_read=False).exists()
    expect(panel.locator(".bell__item.is-unread")).to_have_count(0)

    context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
