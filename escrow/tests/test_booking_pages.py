"""Bookings on the pages (#14): the listing page's week of free slots in the viewer's zone, each
slot a button that orders it; a taken slot refused next to the week; the order page showing the
booked time and moving it by agreement; the seller's bookings page."""

import re
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse

from accounts.factories import UserFactory
from core import clock
from escrow import selectors, services
from escrow.models import Booking, BookingStatus, Order, OrderStatus
from escrow.testing import path_of, pay_on_checkout_page
from marketplace.factories import ServiceListingFactory, availability_for

pytestmark = pytest.mark.django_db

TAKEN = "This time is no longer available. Pick another one."


def _html(response):
    return response.content.decode()


def _text(response):
    return " ".join(re.sub(r"<[^>]+>", " ", _html(response)).split())


@pytest.fixture
def service(seller):
    listing = ServiceListingFactory(
        store=seller.store, price_cents=6000, currency="usd", duration_minutes=60
    )
    # Weekdays 9:00-12:00 in Tokyo.
    availability_for(
        listing,
        time_zone="Asia/Tokyo",
        weekly=dict.fromkeys(range(5), [("09:00", "12:00")]),
    )
    return listing


def free(service, days=(1, 14)):
    now = clock.now()
    return selectors.listing_free_slots(
        listing=service,
        availability=service.availability,
        start=now + timedelta(days=days[0]),
        end=now + timedelta(days=days[1]),
    )


def slot_buttons(response):
    return re.findall(
        r'<button class="slot-week__slot" type="submit" name="slot_start" '
        r'value="([^"]+)"',
        _html(response),
    )


def test_anonymous_visitors_see_the_week_in_the_sellers_zone(client, service):
    next_week = (clock.now() + timedelta(days=7)).date().isoformat()

    response = client.get(service.get_absolute_url(), {"week": next_week})

    text = _text(response)
    assert "Times in Asia/Tokyo (the seller's time zone)" in text
    assert "Log in to book" in text
    assert slot_buttons(response) == []
    assert "09:00" in text


def test_a_buyer_sees_slots_in_their_own_zone_and_pages_through_weeks(client, service, buyer):
    buyer.time_zone = "Europe/London"
    buyer.save()
    client.force_login(buyer)
    slot = free(service, days=(7, 14))[0]
    week = slot.astimezone(ZoneInfo("Europe/London")).date()

    response = client.get(service.get_absolute_url(), {"week": week.isoformat()})

    assert "Times in Europe/London" in _text(response)
    values = slot_buttons(response)
    assert slot.isoformat() in values
    # 9:00 in Tokyo is 0:00 in London (winter): the label is the viewer's wall-clock time.
    label = f"{slot.astimezone(ZoneInfo('Europe/London')):%H:%M}"
    assert f">{label}</button>" in _html(response)
    assert 'rel="prev"' in _html(response)
    assert 'rel="next"' in _html(response)


def test_this_week_has_no_previous_link(client, service, buyer):
    client.force_login(buyer)

    response = client.get(service.get_absolute_url(), {"week": "2000-01-03"})

    assert 'rel="prev"' not in _html(response)
    assert 'rel="next"' in _html(response)


def test_pressing_a_slot_orders_it_and_the_order_page_shows_the_time(client, service, buyer):
    buyer.time_zone = "America/Chicago"
    buyer.save()
    client.force_login(buyer)
    slot = free(service)[0]

    response = client.post(
        reverse("order-create", args=[service.pk]),
        {"quantity": 1, "client_key": "web-book-1", "slot_start": slot.isoformat()},
    )

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == order.get_absolute_url()
    assert order.booking.starts_at == slot
    assert order.booking.status == BookingStatus.HELD
    page = _text(client.get(order.get_absolute_url()))
    local = slot.astimezone(ZoneInfo("America/Chicago"))
    assert f"{local:%a} {local.day} {local:%b %Y, %H:%M}" in page
    assert "America/Chicago (your time zone)" in page


def test_a_taken_slot_is_refused_on_the_page(client, service, buyer):
    slot = free(service)[0]
    services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=slot)
    client.force_login(buyer)

    response = client.post(
        reverse("order-create", args=[service.pk]),
        {"quantity": 1, "client_key": "web-book-2", "slot_start": slot.isoformat()},
    )

    assert response.status_code == 200
    assert TAKEN in _text(response)
    assert slot.isoformat() not in slot_buttons(response)
    assert Order.objects.count() == 1


