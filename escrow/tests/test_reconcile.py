"""Reconciliation: a healthy marketplace agrees with Stripe, and each kind of disagreement is
found. The money moves through the real flow (sandbox checkout page, webhooks, release); the
disagreements are made the way they happen in life: a row edited by hand, a line booked outside
the services, a transfer or refund made in Stripe's dashboard."""

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import F

from accounts.models import ConnectedAccount
from core.stripe_client import client as stripe_client
from escrow import ledger, services
from escrow.models import (
    EscrowPayment,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    OrderStatus,
    PaymentStatus,
    ReconciliationRun,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.reconcile import DifferenceKind as K
from escrow.reconcile import reconcile
from escrow.testing import pay_on_checkout_page
from stripe_sandbox import testing as sandbox

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def funded_order(client, listing, buyer, capture, quantity=1):
    order = services.order_create(buyer=buyer, listing_id=listing.pk, quantity=quantity)
    with capture():
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        pay_on_checkout_page(client, url)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def released_order(client, seller, listing, buyer, capture, quantity=1):
    order = funded_order(client, listing, buyer, capture, quantity)
    with capture():
        services.order_deliver(order=order, actor=seller, note="Posted")
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    assert decided.status == ReleaseStatus.TRANSFERRED
    return order


def kinds(run):
    return sorted(run.differences.values_list("kind", flat=True))


def charge_of(order):
    return EscrowPayment.objects.get(order=order, status=PaymentStatus.SUCCEEDED).stripe_charge_id


def seller_account(seller):
    return seller.seller_profile.connected_account.stripe_account_id


# --- Healthy ------------------------------------------------------------------------------------


def test_a_healthy_marketplace_reconciles_with_no_differences(
    client, seller, listing, buyer, capture
):
    released = released_order(client, seller, listing, buyer, capture, quantity=2)
    held = funded_order(client, listing, buyer, capture)
    services.order_create(buyer=buyer, listing_id=listing.pk)  # unpaid: nothing to check

    run = reconcile()

    assert list(run.differences.all()) == []
    assert run.difference_count == 0
    assert run.orders_checked == 2
    assert run.finished_at is not None
    assert ReconciliationRun.objects.get() == run
    # The run really looked at money: both orders are booked and the transfer exists.
    assert ledger.order_total(released) == 0
    assert LedgerEntry.objects.filter(order=held).exists()


def test_a_reversal_booked_from_its_webhook_keeps_the_books_agreeing(
    client, seller, listing, buyer, capture, stripe_sandbox
):
    order = released_order(client, seller, listing, buyer, capture)
    transfer_id = EscrowRelease.objects.get(order=order).stripe_transfer_id

    with stripe_sandbox.webhooks_held():
        stripe_client().v1.transfers.reversals.create(
            transfer_id, params={"amount": 500}, options={"idempotency_key": "rev-1"}
        )
    before = reconcile()
    with capture():
        stripe_sandbox.deliver_pending()
    after = reconcile()

    # Until the webhook is booked, Stripe has taken back money our books do not show.
    assert kinds(before) == [K.SELLER_PAYABLE, K.TRANSFER_REVERSED]
    reversal = before.differences.get(kind=K.TRANSFER_REVERSED)
    assert (reversal.ours_cents, reversal.stripe_cents) == (0, 500)
    assert reversal.order_id == order.pk
    assert after.difference_count == 0
    assert EscrowRelease.objects.get(order=order).amount_reversed_cents == 500


# --- Ledger -------------------------------------------------------------------------------------


def test_a_line_booked_outside_a_balanced_transaction_is_found(
    client, seller, listing, buyer, capture
):
    order = released_order(client, seller, listing, buyer, capture)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                transaction_id=uuid.uuid4(),
                order=order,
                account=LedgerAccount.PLATFORM_COMMISSION,
                amount_cents=-125,
                currency="usd",
                memo="Booked by hand",
            )
        ]
    )

    run = reconcile()

    assert kinds(run) == [K.ORDER_UNBALANCED, K.TRANSACTION_UNBALANCED]
    for difference in run.differences.all():
        assert difference.order_id == order.pk
        assert difference.ours_cents == -125
    assert "sum to -US$1.25 instead of zero" in run.differences.get(kind=K.ORDER_UNBALANCED).message


