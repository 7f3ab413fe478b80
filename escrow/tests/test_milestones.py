"""Milestone orders (#14): the seller splits a service order, the buyer accepts the plan and pays
the whole order once; each milestone is delivered, released (its own Transfer in the order's
transfer_group, its own ledger lines and commission) or refunded on its own, through the real
stripe SDK and the sandbox."""

from datetime import timedelta

import pytest

from core import clock
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.models import AuditEntry
from core.stripe_client import client as stripe
from escrow import ledger, selectors, services
from escrow.commission import split_in_proportion
from escrow.models import (
    Dispute,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    Milestone,
    MilestoneStatus,
    OrderStatus,
    PaymentStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.reconcile import reconcile
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests import harness
from marketplace.factories import ServiceListingFactory
from notifications.models import Notification

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def service(seller):
    return ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")


def plan(*amounts, days=7):
    due = clock.now().date() + timedelta(days=days)
    return [
        {"title": f"Part {n}", "amount_cents": amount, "due_date": due.isoformat()}
        for n, amount in enumerate(amounts, start=1)
    ]


def pay(client, order, buyer, capture):
    with capture():
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        pay_on_checkout_page(client, url)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def milestone_order(client, seller, buyer, service, capture, amounts=(2000, 3000, 5000)):
    """A service order of 100.00 (commission 10.00), split and accepted, then paid."""
    order = place_order(buyer=buyer, listing_id=service.pk)
    services.milestone_plan_propose(order=order, actor=seller, milestones=plan(*amounts))
    services.milestone_plan_accept(order=order, actor=buyer)
    order = pay(client, order, buyer, capture)
    return order, list(order.milestones.order_by("position"))


def notes(user, event_code):
    return Notification.objects.filter(recipient=user, event_code=event_code).count()


def transfers_of(order):
    """The order's transfers in the order of its milestones."""
    positions = dict(Milestone.objects.filter(order=order).values_list("pk", "position"))
    transfers = harness.stripe_transfers_for(order)
    return sorted(transfers, key=lambda t: positions[int(t.metadata["bazaar_milestone_id"])])


# --- The commission's shares --------------------------------------------------------------------


def test_the_commission_is_shared_by_amount_with_the_largest_remainders_taking_the_cents():
    # 10.00 of commission on 33.33 + 33.33 + 33.34: exact shares 3.333, 3.333, 3.334; the floors
    # leave one cent, which goes to the largest remainder (the third).
    assert split_in_proportion(1000, [3333, 3333, 3334]) == [333, 333, 334]
    # Equal remainders: the earlier milestones take the cents left.
    assert split_in_proportion(100, [1, 1, 1]) == [34, 33, 33]
    assert split_in_proportion(2, [1, 1, 1]) == [1, 1, 0]
    assert split_in_proportion(0, [5, 7]) == [0, 0]
    # Whatever the amounts, the shares add up to the order's commission exactly.
    for total, weights in [(999, [1, 2, 3, 4]), (1, [7] * 20), (12345, [1, 99999, 3])]:
        shares = split_in_proportion(total, weights)
        assert sum(shares) == total
        assert all(
            abs(s * sum(weights) - total * w) < sum(weights)
            for s, w in zip(shares, weights, strict=True)
        )
    with pytest.raises(ValueError):
        split_in_proportion(10, [1, 0])


def test_a_plan_fixes_each_milestones_commission_summing_to_the_orders(seller, buyer):
    listing = ServiceListingFactory(store=seller.store, price_cents=10001, currency="usd")
    order = place_order(buyer=buyer, listing_id=listing.pk)
    assert order.commission_cents == 1000  # 10% of 100.01, rounded half up

    made = services.milestone_plan_propose(
        order=order, actor=seller, milestones=plan(3333, 3334, 3334)
    )

    assert [m.commission_cents for m in made] == [333, 334, 333]
    assert sum(m.commission_cents for m in made) == order.commission_cents
    assert {m.status for m in made} == {MilestoneStatus.PROPOSED}


# --- Proposing and accepting --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("milestones", "field", "message"),
    [
        (lambda: plan(5000, 4999), "milestones", "add up to the order's total, US$100.00"),
        (lambda: plan(10000, 0), "milestones.1.amount_cents", "at least 1 cent"),
        (lambda: plan(11000, -1000), "milestones.1.amount_cents", "at least 1 cent"),
        (lambda: plan(*[500] * 20), None, None),
        (lambda: plan(*[476] * 21), "milestones", "at most 20"),
        (lambda: plan(10000), "milestones", "at least 2"),
        (lambda: [], "milestones", "at least two"),
        (lambda: plan(5000, 5000, days=-1), "milestones.0.due_date", "today or a later date"),
        (
            lambda: [{"title": "A", "amount_cents": 5000, "due_date": "31/12/2030"}, *plan(5000)],
            "milestones.0.due_date",
            "YYYY-MM-DD",
        ),
        (
            lambda: [{"title": " ", "amount_cents": 5000, "due_date": "2099-01-01"}, *plan(5000)],
            "milestones.0.title",
            "title",
        ),
        (
            lambda: [{"title": "A", "amount_cents": "50", "due_date": "2099-01-01"}, *plan(9950)],
            "milestones.0.amount_cents",
            "at least 1 cent",
        ),
    ],
)
def test_a_plan_must_add_up_and_each_milestone_be_valid(
    seller, buyer, service, milestones, field, message
):
    order = place_order(buyer=buyer, listing_id=service.pk)
    milestones = milestones()
    if field is None:
        assert (
            len(services.milestone_plan_propose(order=order, actor=seller, milestones=milestones))
            == 20
        )
        return
    with pytest.raises(ValidationFailed) as refused:
        services.milestone_plan_propose(order=order, actor=seller, milestones=milestones)
    assert message in refused.value.errors[field][0]
    assert not Milestone.objects.filter(order=order).exists()


