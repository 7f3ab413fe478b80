"""Disputes through escrow.services and the beat job, end to end with the real stripe SDK and the
sandbox: a buyer's report freezes the order (no auto-release, no reminder), the seller answers,
finance staff release, refund or split what is held (the Stripe transfer and refund made, the
ledger booked), escalation past the deadlines, and how a dispute ends otherwise (withdrawn,
refunded in full by the seller)."""

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import transaction

from accounts.factories import StaffFactory, UserFactory
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.models import AuditEntry
from core.stripe_client import client as stripe
from escrow import ledger, selectors, services
from escrow.models import (
    Dispute,
    DisputeReason,
    DisputeResolution,
    DisputeStatus,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    Order,
    OrderStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.tasks import (
    auto_release_due_orders,
    escalate_overdue_disputes,
    send_release_reminders,
)
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests import harness
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def listing(seller):
    """US$25.00, never out of stock: some tests pay for several orders."""
    return ListingFactory(store=seller.store, price_cents=2500, currency="usd", stock=None)


@pytest.fixture
def paid(client, seller, listing, buyer, capture):
    """A US$50.00 order (2 × 25.00, commission 5.00), paid and held."""

    def make(quantity=2):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=quantity)
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        with capture():
            assert pay_on_checkout_page(client, url).status_code == 302
        order.refresh_from_db()
        assert order.status == OrderStatus.FUNDED
        return order

    return make


@pytest.fixture
def delivered(paid, seller, capture):
    def make():
        order = paid()
        with capture():
            deliver_order(order=order, actor=seller, note="Posted")
        order.refresh_from_db()
        return order

    return make


@pytest.fixture
def finance():
    user = StaffFactory(is_superuser=False)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="escrow", codename="resolve_dispute")
    )
    return user


def open_dispute(order, buyer, capture, **kwargs):
    with capture():
        dispute, created = services.dispute_open(
            order=order,
            actor=buyer,
            reason=kwargs.pop("reason", DisputeReason.NOT_AS_DESCRIBED),
            description=kwargs.pop("description", "The mugs arrived cracked."),
            **kwargs,
        )
    return dispute


def resolve(dispute, actor, capture, resolution, refund=0, release=0, note="Photos show damage."):
    with capture():
        return services.dispute_resolve(
            dispute=dispute,
            actor=actor,
            resolution=resolution,
            refund_cents=refund,
            release_cents=release,
            note=note,
        )


def lines(order, account):
    return sum(
        LedgerEntry.objects.filter(order=order, account=account).values_list(
            "amount_cents", flat=True
        )
    )


def stripe_refunds(order):
    payment = order.payments.get(status="succeeded")
    return list(
        stripe().v1.refunds.list(params={"payment_intent": payment.stripe_payment_intent_id}).data
    )


def assert_escrow_empty(order):
    """Nothing of the order is held any more, and its books balance."""
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == 0
    assert ledger.order_total(order) == 0


# --- Opening ------------------------------------------------------------------------------------


def test_opening_a_dispute_freezes_the_order_no_auto_release_and_no_reminder(
    delivered, buyer, seller, stripe_sandbox, capture
):
    order = delivered()

    dispute = open_dispute(order, buyer, capture)

    order.refresh_from_db()
    assert (order.status, order.disputed_from) == (OrderStatus.DISPUTED, OrderStatus.DELIVERED)
    assert dispute.status == DisputeStatus.OPEN
    # BAZAAR_DISPUTE_RESPONSE_DAYS (3) for the seller, BAZAAR_DISPUTE_RESOLUTION_DAYS (10) in all.
    assert (dispute.resolve_by - dispute.response_due_at).days == 7
    assert seller.notifications.filter(event_code="dispute.opened").count() == 1
    assert buyer.notifications.filter(event_code="dispute.received").count() == 1
    assert AuditEntry.objects.filter(action="escrow.dispute.opened", actor=buyer).count() == 1
    assert AuditEntry.objects.filter(action="escrow.order.disputed", target_id=str(order.pk))

    # The review window ends; the reminder and the release both pass the order by.
    stripe_sandbox.advance_clock(days=13)
    with capture():
        assert send_release_reminders.delay().get() == 0
    stripe_sandbox.advance_clock(days=30)
    with capture():
        assert auto_release_due_orders.delay().get() == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED
    assert not EscrowRelease.objects.filter(order=order).exists()
    assert harness.stripe_transfers_for(order) == []
    with pytest.raises(InvalidTransition):
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)


