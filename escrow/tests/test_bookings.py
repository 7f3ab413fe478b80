"""Booked service orders (#14, bookings): a free slot held by the order, confirmed by the payment
webhook (both sides told, with an invitation), freed when the order expires or is cancelled,
cancellation measured from the booked start, the review window from the booked end, and moving
the booking when both agree. Through the services, the tasks and the sandbox's webhooks."""

import email
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from accounts.factories import UserFactory
from core import clock
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from escrow import selectors, services, tasks
from escrow.models import Booking, BookingStatus, OrderStatus, ReleaseStatus
from escrow.testing import pay_on_checkout_page
from marketplace.factories import ServiceListingFactory, availability_for
from marketplace.policies import CancellationPolicy
from notifications.models import Notification

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"
TAKEN = ["This time is no longer available. Pick another one."]


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def service(seller):
    """A one-hour service, 9:00-17:00 every day in Berlin, 30 minutes' buffer after each."""
    listing = ServiceListingFactory(
        store=seller.store,
        price_cents=10000,
        currency="usd",
        duration_minutes=60,
        cancellation_policy=CancellationPolicy.FLEXIBLE,
    )
    availability_for(listing, time_zone="Europe/Berlin", buffer_minutes=30)
    return listing


def free_slots(service, days=(2, 5), since=None):
    now = since or clock.now()
    start, end = now + timedelta(days=days[0]), now + timedelta(days=days[1])
    availability = service.availability
    return selectors.listing_free_slots(
        listing=service, availability=availability, start=start, end=end
    )


def pay(client, order, buyer, capture):
    with capture():
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        pay_on_checkout_page(client, url)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def test_an_order_holds_a_free_slot_until_paid(service, buyer):
    slot = free_slots(service)[0]

    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    booking = order.booking
    assert booking.status == BookingStatus.HELD
    assert booking.seller == service.store.owner
    assert (booking.starts_at, booking.ends_at, booking.blocked_until) == (
        slot,
        slot + timedelta(minutes=60),
        slot + timedelta(minutes=90),
    )
    assert booking.time_zone == "Europe/Berlin"
    # Taken: the slot and the one starting in its buffer are no longer offered.
    assert slot not in free_slots(service)


def test_a_taken_slot_is_refused_with_the_field_named(service, buyer):
    slot = free_slots(service)[0]
    services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    with pytest.raises(ValidationFailed) as refused:
        services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=slot)

    assert refused.value.errors == {"slot_start": TAKEN}
    assert Booking.objects.count() == 1


def test_a_time_that_is_not_a_slot_or_no_time_is_refused(service, buyer):
    slot = free_slots(service)[0]

    with pytest.raises(ValidationFailed) as off_grid:
        services.order_create(
            buyer=buyer, listing_id=service.pk, slot_start=slot + timedelta(minutes=10)
        )
    with pytest.raises(ValidationFailed) as missing:
        services.order_create(buyer=buyer, listing_id=service.pk)

    assert off_grid.value.errors == {"slot_start": TAKEN}
    assert missing.value.errors == {"slot_start": ["Pick a time for this service."]}
    assert not Booking.objects.exists()


def test_a_service_without_availability_is_ordered_without_a_time(seller, buyer):
    plain = ServiceListingFactory(store=seller.store, price_cents=5000, currency="usd")

    order = services.order_create(buyer=buyer, listing_id=plain.pk)

    assert not Booking.objects.filter(order=order).exists()
    with pytest.raises(ValidationFailed) as refused:
        services.order_create(
            buyer=buyer, listing_id=plain.pk, slot_start=clock.now() + timedelta(days=2)
        )
    assert refused.value.errors == {"slot_start": ["This service is ordered without a time."]}


def test_an_expired_unpaid_order_frees_its_slot(service, buyer, stripe_sandbox):
    # The window is measured from before the clock moves: otherwise, at some times of day, the
    # advance pushes the window's start past the slot and it looks taken when it is not.
    since = clock.now()
    slot = free_slots(service, since=since)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    stripe_sandbox.advance_clock(minutes=settings.BAZAAR_PAYMENT_EXPIRY_MINUTES + 1)
    assert tasks.expire_unpaid_orders.delay().result == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED
    assert order.booking.status == BookingStatus.CANCELLED
    assert slot in free_slots(service, since=since)
    other = services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=slot)
    assert other.booking.status == BookingStatus.HELD


