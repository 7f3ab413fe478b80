"""Each person's notification settings list only the events that can reach them: buyers' events
for everyone, sellers' for people with a seller profile, staff's for staff; the others cannot be
set through the API either (#15)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from notifications import services
from notifications.events import EVENTS, Audience, EmailMode
from notifications.models import NotificationPreference

pytestmark = pytest.mark.django_db

API = "/api/v1/notifications/preferences/"
BUYERS = {code for code, event in EVENTS.items() if event.audience == Audience.EVERYONE}
SELLERS = {code for code, event in EVENTS.items() if event.audience == Audience.SELLERS}
STAFF = {code for code, event in EVENTS.items() if event.audience == Audience.STAFF}


def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_every_event_names_its_audience():
    assert set(EVENTS) == BUYERS | SELLERS | STAFF
    assert {"order.paid", "order.payment_failed", "message.received"} <= BUYERS
    assert {"order.funded", "payout.paid", "listing.approved"} <= SELLERS
    assert {"listing.submitted", "dispute.escalated", "order.charged_back_staff"} <= STAFF


@pytest.mark.parametrize(
    ("make_user", "expected"),
    [
        (UserFactory, BUYERS),
        (SellerFactory, BUYERS | SELLERS),
        (StaffFactory, BUYERS | STAFF),
        (lambda: SellerFactory(is_staff=True), set(EVENTS)),
    ],
)
def test_the_api_lists_only_the_events_that_can_reach_the_person(make_user, expected):
    rows = api_for(make_user()).get(API).json()
    codes = [row["event_code"] for row in rows]
    assert set(codes) == expected
    assert codes == [code for code in EVENTS if code in expected]  # in the usual order


def test_a_buyers_settings_page_shows_no_sellers_or_staffs_events(client):
    client.force_login(UserFactory())
    html = client.get(reverse("notifications:preferences")).content.decode()
    for code in BUYERS:
        assert f'name="{code}"' in html
    for code in SELLERS | STAFF:
        assert f'name="{code}"' not in html
    assert "(seller)" not in html and "(staff)" not in html


def test_a_sellers_settings_page_shows_their_events_but_not_staffs(client):
    client.force_login(SellerFactory())
    html = client.get(reverse("notifications:preferences")).content.decode()
    assert 'name="order.funded"' in html
    assert 'name="order.paid"' in html
    assert 'name="listing.submitted"' not in html


@pytest.mark.parametrize("code", ["order.funded", "listing.submitted"])
def test_a_buyer_cannot_set_an_event_that_cannot_reach_them_through_the_api(code):
    buyer = UserFactory()
    body = [
        {"event_code": "order.paid", "email_mode": "off"},
        {"event_code": code, "email_mode": "off"},
    ]
    response = api_for(buyer).put(API, body, format="json")
    assert response.status_code == 400
    assert "not one you can receive" in response.json()["1"]["event_code"][0]
    assert not NotificationPreference.objects.filter(user=buyer).exists()


def test_a_hidden_event_posted_to_the_page_is_ignored(client):
    buyer = UserFactory()
    client.force_login(buyer)
    client.post(reverse("notifications:preferences"), {"order.funded": EmailMode.OFF})
    assert not NotificationPreference.objects.filter(user=buyer, event_code="order.funded").exists()


def test_unsubscribing_from_everything_turns_off_what_reaches_the_person():
    buyer = UserFactory()
    token = services.unsubscribe_token(user=buyer, event_code=services.ALL_EVENTS)
    services.preferences_unsubscribe(token=token)
    stored = set(
        NotificationPreference.objects.filter(user=buyer).values_list("event_code", flat=True)
    )
    assert stored == BUYERS
