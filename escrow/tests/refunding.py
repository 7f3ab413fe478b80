"""What the refund surfaces' tests share: an order paid on the sandbox's checkout page, released
to the seller, and a seller whose Stripe balance was paid out (so a refund after release cannot
be taken back from it)."""

from accounts.selectors import connected_account_id_for
from core.stripe_client import client as stripe
from escrow import services
from escrow.models import OrderStatus, ReleaseTrigger
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests.harness import run_on_commit_callbacks

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def paid_order(client, listing, buyer, quantity=2):
    """A paid order, held in escrow: 2 × US$25.00 = US$50.00 with the default listing."""
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=quantity)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with run_on_commit_callbacks():
        assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def released(order):
    """Delivered and approved: the seller's share transferred to their Stripe account."""
    deliver_order(order=order, actor=order.seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=order.buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    return order


def drain(seller, stripe_sandbox):
    """The seller is paid out everything on their Stripe balance."""
    account = connected_account_id_for(seller)
    stripe_sandbox.advance_clock(days=8)  # the transfer's funds become available
    balance = stripe().v1.balance.retrieve(options={"stripe_account": account})
    available = sum(b.amount for b in balance.available if b.currency == "usd")
    stripe().v1.payouts.create(
        params={"amount": available, "currency": "usd"}, options={"stripe_account": account}
    )


def stripe_refunds(order):
    payment = order.payments.get(status="succeeded")
    listed = stripe().v1.refunds.list(params={"payment_intent": payment.stripe_payment_intent_id})
    return list(listed.data)
