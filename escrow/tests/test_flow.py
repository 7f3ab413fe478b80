"""The escrow's main flow end to end, through the real stripe SDK and the sandbox."""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.factories import UserFactory
from core.stripe_client import client as stripe
from escrow import ledger, services
from escrow.models import (
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    OrderStatus,
    PaymentStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from marketplace.models import Listing

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def checkout(client, order, buyer, card="4242 4242 4242 4242"):
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    return pay_on_checkout_page(client, url, card)


def test_fund_deliver_approve_transfers_the_right_amount_to_the_right_account(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
    assert order.total_cents == 5000
    assert order.commission_cents == 500  # platform default 10%

    with django_capture_on_commit_callbacks(execute=True):
        response = checkout(client, order, buyer)
    assert response.status_code == 302
    assert response["Location"].startswith("http://testserver/orders/done?session=cs_")

    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    payment = EscrowPayment.objects.get(order=order, status=PaymentStatus.SUCCEEDED)
    assert payment.receipt_url
    charge = stripe().v1.charges.retrieve(
        payment.stripe_charge_id, params={"expand": ["balance_transaction"]}
    )
    assert charge.amount == 5000
    assert charge.transfer_group == f"order-{order.pk}"
    assert payment.stripe_fee_cents == charge.balance_transaction.fee

    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=seller, note="Shipped, tracking 123")
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)

    assert decided.status == ReleaseStatus.TRANSFERRED
    transfer = stripe().v1.transfers.retrieve(decided.stripe_transfer_id)
    account_id = seller.seller_profile.connected_account.stripe_account_id
    assert transfer.destination == account_id
    assert transfer.amount == 4500
    assert transfer.source_transaction == payment.stripe_charge_id
    assert transfer.transfer_group == f"order-{order.pk}"
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert ledger.order_total(order) == 0
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert ledger.balance(LedgerAccount.PLATFORM_COMMISSION, order=order) == -500
    assert ledger.balance(LedgerAccount.seller_payable(seller.pk), order=order) == 0
    assert ledger.balance(LedgerAccount.STRIPE_FEES, order=order) == payment.stripe_fee_cents
    assert any("released" in m.subject for m in mail.outbox)


def test_a_declined_card_leaves_the_order_payable_and_says_why(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)

    with django_capture_on_commit_callbacks(execute=True):
        page = checkout(client, order, buyer, card="4000 0000 0000 0002")

    assert page.status_code == 200
    assert "declined" in page.content.decode().lower()
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert "declined" in order.payment_error.lower()
    assert not LedgerEntry.objects.filter(order=order).exists()

    with django_capture_on_commit_callbacks(execute=True):
        checkout(client, order, buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert order.payment_error == ""


def test_a_late_payment_for_a_cancelled_order_whose_stock_was_resold_is_refunded(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    # The buyer opens Checkout, cancels the order, the last items sell to someone else, then
    # the old Checkout page is paid: Stripe took the money, so it is booked, and it goes
    # straight back to the buyer; the order stays cancelled and the stock stays sold.
    Listing.objects.filter(pk=listing.pk).update(stock=2)
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    services.order_cancel(order=order, actor=buyer)
    place_order(buyer=UserFactory(), listing_id=listing.pk, quantity=2)

    with django_capture_on_commit_callbacks(execute=True):
        assert pay_on_checkout_page(client, url).status_code == 302

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.funded_at is None
    assert Listing.objects.get(pk=listing.pk).stock == 0
    payment = EscrowPayment.objects.get(order=order)
    refund = EscrowRefund.objects.get(payment=payment)
    assert (refund.status, refund.amount_cents) == (RefundStatus.SUCCEEDED, 5000)
    assert refund.initiator == RefundInitiator.LATE_PAYMENT
    stripe_refund = stripe().v1.refunds.retrieve(refund.stripe_refund_id)
    assert (stripe_refund.amount, stripe_refund.payment_intent) == (
        5000,
        payment.stripe_payment_intent_id,
    )
    # Booked in and out again: nothing held, the order's lines sum to zero.
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert ledger.order_total(order) == 0
    assert buyer.notifications.filter(event_code="order.refunded").exists()
    assert not order.seller.notifications.filter(event_code="order.refund_made").exists()


def test_paying_on_the_web_and_in_the_app_refunds_the_second_payment(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    # Two checkout tabs share one session now; the app's PaymentIntent is a second way to pay.
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    in_the_app = services.payment_intent_start(order=order, buyer=buyer)
    with django_capture_on_commit_callbacks(execute=True):
        assert pay_on_checkout_page(client, url).status_code == 302
        stripe().v1.payment_intents.confirm(
            in_the_app.stripe_payment_intent_id, params={"payment_method": "pm_card_visa"}
        )

    first, second = EscrowPayment.objects.filter(order=order).order_by("pk")
    assert (first.status, second.status) == (PaymentStatus.SUCCEEDED, PaymentStatus.DUPLICATE)
    assert second.succeeded_at is not None and second.stripe_charge_id
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    refund = EscrowRefund.objects.get()
    assert (refund.payment, refund.status, refund.amount_cents) == (
        second,
        RefundStatus.SUCCEEDED,
        2500,
    )
    assert refund.initiator == RefundInitiator.DUPLICATE_PAYMENT
    assert stripe().v1.charges.retrieve(second.stripe_charge_id).refunded is True
    assert stripe().v1.charges.retrieve(first.stripe_charge_id).amount_refunded == 0
    # The first payment is held; the second came in and went out again.
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == -2500
    assert ledger.order_total(order) == 0


def test_webhooks_delivered_twice_and_reversed_fund_once(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    with stripe_sandbox.webhooks_held():
        checkout(client, order, buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT  # the redirect alone proves nothing

    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.deliver(list(reversed(stripe_sandbox.pending_deliveries())), times=2)

    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert (
        LedgerEntry.objects.filter(order=order, account=LedgerAccount.BUYER_FUNDS_HELD).count() == 1
    )
    assert ledger.order_total(order) == 0


def test_auto_release_after_the_review_window(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    from escrow.tasks import auto_release_due_orders, send_release_reminders

    order = place_order(buyer=buyer, listing_id=listing.pk)
    with django_capture_on_commit_callbacks(execute=True):
        checkout(client, order, buyer)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=seller)
    assert auto_release_due_orders.delay().get() == 0

    stripe_sandbox.advance_clock(days=13)
    with django_capture_on_commit_callbacks(execute=True):
        assert send_release_reminders.delay().get() == 1
        assert send_release_reminders.delay().get() == 0
    stripe_sandbox.advance_clock(days=1, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert auto_release_due_orders.delay().get() == 1

    decided = EscrowRelease.objects.get(order=order)
    assert decided.trigger == ReleaseTrigger.AUTO
    assert decided.status == ReleaseStatus.TRANSFERRED
    assert stripe().v1.transfers.retrieve(decided.stripe_transfer_id).amount == 2250


def test_advancing_the_sandbox_clock_on_its_control_page_releases_what_fell_due_at_once(
    client, seller, listing, buyer, django_capture_on_commit_callbacks, settings
):
    """A developer trying the review window on the sandbox's control page sees the order
    released right after the advance, not on the next beat tick minutes later."""
    from accounts.factories import StaffFactory

    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)
    order.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=seller, note="Sent")
    client.force_login(StaffFactory())
    days = settings.BAZAAR_REVIEW_WINDOW_DAYS + 1

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("stripe_sandbox:control_advance"),
            {"amount": days, "unit": "days"},
            follow=True,
        )

    said = response.content.decode()
    assert "moved forward by" in said
    assert "Started the jobs that may have fallen due" in said
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