def test_only_the_seller_proposes_only_services_and_only_the_buyer_accepts(
    seller, buyer, service, listing
):
    order = place_order(buyer=buyer, listing_id=service.pk)
    with pytest.raises(NotAllowed):
        services.milestone_plan_propose(order=order, actor=buyer, milestones=plan(5000, 5000))
    product = place_order(buyer=buyer, listing_id=listing.pk)
    with pytest.raises(InvalidTransition, match="Only a service"):
        services.milestone_plan_propose(order=product, actor=seller, milestones=plan(1250, 1250))
    with pytest.raises(InvalidTransition, match="not proposed"):
        services.milestone_plan_accept(order=order, actor=buyer)

    services.milestone_plan_propose(order=order, actor=seller, milestones=plan(5000, 5000))
    with pytest.raises(NotAllowed):
        services.milestone_plan_accept(order=order, actor=seller)


def test_the_seller_replaces_a_proposal_until_the_buyer_accepts_it_then_it_is_fixed(
    seller, buyer, service
):
    order = place_order(buyer=buyer, listing_id=service.pk)
    services.milestone_plan_propose(order=order, actor=seller, milestones=plan(5000, 5000))
    services.milestone_plan_propose(order=order, actor=seller, milestones=plan(2000, 3000, 5000))
    assert list(order.milestones.values_list("amount_cents", flat=True)) == [2000, 3000, 5000]
    assert notes(buyer, "milestones.proposed") == 2

    services.milestone_plan_accept(order=order, actor=buyer)
    services.milestone_plan_accept(order=order, actor=buyer)  # twice: quiet

    order.refresh_from_db()
    assert order.has_milestone_plan
    assert set(order.milestones.values_list("status", flat=True)) == {MilestoneStatus.PENDING}
    assert notes(seller, "milestones.accepted") == 1
    with pytest.raises(InvalidTransition, match="fixed"):
        services.milestone_plan_propose(order=order, actor=seller, milestones=plan(5000, 5000))
    assert AuditEntry.objects.filter(action="escrow.order.milestones_proposed").count() == 2
    assert AuditEntry.objects.filter(action="escrow.order.milestones_accepted").count() == 1