def test_a_cancelled_unpaid_order_frees_its_slot(service, buyer):
    slot = free_slots(service)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    services.order_cancel(order=order, actor=buyer)

    order.refresh_from_db()
    assert order.booking.status == BookingStatus.CANCELLED
    assert slot in free_slots(service)


def test_payment_confirms_the_booking_and_tells_both_with_an_invitation(
    client, service, buyer, seller, capture, mailoutbox
):
    buyer.time_zone = "America/New_York"
    buyer.save()
    seller.time_zone = "Europe/Berlin"
    seller.save()
    slot = free_slots(service)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)

    pay(client, order, buyer, capture)

    order.booking.refresh_from_db()
    assert order.booking.status == BookingStatus.CONFIRMED
    seller_note = Notification.objects.get(recipient=seller, event_code="booking.confirmed")
    buyer_note = Notification.objects.get(recipient=buyer, event_code="booking.confirmed")
    in_berlin = slot.astimezone(ZoneInfo("Europe/Berlin"))
    in_new_york = slot.astimezone(ZoneInfo("America/New_York"))
    assert f"{in_berlin:%H:%M} (Europe/Berlin)" in seller_note.title
    assert f"{in_new_york:%H:%M} (America/New York)" in buyer_note.title

    invitations = {}
    for sent in mailoutbox:
        parsed = email.message_from_string(sent.message().as_string())
        for part in parsed.walk():
            if part.get_content_type() == "text/calendar":
                invitations[sent.to[0]] = part.get_payload(decode=True).decode()
    assert set(invitations) == {buyer.email, seller.email}
    ics = invitations[buyer.email]
    assert "METHOD:REQUEST" in ics
    assert f"UID:booking-{order.booking.pk}@" in ics
    assert f"DTSTART:{slot.astimezone(UTC):%Y%m%dT%H%M%SZ}" in ics
    assert f"DTEND:{(slot + timedelta(hours=1)).astimezone(UTC):%Y%m%dT%H%M%SZ}" in ics
    assert ics.replace("\r\n", "\n").rstrip().endswith("END:VEVENT\nEND:VCALENDAR")


def _paid_booking(client, service, buyer, capture, *, days=(2, 5)):
    slot = free_slots(service, days=days)[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    return pay(client, order, buyer, capture)


def test_cancellation_is_measured_from_the_booked_start(client, service, buyer, capture):
    # Flexible: full refund until 24 hours before the start, 50% after.
    order = _paid_booking(client, service, buyer, capture)
    start = order.booking.starts_at

    full = services.order_cancel_preview(order=order, actor=buyer, now=start - timedelta(hours=24))
    half = services.order_cancel_preview(
        order=order, actor=buyer, now=start - timedelta(hours=24, seconds=-1)
    )

    assert (full.percent, full.refund_cents) == (100, 10000)
    assert (half.percent, half.refund_cents) == (50, 5000)


def test_a_buyer_cancelling_close_to_the_start_gets_the_late_tier_and_frees_the_slot(
    client, service, buyer, capture, stripe_sandbox
):
    order = _paid_booking(client, service, buyer, capture, days=(2, 3))
    start = order.booking.starts_at
    stripe_sandbox.advance_clock(
        seconds=int((start - clock.now()).total_seconds()) - 3600
    )  # an hour before

    with capture():
        order = services.order_cancel(order=order, actor=buyer, expected_refund_cents=5000)

    assert order.status == OrderStatus.CANCELLED
    assert order.refunded_cents == 5000
    assert order.booking.status == BookingStatus.CANCELLED


def test_a_seller_cancelling_refunds_in_full_whenever(
    client, service, buyer, seller, capture, stripe_sandbox
):
    order = _paid_booking(client, service, buyer, capture, days=(2, 3))
    stripe_sandbox.advance_clock(
        seconds=int((order.booking.starts_at - clock.now()).total_seconds()) - 60
    )

    with capture():
        order = services.order_cancel(order=order, actor=seller)

    assert order.refunded_cents == 10000
    assert order.booking.status == BookingStatus.CANCELLED


def test_delivering_before_the_booked_end_is_refused(client, service, buyer, seller, capture):
    order = _paid_booking(client, service, buyer, capture)

    with pytest.raises(InvalidTransition, match="once the booked time is over"):
        services.order_deliver(order=order, actor=seller)

    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED


def test_the_review_window_runs_from_the_booked_end(
    client, service, buyer, seller, capture, stripe_sandbox
):
    order = _paid_booking(client, service, buyer, capture)
    end = order.booking.ends_at
    window = timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS)
    stripe_sandbox.advance_clock(seconds=int((end - clock.now()).total_seconds()) + 3 * 3600)

    order = services.order_deliver(order=order, actor=seller, note="Done")

    assert order.review_deadline == end + window