FAR_OFF = [
    "9999-12-31T23:59:59+00:00",
    "9999-12-31T23:00:00-14:00",
    "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00-12:00",
    "1969-12-31T23:59:59+00:00",
    "3000-01-01T00:00:00+00:00",
]
OUT_OF_BOUNDS = "Give a date from 1970 to 2999."


@pytest.mark.parametrize("moment", FAR_OFF)
def test_a_slot_outside_the_years_1970_to_2999_is_refused_on_the_page(
    client, service, buyer, moment
):
    client.force_login(buyer)

    response = client.post(
        reverse("order-create", args=[service.pk]),
        {"quantity": 1, "client_key": "web-far-off", "slot_start": moment},
    )

    assert response.status_code == 200
    assert OUT_OF_BOUNDS in _text(response)
    assert "Pick a time" in _text(response)  # the week is shown again to pick from
    assert not Order.objects.exists()


@pytest.mark.parametrize("moment", FAR_OFF)
def test_rescheduling_outside_the_years_1970_to_2999_shows_why(client, service, buyer, moment):
    slot = free(service)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    client.force_login(buyer)

    response = client.post(reverse("order-reschedule", args=[order.pk]), {"slot_start": moment})

    assert response.status_code == 400
    assert OUT_OF_BOUNDS in _text(response)
    order.booking.refresh_from_db()
    assert order.booking.starts_at == slot
    assert order.booking.proposed_starts_at is None


def test_a_quantity_other_than_one_is_refused_on_the_page(client, service, buyer):
    client.force_login(buyer)
    slot = free(service)[0]

    response = client.post(
        reverse("order-create", args=[service.pk]),
        {"quantity": 3, "client_key": "web-book-3", "slot_start": slot.isoformat()},
    )

    assert "A service is booked once per order" in _text(response)
    assert not Booking.objects.exists()


def test_rescheduling_on_the_order_page(client, service, buyer, seller):
    slot, new = free(service)[0], free(service, days=(15, 25))[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    client.force_login(buyer)
    week = new.astimezone(ZoneInfo(buyer.time_zone)).date().isoformat()
    assert new.isoformat() in slot_buttons(client.get(order.get_absolute_url(), {"week": week}))

    proposed = client.post(
        reverse("order-reschedule", args=[order.pk]), {"slot_start": new.isoformat()}
    )
    assert proposed.status_code == 302
    client.force_login(seller)
    seller_page = _text(client.get(order.get_absolute_url()))
    assert "The buyer proposes to move it to" in seller_page
    client.post(reverse("order-reschedule-accept", args=[order.pk]))

    order.booking.refresh_from_db()
    assert order.booking.starts_at == new


def test_rescheduling_to_a_taken_slot_shows_why(client, service, buyer):
    slot, taken = free(service)[0], free(service, days=(15, 25))[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=taken)
    client.force_login(buyer)

    response = client.post(
        reverse("order-reschedule", args=[order.pk]), {"slot_start": taken.isoformat()}
    )

    assert response.status_code == 400
    assert TAKEN in _text(response)


def test_the_sellers_bookings_page_lists_upcoming_and_past_in_fixed_queries(
    client, service, seller, django_assert_max_num_queries
):
    seller.time_zone = "Asia/Tokyo"
    seller.save()
    client.force_login(seller)
    slots = free(service)
    orders = [
        services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=s)
        for s in slots[:3]
    ]
    services.order_cancel(order=orders[2], actor=orders[2].buyer)
    url = reverse("seller-bookings")
    with django_assert_max_num_queries(12):
        client.get(url)
    for s in slots[3:9]:
        services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=s)

    with django_assert_max_num_queries(12):
        upcoming = client.get(url)
    past = client.get(url, {"when": "past"})

    text = _text(upcoming)
    assert "8 bookings" in text
    assert "Times in Asia/Tokyo" in text
    first = slots[0].astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{first:%a} {first.day} {first:%b %Y, %H:%M}" in text
    assert orders[0].get_absolute_url() in _html(upcoming)
    assert "1 booking" in _text(past)
    assert orders[2].get_absolute_url() in _html(past)
    assert slots[0].astimezone(UTC) < slots[1].astimezone(UTC)