def test_no_plan_once_the_order_was_delivered_as_a_whole(client, seller, buyer, service, capture):
    order = pay(client, place_order(buyer=buyer, listing_id=service.pk), buyer, capture)
    services.milestone_plan_propose(order=order, actor=seller, milestones=plan(5000, 5000))
    deliver_order(order=order, actor=seller)

    with pytest.raises(InvalidTransition, match="before anything is delivered"):
        services.milestone_plan_propose(order=order, actor=seller, milestones=plan(5000, 5000))
    with pytest.raises(InvalidTransition, match="can no longer be agreed"):
        services.milestone_plan_accept(order=order, actor=buyer)


# --- Money: partial releases, refunds, reconcile ------------------------------------------------


def test_three_milestones_release_one_refund_one_auto_release_the_last_and_reconcile_clean(
    client, seller, buyer, service, capture, stripe_sandbox
):
    order, (first, second, third) = milestone_order(client, seller, buyer, service, capture)
    assert [m.commission_cents for m in (first, second, third)] == [200, 300, 500]
    with pytest.raises(InvalidTransition, match="milestone by milestone"):
        deliver_order(order=order, actor=seller)

    # The first: delivered, approved by the buyer; its own transfer of 20.00 - 2.00.
    with capture():
        services.milestone_deliver(milestone=first, actor=seller, note="Sketches")
        released = services.milestone_approve(milestone=first, actor=buyer)
    assert released.status == ReleaseStatus.TRANSFERRED
    assert (released.milestone_id, released.gross_cents, released.commission_cents) == (
        first.pk,
        2000,
        200,
    )
    assert released.transfer_cents == 1800
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED  # two milestones still held
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == -8000
    assert selectors.order_held_cents(order) == 8000
    # The seller's balances hold their share of the two milestones left, not of the order.
    assert selectors.seller_held_cents(seller=seller) == {"usd": 2700 + 4500}

    # The second: the seller refunds it, in full, through the refund service.
    with capture():
        refund = services.milestone_refund(
            milestone=second, actor=seller, initiator=RefundInitiator.SELLER, reason="Not needed"
        )
    assert (refund.status, refund.amount_cents, refund.milestone_id) == (
        RefundStatus.SUCCEEDED,
        3000,
        second.pk,
    )
    assert not refund.after_release
    second.refresh_from_db()
    assert second.status == MilestoneStatus.REFUNDED
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == -5000

    # The third: delivered, and released by the job once its review window is over.
    with capture():
        services.milestone_deliver(milestone=third, actor=seller)
    stripe_sandbox.advance_clock(days=13)
    with capture():
        assert services.escrow_release_due() == 0
    stripe_sandbox.advance_clock(days=1, minutes=1)
    with capture():
        assert services.escrow_release_due() == 1

    last = EscrowRelease.objects.get(milestone=third)
    assert (last.trigger, last.status, last.transfer_cents) == (
        ReleaseTrigger.AUTO,
        ReleaseStatus.TRANSFERRED,
        4500,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert order.release is None  # released milestone by milestone
    # Two transfers in the order's group, each with its own release's key and metadata.
    transfers = transfers_of(order)
    assert [(t.amount, t.metadata["bazaar_milestone_id"]) for t in transfers] == [
        (1800, str(first.pk)),
        (4500, str(third.pk)),
    ]
    assert {t.transfer_group for t in transfers} == {order.transfer_group}
    account = seller.seller_profile.connected_account.stripe_account_id
    assert {t.destination for t in transfers} == {account}
    # The books: escrow empty, commission on what was released only, each line balanced.
    assert ledger.order_total(order) == 0
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert ledger.balance(LedgerAccount.PLATFORM_COMMISSION, order=order) == -700
    assert ledger.balance(LedgerAccount.seller_payable(seller.pk)) == 0
    run = reconcile()
    assert list(run.differences.values_list("kind", "message")) == []
    assert run.orders_checked == 1
    assert notes(seller, "milestone.released") == 2
    assert notes(buyer, "milestone.delivered") == 2


def test_every_milestone_refunded_refunds_the_order(client, seller, buyer, service, capture):
    order, milestones = milestone_order(client, seller, buyer, service, capture, (4000, 6000))
    with capture():
        refunds = services.milestones_refund_rest(
            order=order, actor=seller, initiator=RefundInitiator.SELLER, reason="Cannot do it"
        )
    assert [r.amount_cents for r in refunds] == [4000, 6000]
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert set(EscrowRefund.objects.values_list("status", flat=True)) == {RefundStatus.SUCCEEDED}
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert not EscrowRelease.objects.filter(order=order).exists()
    assert reconcile().difference_count == 0


def test_the_rest_refunded_after_one_release_closes_the_order_as_released(
    client, seller, buyer, service, capture
):
    order, (first, second, third) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
        services.milestone_approve(milestone=first, actor=buyer)
        refunds = services.milestones_refund_rest(
            order=order, actor=seller, initiator=RefundInitiator.SELLER, reason="Stopping here"
        )
    assert [(r.milestone_id, r.amount_cents) for r in refunds] == [
        (second.pk, 3000),
        (third.pk, 5000),
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert order.refunded_cents == 8000
    assert ledger.order_total(order) == 0
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert reconcile().difference_count == 0


def test_a_milestone_order_is_refunded_one_milestone_at_a_time_and_in_full(
    client, seller, buyer, service, capture
):
    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)

    with pytest.raises(ValidationFailed) as no_milestone:
        services.refund_create(
            order=order,
            amount_cents=1000,
            reason="Part",
            initiator=RefundInitiator.SELLER,
            actor=seller,
        )
    assert "milestone by milestone" in no_milestone.value.errors["milestone"][0]
    with pytest.raises(ValidationFailed) as partial:
        services.refund_create(
            order=order,
            amount_cents=1000,
            reason="Part",
            initiator=RefundInitiator.SELLER,
            actor=seller,
            milestone=second,
        )
    assert partial.value.errors["amount_cents"] == [
        "A milestone not released yet is refunded in full: US$30.00."
    ]
    with pytest.raises(NotAllowed):
        services.milestone_refund(
            milestone=second, actor=buyer, initiator=RefundInitiator.SELLER, reason="Mine"
        )
    with pytest.raises(InvalidTransition, match="milestone by milestone"):
        services.order_cancel(order=order, actor=buyer)
    assert not EscrowRefund.objects.exists()

    with capture():
        services.milestone_refund(
            milestone=second, actor=seller, initiator=RefundInitiator.SELLER, reason="Dropped"
        )
    with pytest.raises(ValidationFailed, match="refunded already"):
        services.milestone_refund(
            milestone=second, actor=seller, initiator=RefundInitiator.SELLER, reason="Again"
        )
    with pytest.raises(InvalidTransition, match="refunded"):
        services.milestone_approve(milestone=second, actor=buyer)
    assert EscrowRefund.objects.filter(milestone=second).count() == 1


def test_a_released_milestone_is_refunded_after_release_from_its_own_transfer(
    client, seller, buyer, service, capture
):
    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
        services.milestone_deliver(milestone=second, actor=seller)
        one = services.milestone_approve(milestone=first, actor=buyer)
        two = services.milestone_approve(milestone=second, actor=buyer)

    with pytest.raises(ValidationFailed) as too_much:
        services.refund_create(
            order=order,
            amount_cents=2001,
            reason="More than it",
            initiator=RefundInitiator.SELLER,
            actor=seller,
            milestone=first,
        )
    assert "US$20.00 of this milestone" in too_much.value.errors["amount_cents"][0]
    with capture():
        refund = services.refund_create(
            order=order,
            amount_cents=1000,
            reason="Half of the sketches",
            initiator=RefundInitiator.SELLER,
            actor=seller,
            milestone=first,
        )

    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.after_release
    # The seller's 9.00 comes back from the first milestone's transfer, not the second's.
    assert (refund.seller_share_cents, refund.commission_share_cents) == (900, 100)
    reversal = refund.reversal
    assert reversal.release_id == one.pk and reversal.amount_cents == 900
    assert stripe().v1.transfers.retrieve(one.stripe_transfer_id).amount_reversed == 900
    assert stripe().v1.transfers.retrieve(two.stripe_transfer_id).amount_reversed == 0
    assert ledger.order_total(order) == 0
    assert reconcile().difference_count == 0


# --- Who may do what, and when ------------------------------------------------------------------


def test_a_milestone_is_approved_by_its_buyer_once_delivered_and_released_once(
    client, seller, buyer, service, capture
):
    order, (first, *_) = milestone_order(client, seller, buyer, service, capture)
    with pytest.raises(InvalidTransition, match="once the seller has delivered"):
        services.milestone_approve(milestone=first, actor=buyer)
    with pytest.raises(NotAllowed):
        services.milestone_deliver(milestone=first, actor=buyer)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
    with pytest.raises(NotAllowed):
        services.milestone_approve(milestone=first, actor=seller)

    with capture():
        one = services.milestone_approve(milestone=first, actor=buyer)
        again = services.milestone_approve(milestone=first, actor=buyer)

    assert again.pk == one.pk
    assert EscrowRelease.objects.filter(order=order).count() == 1
    assert len(transfers_of(order)) == 1
    with pytest.raises(InvalidTransition, match="released milestone by milestone"):
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)


