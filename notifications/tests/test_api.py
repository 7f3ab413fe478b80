"""The notifications API at /api/v1/notifications/: the signed-in person's own notifications."""

import pytest
from rest_framework.test import APIClient

from accounts.factories import SellerFactory, UserFactory
from notifications import services
from notifications.events import EVENTS, EmailMode
from notifications.factories import NotificationFactory, NotificationPreferenceFactory
from notifications.models import Notification, NotificationPreference

pytestmark = pytest.mark.django_db

BASE = "/api/v1/notifications/"
COUNT = BASE + "unread-count/"
READ_ALL = BASE + "read-all/"
PREFERENCES = BASE + "preferences/"
APPROVED = {"listing_title": "Blue mug", "action_url": "/listings/7/"}


def read_url(pk):
    return f"{BASE}{pk}/read/"


def detail_url(pk):
    return f"{BASE}{pk}/"


@pytest.fixture
def user():
    # A staff member who also sells: every notification event can reach them.
    return SellerFactory(is_staff=True)


@pytest.fixture
def me(user):
    """An API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def unread_count(me):
    response = me.get(COUNT)
    assert response.status_code == 200
    return response.json()["unread_count"]


def ids(response):
    return [row["id"] for row in response.json()["results"]]


# --- Listing ------------------------------------------------------------------------------------


def test_list_shows_only_my_notifications_newest_first_with_the_output_fields(me, user):
    older = services.notify(user, "listing.approved", APPROVED)
    newer = services.notify(
        user, "listing.rejected", {"listing_title": "Vase", "reason": "Blurry."}
    )
    NotificationFactory()  # someone else's

    response = me.get(BASE)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert ids(response) == [newer.pk, older.pk]
    first = body["results"][0]
    assert set(first) == {
        "id",
        "event_code",
        "level",
        "title",
        "message",
        "action_url",
        "is_read",
        "created_at",
    }
    assert first["event_code"] == "listing.rejected"
    assert first["level"] == "warning"
    assert first["title"] == "“Vase” was not approved"
    assert first["message"].startswith("Reason: Blurry.")
    assert first["is_read"] is False
    assert body["results"][1]["action_url"] == "/listings/7/"


def test_limit_sets_the_page_size_and_is_capped_at_100(me, user):
    NotificationFactory.create_batch(7, recipient=user)

    five = me.get(BASE, {"limit": 5}).json()
    assert len(five["results"]) == 5
    assert five["count"] == 7
    assert five["next"] is not None
    second_page = me.get(BASE, {"limit": 5, "page": 2}).json()
    assert len(second_page["results"]) == 2

    NotificationFactory.create_batch(100, recipient=user)
    capped = me.get(BASE, {"limit": 1000}).json()
    assert len(capped["results"]) == 100


@pytest.mark.parametrize(("value", "expected"), [("true", 2), ("1", 2), ("false", 3), ("0", 3)])
def test_unread_only_filters_the_list(me, user, value, expected):
    NotificationFactory.create_batch(2, recipient=user)
    NotificationFactory(recipient=user, is_read=True)

    response = me.get(BASE, {"unread_only": value})

    assert response.status_code == 200
    assert response.json()["count"] == expected
    if expected == 2:
        assert all(not row["is_read"] for row in response.json()["results"])


def test_a_bad_unread_only_value_is_a_400_with_the_field_named(me):
    response = me.get(BASE, {"unread_only": "perhaps"})

    assert response.status_code == 400
    assert "unread_only" in response.json()


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_stays_flat(me, user, rows, django_assert_max_num_queries):
    NotificationFactory.create_batch(rows, recipient=user)

    with django_assert_max_num_queries(2):  # count + page (force_authenticate needs none)
        response = me.get(BASE, {"limit": 100})

    assert len(response.json()["results"]) == rows


# --- Unread count, reading, deleting ------------------------------------------------------------


def test_unread_count_follows_notify_read_read_all_and_delete(me, user):
    assert unread_count(me) == 0

    first = services.notify(user, "listing.approved", APPROVED)
    second = services.notify(user, "listing.approved", APPROVED)
    third = services.notify(user, "store.created", {"store_name": "Clay"})
    services.notify(UserFactory(), "listing.approved", APPROVED)  # not mine
    assert unread_count(me) == 3

    response = me.post(read_url(first.pk))
    assert response.status_code == 200
    assert response.json()["id"] == first.pk
    assert response.json()["is_read"] is True
    assert unread_count(me) == 2

    # Reading it again changes nothing.
    assert me.post(read_url(first.pk)).status_code == 200
    assert unread_count(me) == 2

    assert me.delete(detail_url(second.pk)).status_code == 204
    assert unread_count(me) == 1
    assert not Notification.objects.filter(pk=second.pk).exists()

    response = me.post(READ_ALL)
    assert response.status_code == 200
    assert response.json() == {"marked": 1}
    assert unread_count(me) == 0
    third.refresh_from_db()
    assert third.is_read and third.read_at is not None

    assert me.post(READ_ALL).json() == {"marked": 0}


def test_another_persons_notification_is_a_404_and_stays_untouched(me):
    theirs = NotificationFactory()

    assert me.post(read_url(theirs.pk)).status_code == 404
    assert me.delete(detail_url(theirs.pk)).status_code == 404

    theirs.refresh_from_db()
    assert theirs.is_read is False
    assert Notification.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("pk", [999999, 10**30])
def test_a_missing_notification_is_a_404(me, pk):
    assert me.post(read_url(pk)).status_code == 404
    assert me.delete(detail_url(pk)).status_code == 404


def test_read_all_does_not_touch_other_people(me, user):
    NotificationFactory(recipient=user)
    theirs = NotificationFactory()

    assert me.post(READ_ALL).json() == {"marked": 1}

    theirs.refresh_from_db()
    assert theirs.is_read is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", BASE),
        ("get", COUNT),
        ("post", READ_ALL),
        ("post", read_url(1)),
        ("delete", detail_url(1)),
        ("get", PREFERENCES),
        ("put", PREFERENCES),
    ],
)
def test_anonymous_visitors_are_refused(api_client, method, path):
    notification = NotificationFactory()
    path = path.replace("/1/", f"/{notification.pk}/")

    response = getattr(api_client, method)(path, format="json")

    assert response.status_code in (401, 403)
    notification.refresh_from_db()
    assert notification.is_read is False


def test_session_clients_need_the_csrf_token_to_change_anything(user):
    notification = NotificationFactory(recipient=user)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)

    assert browser.get(COUNT).json() == {"unread_count": 1}
    assert browser.post(read_url(notification.pk)).status_code == 403

    notification.refresh_from_db()
    assert notification.is_read is False


def test_counts_and_lists_are_not_cached(me):
    for path in (BASE, COUNT):
        assert "no-cache" in me.get(path)["Cache-Control"]


# --- Preferences --------------------------------------------------------------------------------


def test_preferences_list_every_event_with_its_current_and_allowed_modes(me, user):
    NotificationPreferenceFactory(user=user, event_code="listing.rejected", email_mode="off")

    response = me.get(PREFERENCES)

    assert response.status_code == 200
    rows = {row["event_code"]: row for row in response.json()}
    assert list(rows) == list(EVENTS)
    assert rows["listing.rejected"] == {
        "event_code": "listing.rejected",
        "label": "A listing of mine is rejected",
        "email_mode": "off",
        "allowed_modes": ["immediate", "off"],
        "low_priority": False,
    }
    assert rows["listing.approved"]["email_mode"] == "immediate"  # the default
    assert rows["listing.submitted"]["email_mode"] == "digest"
    assert rows["listing.submitted"]["allowed_modes"] == ["immediate", "digest", "off"]
    assert rows["listing.submitted"]["low_priority"] is True


@pytest.mark.parametrize("method", ["put", "patch"])
def test_preferences_update_changes_only_the_events_sent(me, user, method):
    body = [
        {"event_code": "listing.approved", "email_mode": "off"},
        {"event_code": "listing.submitted", "email_mode": "immediate"},
    ]

    response = getattr(me, method)(PREFERENCES, body, format="json")

    assert response.status_code == 200
    modes = {row["event_code"]: row["email_mode"] for row in response.json()}
    assert modes["listing.approved"] == "off"
    assert modes["listing.submitted"] == "immediate"
    assert modes["listing.rejected"] == "immediate"
    stored = dict(
        NotificationPreference.objects.filter(user=user).values_list("event_code", "email_mode")
    )
    assert stored == {"listing.approved": "off", "listing.submitted": "immediate"}


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_preferences_are_read_as_json_only_as_the_schema_says(me, user, api_client, content_type):
    # The schema offered form and multipart bodies, which cannot carry a list of choices: a
    # form request made as documented was refused as an empty list (tests/test_api_schema.py).
    documented = api_client.get("/api/v1/schema/", {"format": "json"}).json()
    update = documented["paths"]["/api/v1/notifications/preferences/"]

    response = me.generic(
        "PUT", PREFERENCES, "event_code=listing.approved&email_mode=off", content_type
    )

    assert response.status_code == 415
    for method in ("put", "patch"):
        assert list(update[method]["requestBody"]["content"]) == ["application/json"]
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_preferences_with_an_unknown_event_are_a_400_naming_the_field(me, user):
    body = [
        {"event_code": "listing.approved", "email_mode": "off"},
        {"event_code": "listing.exploded", "email_mode": "off"},
    ]

    response = me.put(PREFERENCES, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["1"]
    assert "is not a valid choice" in response.json()["1"]["event_code"][0]
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_preferences_with_a_mode_the_event_does_not_allow_are_a_400_and_change_nothing(me, user):
    body = [
        {"event_code": "listing.rejected", "email_mode": "off"},
        {"event_code": "listing.approved", "email_mode": EmailMode.DIGEST},
    ]

    response = me.patch(PREFERENCES, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "1": {"email_mode": ["For this notification choose one of: immediate, off."]}
    }
    # All or nothing: the valid first item was not saved either.
    assert not NotificationPreference.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"event_code": "listing.approved", "email_mode": "off"},
        [{"event_code": "listing.approved", "email_mode": "sometimes"}],
        [{"event_code": "listing.approved"}],
    ],
)
def test_malformed_preference_bodies_are_a_400(me, user, body):
    response = me.put(PREFERENCES, body, format="json")

    assert response.status_code == 400
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_a_preference_set_through_the_api_stops_the_email(
    me, user, mailoutbox, django_capture_on_commit_callbacks
):
    other = UserFactory()
    me.patch(PREFERENCES, [{"event_code": "listing.approved", "email_mode": "off"}], format="json")

    with django_capture_on_commit_callbacks(execute=True):
        services.notify(user, "listing.approved", APPROVED)
        services.notify(other, "listing.approved", APPROVED)

    assert unread_count(me) == 1
    assert [email.to for email in mailoutbox] == [[other.email]]


# --- Schema -------------------------------------------------------------------------------------


def test_the_openapi_schema_describes_every_notifications_endpoint(api_client):
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    assert set(paths[BASE]) == {"get"}
    assert {p["name"] for p in paths[BASE]["get"]["parameters"]} == {
        "limit",
        "page",
        "unread_only",
    }
    assert set(paths[BASE + "{id}/"]) == {"delete"}
    assert set(paths[BASE + "{id}/read/"]) == {"post"}
    assert set(paths[READ_ALL]) == {"post"}
    assert set(paths[COUNT]) == {"get"}
    assert set(paths[PREFERENCES]) == {"get", "put", "patch"}
    put = paths[PREFERENCES]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert put == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/NotificationPreferenceInputRequest"},
    }
    components = schema["components"]["schemas"]
    assert components["EmailModeEnum"]["enum"] == ["immediate", "digest", "off", "muted"]
    assert set(components["EventCodeEnum"]["enum"]) == set(EVENTS)