def _week_of(moment, zone_name):
    day = moment.astimezone(ZoneInfo(zone_name)).date()
    return day - timedelta(days=day.weekday())


def test_the_sellers_calendar_shows_one_week_in_their_zone_with_previous_and_next(
    client, service, seller, django_assert_max_num_queries
):
    seller.time_zone = "America/Los_Angeles"  # 9:00 in Tokyo is the day before here
    seller.save()
    client.force_login(seller)
    slots = free(service, days=(1, 22))
    first_week = _week_of(slots[0], "America/Los_Angeles")
    in_week = [s for s in slots if _week_of(s, "America/Los_Angeles") == first_week]
    later = [s for s in slots if _week_of(s, "America/Los_Angeles") > first_week]
    booked = [
        services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=s)
        for s in (in_week[0], in_week[-1], later[0])
    ]
    url = reverse("seller-bookings")

    with django_assert_max_num_queries(12):
        response = client.get(url, {"week": (first_week + timedelta(days=3)).isoformat()})

    assert response.status_code == 200
    text, html = _text(response), _html(response)
    assert f"Week of {first_week:%a} {first_week.day} {first_week:%b %Y}" in text
    assert "Times in America/Los_Angeles" in text
    assert booked[0].get_absolute_url() in html
    assert booked[1].get_absolute_url() in html
    assert booked[2].get_absolute_url() not in html
    shown = in_week[0].astimezone(ZoneInfo("America/Los_Angeles"))
    assert f"{shown:%H:%M}" in text
    # Each booking sits under its local day's heading, Monday first.
    day_heading = f"{shown:%a} {shown.day} {shown:%b}"
    assert day_heading in text
    assert text.index(day_heading) < text.index(f"Order #{booked[0].pk}")
    assert f'href="?week={first_week - timedelta(days=7)}"' in html
    assert f'href="?week={first_week + timedelta(days=7)}"' in html
    following = client.get(url, {"week": (first_week + timedelta(days=7)).isoformat()})
    assert booked[2].get_absolute_url() in _html(following)
    assert booked[0].get_absolute_url() not in _html(following)


@pytest.mark.parametrize(
    "week",
    [
        "garbage",
        "2026-02-30",
        "9999-12-31",
        "0001-01-01",
        "1969-12-28",
        "3000-01-01",
        "2026-12-07T00:00:00",
        "x" * 5000,
    ],
)
def test_a_week_that_cannot_be_read_shows_this_week_and_says_why(client, seller, week):
    client.force_login(seller)

    response = client.get(reverse("seller-bookings"), {"week": week})

    assert response.status_code == 200
    this_monday = _week_of(clock.now(), seller.time_zone)
    text = _text(response)
    assert "Give the week as a date (YYYY-MM-DD) from 1970 to 2999" in text
    assert f"Week of {this_monday:%a} {this_monday.day} {this_monday:%b %Y}" in text


@pytest.mark.parametrize(
    ("week", "previous", "next_"),
    [("1970-01-01", False, True), ("2999-12-31", True, False)],
)
def test_the_first_and_last_weeks_have_no_link_beyond_the_years_1970_to_2999(
    client, seller, week, previous, next_
):
    client.force_login(seller)

    response = client.get(reverse("seller-bookings"), {"week": week})

    assert response.status_code == 200
    html = _html(response)
    assert ('rel="prev"' in html) is previous
    assert ('rel="next"' in html) is next_
    assert "Give the week as a date" not in _text(response)


def test_the_bookings_page_is_for_sellers(client, buyer):
    client.force_login(buyer)

    response = client.get(reverse("seller-bookings"))

    assert response.status_code in (302, 200)
    assert "No upcoming bookings" not in _text(response)


# --- No shipping words for a service ------------------------------------------------------------

# What only a parcel has: a bookable service is neither shipped nor tracked, and nobody is asked
# where to send it.
SHIPPING_WORDS = re.compile(r"\b(ship\w*|carriers?|tracking|track the|parcels?|transit|address)\b")


