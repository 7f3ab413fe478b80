"""Stripe's events about an order's money, through Bazaar's webhook intake: a lost event is
found again, and an event's body is never trusted for an amount or a text Stripe can be asked
for (the events here are validly signed: the endpoint's secret leaked, or Stripe sent a stale
copy)."""

import json

import pytest
from django.core import mail
from djstripe.models import Event, WebhookEventTrigger
from kombu.exceptions import OperationalError

from accounts.factories import StaffFactory
from core.payment_errors import DECLINED
from core.stripe_client import client as stripe
from core.stripe_webhooks import drain_webhooks, process_webhook, requeue_stored_webhooks
from escrow import ledger, services
from escrow.models import (
    EscrowPayment,
    EscrowRelease,
    LedgerAccount,
    OrderStatus,
    PaymentStatus,
    ReleaseStatus,
    ReleaseTrigger,
    TransferReversal,
)
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from notifications.models import Notification
from stripe_sandbox import testing as sandbox

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def test_a_payment_whose_events_arrive_while_the_broker_is_down_funds_the_order_later(
    client, seller, listing, buyer, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )

    earlier = list(WebhookEventTrigger.objects.values_list("pk", flat=True))

    def broker_unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(process_webhook, "delay", broker_unreachable)
        patch.setattr(drain_webhooks, "delay", broker_unreachable)  # what the intake queues
        assert pay_on_checkout_page(client, url).status_code == 302

    # Stripe was told "received" (it would otherwise retry for days) and the events are stored.
    stored = WebhookEventTrigger.objects.exclude(pk__in=earlier)
    sent = [d for d in stripe_sandbox.deliveries() if d.attempts and d.last_status_code != 200]
    assert sent == []
    assert stored.filter(valid=True).count() >= 3  # the session, the intent and the charge
    assert not stored.filter(processed=True).exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT

    stripe_sandbox.advance_clock(minutes=2)
    with django_capture_on_commit_callbacks(execute=True):
        requeued = requeue_stored_webhooks.delay().get()

    assert requeued == stored.count()
    assert not stored.filter(processed=False).exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == -order.total_cents
    assert ledger.order_total(order) == 0


# --- Event bodies are not trusted ---------------------------------------------------------------

SCAM = "Your card was flagged. Call +1 555 0100 and pay by wire to IBAN GB33BUKB20201555555555."


def paid_order(client, buyer, listing, capture):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with capture(execute=True):
        assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def forged(stripe_sandbox, capture, event_type, obj):
    """The event, signed with the endpoint's real secret and delivered: only its body lies."""
    with capture(execute=True):
        event = stripe_sandbox.emit(event_type, obj)
    assert Event.objects.filter(id=event["id"]).exists()  # accepted and processed
    return event


