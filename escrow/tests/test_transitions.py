"""Payments' and releases' states: every move is in one table, goes through one audited
transition, and a repeat (a webhook delivered twice, a retried job) is quiet."""

import pytest
import stripe
from django.contrib.contenttypes.models import ContentType

from accounts.factories import StaffFactory
from core.errors import InvalidTransition
from core.models import AuditEntry
from core.stripe_client import client as stripe_client
from escrow import services
from escrow.factories import EscrowPaymentFactory, EscrowReleaseFactory
from escrow.models import (
    PAYMENT_TRANSITIONS,
    RELEASE_TRANSITIONS,
    EscrowPayment,
    EscrowRelease,
    PaymentStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.services.transitions import payment_move, release_move
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests.test_admin import stripe_down  # the admin tests' "Stripe is unreachable"

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"
DECLINED = "4000 0000 0000 0002"


def trail(row):
    """(action, before status, after status, actor) of the row's audit entries, oldest first."""
    entries = AuditEntry.objects.filter(
        target_type=ContentType.objects.get_for_model(row), target_id=str(row.pk)
    ).order_by("created_at", "id")
    return [(e.action, e.before.get("status"), e.after.get("status"), e.actor) for e in entries]


def checkout(client, order, buyer, card="4242 4242 4242 4242"):
    payment, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    pay_on_checkout_page(client, url, card)
    return payment


# --- The tables ---------------------------------------------------------------------------------


def test_every_payment_and_release_status_has_its_moves_written_down():
    assert set(PAYMENT_TRANSITIONS) == set(PaymentStatus)
    assert set(RELEASE_TRANSITIONS) == set(ReleaseStatus)
    # Money taken is final: nothing moves a succeeded or duplicate payment, or a transfer made.
    assert PAYMENT_TRANSITIONS[PaymentStatus.SUCCEEDED] == set()
    assert PAYMENT_TRANSITIONS[PaymentStatus.DUPLICATE] == set()
    assert RELEASE_TRANSITIONS[ReleaseStatus.TRANSFERRED] == set()


def test_a_move_outside_the_table_is_refused_and_a_repeat_is_quiet():
    payment = EscrowPaymentFactory(status=PaymentStatus.SUCCEEDED)
    release = EscrowReleaseFactory(status=ReleaseStatus.TRANSFERRED)

    with pytest.raises(InvalidTransition):
        payment_move(payment=payment, to=PaymentStatus.FAILED, failure_message="late")
    with pytest.raises(InvalidTransition):
        release_move(release=release, to=ReleaseStatus.FAILED, failure_message="late")
    assert payment_move(payment=payment, to=PaymentStatus.SUCCEEDED) == (payment, False)
    assert release_move(release=release, to=ReleaseStatus.TRANSFERRED) == (release, False)

    assert EscrowPayment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCEEDED
    assert EscrowRelease.objects.get(pk=release.pk).status == ReleaseStatus.TRANSFERRED
    assert not AuditEntry.objects.exists()


# --- Payments -----------------------------------------------------------------------------------


def test_a_payment_is_audited_from_creation_to_success_once(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    with stripe_sandbox.webhooks_held():
        payment = checkout(client, order, buyer)
    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.deliver(stripe_sandbox.pending_deliveries(), times=2)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert trail(payment) == [
        ("escrow.payment.created", None, "pending", buyer),
        ("escrow.payment.succeeded", "pending", "succeeded", None),
    ]
    succeeded = AuditEntry.objects.get(action="escrow.payment.succeeded")
    assert succeeded.after["stripe_charge_id"] == payment.stripe_charge_id


def test_a_declined_then_paid_attempt_is_audited_failed_then_succeeded(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url, DECLINED)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED

    # The same decline reported again (a repeated webhook) writes nothing more.
    services.payment_fail(payment_intent_id=payment.stripe_payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert [step[:3] for step in trail(payment)] == [
        ("escrow.payment.created", None, "pending"),
        ("escrow.payment.failed", "pending", "failed"),
        ("escrow.payment.succeeded", "failed", "succeeded"),
    ]


def test_a_new_reason_for_a_failed_payment_is_kept_and_audited(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment = services.payment_intent_start(order=order, buyer=buyer)
    intent = payment.stripe_payment_intent_id

    for card in ("pm_card_chargeDeclined", "pm_card_chargeDeclinedExpiredCard"):
        with pytest.raises(stripe.CardError):
            stripe_client().v1.payment_intents.confirm(intent, params={"payment_method": card})
        services.payment_fail(payment_intent_id=intent)  # the webhook, twice: once is enough
        services.payment_fail(payment_intent_id=intent)

    payment.refresh_from_db()
    assert (payment.status, payment.failure_message) == (
        PaymentStatus.FAILED,
        "Your card has expired.",
    )
    failed = AuditEntry.objects.filter(action="escrow.payment.failed").order_by("id")
    assert [e.after["failure_message"] for e in failed] == [
        "Your card was declined.",
        "Your card has expired.",
    ]


def test_a_second_payment_is_audited_as_duplicated(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    in_the_app = services.payment_intent_start(order=order, buyer=buyer)
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)
        stripe_client().v1.payment_intents.confirm(
            in_the_app.stripe_payment_intent_id, params={"payment_method": "pm_card_visa"}
        )

    second = EscrowPayment.objects.filter(order=order).order_by("pk").last()
    assert trail(second)[-1][:3] == ("escrow.payment.duplicated", "pending", "duplicate")


def test_stripe_unreachable_when_starting_fails_the_attempt_with_an_audit_entry(
    seller, listing, buyer, monkeypatch
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    services.stripe_customer_get_or_create(user=buyer)
    stripe_down(monkeypatch)

    with pytest.raises(services.PaymentUnavailable):
        services.payment_intent_start(order=order, buyer=buyer)

    payment = EscrowPayment.objects.get(order=order)
    assert trail(payment) == [
        ("escrow.payment.created", None, "pending", buyer),
        ("escrow.payment.failed", "pending", "failed", buyer),
    ]


# --- Releases -----------------------------------------------------------------------------------


def test_a_release_is_audited_created_then_transferred(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    with django_capture_on_commit_callbacks(execute=True):
        checkout(client, order, buyer)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=seller)
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
        # A repeated transfer.created webhook changes nothing more.
        services.release_transfer_record(transfer_id=decided.stripe_transfer_id)

    assert trail(decided) == [
        ("escrow.release.created", None, "pending", buyer),
        ("escrow.release.transferred", "pending", "transferred", None),
    ]
    created = AuditEntry.objects.get(action="escrow.release.created")
    assert (created.after["gross_cents"], created.after["transfer_cents"]) == (2500, 2250)


def test_a_refused_transfer_is_audited_failed_then_transferred_on_retry(
    client, seller, listing, buyer, monkeypatch, django_capture_on_commit_callbacks
):
    staff = StaffFactory()
    order = place_order(buyer=buyer, listing_id=listing.pk)
    with django_capture_on_commit_callbacks(execute=True):
        checkout(client, order, buyer)
    deliver_order(order=order, actor=seller)
    with monkeypatch.context() as patch:
        stripe_down(patch)
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.STAFF, actor=staff)
        # The retry job failing again for the same reason writes nothing more.
        services.release_transfers_retry()
    assert decided.status == ReleaseStatus.FAILED

    services.release_transfers_retry()

    assert [step[:3] for step in trail(decided)] == [
        ("escrow.release.created", None, "pending"),
        ("escrow.release.failed", "pending", "failed"),
        ("escrow.release.transferred", "failed", "transferred"),
    ]


def test_each_reversal_booked_is_audited_once(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    with django_capture_on_commit_callbacks(execute=True):
        checkout(client, order, buyer)
    deliver_order(order=order, actor=seller)
    release = services.escrow_release(
        order=order, trigger=ReleaseTrigger.STAFF, actor=StaffFactory()
    )
    for amount in (300, 200):  # Stripe's transfer.reversed webhooks are not delivered here
        stripe_client().v1.transfers.reversals.create(
            release.stripe_transfer_id, params={"amount": amount}
        )

    services.release_reversals_record(transfer_id=release.stripe_transfer_id)
    services.release_reversals_record(transfer_id=release.stripe_transfer_id)

    reversed_ = AuditEntry.objects.filter(action="escrow.release.reversed").order_by("id")
    assert [e.after["amount_cents"] for e in reversed_] == [300, 200]
    assert release.reversals.count() == 2
