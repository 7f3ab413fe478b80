"""Notification pages: the bell in the top bar, the list, opening one, settings, unsubscribing."""

import re

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from accounts.factories import SellerFactory
from notifications import services
from notifications.events import EVENTS, EmailMode
from notifications.factories import NotificationFactory
from notifications.models import Notification, NotificationPreference

pytestmark = pytest.mark.django_db

LIST = reverse("notifications:list")
READ_ALL = reverse("notifications:read-all")
PREFERENCES = reverse("notifications:preferences")


def open_url(notification):
    return reverse("notifications:open", args=[notification.pk])


@pytest.fixture
def user():
    # A staff member who also sells: every notification event can reach them.
    return SellerFactory(is_staff=True)


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def html(response):
    return response.content.decode()


def bell(response):
    """The bell's markup, from its opening tag to its (client-side) item template."""
    page = html(response)
    start = page.index("data-notifications-bell")
    return page[start : page.index("<template", start)]


def main(response):
    """The page's own content, without the top bar (whose bell lists notifications too)."""
    page = html(response)
    return page[page.index('<main id="main"') :]


# --- The bell -----------------------------------------------------------------------------------


def test_bell_shows_the_unread_count_and_the_latest_five(signed_in, user):
    for n in range(6):
        NotificationFactory(recipient=user, title=f"Note {n}", level="warning")
    NotificationFactory(recipient=user, title="Old and read", is_read=True)
    NotificationFactory(title="Someone else's")

    response = signed_in.get(PREFERENCES)

    markup = bell(response)
    assert 'aria-label="Notifications, 6 unread"' in markup
    assert re.search(r"data-notifications-badge>6</span>", markup)
    assert 'aria-expanded="false"' in markup
    titles = re.findall(r'data-field="title">([^<]*)<', markup)
    assert titles == ["Old and read", "Note 5", "Note 4", "Note 3", "Note 2"]
    assert "bell__item--warning is-unread" in markup
    assert "Someone else" not in markup
    assert f'href="{LIST}"' in markup
    assert 'data-count-url="/api/v1/notifications/unread-count/"' in markup
    assert 'data-poll-seconds="30"' in markup


def test_bell_badge_is_hidden_when_nothing_is_unread(signed_in, user):
    NotificationFactory(recipient=user, is_read=True)

    markup = bell(signed_in.get(PREFERENCES))

    assert 'aria-label="Notifications"' in markup
    assert "data-notifications-badge hidden>0</span>" in markup


def test_poll_interval_comes_from_settings(signed_in, settings):
    settings.NOTIFICATIONS_POLL_SECONDS = 7

    assert 'data-poll-seconds="7"' in bell(signed_in.get(PREFERENCES))


def test_anonymous_visitors_get_no_bell_and_no_notification_queries(client):
    NotificationFactory()

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert "data-notifications-bell" not in html(response)
    assert "notifications_unread_count" not in response.context
    assert "notifications.js" not in html(response)


@pytest.mark.parametrize("rows", [3, 30])
def test_a_page_with_the_bell_runs_the_same_queries_however_many_notifications(
    signed_in, user, rows, django_assert_max_num_queries
):
    NotificationFactory.create_batch(rows, recipient=user)

    # session, user, the event preferences, the top bar's seller check, the bell's count and
    # latest five, the Messages badge's unread total
    with django_assert_max_num_queries(7):
        response = signed_in.get(PREFERENCES)

    assert f"Notifications, {rows} unread" in html(response)


def test_pages_load_the_notifications_assets_without_inline_code(signed_in, user):
    NotificationFactory(recipient=user)

    response = signed_in.get(LIST)

    page = html(response)
    assert "/static/css/notifications.css" in page
    assert '<script src="/static/js/notifications.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "no inline scripts"
    assert not re.search(r"\sstyle=", page), "no inline styles"
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"


# --- The list page ------------------------------------------------------------------------------


def test_the_list_needs_a_signed_in_person(client):
    response = client.get(LIST)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_list_shows_my_notifications_newest_first_with_unread_highlighted(signed_in, user):
    read = NotificationFactory(recipient=user, title="Already seen", is_read=True)
    unread = NotificationFactory(recipient=user, title="Fresh news")
    NotificationFactory(title="Not for me")

    response = signed_in.get(LIST)

    assert response.status_code == 200
    page = main(response)
    assert "Not for me" not in page
    items = re.findall(r'<li class="notification card ([^"]*)" data-notification-id="(\d+)"', page)
    assert [int(pk) for _, pk in items] == [unread.pk, read.pk]
    assert "is-unread" in items[0][0]
    assert "is-unread" not in items[1][0]
    assert "1 unread" in page
    assert reverse("notifications:read", args=[unread.pk]) in page
    assert reverse("notifications:read", args=[read.pk]) not in page  # already read
    assert reverse("notifications:delete", args=[read.pk]) in page
    assert open_url(unread) in page
    assert f'href="{PREFERENCES}"' in page