def test_a_plan_accepted_before_payment_waits_for_it(seller, buyer, service):
    order = place_order(buyer=buyer, listing_id=service.pk)
    services.milestone_plan_propose(order=order, actor=seller, milestones=plan(5000, 5000))
    services.milestone_plan_accept(order=order, actor=buyer)
    first = order.milestones.get(position=1)

    with pytest.raises(InvalidTransition, match="once the order is paid"):
        services.milestone_deliver(milestone=first, actor=seller)


# --- Disputes -----------------------------------------------------------------------------------


def test_a_dispute_freezes_the_milestones_not_released_and_staff_refund_them(
    client, seller, buyer, service, capture, stripe_sandbox
):
    from django.contrib.auth.models import Permission

    from accounts.factories import StaffFactory

    order, (first, second, third) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
        services.milestone_approve(milestone=first, actor=buyer)
        services.milestone_deliver(milestone=second, actor=seller)
        dispute, _ = services.dispute_open(
            order=order, actor=buyer, reason="not_as_described", description="Wrong colours"
        )
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED
    with pytest.raises(InvalidTransition, match="frozen"):
        services.milestone_approve(milestone=second, actor=buyer)
    with pytest.raises(InvalidTransition, match="frozen"):
        services.milestone_deliver(milestone=third, actor=seller)
    stripe_sandbox.advance_clock(days=15)
    assert list(selectors.milestones_due_for_auto_release()) == []
    assert services.escrow_release_due() == 0

    finance = StaffFactory()
    finance.user_permissions.add(
        Permission.objects.get(codename="resolve_dispute"),
        Permission.objects.get(codename="add_escrowrefund"),
    )
    with pytest.raises(ValidationFailed) as split:
        services.dispute_resolve(
            dispute=dispute,
            actor=finance,
            resolution="split",
            refund_cents=3000,
            release_cents=5000,
            note="Half",
        )
    assert "milestone by milestone" in split.value.errors["resolution"][0]
    with pytest.raises(ValidationFailed, match=r"exactly the US\$80.00 held"):
        services.dispute_resolve(
            dispute=dispute,
            actor=finance,
            resolution="refund",
            refund_cents=10000,
            release_cents=0,
            note="All",
        )
    with capture():
        services.dispute_resolve(
            dispute=dispute,
            actor=finance,
            resolution="refund",
            refund_cents=8000,
            release_cents=0,
            note="Not what was ordered",
        )

    assert Dispute.objects.get().status == "resolved"
    refunds = EscrowRefund.objects.filter(order=order).order_by("milestone__position")
    assert [(r.milestone_id, r.amount_cents, r.status) for r in refunds] == [
        (second.pk, 3000, RefundStatus.SUCCEEDED),
        (third.pk, 5000, RefundStatus.SUCCEEDED),
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED  # the first milestone was released
    assert ledger.order_total(order) == 0
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert len(transfers_of(order)) == 1
    assert reconcile().difference_count == 0


def test_a_dispute_resolved_as_release_releases_each_milestone_on_its_own(
    client, seller, buyer, service, capture
):
    from django.contrib.auth.models import Permission

    from accounts.factories import StaffFactory

    order, (first, second, third) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        dispute, _ = services.dispute_open(
            order=order, actor=buyer, reason="not_received", description="Nothing yet"
        )
    finance = StaffFactory()
    finance.user_permissions.add(Permission.objects.get(codename="resolve_dispute"))
    with capture():
        services.dispute_resolve(
            dispute=dispute,
            actor=finance,
            resolution="release",
            refund_cents=0,
            release_cents=10000,
            note="The work was sent by email",
        )
    releases = EscrowRelease.objects.filter(order=order).order_by("milestone__position")
    assert [(r.gross_cents, r.commission_cents, r.trigger, r.status) for r in releases] == [
        (2000, 200, ReleaseTrigger.DISPUTE, ReleaseStatus.TRANSFERRED),
        (3000, 300, ReleaseTrigger.DISPUTE, ReleaseStatus.TRANSFERRED),
        (5000, 500, ReleaseTrigger.DISPUTE, ReleaseStatus.TRANSFERRED),
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert [t.amount for t in transfers_of(order)] == [1800, 2700, 4500]
    assert reconcile().difference_count == 0


def test_a_withdrawn_dispute_gives_delivered_milestones_a_fresh_review_window(
    client, seller, buyer, service, capture, stripe_sandbox
):
    order, (first, *_) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
        dispute, _ = services.dispute_open(
            order=order, actor=buyer, reason="other", description="Let me check"
        )
    stripe_sandbox.advance_clock(days=15)
    with capture():
        services.dispute_withdraw(dispute=dispute, actor=buyer)
    first.refresh_from_db()
    assert first.review_deadline > clock.now() + timedelta(days=13)
    assert services.escrow_release_due() == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED


def test_the_payment_funds_the_whole_order_once(client, seller, buyer, service, capture):
    order, _ = milestone_order(client, seller, buyer, service, capture)
    payment = order.payments.get(status=PaymentStatus.SUCCEEDED)
    assert payment.amount_cents == order.total_cents == 10000


def test_a_milestone_refund_stripe_refuses_gives_the_milestone_back(
    client, seller, buyer, service, capture, monkeypatch
):
    from core.errors import StripeUnavailable
    from escrow.services import refunds as refunds_module

    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)

    class Refusing:
        class refunds:  # noqa: N801 -- Stripe's resource name
            @staticmethod
            def create(*args, **kwargs):
                raise StripeUnavailable("The card was closed.", retryable=False)

    with monkeypatch.context() as patched:
        patched.setattr(refunds_module, "_stripe", lambda: Refusing)
        with capture():
            refund = services.milestone_refund(
                milestone=first, actor=seller, initiator=RefundInitiator.SELLER, reason="Oops"
            )
    assert refund.status == RefundStatus.FAILED
    first.refresh_from_db()
    assert first.status == MilestoneStatus.DELIVERED  # holds its money again, in review
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == -10000
    assert AuditEntry.objects.filter(action="escrow.milestone.refund_failed").count() == 1

    with capture():
        released = services.milestone_approve(milestone=first, actor=buyer)
    assert released.status == ReleaseStatus.TRANSFERRED
    assert selectors.order_held_cents(order) == 8000
    assert ledger.order_total(order) == 0


# --- Card chargebacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("won", [True, False])
def test_a_chargeback_on_a_milestone_order_after_one_release_is_booked_and_decided(
    client, seller, buyer, service, capture, stripe_sandbox, won
):
    """The card's chargeback takes the whole payment back while one milestone's money is with
    the seller: the chargeback is recorded, the order frozen, the seller's share of the released
    milestone reversed from its transfer (as after an ordinary release), and decided either way
    the books balance and agree with Stripe."""
    from escrow.models import Chargeback, ChargebackStatus
    from stripe_sandbox import control

    order, (first, _second, _third) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller, note="Sketches")
        services.milestone_approve(milestone=first, actor=buyer)
    payment = order.payments.get(status=PaymentStatus.SUCCEEDED)

    with capture():
        control.dispute_create(payment.stripe_charge_id)

    chargeback = Chargeback.objects.get(order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED
    # Their share of the released milestone (20.00 less its 2.00 commission), taken back.
    assert (chargeback.seller_share_cents, chargeback.reversed_cents) == (1800, 1800)
    transfer = EscrowRelease.objects.get(milestone=first).stripe_transfer_id
    assert stripe().v1.transfers.retrieve(transfer).amount_reversed == 1800
    assert ledger.order_total(order) == 0
    (dispute,) = stripe().v1.disputes.list(params={"charge": payment.stripe_charge_id}).data

    with capture():
        control.dispute_close(dispute.id, won=won)

    chargeback.refresh_from_db()
    assert chargeback.status == (ChargebackStatus.WON if won else ChargebackStatus.LOST)
    assert chargeback.returned_cents == (1800 if won else 0)
    assert ledger.order_total(order) == 0
    assert list(reconcile().differences.values_list("message", flat=True)) == []


def test_a_chargeback_takes_the_sellers_share_back_from_each_released_milestone(
    client, seller, buyer, service, capture, stripe_sandbox
):
    from escrow.models import Chargeback
    from stripe_sandbox import control

    order, (first, second, _third) = milestone_order(client, seller, buyer, service, capture)
    for milestone in (first, second):
        with capture():
            services.milestone_deliver(milestone=milestone, actor=seller, note="Done")
            services.milestone_approve(milestone=milestone, actor=buyer)
    payment = order.payments.get(status=PaymentStatus.SUCCEEDED)

    with capture():
        control.dispute_create(payment.stripe_charge_id)

    chargeback = Chargeback.objects.get(order=order)
    assert (chargeback.seller_share_cents, chargeback.reversed_cents) == (1800 + 2700, 4500)
    reversed_by_transfer = [
        stripe().v1.transfers.retrieve(release.stripe_transfer_id).amount_reversed
        for release in EscrowRelease.objects.filter(order=order).order_by("id")
    ]
    assert reversed_by_transfer == [1800, 2700]
    assert ledger.order_total(order) == 0
    assert list(reconcile().differences.values_list("message", flat=True)) == []


# --- The property test's checker sees a milestone order's breakage ----------------------------


def test_the_escrow_checker_flags_a_milestone_whose_rows_disagree(
    client, seller, buyer, service, capture
):
    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
        services.milestone_approve(milestone=first, actor=buyer)
    assert harness.escrow_violations([order], sellers=[seller]) == []

    # A milestone that says released without a release, and one released that says delivered.
    Milestone.objects.filter(pk=second.pk).update(status=MilestoneStatus.RELEASED)
    Milestone.objects.filter(pk=first.pk).update(status=MilestoneStatus.DELIVERED)
    problems = harness.escrow_violations([order], sellers=[seller])

    assert any(f"milestone 2 ({MilestoneStatus.RELEASED}): no release" in p for p in problems)
    assert any(f"milestone 1 ({MilestoneStatus.DELIVERED}): a release" in p for p in problems)