def test_a_forged_transfer_reversed_books_only_the_reversals_stripe_has(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order = paid_order(client, buyer, listing, capture)
    deliver_order(order=order, actor=seller)
    with capture(execute=True):
        decided = services.escrow_release(
            order=order, trigger=ReleaseTrigger.STAFF, actor=StaffFactory()
        )
        real = stripe().v1.transfers.reversals.create(
            decided.stripe_transfer_id, params={"amount": 500}
        )
    transfer = stripe().v1.transfers.retrieve(decided.stripe_transfer_id).to_dict()
    lie = [
        {**transfer["reversals"]["data"][0], "id": real.id, "amount": 99_999_999},
        {**transfer["reversals"]["data"][0], "id": "trr_forged", "amount": 99_999_999},
    ]

    forged(
        stripe_sandbox,
        capture,
        "transfer.reversed",
        transfer | {"amount_reversed": 199_999_998, "reversals": {"object": "list", "data": lie}},
    )

    assert [(r.stripe_reversal_id, r.amount_cents) for r in TransferReversal.objects.all()] == [
        (real.id, 500)
    ]
    assert ledger.balance(LedgerAccount.TRANSFER_REVERSALS, order=order) == -500
    assert ledger.order_total(order) == 0


def test_reversals_are_never_booked_beyond_the_transfer_even_if_stripe_says_so(
    client, seller, listing, buyer, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order = paid_order(client, buyer, listing, capture)
    deliver_order(order=order, actor=seller)
    decided = services.escrow_release(
        order=order, trigger=ReleaseTrigger.STAFF, actor=StaffFactory()
    )
    stripe().v1.transfers.reversals.create(decided.stripe_transfer_id, params={"amount": 2000})
    stripe().v1.transfers.reversals.create(decided.stripe_transfer_id, params={"amount": 250})

    def inflated(method, url, headers, body, handle):
        text, status, answer = handle(method, url, headers, body)
        if method.upper() == "GET" and "/reversals" in url:
            listed = json.loads(text)
            for reversal in listed["data"]:
                reversal["amount"] *= 10
            text = json.dumps(listed)
        return text, status, answer

    sandbox.intercept(monkeypatch, inflated)
    services.release_reversals_record(transfer_id=decided.stripe_transfer_id)

    assert sum(r.amount_cents for r in TransferReversal.objects.all()) == decided.transfer_cents
    assert ledger.balance(LedgerAccount.TRANSFER_REVERSALS, order=order) == -decided.transfer_cents


def test_a_forged_payment_failure_shows_the_buyer_stripes_reason_not_the_events(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with capture(execute=True):
        pay_on_checkout_page(client, url, card="4000 0000 0000 0002")
    payment = EscrowPayment.objects.get(order=order)
    assert payment.status == PaymentStatus.FAILED
    told = Notification.objects.filter(recipient=buyer, event_code="order.payment_failed")
    assert told.count() == 1
    intent = stripe().v1.payment_intents.retrieve(payment.stripe_payment_intent_id).to_dict()

    forged(
        stripe_sandbox,
        capture,
        "payment_intent.payment_failed",
        intent | {"last_payment_error": {**intent["last_payment_error"], "message": SCAM}},
    )

    payment.refresh_from_db()
    assert payment.failure_message == "Your card was declined."  # Stripe's words, for staff
    assert told.count() == 1
    assert not any(SCAM in (n.message + n.title) for n in Notification.objects.all())
    assert not any(SCAM in m.body for m in mail.outbox)
    order.refresh_from_db()
    assert order.payment_error == DECLINED


def test_a_forged_payment_failure_for_an_intent_stripe_never_declined_changes_nothing(
    seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment = services.payment_intent_start(order=order, buyer=buyer)
    intent = stripe().v1.payment_intents.retrieve(payment.stripe_payment_intent_id).to_dict()

    forged(
        stripe_sandbox,
        django_capture_on_commit_callbacks,
        "payment_intent.payment_failed",
        intent | {"last_payment_error": {"type": "card_error", "message": SCAM}},
    )

    payment.refresh_from_db()
    assert (payment.status, payment.failure_message) == (PaymentStatus.PENDING, "")
    assert not Notification.objects.filter(event_code="order.payment_failed").exists()


def test_a_failed_release_is_never_marked_transferred_with_a_transfer_that_is_not_its_own(
    client, seller, listing, buyer, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order = paid_order(client, buyer, listing, capture)
    deliver_order(order=order, actor=seller)
    with monkeypatch.context() as patch:
        sandbox.unreachable(patch)
        decided = services.escrow_release(
            order=order, trigger=ReleaseTrigger.STAFF, actor=StaffFactory()
        )
    assert decided.status == ReleaseStatus.FAILED
    mine = {"bazaar_order_id": str(order.pk), "bazaar_release_id": str(decided.pk)}
    # A real transfer that names the release but moves 1.00 instead of 22.50.
    other = stripe().v1.transfers.create(
        params={
            "amount": 100,
            "currency": "usd",
            "destination": decided.destination_account,
            "source_transaction": decided.source_charge,
            "metadata": mine,
        }
    )
    invented = other.to_dict() | {"id": "tr_1Forged000000000000000", "amount": 2250}

    forged(stripe_sandbox, capture, "transfer.created", invented)
    forged(stripe_sandbox, capture, "transfer.created", other.to_dict())

    decided.refresh_from_db()
    assert (decided.status, decided.stripe_transfer_id) == (ReleaseStatus.FAILED, None)
    assert EscrowRelease.objects.filter(status=ReleaseStatus.TRANSFERRED).count() == 0

    services.release_transfers_retry()  # the real transfer still goes through, once

    decided.refresh_from_db()
    assert decided.status == ReleaseStatus.TRANSFERRED
    assert stripe().v1.transfers.retrieve(decided.stripe_transfer_id).amount == 2250