def test_list_can_show_only_unread(signed_in, user):
    NotificationFactory(recipient=user, title="Already seen", is_read=True)
    NotificationFactory(recipient=user, title="Fresh news")

    page = main(signed_in.get(LIST, {"show": "unread"}))

    assert "Fresh news" in page
    assert "Already seen" not in page


def test_list_is_paginated(signed_in, user):
    NotificationFactory.create_batch(25, recipient=user)

    first = signed_in.get(LIST)
    second = signed_in.get(LIST, {"page": 2})
    beyond = signed_in.get(LIST, {"page": "lots"})

    assert len(first.context["notifications"]) == 20
    assert len(second.context["notifications"]) == 5
    assert "Page 1 of 2" in html(first)
    assert beyond.status_code == 200


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_stays_flat(signed_in, user, rows, django_assert_max_num_queries):
    NotificationFactory.create_batch(rows, recipient=user)

    # session, user, page count, page rows, the top bar's seller check, the bell's count and
    # latest five, the Messages badge's unread total
    with django_assert_max_num_queries(8):
        response = signed_in.get(LIST)

    assert len(response.context["notifications"]) == min(rows, 20)


def test_empty_list_says_so(signed_in):
    page = html(signed_in.get(LIST))

    assert "No notifications yet." in page
    assert "You are all caught up." in page


# --- Opening, reading, deleting -----------------------------------------------------------------


def test_open_marks_read_and_goes_to_the_action_url(signed_in, user):
    notification = NotificationFactory(recipient=user, action_url="/listings/7/")

    response = signed_in.get(open_url(notification))

    assert response.status_code == 302
    assert response.url == "/listings/7/"
    notification.refresh_from_db()
    assert notification.is_read is True


@pytest.mark.parametrize(
    "action_url",
    ["https://evil.example/steal", "//evil.example/steal", "javascript:alert(1)", ""],
)
def test_open_refuses_to_leave_the_site(signed_in, user, action_url):
    notification = NotificationFactory(recipient=user, action_url=action_url)

    response = signed_in.get(open_url(notification))

    assert response.status_code == 302
    assert response.url == LIST
    notification.refresh_from_db()
    assert notification.is_read is True


def test_someone_elses_notification_is_a_404_everywhere(signed_in):
    theirs = NotificationFactory()

    assert signed_in.get(open_url(theirs)).status_code == 404
    assert signed_in.post(reverse("notifications:read", args=[theirs.pk])).status_code == 404
    assert signed_in.post(reverse("notifications:delete", args=[theirs.pk])).status_code == 404

    theirs.refresh_from_db()
    assert theirs.is_read is False


def test_mark_read_returns_to_the_page_it_came_from(signed_in, user):
    notification = NotificationFactory(recipient=user)

    response = signed_in.post(
        reverse("notifications:read", args=[notification.pk]), {"next": f"{LIST}?page=2"}
    )

    assert response.status_code == 302
    assert response.url == f"{LIST}?page=2"
    notification.refresh_from_db()
    assert notification.is_read is True


def test_actions_never_redirect_off_site(signed_in, user):
    notification = NotificationFactory(recipient=user)

    response = signed_in.post(
        reverse("notifications:read", args=[notification.pk]),
        {"next": "https://evil.example/"},
    )

    assert response.url == LIST


def test_actions_are_post_only(signed_in, user):
    notification = NotificationFactory(recipient=user)

    assert signed_in.get(reverse("notifications:read", args=[notification.pk])).status_code == 405
    assert signed_in.get(reverse("notifications:delete", args=[notification.pk])).status_code == 405
    assert signed_in.get(READ_ALL).status_code == 405
    notification.refresh_from_db()
    assert notification.is_read is False


def test_mark_all_read(signed_in, user):
    NotificationFactory.create_batch(3, recipient=user)
    theirs = NotificationFactory()

    response = signed_in.post(READ_ALL, follow=True)

    assert response.redirect_chain == [(LIST, 302)]
    assert "Marked 3 notifications as read." in html(response)
    assert not Notification.objects.filter(recipient=user, is_read=False).exists()
    theirs.refresh_from_db()
    assert theirs.is_read is False
    assert 'aria-label="Notifications"' in bell(response)


def test_delete(signed_in, user):
    notification = NotificationFactory(recipient=user, title="Going away")
    kept = NotificationFactory(recipient=user, title="Staying")

    response = signed_in.post(reverse("notifications:delete", args=[notification.pk]), follow=True)

    assert "Notification deleted." in html(response)
    assert list(Notification.objects.filter(recipient=user)) == [kept]
    assert "Going away" not in html(response)