def test_only_the_buyer_opens_one_while_the_money_is_held(paid, buyer, seller, capture):
    order = paid()
    with pytest.raises(NotAllowed):
        open_dispute(order, seller, capture)
    with pytest.raises(NotAllowed):
        open_dispute(order, UserFactory(), capture)
    with pytest.raises(ValidationFailed) as bad:
        open_dispute(order, buyer, capture, reason="meh", description="  ")
    assert set(bad.value.errors) == {"reason", "description"}
    assert not Dispute.objects.exists()

    dispute = open_dispute(order, buyer, capture)  # a funded order: not delivered yet
    with pytest.raises(InvalidTransition):
        open_dispute(order, buyer, capture)
    assert list(Dispute.objects.values_list("pk", flat=True)) == [dispute.pk]

    released = paid()
    deliver_order(order=released, actor=seller)
    with capture():
        services.escrow_release(order=released, trigger=ReleaseTrigger.BUYER, actor=buyer)
    with pytest.raises(InvalidTransition):
        open_dispute(released, buyer, capture)
    unpaid = place_order(buyer=buyer, listing_id=order.listing_id)
    with pytest.raises(InvalidTransition):
        open_dispute(unpaid, buyer, capture)


def test_the_same_client_key_returns_the_same_dispute(paid, buyer, capture):
    order = paid()
    first = open_dispute(order, buyer, capture, client_key="k1")
    again, created = services.dispute_open(
        order=order,
        actor=buyer,
        reason=DisputeReason.NOT_AS_DESCRIBED,
        description="The mugs arrived cracked.",
        client_key="k1",
    )
    assert (again.pk, created) == (first.pk, False)
    assert Dispute.objects.count() == 1


# --- Answering and withdrawing ------------------------------------------------------------------


def test_the_seller_answers_once_and_the_buyer_is_told(paid, buyer, seller, capture):
    dispute = open_dispute(paid(), buyer, capture)
    with pytest.raises(NotAllowed):
        services.dispute_respond(dispute=dispute, actor=buyer, response="Me too")
    with pytest.raises(ValidationFailed) as empty:
        services.dispute_respond(dispute=dispute, actor=seller, response=" ")
    assert list(empty.value.errors) == ["response"]

    with capture():
        answered = services.dispute_respond(
            dispute=dispute, actor=seller, response="They left intact; see the photo."
        )

    assert answered.status == DisputeStatus.ANSWERED
    assert answered.response == "They left intact; see the photo."
    assert answered.responded_at is not None
    assert buyer.notifications.filter(event_code="dispute.answered").count() == 1
    assert seller.notifications.filter(event_code="dispute.answer_sent").count() == 1
    with pytest.raises(InvalidTransition):
        services.dispute_respond(dispute=dispute, actor=seller, response="Again")


def test_withdrawing_returns_a_delivered_order_with_a_fresh_review_window(
    delivered, buyer, seller, stripe_sandbox, capture, settings
):
    order = delivered()
    first_deadline = order.review_deadline
    stripe_sandbox.advance_clock(days=13)
    with capture():
        assert send_release_reminders.delay().get() == 1  # reminded before reporting
    dispute = open_dispute(order, buyer, capture)
    stripe_sandbox.advance_clock(days=5)  # past the first review window

    with pytest.raises(NotAllowed):
        services.dispute_withdraw(dispute=dispute, actor=seller)
    with capture():
        withdrawn = services.dispute_withdraw(dispute=dispute, actor=buyer)
        again = services.dispute_withdraw(dispute=dispute, actor=buyer)  # quiet

    assert withdrawn.status == again.status == DisputeStatus.WITHDRAWN
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert order.review_deadline > first_deadline
    window = order.review_deadline - withdrawn.closed_at
    assert abs(window.total_seconds() - settings.BAZAAR_REVIEW_WINDOW_DAYS * 86400) < 60
    assert order.reminder_sent_at is None
    assert seller.notifications.filter(event_code="dispute.withdrawn").count() == 1
    with capture():
        assert auto_release_due_orders.delay().get() == 0  # the new window is still open
    # A new problem can be reported in the new window.
    assert open_dispute(order, buyer, capture).status == DisputeStatus.OPEN


