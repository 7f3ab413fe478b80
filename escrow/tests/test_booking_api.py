"""Bookings in the API (#14): a service's free slots, ordering one with slot_start, the order
showing its booking, rescheduling by agreement and the seller's bookings list."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.factories import UserFactory
from accounts.testing import api_client_for
from core import clock
from core.testing import assert_matches_api_schema
from escrow import selectors, services
from escrow.api import NOT_BOOKABLE
from escrow.models import Booking, BookingStatus
from marketplace.factories import ListingFactory, ServiceListingFactory, availability_for

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
SELLER_BOOKINGS = "/api/v1/seller/bookings/"
TAKEN = ["This time is no longer available. Pick another one."]


def slots_url(listing, route="slots"):
    return f"/api/v1/listings/{listing.pk}/{route}/"


# The issue names the free slots GET .../availability/; /slots/ is the first name, kept.
SLOT_ROUTES = pytest.mark.parametrize("route", ["availability", "slots"])


def iso(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def service(seller):
    listing = ServiceListingFactory(
        store=seller.store, price_cents=8000, currency="usd", duration_minutes=45
    )
    availability_for(listing, time_zone="America/New_York", buffer_minutes=15)
    return listing


def free(service, days=(2, 4)):
    now = clock.now()
    return selectors.listing_free_slots(
        listing=service,
        availability=service.availability,
        start=now + timedelta(days=days[0]),
        end=now + timedelta(days=days[1]),
    )


@SLOT_ROUTES
def test_slots_lists_free_starts_and_ends_in_utc_with_the_listing_zone(client, service, route):
    start = (clock.now() + timedelta(days=2)).astimezone(UTC)
    end = start + timedelta(days=1)

    response = client.get(slots_url(service, route), {"from": start.isoformat(), "to": iso(end)})

    assert response.status_code == 200
    body = response.json()
    assert body["time_zone"] == "America/New_York"
    assert body["duration_minutes"] == 45
    expected = free(service, days=(2, 3))
    assert [s["start"] for s in body["slots"]] == [iso(s) for s in expected]
    assert body["slots"][0]["end"] == iso(expected[0] + timedelta(minutes=45))
    assert_matches_api_schema(response, f"/api/v1/listings/{{id}}/{route}/", "get")


@SLOT_ROUTES
def test_a_booked_slot_is_no_longer_listed(client, service, buyer, route):
    slot = free(service)[0]
    services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    start = clock.now() + timedelta(days=2)

    response = client.get(
        slots_url(service, route), {"from": iso(start), "to": iso(start + timedelta(days=2))}
    )

    assert iso(slot) not in [s["start"] for s in response.json()["slots"]]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ({}, {"from", "to"}),
        ({"from": "tomorrow", "to": "2026-12-09T00:00:00Z"}, {"from"}),
        ({"from": "2026-12-08T00:00:00", "to": "2026-12-09T00:00:00Z"}, {"from"}),
        ({"from": "2026-12-09T00:00:00Z", "to": "2026-12-08T00:00:00Z"}, {"to"}),
        ({"from": "2026-12-01T00:00:00Z", "to": "2027-03-01T00:00:00Z"}, {"to"}),
        ({"from": "9999-12-31T23:00:00-14:00", "to": "2026-12-09T00:00:00Z"}, {"from"}),
        ({"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T23:59:59Z"}, {"from", "to"}),
        ({"from": "1969-12-31T23:00:00Z", "to": "1970-01-02T00:00:00Z"}, {"from"}),
        ({"from": "2999-12-31T00:00:00Z", "to": "3000-01-01T00:00:00Z"}, {"to"}),
    ],
)
@SLOT_ROUTES
def test_bad_or_too_long_ranges_are_a_400_naming_the_field(client, service, query, errors, route):
    response = client.get(slots_url(service, route), query)

    assert response.status_code == 400
    assert set(response.json()) == errors


@SLOT_ROUTES
def test_a_listing_without_bookable_times_has_no_slots(client, seller, route):
    plain = ServiceListingFactory(store=seller.store)
    product = ListingFactory(store=seller.store)
    query = {"from": "2026-12-08T00:00:00Z", "to": "2026-12-09T00:00:00Z"}

    for url in (slots_url(plain, route), slots_url(product, route)):
        response = client.get(url, query)
        assert response.status_code == 404
        assert response.json()["detail"] == NOT_BOOKABLE
    missing = client.get(f"/api/v1/listings/999999999/{route}/", query)
    assert missing.status_code == 404


def test_the_availability_route_is_the_buyers_and_the_sellers_is_apart(client, service, seller):
    """GET /api/v1/listings/{id}/availability/ answers free slots; the seller's weekly hours stay
    at /api/v1/seller/listings/{id}/availability/."""
    start = clock.now() + timedelta(days=2)
    query = {"from": iso(start), "to": iso(start + timedelta(days=1))}

    public = client.get(slots_url(service, "availability"), query)
    own = api_client_for(seller).get(f"/api/v1/seller/listings/{service.pk}/availability/")

    assert public.status_code == 200
    assert public.json() == client.get(slots_url(service), query).json()
    assert own.status_code == 200
    assert "slots" not in own.json()
    assert "windows" in own.json()


def test_ordering_a_slot_books_it_and_the_order_shows_the_booking(service, buyer):
    slot = free(service)[0]
    api = api_client_for(buyer)

    response = api.post(
        ORDERS,
        {"listing": service.pk, "slot_start": slot.astimezone(UTC).isoformat()},
        format="json",
    )

    assert response.status_code == 201, response.json()
    booking = response.json()["booking"]
    assert booking["starts_at"] == iso(slot)
    assert booking["ends_at"] == iso(slot + timedelta(minutes=45))
    assert booking["status"] == BookingStatus.HELD
    assert booking["time_zone"] == "America/New_York"
    assert_matches_api_schema(response, "/api/v1/orders/", "post")
    detail = api.get(f"{ORDERS}{response.json()['id']}/")
    assert detail.json()["booking"]["starts_at"] == iso(slot)


def test_a_taken_slot_is_a_400_with_the_field(service, buyer):
    slot = free(service)[0]
    services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=slot)

    response = api_client_for(buyer).post(
        ORDERS, {"listing": service.pk, "slot_start": iso(slot)}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"slot_start": TAKEN}


def test_a_service_is_ordered_once_per_order_in_the_api(service, buyer):
    slot = free(service)[0]

    response = api_client_for(buyer).post(
        ORDERS, {"listing": service.pk, "quantity": 2, "slot_start": iso(slot)}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"quantity": ["A service is booked once per order: order 1."]}
    assert not Booking.objects.exists()


def test_reschedule_proposed_by_the_seller_and_accepted_by_the_buyer(service, buyer, seller):
    slot, new = free(service)[0], free(service, days=(5, 7))[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    proposed = api_client_for(seller).post(
        f"{ORDERS}{order.pk}/reschedule/", {"slot_start": iso(new)}, format="json"
    )
    assert proposed.status_code == 200, proposed.json()
    assert proposed.json()["booking"]["proposed_starts_at"] == iso(new)
    assert proposed.json()["booking"]["proposed_by"] == "seller"
    own = api_client_for(seller).post(f"{ORDERS}{order.pk}/reschedule/accept/")
    accepted = api_client_for(buyer).post(f"{ORDERS}{order.pk}/reschedule/accept/")

    assert own.status_code == 403
    assert accepted.status_code == 200
    assert accepted.json()["booking"]["starts_at"] == iso(new)
    assert accepted.json()["booking"]["proposed_starts_at"] is None


def test_reschedule_to_a_time_that_is_not_free_is_a_400(service, buyer, seller):
    slot = free(service)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    response = api_client_for(buyer).post(
        f"{ORDERS}{order.pk}/reschedule/",
        {"slot_start": iso(slot + timedelta(minutes=5))},
        format="json",
    )
    missing = api_client_for(buyer).post(f"{ORDERS}{order.pk}/reschedule/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {"slot_start": TAKEN}
    assert missing.status_code == 400
    assert "slot_start" in missing.json()


def test_seller_bookings_are_paginated_in_a_fixed_number_of_queries(
    service, seller, django_assert_max_num_queries
):
    api = api_client_for(seller)
    for slot in free(service, days=(2, 3))[:2]:
        services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=slot)
    with django_assert_max_num_queries(6):
        few = api.get(SELLER_BOOKINGS)
    for slot in free(service, days=(3, 5))[:8]:
        services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=slot)

    with django_assert_max_num_queries(6):
        many = api.get(SELLER_BOOKINGS)

    assert few.json()["count"] == 2
    assert many.json()["count"] == 10
    starts = [b["starts_at"] for b in many.json()["results"]]
    assert starts == sorted(starts)
    assert many.json()["results"][0]["listing_title"] == service.title
    assert_matches_api_schema(many, "/api/v1/seller/bookings/", "get")
    assert api.get(SELLER_BOOKINGS, {"when": "past"}).json()["count"] == 0
    assert api.get(SELLER_BOOKINGS, {"when": "later"}).status_code == 400


def test_seller_bookings_are_for_sellers(buyer):
    response = api_client_for(buyer).get(SELLER_BOOKINGS)

    assert response.status_code == 403


def test_past_bookings_list_cancelled_ones(service, seller, buyer):
    slot = free(service)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    services.order_cancel(order=order, actor=buyer)

    response = api_client_for(seller).get(SELLER_BOOKINGS, {"when": "past"})

    assert [b["order"] for b in response.json()["results"]] == [order.pk]
    assert response.json()["results"][0]["status"] == BookingStatus.CANCELLED
    assert datetime.fromisoformat(response.json()["results"][0]["starts_at"]) == slot


def test_slot_start_needs_its_offset(service, buyer):
    slot = free(service)[0]

    response = api_client_for(buyer).post(
        ORDERS,
        {"listing": service.pk, "slot_start": slot.replace(tzinfo=None).isoformat()},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["slot_start"]
    assert not Booking.objects.exists()


OUT_OF_BOUNDS = ["Give a date from 1970 to 2999."]
FAR_OFF = [
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:00:00-14:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00-12:00",
    "1969-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
]


@pytest.mark.parametrize("moment", FAR_OFF)
def test_a_slot_start_outside_the_years_1970_to_2999_is_a_400_naming_it(service, buyer, moment):
    response = api_client_for(buyer).post(
        ORDERS, {"listing": service.pk, "slot_start": moment}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"slot_start": OUT_OF_BOUNDS}
    assert not Booking.objects.exists()


@pytest.mark.parametrize("moment", FAR_OFF)
def test_a_reschedule_outside_the_years_1970_to_2999_is_a_400_naming_it(service, buyer, moment):
    slot = free(service)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    response = api_client_for(buyer).post(
        f"{ORDERS}{order.pk}/reschedule/", {"slot_start": moment}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"slot_start": OUT_OF_BOUNDS}
    order.booking.refresh_from_db()
    assert order.booking.starts_at == slot
    assert order.booking.proposed_starts_at is None


def test_a_retry_returns_the_booked_order_and_another_time_with_the_same_key_is_refused(
    service, buyer
):
    first, second = free(service)[:2]
    api = api_client_for(buyer)

    def place(slot):
        return api.post(
            ORDERS,
            {"listing": service.pk, "slot_start": iso(slot)},
            format="json",
            HTTP_IDEMPOTENCY_KEY="book-once",
        )

    made, retried, other = place(first), place(first), place(second)

    assert made.status_code == 201
    assert retried.status_code == 201
    assert retried.json()["id"] == made.json()["id"]
    assert other.status_code == 400
    assert "Idempotency-Key" in other.json()
    assert Booking.objects.count() == 1