def test_page_forms_need_the_csrf_token(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    notification = NotificationFactory(recipient=user)

    assert browser.post(READ_ALL).status_code == 403
    assert browser.post(reverse("notifications:delete", args=[notification.pk])).status_code == 403
    assert Notification.objects.filter(pk=notification.pk, is_read=False).exists()


# --- Preferences --------------------------------------------------------------------------------


def current_choices(user):
    return {event.code: mode for event, mode in services.preferences_for(user=user)}


def test_preferences_page_shows_a_radio_group_per_event(signed_in):
    response = signed_in.get(PREFERENCES)

    page = html(response)
    assert response.status_code == 200
    assert page.count("<fieldset") == len(EVENTS)
    for event in EVENTS.values():
        assert str(event.label) in page
    # Digest only for low-priority events.
    assert 'name="listing.submitted" value="digest"' in page
    assert 'name="listing.approved" value="digest"' not in page
    assert re.search(r'name="listing.submitted" value="digest"[^>]*checked', page)


def test_preferences_form_saves_only_what_changed(signed_in, user):
    choices = current_choices(user) | {"listing.approved": EmailMode.OFF}

    response = signed_in.post(PREFERENCES, choices, follow=True)

    assert response.redirect_chain == [(PREFERENCES, 302)]
    assert "Your notification settings are saved." in html(response)
    stored = dict(
        NotificationPreference.objects.filter(user=user).values_list("event_code", "email_mode")
    )
    assert stored == {"listing.approved": EmailMode.OFF}
    assert re.search(r'name="listing.approved" value="off"[^>]*checked', html(response))


@pytest.mark.parametrize(
    "change",
    [{"listing.approved": EmailMode.DIGEST}, {"listing.approved": "sometimes"}],
)
def test_preferences_form_shows_errors_next_to_the_field_and_saves_nothing(signed_in, user, change):
    choices = current_choices(user) | {"listing.rejected": EmailMode.OFF} | change

    response = signed_in.post(PREFERENCES, choices)

    assert response.status_code == 200
    page = html(response)
    assert "Select a valid choice." in page
    assert "field--invalid field--required" in page
    assert response.context["form"].errors.keys() == {"listing.approved"}
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_preferences_need_a_signed_in_person(client):
    assert client.get(PREFERENCES).status_code == 302


# --- Unsubscribing from an email link, signed out -----------------------------------------------


def unsubscribe_url(user, event_code="listing.rejected"):
    token = services.unsubscribe_token(user=user, event_code=event_code)
    return reverse("notifications:unsubscribe", kwargs={"token": token})


def test_unsubscribe_link_asks_first_and_changes_nothing_on_get(client, user):
    response = client.get(unsubscribe_url(user))

    assert response.status_code == 200
    page = html(response)
    assert user.email in page
    assert "A listing of mine is rejected" in page
    assert ">Unsubscribe</button>" in page
    assert 'name="scope" value="all"' in page
    assert "Unsubscribe from all emails" in page
    assert 'content="noindex"' in page
    assert not NotificationPreference.objects.exists()


def test_unsubscribe_post_turns_that_email_off(client, user):
    response = client.post(unsubscribe_url(user))

    assert response.status_code == 200
    page = html(response)
    assert "You are unsubscribed" in page
    assert "A listing of mine is rejected" in page
    assert current_choices(user)["listing.rejected"] == EmailMode.OFF
    assert current_choices(user)["listing.approved"] == EmailMode.IMMEDIATE


def test_unsubscribe_from_everything(client, user):
    response = client.post(unsubscribe_url(user), {"scope": "all"})

    assert response.status_code == 200
    assert "We will no longer send notification emails to" in html(response)
    assert set(current_choices(user).values()) == {EmailMode.OFF}


def test_digest_link_offers_only_everything(client, user):
    url = unsubscribe_url(user, event_code=services.ALL_EVENTS)

    page = html(client.get(url))

    assert "Stop every Bazaar notification email" in page
    assert ">Unsubscribe</button>" not in page


def test_one_click_unsubscribe_works_without_csrf_token_or_session(user):
    mail_client = Client(enforce_csrf_checks=True)

    response = mail_client.post(unsubscribe_url(user), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert current_choices(user)["listing.rejected"] == EmailMode.OFF


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_unsubscribe_link_is_a_400_page_and_changes_nothing(client, user, method):
    good = services.unsubscribe_token(user=user, event_code="listing.rejected")
    forged = signing.dumps({"u": user.pk, "e": "listing.rejected"}, salt="someone-else")

    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    for token in (forged, tampered):
        url = reverse("notifications:unsubscribe", kwargs={"token": token})
        response = getattr(client, method)(url)

        assert response.status_code == 400
        assert "This unsubscribe link does not work" in html(response)
    assert not NotificationPreference.objects.exists()