def test_a_pair_booked_to_two_orders_unbalances_each_order_but_not_the_transaction(
    client, seller, listing, buyer, capture
):
    first = released_order(client, seller, listing, buyer, capture)
    second = released_order(client, seller, listing, buyer, capture)
    txn = uuid.uuid4()
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                transaction_id=txn,
                order=first,
                account=LedgerAccount.STRIPE_BALANCE,
                amount_cents=300,
                currency="usd",
                memo="Moved by hand",
            ),
            LedgerEntry(
                transaction_id=txn,
                order=second,
                account=LedgerAccount.STRIPE_BALANCE,
                amount_cents=-300,
                currency="usd",
                memo="Moved by hand",
            ),
        ]
    )

    run = reconcile()

    assert kinds(run) == [K.ORDER_UNBALANCED, K.ORDER_UNBALANCED]
    found = dict(run.differences.values_list("order_id", "ours_cents"))
    assert found == {first.pk: 300, second.pk: -300}


def test_an_extra_balanced_credit_to_a_seller_is_found_against_stripes_transfers(
    client, seller, listing, buyer, capture
):
    order = released_order(client, seller, listing, buyer, capture)
    with transaction.atomic():
        ledger.post(
            order=order,
            currency="usd",
            memo="Goodwill credit booked by hand",
            lines=[
                (LedgerAccount.PLATFORM_COMMISSION, 200),
                (LedgerAccount.seller_payable(seller.pk), -200),
            ],
        )

    run = reconcile()

    assert kinds(run) == [K.SELLER_PAYABLE]
    difference = run.differences.get()
    assert (difference.ours_cents, difference.stripe_cents) == (2450, 2250)
    assert f"Seller #{seller.pk}" in difference.message


def test_a_fee_booked_twice_for_a_charge_is_found(client, seller, listing, buyer, capture):
    order = funded_order(client, listing, buyer, capture)
    charge_id = charge_of(order)
    fee = EscrowPayment.objects.get(order=order, status=PaymentStatus.SUCCEEDED).stripe_fee_cents
    with transaction.atomic():
        ledger.post(
            order=order,
            currency="usd",
            memo="Fee booked again",
            stripe_object_id=charge_id,
            lines=[(LedgerAccount.STRIPE_FEES, 10), (LedgerAccount.STRIPE_BALANCE, -10)],
        )

    run = reconcile()

    assert kinds(run) == [K.CHARGE_FEE]
    difference = run.differences.get()
    assert fee > 0
    assert (difference.ours_cents, difference.stripe_cents) == (fee + 10, fee)
    assert difference.stripe_object_id == charge_id


# --- Charges ------------------------------------------------------------------------------------


def test_a_refund_made_on_stripe_alone_is_found(
    client, seller, listing, buyer, capture, stripe_sandbox
):
    order = funded_order(client, listing, buyer, capture)
    charge_id = charge_of(order)

    with stripe_sandbox.webhooks_held():
        stripe_client().v1.refunds.create(
            params={"charge": charge_id, "amount": 700}, options={"idempotency_key": "refund-1"}
        )
    run = reconcile()

    assert kinds(run) == [K.CHARGE_AMOUNT]
    difference = run.differences.get()
    assert (difference.ours_cents, difference.stripe_cents) == (2500, 1800)
    assert difference.order_id == order.pk


def test_a_payment_pointing_at_a_charge_stripe_does_not_have_is_found(
    client, seller, listing, buyer, capture
):
    order = funded_order(client, listing, buyer, capture)
    EscrowPayment.objects.filter(order=order).update(stripe_charge_id="ch_doesnotexist")

    run = reconcile()

    assert kinds(run) == [K.CHARGE_MISSING]
    assert run.differences.get().stripe_object_id == "ch_doesnotexist"


# --- Transfers ----------------------------------------------------------------------------------


def test_a_release_whose_amount_was_edited_disagrees_with_its_transfer(
    client, seller, listing, buyer, capture
):
    order = released_order(client, seller, listing, buyer, capture)
    # Keep the row's own rule (gross = commission + fee + transfer) so only Stripe can tell.
    EscrowRelease.objects.filter(order=order).update(
        transfer_cents=F("transfer_cents") - 100, commission_cents=F("commission_cents") + 100
    )

    run = reconcile()

    assert kinds(run) == [K.TRANSFER_AMOUNT]
    difference = run.differences.get()
    assert (difference.ours_cents, difference.stripe_cents) == (2150, 2250)
    assert difference.order_id == order.pk
    assert difference.stripe_object_id == EscrowRelease.objects.get(order=order).stripe_transfer_id


def test_a_release_pointing_at_another_account_is_found(client, seller, listing, buyer, capture):
    order = released_order(client, seller, listing, buyer, capture)
    EscrowRelease.objects.filter(order=order).update(destination_account="acct_someoneelse")

    run = reconcile()

    assert kinds(run) == [K.TRANSFER_DESTINATION]
    assert "acct_someoneelse" in run.differences.get().message