def _main_text(response):
    """The visible words of the page's <main> (the header's menu is the same on every page)."""
    html = _html(response)
    main = re.search(r"<main\b.*?</main>", html, re.S)
    assert main, html[:200]
    return " ".join(re.sub(r"<[^>]+>", " ", main.group(0)).split())


def test_a_booked_service_shows_no_shipping_words_from_listing_to_completion(
    client, service, buyer, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    pages = {}
    client.force_login(buyer)
    pages["listing"] = client.get(service.get_absolute_url())
    slot = free(service)[0]
    placed = client.post(
        reverse("order-create", args=[service.pk]),
        {"quantity": 1, "client_key": "web-book-ship", "slot_start": slot.isoformat()},
    )
    assert placed.status_code == 302  # straight to the order: no checkout step asks an address
    order = Order.objects.get()
    pages["order, to pay"] = client.get(order.get_absolute_url())
    pay = client.post(reverse("order-pay", args=[order.pk]))
    assert "/stripe-sandbox/checkout/cs_" in pay["Location"]
    pages["hosted checkout"] = client.get(path_of(pay["Location"]))
    with django_capture_on_commit_callbacks(execute=True):
        paid = pay_on_checkout_page(client, pay["Location"])
    pages["return page"] = client.get(paid["Location"], follow=True)
    pages["order, paid (buyer)"] = client.get(order.get_absolute_url())
    client.force_login(seller)
    pages["order, paid (seller)"] = client.get(order.get_absolute_url())
    pages["seller's orders"] = client.get(reverse("orders-selling"))
    # A booked service is marked delivered once its time is over.
    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.advance_clock(
            seconds=int((order.booking.ends_at - clock.now()).total_seconds()) + 60
        )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("order-deliver", args=[order.pk]), {"note": "Done."})
    pages["order, delivered (seller)"] = client.get(order.get_absolute_url())
    client.force_login(buyer)
    pages["order, delivered (buyer)"] = client.get(order.get_absolute_url())
    pages["buyer's orders"] = client.get(reverse("orders-buying"))
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    pages["report a problem"] = client.get(reverse("order-dispute", args=[order.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        reported = client.post(
            reverse("order-dispute", args=[order.pk]),
            {"reason": "not_as_described", "description": "It was cut short.", "client_key": "k"},
        )
    assert reported.status_code == 302
    pages["order, disputed (buyer)"] = client.get(order.get_absolute_url())
    client.force_login(seller)
    pages["order, disputed (seller)"] = client.get(order.get_absolute_url())

    found = {
        name: sorted(set(SHIPPING_WORDS.findall(_main_text(page).lower())))
        for name, page in pages.items()
    }

    assert {name: words for name, words in found.items() if words} == {}
    # The emails about the dispute neither (the seller's asked for "tracking").
    dispute_emails = [m for m in mail.outbox if "problem" in m.body or "dispute" in m.subject]
    assert dispute_emails
    for message in dispute_emails:
        bodies = [message.body, *(content for content, _type in message.alternatives)]
        words = {w for body in bodies for w in SHIPPING_WORDS.findall(body.lower())}
        assert words - {"address"} == set(), (message.subject, words)
    # The same check finds them on a product's order (it can fail).
    assert SHIPPING_WORDS.search("Paid — waiting for the seller to ship".lower())


def test_the_page_opens_on_the_week_of_the_next_free_time_when_this_week_has_none(
    client, service, buyer
):
    # Ten days' notice: nothing this week can be booked any more.
    service.availability.min_notice_minutes = 10 * 24 * 60
    service.availability.save()
    first = free(service, days=(0, 30))[0]
    client.force_login(buyer)
    buyer_zone = ZoneInfo(buyer.time_zone)

    response = client.get(service.get_absolute_url())

    values = slot_buttons(response)
    assert first.isoformat() in values
    monday = first.astimezone(buyer_zone).date()
    monday -= timedelta(days=monday.weekday())
    assert f"Week of {monday:%a} {monday.day} {monday:%b %Y}" in _text(response)
    assert 'rel="prev"' in _html(response)  # back to this week, empty as it is
    # Asked for this week by name, the page shows it, empty.
    this_week = clock.now().astimezone(buyer_zone).date().isoformat()
    assert slot_buttons(client.get(service.get_absolute_url(), {"week": this_week})) == []
