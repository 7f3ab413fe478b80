"""A seller's no-show (#14): the buyer of a confirmed booking reports "the seller did not show up"
once the booked start has passed; left unanswered past the seller's deadline, the beat job
refunds the buyer in full through the dispute's own resolution (the Stripe refund, the ledger,
the freed booking, both told, audited as Bazaar's). Through the services, the beat task, the
sandbox's checkout and refunds, the dispute page and the API."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.factories import StaffFactory
from accounts.testing import sign_in_api_client
from core import clock
from core.errors import ValidationFailed
from core.models import AuditEntry
from core.stripe_client import client as stripe
from escrow import ledger, selectors, services
from escrow.factories import BookingFactory, EscrowPaymentFactory, OrderFactory
from escrow.models import (
    BookingStatus,
    Dispute,
    DisputeReason,
    DisputeResolution,
    DisputeStatus,
    EscrowRefund,
    LedgerAccount,
    LedgerEntry,
    OrderStatus,
    RefundInitiator,
    RefundStatus,
)
from escrow.tasks import escalate_overdue_disputes
from escrow.testing import pay_on_checkout_page
from escrow.tests import harness
from escrow.tests.refunding import paid_order
from marketplace.factories import ListingFactory, ServiceListingFactory, availability_for
from marketplace.policies import CancellationPolicy

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"
NO_SHOW = DisputeReason.NO_SHOW


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def service(seller):
    """A one-hour US$100.00 service, bookable 9:00-17:00 every day in Berlin."""
    listing = ServiceListingFactory(
        store=seller.store,
        price_cents=10000,
        currency="usd",
        duration_minutes=60,
        cancellation_policy=CancellationPolicy.STRICT,
    )
    availability_for(listing, time_zone="Europe/Berlin", buffer_minutes=0)
    return listing


def paid_booking(client, service, buyer, capture):
    now = clock.now()
    slot = selectors.listing_free_slots(
        listing=service,
        availability=service.availability,
        start=now + timedelta(days=2),
        end=now + timedelta(days=4),
    )[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    with capture():
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        pay_on_checkout_page(client, url)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert order.booking.status == BookingStatus.CONFIRMED
    return order


def to_start(order, stripe_sandbox, *, plus_minutes=5):
    """The sandbox's clock (Bazaar's too) moves to a few minutes after the booked start."""
    left = order.booking.starts_at - clock.now()
    stripe_sandbox.advance_clock(seconds=int(left.total_seconds()) + plus_minutes * 60)


def report_no_show(order, buyer, capture):
    with capture():
        dispute, _ = services.dispute_open(
            order=order,
            actor=buyer,
            reason=NO_SHOW,
            description="I waited 40 minutes at the address; nobody came.",
        )
    return dispute


def past_the_sellers_deadline(dispute, stripe_sandbox):
    left = dispute.response_due_at - clock.now()
    stripe_sandbox.advance_clock(seconds=int(left.total_seconds()) + 60)


def stripe_refunds(order):
    payment = order.payments.get(status="succeeded")
    listed = stripe().v1.refunds.list(params={"payment_intent": payment.stripe_payment_intent_id})
    return list(listed.data)


# --- When it may be chosen ----------------------------------------------------------------------


def test_no_show_is_refused_before_the_booked_start(
    client, service, buyer, capture, stripe_sandbox
):
    order = paid_booking(client, service, buyer, capture)
    to_start(order, stripe_sandbox, plus_minutes=-1)

    with pytest.raises(ValidationFailed) as refused:
        report_no_show(order, buyer, capture)

    assert list(refused.value.errors) == ["reason"]
    assert "once it has begun" in refused.value.errors["reason"][0]
    assert not Dispute.objects.exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    # Another reason is fine at the same moment.
    with capture():
        services.dispute_open(
            order=order, actor=buyer, reason=DisputeReason.OTHER, description="Moved twice."
        )
    assert Dispute.objects.count() == 1


def test_no_show_is_refused_for_an_order_without_a_booking(client, seller, buyer, capture):
    listing = ListingFactory(store=seller.store, price_cents=2500, currency="usd", stock=None)
    order = paid_order(client, listing, buyer)

    with pytest.raises(ValidationFailed) as refused:
        report_no_show(order, buyer, capture)

    assert refused.value.errors == {
        "reason": ["Choose this only for a booked service: this order has no booked time."]
    }
    assert not Dispute.objects.exists()


# --- The automatic full refund ------------------------------------------------------------------


def test_an_unanswered_no_show_is_refunded_in_full_after_the_sellers_deadline(
    client, service, buyer, seller, capture, stripe_sandbox, mailoutbox
):
    order = paid_booking(client, service, buyer, capture)
    to_start(order, stripe_sandbox)
    dispute = report_no_show(order, buyer, capture)
    assert dispute.status == DisputeStatus.OPEN
    # Before the seller's deadline the job leaves it alone.
    with capture():
        escalate_overdue_disputes.delay().get()
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN

    past_the_sellers_deadline(dispute, stripe_sandbox)
    with capture():
        escalated = escalate_overdue_disputes.delay().get()

    assert escalated == 0  # nothing is left for staff to decide
    dispute.refresh_from_db()
    order.refresh_from_db()
    assert (dispute.status, dispute.resolution) == (
        DisputeStatus.RESOLVED,
        DisputeResolution.REFUND,
    )
    assert (dispute.refund_cents, dispute.release_cents, dispute.resolved_by) == (10000, 0, None)
    assert dispute.escalated_at is None
    assert "did not answer by their deadline" in dispute.resolution_note
    assert order.status == OrderStatus.REFUNDED
    assert order.booking.status == BookingStatus.CANCELLED
    refund = EscrowRefund.objects.get(order=order)
    assert dispute.refund == refund
    assert (refund.initiator, refund.actor, refund.status, refund.amount_cents) == (
        RefundInitiator.DISPUTE,
        None,
        RefundStatus.SUCCEEDED,
        10000,
    )
    assert [(r.amount, r.id) for r in stripe_refunds(order)] == [(10000, refund.stripe_refund_id)]
    assert harness.stripe_transfers_for(order) == []
    held = LedgerEntry.objects.filter(order=order, account=LedgerAccount.BUYER_FUNDS_HELD)
    assert sum(held.values_list("amount_cents", flat=True)) == 0
    assert ledger.order_total(order) == 0
    assert harness.escrow_violations([order], sellers=[seller]) == []
    for person in (buyer, seller):
        assert person.notifications.filter(event_code="dispute.resolved").count() == 1
    assert buyer.notifications.get(event_code="dispute.resolved").message.startswith(
        "US$100.00 is refunded to you."
    )
    resolved = AuditEntry.objects.get(action="escrow.dispute.resolved")
    assert resolved.actor is None
    assert "did not show up" in str(resolved.after)


def test_the_job_twice_refunds_once(client, service, buyer, capture, stripe_sandbox):
    order = paid_booking(client, service, buyer, capture)
    to_start(order, stripe_sandbox)
    dispute = report_no_show(order, buyer, capture)
    past_the_sellers_deadline(dispute, stripe_sandbox)

    with capture():
        escalate_overdue_disputes.delay().get()
        escalate_overdue_disputes.delay().get()
    with capture():
        assert services.dispute_refund_no_show(dispute_id=dispute.pk) is False

    assert EscrowRefund.objects.filter(order=order).count() == 1
    assert len(stripe_refunds(order)) == 1
    assert AuditEntry.objects.filter(action="escrow.dispute.resolved").count() == 1
    assert buyer.notifications.filter(event_code="dispute.resolved").count() == 1


def test_a_seller_answer_in_time_prevents_the_automatic_refund(
    client, service, buyer, seller, capture, stripe_sandbox
):
    order = paid_booking(client, service, buyer, capture)
    to_start(order, stripe_sandbox)
    dispute = report_no_show(order, buyer, capture)
    with capture():
        services.dispute_respond(
            dispute=dispute, actor=seller, response="I was there; the buyer gave a wrong door."
        )
    past_the_sellers_deadline(dispute, stripe_sandbox)

    with capture():
        escalate_overdue_disputes.delay().get()

    dispute.refresh_from_db()
    order.refresh_from_db()
    assert dispute.status == DisputeStatus.ANSWERED
    assert order.status == OrderStatus.DISPUTED
    assert order.booking.status == BookingStatus.CONFIRMED
    assert not EscrowRefund.objects.filter(order=order).exists()
    assert stripe_refunds(order) == []


def test_staff_decide_a_no_show_earlier_in_admin_and_the_job_leaves_it(
    client, service, buyer, seller, capture, stripe_sandbox
):
    order = paid_booking(client, service, buyer, capture)
    to_start(order, stripe_sandbox)
    dispute = report_no_show(order, buyer, capture)
    finance = StaffFactory(is_superuser=False)
    finance.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="escrow",
            codename__in=["view_dispute", "resolve_dispute", "add_escrowrefund"],
        )
    )
    client.force_login(finance)
    with capture():
        response = client.post(
            reverse("admin:escrow_dispute_resolve", args=[dispute.pk]),
            {"resolution": "release", "refund": "0", "release": "100", "note": "Seller's photos."},
        )
    assert response.status_code == 302
    past_the_sellers_deadline(dispute, stripe_sandbox)

    with capture():
        escalate_overdue_disputes.delay().get()

    dispute.refresh_from_db()
    order.refresh_from_db()
    assert (dispute.resolution, dispute.resolved_by) == (DisputeResolution.RELEASE, finance)
    assert order.status == OrderStatus.RELEASED
    assert not EscrowRefund.objects.filter(order=order).exists()
    assert stripe_refunds(order) == []


def test_an_unanswered_dispute_of_another_reason_is_escalated_not_refunded(
    client, service, buyer, capture, stripe_sandbox
):
    order = paid_booking(client, service, buyer, capture)
    with capture():
        dispute, _ = services.dispute_open(
            order=order, actor=buyer, reason=DisputeReason.OTHER, description="Rude messages."
        )
    past_the_sellers_deadline(dispute, stripe_sandbox)

    with capture():
        assert escalate_overdue_disputes.delay().get() == 1

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN and dispute.escalated_at is not None
    assert not EscrowRefund.objects.filter(order=order).exists()


# --- The page and the API offer it only where it applies ----------------------------------------


def booked_order(*, starts_in):
    start = (clock.now() + starts_in).replace(microsecond=0)
    booking = BookingFactory(starts_at=start)
    EscrowPaymentFactory(order=booking.order)
    return booking.order


def test_the_dispute_form_offers_no_show_only_once_the_booked_start_has_passed(client):
    later = booked_order(starts_in=timedelta(hours=3))
    begun = booked_order(starts_in=timedelta(minutes=-10))
    product = OrderFactory(funded=True)
    EscrowPaymentFactory(order=product)
    page = reverse("order-dispute", args=[later.pk])

    client.force_login(later.buyer)
    assert 'value="no_show"' not in client.get(page).content.decode()
    refused = client.post(
        page, {"reason": "no_show", "description": "Nobody came.", "client_key": "web-1"}
    )
    assert refused.status_code == 200
    errors = re.search(
        r'<ul class="errorlist" id="id_reason_error">(.*?)</ul>', refused.content.decode()
    )
    assert errors and "once it has begun" in errors.group(1)
    assert not Dispute.objects.exists()

    client.force_login(product.buyer)
    assert (
        'value="no_show"'
        not in client.get(reverse("order-dispute", args=[product.pk])).content.decode()
    )

    client.force_login(begun.buyer)
    begun_page = reverse("order-dispute", args=[begun.pk])
    assert 'value="no_show"' in client.get(begun_page).content.decode()
    opened = client.post(
        begun_page, {"reason": "no_show", "description": "Nobody came.", "client_key": "web-2"}
    )
    assert opened.status_code == 302
    assert Dispute.objects.get().reason == NO_SHOW


def test_the_api_lists_no_show_where_it_applies_and_refuses_it_elsewhere(api_client):
    later = booked_order(starts_in=timedelta(hours=3))
    begun = booked_order(starts_in=timedelta(minutes=-10))
    report = {"reason": "no_show", "description": "Nobody came."}

    app = sign_in_api_client(api_client, later.buyer)
    assert "no_show" not in app.get(f"/api/v1/orders/{later.pk}/").json()["dispute_reasons"]
    refused = app.post(f"/api/v1/orders/{later.pk}/dispute/", report, format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == ["reason"]
    assert not Dispute.objects.exists()

    app = sign_in_api_client(api_client, begun.buyer)
    assert app.get(f"/api/v1/orders/{begun.pk}/").json()["dispute_reasons"] == [
        "not_received",
        "not_as_described",
        "no_show",
        "other",
    ]
    opened = app.post(f"/api/v1/orders/{begun.pk}/dispute/", report, format="json")
    assert opened.status_code == 201, opened.json()
    assert opened.json()["reason_display"] == "The seller did not show up"


def test_both_sides_are_told_an_unanswered_no_show_is_refunded_in_full(client, capture, mailoutbox):
    order = booked_order(starts_in=timedelta(minutes=-10))
    with capture():
        services.dispute_open(
            order=order, actor=order.buyer, reason=NO_SHOW, description="Nobody came."
        )
    seller_mail = [m for m in mailoutbox if m.to == [order.seller.email]]
    assert any("refunded in full automatically" in m.body for m in seller_mail)

    client.force_login(order.seller)
    answer_page = client.get(reverse("order-dispute-respond", args=[order.pk]))
    assert "the buyer is refunded in full automatically" in answer_page.content.decode()
    client.force_login(order.buyer)
    room = client.get(order.get_absolute_url())
    assert "you are refunded in full automatically" in room.content.decode()
