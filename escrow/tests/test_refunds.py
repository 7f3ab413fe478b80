"""Refunds through refund_create and Stripe's refund events, end to end through the real stripe
SDK and the sandbox: the Stripe objects made (refunds, transfer reversals), the ledger lines,
the order's status, the seller's debt when their balance cannot cover a refund after release."""

import pytest
from django.contrib.auth.models import Permission

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.selectors import connected_account_id_for
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.stripe_client import client as stripe
from escrow import ledger, services
from escrow.models import (
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    OrderStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseTrigger,
    TransferReversal,
)
from escrow.reconcile import reconcile
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests import harness
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@pytest.fixture
def paid(client, seller, listing, buyer, django_capture_on_commit_callbacks):
    """A US$50.00 order (2 × 25.00, commission 5.00), paid and held."""

    def make(quantity=2, the_listing=None, the_buyer=None):
        the_buyer = the_buyer or buyer
        order = place_order(
            buyer=the_buyer, listing_id=(the_listing or listing).pk, quantity=quantity
        )
        _, url = services.payment_checkout_start(
            order=order, buyer=the_buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert pay_on_checkout_page(client, url).status_code == 302
        order.refresh_from_db()
        assert order.status == OrderStatus.FUNDED
        return order

    return make


def released(order, seller, buyer=None):
    deliver_order(order=order, actor=seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=order.buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    return order


def refund(order, amount, actor, initiator=RefundInitiator.SELLER, **kwargs):
    return services.refund_create(
        order=order,
        amount_cents=amount,
        reason="Chipped in the post",
        initiator=initiator,
        actor=actor,
        **kwargs,
    )


def stripe_refunds(order):
    payment = order.payments.get(status="succeeded")
    return list(
        stripe().v1.refunds.list(params={"payment_intent": payment.stripe_payment_intent_id}).data
    )


def lines(order, account):
    return sum(
        LedgerEntry.objects.filter(order=order, account=account).values_list(
            "amount_cents", flat=True
        )
    )


# --- Before release -----------------------------------------------------------------------------


def test_a_partial_refund_before_release_refunds_the_charge_and_releases_the_rest(
    paid, seller, buyer
):
    order = paid()

    made = refund(order, 1000, seller)

    assert (made.status, made.after_release, made.amount_cents) == (
        RefundStatus.SUCCEEDED,
        False,
        1000,
    )
    assert [(r.amount, r.id) for r in stripe_refunds(order)] == [(1000, made.stripe_refund_id)]
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == -4000
    assert ledger.order_total(order) == 0
    assert_reconciled()
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED  # partly refunded: the rest is still held
    assert buyer.notifications.filter(event_code="order.refunded").count() == 1
    assert seller.notifications.filter(event_code="order.refund_made").count() == 1

    released(order, seller, buyer)

    # 40.00 left: the platform keeps its commission on that part only (4.00 of 5.00).
    release = EscrowRelease.objects.get(order=order)
    assert (release.gross_cents, release.commission_cents, release.transfer_cents) == (
        4000,
        400,
        3600,
    )
    assert [t.amount for t in harness.stripe_transfers_for(order)] == [3600]
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == 0
    assert lines(order, LedgerAccount.PLATFORM_COMMISSION) == -400
    assert harness.escrow_violations([order], sellers=[seller]) == []


def test_a_full_refund_before_release_ends_the_order_and_nothing_is_released(
    paid, seller, buyer, stripe_sandbox
):
    order = paid()
    deliver_order(order=order, actor=seller, note="Sent")

    refund(order, 5000, seller)

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == 0
    stripe_sandbox.advance_clock(days=15)
    assert services.escrow_release_due() == 0
    with pytest.raises(InvalidTransition):
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    assert not EscrowRelease.objects.filter(order=order).exists()


def test_a_refund_larger_than_what_is_left_is_refused_and_changes_nothing(paid, seller):
    order = paid()
    refund(order, 4000, seller)

    with pytest.raises(ValidationFailed) as refused:
        refund(order, 1001, seller)

    assert refused.value.errors == {"amount_cents": ["At most US$10.00 can still be refunded."]}
    assert EscrowRefund.objects.count() == 1
    assert [r.amount for r in stripe_refunds(order)] == [4000]
    for bad in (0, -5, 2.5, "10", True):
        with pytest.raises(ValidationFailed):
            refund(order, bad, seller)
    with pytest.raises(ValidationFailed) as no_reason:
        services.refund_create(
            order=order, amount_cents=100, reason="  ", initiator="seller", actor=seller
        )
    assert "reason" in no_reason.value.errors


def test_only_the_orders_seller_and_finance_staff_may_refund(paid, seller, buyer):
    order = paid()
    support = StaffFactory(is_superuser=False)
    finance = StaffFactory(is_superuser=False)
    finance.user_permissions.add(Permission.objects.get(codename="add_escrowrefund"))

    for outsider, initiator in [
        (buyer, RefundInitiator.SELLER),
        (SellerFactory(), RefundInitiator.SELLER),
        (UserFactory(), RefundInitiator.STAFF),
        (support, RefundInitiator.STAFF),
    ]:
        with pytest.raises(NotAllowed):
            refund(order, 100, outsider, initiator)
    assert not EscrowRefund.objects.exists()

    made = refund(order, 100, finance, RefundInitiator.STAFF)
    assert made.status == RefundStatus.SUCCEEDED and made.actor == finance


def test_the_same_client_key_refunds_once(paid, seller):
    order = paid()
    first = refund(order, 700, seller, client_key="abc")
    again = refund(order, 700, seller, client_key="abc")

    assert again.pk == first.pk
    assert [r.amount for r in stripe_refunds(order)] == [700]


# --- After release ------------------------------------------------------------------------------


def test_a_refund_after_release_reverses_the_sellers_share_and_returns_commission(
    paid, seller, buyer
):
    order = released(paid(), seller, buyer)
    transfer = harness.stripe_transfers_for(order)[0]

    made = refund(order, 2000, seller)

    # 20.00 of 50.00 refunded: the seller returns 18.00 of their 45.00, the platform 2.00 of its
    # 5.00 commission.
    assert (made.after_release, made.seller_share_cents, made.commission_share_cents) == (
        True,
        1800,
        200,
    )
    reversal = TransferReversal.objects.get(refund=made)
    assert reversal.amount_cents == 1800
    stripe_transfer = stripe().v1.transfers.retrieve(transfer.id)
    assert stripe_transfer.amount_reversed == 1800
    assert [r.amount for r in stripe_refunds(order)] == [2000]
    assert lines(order, LedgerAccount.PLATFORM_COMMISSION) == -300
    assert lines(order, LedgerAccount.TRANSFER_REVERSALS) == 0
    assert ledger.order_total(order) == 0
    assert_reconciled()
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED

    rest = refund(order, 3000, seller)

    assert (rest.seller_share_cents, rest.commission_share_cents) == (2700, 300)
    assert stripe().v1.transfers.retrieve(transfer.id).amount_reversed == 4500
    assert lines(order, LedgerAccount.PLATFORM_COMMISSION) == 0
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    # The webhooks of the reversals found them booked already: each booked once.
    assert TransferReversal.objects.filter(release__order=order).count() == 2
    assert ledger.order_total(order) == 0
    assert_reconciled()


def test_a_refund_after_release_with_commission_kept_takes_it_all_from_the_seller(
    paid, seller, buyer, settings
):
    settings.ESCROW_REFUND_RETURNS_COMMISSION = False
    order = released(paid(), seller, buyer)

    made = refund(order, 2000, seller)

    assert (made.seller_share_cents, made.commission_share_cents) == (2000, 0)
    assert lines(order, LedgerAccount.PLATFORM_COMMISSION) == -500


def _drain(seller, stripe_sandbox):
    """The seller is paid out everything on their Stripe balance."""
    account = connected_account_id_for(seller)
    stripe_sandbox.advance_clock(days=8)  # the transfer's funds become available
    balance = stripe().v1.balance.retrieve(options={"stripe_account": account})
    available = sum(b.amount for b in balance.available if b.currency == "usd")
    stripe().v1.payouts.create(
        params={"amount": available, "currency": "usd"}, options={"stripe_account": account}
    )
    return account


def test_a_seller_who_cannot_cover_a_refund_owes_it_and_pays_from_the_next_release(
    paid, seller, buyer, listing, stripe_sandbox
):
    listing.stock = 10
    listing.save(update_fields=["stock"])
    order = released(paid(), seller, buyer)
    _drain(seller, stripe_sandbox)

    made = refund(order, 2000, seller)

    # The buyer is refunded anyway; the seller's 18.00 is their debt.
    assert made.status == RefundStatus.SUCCEEDED
    assert (made.seller_share_cents, made.debt_cents) == (1800, 1800)
    assert not TransferReversal.objects.filter(refund=made).exists()
    assert [r.amount for r in stripe_refunds(order)] == [2000]
    debt = LedgerAccount.seller_debt(seller.pk)
    assert ledger.balance(debt, currency="usd") == 1800
    assert ledger.order_total(order) == 0
    assert_reconciled()
    note = seller.notifications.get(event_code="order.refund_made")
    assert "$18.00 will be taken from your next payments" in note.message

    # The next sale pays it back: 45.00 owed to the seller, 18.00 kept for the debt.
    second = released(paid(the_buyer=UserFactory()), seller)
    release = EscrowRelease.objects.get(order=second)
    assert (release.debt_recovered_cents, release.transfer_cents) == (1800, 2700)
    assert [t.amount for t in harness.stripe_transfers_for(second)] == [2700]
    assert ledger.balance(debt, currency="usd") == 0
    assert ledger.order_total(second) == 0

    # Paid off: the sale after that is not touched.
    third = released(paid(the_buyer=UserFactory()), seller)
    assert EscrowRelease.objects.get(order=third).debt_recovered_cents == 0
    assert_reconciled()


# --- Made at Stripe -----------------------------------------------------------------------------


def test_a_refund_made_in_stripes_dashboard_is_booked_and_stops_the_release(
    paid, seller, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = paid()
    deliver_order(order=order, actor=seller, note="Sent")
    payment = order.payments.get(status="succeeded")

    with django_capture_on_commit_callbacks(execute=True):
        outside = stripe().v1.refunds.create(
            params={"payment_intent": payment.stripe_payment_intent_id}
        )

    made = EscrowRefund.objects.get(stripe_refund_id=outside.id)
    assert (made.initiator, made.status, made.amount_cents) == (
        RefundInitiator.EXTERNAL,
        RefundStatus.SUCCEEDED,
        5000,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == 0
    stripe_sandbox.advance_clock(days=15)
    assert services.escrow_release_due() == 0
    assert harness.stripe_transfers_for(order) == []
    # The events again, in any order: nothing more is booked.
    services.refund_sync(charge_id=payment.stripe_charge_id)
    assert EscrowRefund.objects.count() == 1
    assert ledger.order_total(order) == 0
    assert_reconciled()


def test_a_partial_refund_made_at_stripe_after_release_takes_the_sellers_share_too(
    paid, seller, buyer, django_capture_on_commit_callbacks
):
    order = released(paid(), seller, buyer)
    payment = order.payments.get(status="succeeded")

    with django_capture_on_commit_callbacks(execute=True):
        stripe().v1.refunds.create(
            params={"payment_intent": payment.stripe_payment_intent_id, "amount": 1000}
        )

    made = EscrowRefund.objects.get()
    assert (made.initiator, made.seller_share_cents, made.commission_share_cents) == (
        RefundInitiator.EXTERNAL,
        900,
        100,
    )
    assert TransferReversal.objects.get(refund=made).amount_cents == 900
    assert ledger.order_total(order) == 0
    assert_reconciled()


# --- Stripe unreachable -------------------------------------------------------------------------


def test_a_refund_stripe_could_not_take_stays_pending_and_the_job_makes_it(
    paid, seller, monkeypatch, stripe_sandbox
):
    from stripe_sandbox import testing as sandbox

    order = paid()
    with monkeypatch.context() as patch:
        sandbox.unreachable(patch)
        made = refund(order, 1500, seller)
    assert made.status == RefundStatus.PENDING and made.failure_message
    assert stripe_refunds(order) == []
    # The amount stays reserved while it is pending.
    with pytest.raises(ValidationFailed):
        refund(order, 3600, seller)

    stripe_sandbox.advance_clock(minutes=11)
    assert services.refunds_retry() == [RefundStatus.SUCCEEDED]
    assert services.refunds_retry() == []
    assert [r.amount for r in stripe_refunds(order)] == [1500]
    assert ledger.order_total(order) == 0
    assert_reconciled()


def test_a_listing_in_another_currency_refunds_in_it(
    client, seller, buyer, paid, django_capture_on_commit_callbacks
):
    euros = ListingFactory(store=seller.store, price_cents=1999, currency="eur", stock=3)
    order = paid(quantity=1, the_listing=euros)

    made = refund(order, 999, seller)

    assert made.currency == "eur" and made.amount_display == "€9.99"
    assert [(r.amount, r.currency) for r in stripe_refunds(order)] == [(999, "eur")]


def assert_reconciled():
    """Stripe and the ledger agree: every object Stripe moved money for is booked, and the
    platform's and the seller's balances are what the ledger says."""
    run = reconcile()
    assert [d.message for d in run.differences.all()] == []


def test_the_sellers_held_share_is_what_refunds_left_and_stays_held_while_disputed(
    paid, seller, buyer
):
    from escrow.selectors import seller_ledger_totals

    order = paid()
    refund(order, 1000, seller)

    # 40.00 left in escrow; the seller's share of it is 36.00 (commission on what is left).
    (totals,) = seller_ledger_totals(seller=seller)
    assert totals.held_cents == 3600

    services.dispute_open(order=order, actor=buyer, reason="not_received", description="Where?")
    (totals,) = seller_ledger_totals(seller=seller)
    assert totals.held_cents == 3600