# --- Resolving ----------------------------------------------------------------------------------


def test_resolve_release_transfers_what_is_held_to_the_seller(
    delivered, buyer, seller, finance, capture
):
    order = delivered()
    dispute = open_dispute(order, buyer, capture)

    dispute = resolve(dispute, finance, capture, DisputeResolution.RELEASE, release=5000)

    assert (dispute.status, dispute.resolution, dispute.resolved_by) == (
        DisputeStatus.RESOLVED,
        DisputeResolution.RELEASE,
        finance,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    release = EscrowRelease.objects.get(order=order)
    assert (release.trigger, release.actor, release.status) == (
        ReleaseTrigger.DISPUTE,
        finance,
        ReleaseStatus.TRANSFERRED,
    )
    assert [t.amount for t in harness.stripe_transfers_for(order)] == [4500]
    assert stripe_refunds(order) == []
    assert lines(order, LedgerAccount.PLATFORM_COMMISSION) == -500
    assert_escrow_empty(order)
    assert harness.escrow_violations([order], sellers=[seller]) == []
    assert buyer.notifications.filter(event_code="dispute.resolved").count() == 1
    assert seller.notifications.get(event_code="dispute.resolved").message.startswith(
        "The US$50.00 held is released to you"
    )
    assert AuditEntry.objects.filter(action="escrow.dispute.resolved", actor=finance).count() == 1
    assert AuditEntry.objects.filter(action="escrow.release.created", actor=finance).count() == 1


def test_resolve_refund_gives_the_buyer_everything_back(
    delivered, buyer, seller, finance, capture, stripe_sandbox
):
    order = delivered()
    dispute = open_dispute(order, buyer, capture)

    dispute = resolve(dispute, finance, capture, DisputeResolution.REFUND, refund=5000)

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    refund = EscrowRefund.objects.get(order=order)
    assert dispute.refund == refund
    assert (refund.initiator, refund.actor, refund.status, refund.amount_cents) == (
        RefundInitiator.DISPUTE,
        finance,
        RefundStatus.SUCCEEDED,
        5000,
    )
    assert [(r.amount, r.id) for r in stripe_refunds(order)] == [(5000, refund.stripe_refund_id)]
    assert harness.stripe_transfers_for(order) == []
    assert not EscrowRelease.objects.filter(order=order).exists()
    assert_escrow_empty(order)
    assert buyer.notifications.get(event_code="dispute.resolved").message.startswith(
        "US$50.00 is refunded to you."
    )
    stripe_sandbox.advance_clock(days=30)
    with capture():
        assert auto_release_due_orders.delay().get() == 0


def test_resolve_split_refunds_part_and_releases_the_rest(
    delivered, buyer, seller, finance, capture
):
    order = delivered()
    dispute = open_dispute(order, buyer, capture)
    services.dispute_respond(dispute=dispute, actor=seller, response="Only one was chipped.")

    dispute = resolve(dispute, finance, capture, DisputeResolution.SPLIT, refund=3000, release=2000)

    assert (dispute.refund_cents, dispute.release_cents) == (3000, 2000)
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert [r.amount for r in stripe_refunds(order)] == [3000]
    release = EscrowRelease.objects.get(order=order)
    # The platform keeps commission on the released part only: 10% of 20.00.
    assert (release.gross_cents, release.commission_cents, release.transfer_cents) == (
        2000,
        200,
        1800,
    )
    assert [t.amount for t in harness.stripe_transfers_for(order)] == [1800]
    assert EscrowRefund.objects.get(order=order).status == RefundStatus.SUCCEEDED
    assert lines(order, LedgerAccount.PLATFORM_COMMISSION) == -200
    assert lines(order, LedgerAccount.seller_payable(seller.pk)) == 0
    # The platform's Stripe balance: the charge in, its fee, the refund and the transfer out.
    fee = -lines(order, LedgerAccount.STRIPE_FEES) * -1
    assert lines(order, LedgerAccount.STRIPE_BALANCE) == 5000 - fee - 3000 - 1800
    assert_escrow_empty(order)
    assert harness.escrow_violations([order], sellers=[seller]) == []


def test_a_split_that_does_not_add_up_is_refused_and_changes_nothing(
    delivered, buyer, finance, capture
):
    order = delivered()
    dispute = open_dispute(order, buyer, capture)

    for resolution, refund, release, fields in [
        (DisputeResolution.SPLIT, 3000, 1000, {"refund_cents", "release_cents"}),
        (DisputeResolution.SPLIT, 0, 5000, {"refund_cents"}),
        (DisputeResolution.RELEASE, 0, 4999, {"release_cents"}),
        (DisputeResolution.REFUND, 5001, 0, {"refund_cents"}),
        (DisputeResolution.RELEASE, 100, 4900, {"refund_cents"}),
        (DisputeResolution.SPLIT, -1, 5001, {"refund_cents"}),
        ("halve", 2500, 2500, {"resolution"}),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            resolve(dispute, finance, capture, resolution, refund=refund, release=release)
        assert set(refused.value.errors) == fields, (resolution, refund, release)
    with pytest.raises(ValidationFailed) as no_note:
        resolve(dispute, finance, capture, DisputeResolution.RELEASE, release=5000, note="")
    assert set(no_note.value.errors) == {"note"}
    with pytest.raises(ValidationFailed) as mismatch:
        resolve(dispute, finance, capture, DisputeResolution.SPLIT, refund=3000, release=1000)
    assert mismatch.value.errors["refund_cents"] == [
        "Refund and release must add up to exactly the US$50.00 held (they add up to US$40.00)."
    ]

    dispute.refresh_from_db()
    order.refresh_from_db()
    assert dispute.status == DisputeStatus.OPEN
    assert order.status == OrderStatus.DISPUTED
    assert not EscrowRefund.objects.exists() and not EscrowRelease.objects.exists()
    assert stripe_refunds(order) == [] and harness.stripe_transfers_for(order) == []


def test_only_finance_staff_and_superusers_resolve(delivered, buyer, seller, capture):
    support = StaffFactory(is_superuser=False)
    support.user_permissions.add(
        Permission.objects.get(content_type__app_label="escrow", codename="view_dispute")
    )
    for outsider in (buyer, seller, support, UserFactory()):
        dispute = open_dispute(delivered(), buyer, capture)
        with pytest.raises(NotAllowed):
            resolve(dispute, outsider, capture, DisputeResolution.RELEASE, release=5000)
        dispute.refresh_from_db()
        assert dispute.status == DisputeStatus.OPEN
    superuser = StaffFactory()
    resolve(dispute, superuser, capture, DisputeResolution.RELEASE, release=5000)
    dispute.refresh_from_db()
    assert dispute.resolved_by == superuser
    with pytest.raises(InvalidTransition):
        resolve(dispute, superuser, capture, DisputeResolution.RELEASE, release=5000)


def test_a_partial_refund_during_the_dispute_lowers_what_is_held(
    paid, buyer, seller, finance, capture
):
    order = paid()
    dispute = open_dispute(order, buyer, capture)
    with capture():
        services.refund_create(
            order=order,
            amount_cents=1000,
            reason="Goodwill",
            initiator=RefundInitiator.SELLER,
            actor=seller,
        )
    with pytest.raises(ValidationFailed):
        resolve(dispute, finance, capture, DisputeResolution.RELEASE, release=5000)

    resolve(dispute, finance, capture, DisputeResolution.SPLIT, refund=2000, release=2000)

    assert sorted(r.amount for r in stripe_refunds(order)) == [1000, 2000]
    assert [t.amount for t in harness.stripe_transfers_for(order)] == [1800]
    assert_escrow_empty(order)


def test_a_sellers_full_refund_ends_the_dispute_as_refunded(paid, buyer, seller, capture):
    order = paid()
    dispute = open_dispute(order, buyer, capture)

    with capture():
        services.refund_create(
            order=order,
            amount_cents=5000,
            reason="Sorry about that",
            initiator=RefundInitiator.SELLER,
            actor=seller,
        )

    order.refresh_from_db()
    dispute.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert (dispute.status, dispute.resolution, dispute.refund_cents, dispute.release_cents) == (
        DisputeStatus.RESOLVED,
        DisputeResolution.REFUND,
        5000,
        0,
    )
    assert dispute.resolved_by == seller
    assert AuditEntry.objects.filter(action="escrow.dispute.resolved", actor=seller).count() == 1
    assert buyer.notifications.filter(event_code="dispute.resolved").count() == 1
    with pytest.raises(InvalidTransition):
        services.dispute_withdraw(dispute=dispute, actor=buyer)
    assert_escrow_empty(order)
    # The dispute's timeline says who closed it, in words.
    assert selectors.dispute_timeline(dispute)[-1].title == (
        "The seller refunded the order in full; the dispute is closed"
    )


# --- Escalation ---------------------------------------------------------------------------------


def test_escalation_flags_overdue_disputes_once_and_emails_the_deciders(
    paid, buyer, seller, finance, capture, stripe_sandbox
):
    superuser = StaffFactory()
    support = StaffFactory(is_superuser=False)
    unanswered = open_dispute(paid(), buyer, capture)
    answered = open_dispute(paid(), buyer, capture)
    with capture():  # its emails sent now, not by the escalation's
        services.dispute_respond(dispute=answered, actor=seller, response="Delivered on time.")
        assert escalate_overdue_disputes.delay().get() == 0

    stripe_sandbox.advance_clock(days=3, minutes=1)  # the seller's deadline passed
    mail.outbox.clear()
    with capture():
        assert escalate_overdue_disputes.delay().get() == 1
        assert escalate_overdue_disputes.delay().get() == 0

    unanswered.refresh_from_db()
    answered.refresh_from_db()
    assert unanswered.escalated_at is not None and answered.escalated_at is None
    told = {m.to[0] for m in mail.outbox}
    assert told == {finance.email, superuser.email}
    assert support.email not in told
    assert all(f"Dispute #{unanswered.pk} needs a decision" in m.subject for m in mail.outbox)
    assert AuditEntry.objects.filter(action="escrow.dispute.escalated").count() == 1

    stripe_sandbox.advance_clock(days=7)  # staff's deadline passed for the answered one too
    mail.outbox.clear()
    with capture():
        assert escalate_overdue_disputes.delay().get() == 1
        assert escalate_overdue_disputes.delay().get() == 0
    answered.refresh_from_db()
    assert answered.escalated_at is not None
    assert len(mail.outbox) == 2


def test_a_resolved_or_withdrawn_dispute_is_never_escalated(
    paid, buyer, finance, capture, stripe_sandbox
):
    withdrawn = open_dispute(paid(), buyer, capture)
    services.dispute_withdraw(dispute=withdrawn, actor=buyer)
    resolved = open_dispute(paid(), buyer, capture)
    resolve(resolved, finance, capture, DisputeResolution.RELEASE, release=5000)
    stripe_sandbox.advance_clock(days=20)
    with capture():
        assert escalate_overdue_disputes.delay().get() == 0


def test_an_open_dispute_keeps_the_order_frozen_when_something_else_unfreezes_it(
    delivered, buyer, capture, stripe_sandbox
):
    """A chargeback won (the other reason an order is frozen) must not release the order from
    under the buyer's open dispute."""
    order = delivered()
    open_dispute(order, buyer, capture)

    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        _, moved = services.order_mark_undisputed(order=locked, action="escrow.order.test")

    assert moved is False
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED
    stripe_sandbox.advance_clock(days=30)
    with capture():
        assert auto_release_due_orders.delay().get() == 0