def test_a_transfer_made_on_stripe_that_no_release_knows_is_found(
    client, seller, listing, buyer, capture
):
    order = released_order(client, seller, listing, buyer, capture)
    stray = stripe_client().v1.transfers.create(
        params={
            "amount": 100,
            "currency": "usd",
            "destination": seller_account(seller),
            "source_transaction": charge_of(order),
            "transfer_group": "order-999",
        },
        options={"idempotency_key": "stray-transfer"},
    )

    run = reconcile()

    assert kinds(run) == [K.SELLER_PAYABLE, K.TRANSFER_UNKNOWN]
    unknown = run.differences.get(kind=K.TRANSFER_UNKNOWN)
    assert unknown.stripe_object_id == stray.id
    assert unknown.stripe_cents == 100
    assert unknown.order is None  # there is no order 999
    assert "order-999" in unknown.message
    payable = run.differences.get(kind=K.SELLER_PAYABLE)
    assert (payable.ours_cents, payable.stripe_cents) == (2250, 2350)


def test_a_transfer_stripe_made_that_its_release_lost_is_found(
    client, seller, listing, buyer, capture
):
    order = released_order(client, seller, listing, buyer, capture)
    real = EscrowRelease.objects.get(order=order).stripe_transfer_id
    EscrowRelease.objects.filter(order=order).update(stripe_transfer_id="tr_lost")

    run = reconcile()

    assert kinds(run) == [K.TRANSFER_MISSING, K.TRANSFER_NOT_RECORDED]
    assert run.differences.get(kind=K.TRANSFER_MISSING).stripe_object_id == "tr_lost"
    assert run.differences.get(kind=K.TRANSFER_NOT_RECORDED).stripe_object_id == real
    assert set(run.differences.values_list("order_id", flat=True)) == {order.pk}


def test_a_failed_release_is_not_a_difference_with_stripe(client, seller, listing, buyer, capture):
    order = funded_order(client, listing, buyer, capture)
    with capture():
        services.order_deliver(order=order, actor=seller)
    # The seller's account is gone on Stripe's side: the transfer is refused.
    ConnectedAccount.objects.filter(seller_profile__user=seller).update(
        stripe_account_id="acct_gone"
    )
    with capture():
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    assert decided.status == ReleaseStatus.FAILED

    run = reconcile()

    assert run.difference_count == 0


# --- Stripe out of reach ------------------------------------------------------------------------


def test_stripe_unreachable_is_recorded_and_the_ledger_is_still_checked(
    client, seller, listing, buyer, capture, monkeypatch
):
    order = funded_order(client, listing, buyer, capture)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                order=order,
                account=LedgerAccount.REFUNDS,
                amount_cents=50,
                currency="usd",
                memo="x",
            )
        ]
    )

    sandbox.unreachable(monkeypatch)

    run = reconcile()

    assert kinds(run) == [K.ORDER_UNBALANCED, K.STRIPE_UNREACHABLE, K.TRANSACTION_UNBALANCED]
    assert "could not be reached" in run.differences.get(kind=K.STRIPE_UNREACHABLE).message
    assert run.finished_at is not None


# --- Entry points -------------------------------------------------------------------------------


def test_the_command_says_0_differences_when_healthy(client, seller, listing, buyer, capture):
    released_order(client, seller, listing, buyer, capture)
    out = io.StringIO()

    call_command("reconcile", stdout=out)

    text = out.getvalue()
    assert "1 order checked, 0 differences." in text
    assert text.count("\n") == 1
    assert ReconciliationRun.objects.get().difference_count == 0


def test_the_command_prints_each_difference(client, seller, listing, buyer, capture):
    order = released_order(client, seller, listing, buyer, capture)
    EscrowRelease.objects.filter(order=order).update(
        transfer_cents=F("transfer_cents") - 100, commission_cents=F("commission_cents") + 100
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                order=order, account=LedgerAccount.REFUNDS, amount_cents=5, currency="usd", memo="x"
            )
        ]
    )
    out = io.StringIO()

    call_command("reconcile", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].endswith("1 order checked, 3 differences.")
    assert len(lines) == 4
    transfer_line = next(line for line in lines if K.TRANSFER_AMOUNT in line)
    assert f"order #{order.pk}" in transfer_line
    assert "(ours 2150, Stripe 2250)" in transfer_line
    assert any(K.ORDER_UNBALANCED in line for line in lines)


def test_the_daily_task_stores_a_run_and_returns_its_difference_count(
    client, seller, listing, buyer, capture
):
    from escrow.tasks import reconcile_with_stripe

    order = released_order(client, seller, listing, buyer, capture)
    assert reconcile_with_stripe.delay().get() == 0
    EscrowRelease.objects.filter(order=order).update(destination_account="acct_elsewhere")
    assert reconcile_with_stripe.delay().get() == 1
    assert list(ReconciliationRun.objects.values_list("difference_count", flat=True)) == [1, 0]