def test_a_paid_booking_releases_itself_a_review_window_after_its_end(
    client, service, buyer, seller, capture, stripe_sandbox
):
    order = _paid_booking(client, service, buyer, capture)
    end = order.booking.ends_at
    window = timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS)
    assert order.review_deadline == end + window

    stripe_sandbox.advance_clock(seconds=int((end + window - clock.now()).total_seconds()) - 60)
    with capture():
        assert tasks.auto_release_due_orders.delay().result == 0
    stripe_sandbox.advance_clock(seconds=120)
    with capture():
        assert tasks.auto_release_due_orders.delay().result == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert order.release.status == ReleaseStatus.TRANSFERRED
    assert order.booking.status == BookingStatus.COMPLETED


def test_rescheduling_moves_the_booking_when_the_other_party_accepts(
    client, service, buyer, seller, capture, mailoutbox
):
    order = _paid_booking(client, service, buyer, capture)
    old = order.booking.starts_at
    new = free_slots(service, days=(6, 8))[0]
    mailoutbox.clear()

    with capture():
        services.booking_reschedule_propose(order=order, actor=buyer, slot_start=new)
    assert Notification.objects.filter(
        recipient=seller, event_code="booking.reschedule_proposed"
    ).exists()
    with pytest.raises(NotAllowed):
        services.booking_reschedule_accept(order=order, actor=buyer)
    with capture():
        booking = services.booking_reschedule_accept(order=order, actor=seller)

    assert booking.starts_at == new
    assert booking.ends_at == new + timedelta(hours=1)
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.proposed_starts_at is None
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert order.payments.count() == 1  # no new payment
    assert order.review_deadline == booking.ends_at + timedelta(
        days=settings.BAZAAR_REVIEW_WINDOW_DAYS
    )
    assert old in free_slots(service)
    assert {
        n.recipient_id for n in Notification.objects.filter(event_code="booking.rescheduled")
    } == {buyer.pk, seller.pk}
    assert any("text/calendar" in str(sent.message()) for sent in mailoutbox)


def test_rescheduling_to_a_taken_time_is_refused(client, service, buyer, seller, capture):
    order = _paid_booking(client, service, buyer, capture)
    taken = free_slots(service, days=(6, 8))[0]
    services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=taken)

    with pytest.raises(ValidationFailed) as refused:
        services.booking_reschedule_propose(order=order, actor=seller, slot_start=taken)

    assert refused.value.errors == {"slot_start": TAKEN}


def test_a_proposal_taken_by_someone_else_before_acceptance_is_refused(
    client, service, buyer, seller, capture
):
    order = _paid_booking(client, service, buyer, capture)
    new = free_slots(service, days=(6, 8))[0]
    services.booking_reschedule_propose(order=order, actor=seller, slot_start=new)
    services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=new)

    with pytest.raises(ValidationFailed) as refused:
        services.booking_reschedule_accept(order=order, actor=buyer)

    assert refused.value.errors == {"slot_start": TAKEN}
    order.booking.refresh_from_db()
    assert order.booking.starts_at != new


def test_a_withdrawn_dispute_gives_a_paid_booking_a_fresh_review_window(
    client, service, buyer, capture, stripe_sandbox
):
    order = _paid_booking(client, service, buyer, capture)
    window = timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS)
    with capture():
        dispute, _ = services.dispute_open(
            order=order, actor=buyer, reason="not_received", description="Nobody came."
        )
    stripe_sandbox.advance_clock(
        seconds=int((order.booking.ends_at + window - clock.now()).total_seconds()) + 60
    )

    before = clock.now()
    with capture():
        services.dispute_withdraw(dispute=dispute, actor=buyer)
        assert tasks.auto_release_due_orders.delay().result == 0

    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert before + window <= order.review_deadline <= clock.now() + window
