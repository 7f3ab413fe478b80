"""Cancelling a paid order under its cancellation policy, through the service, the page and the
API: the refund the buyer is shown is the refund Stripe makes, and the rest reaches the seller
as compensation, so a cancelled order ends with escrow at zero."""

import pytest
from django.urls import reverse

from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.stripe_client import client as stripe
from escrow import ledger, services
from escrow.models import (
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    OrderStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseTrigger,
)
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests import harness
from marketplace.models import Listing

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@pytest.fixture
def paid(client, listing, buyer, django_capture_on_commit_callbacks):
    """A US$50.00 order (2 × 25.00) under `policy`, paid and held."""

    def make(policy):
        Listing.objects.filter(pk=listing.pk).update(cancellation_policy=policy)
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert pay_on_checkout_page(client, url).status_code == 302
        order.refresh_from_db()
        assert order.status == OrderStatus.FUNDED
        return order

    return make


def stripe_refunded(order):
    payment = order.payments.get(status="succeeded")
    return stripe().v1.charges.retrieve(payment.stripe_charge_id).amount_refunded


def test_a_buyer_cancelling_under_moderate_before_delivery_gets_everything_back(
    paid, buyer, listing
):
    order = paid("moderate")
    preview = services.order_cancel_preview(order=order, actor=buyer)
    assert (preview.refund_cents, preview.compensation_cents) == (5000, 0)

    order = services.order_cancel(order=order, actor=buyer, expected_refund_cents=5000)

    assert order.status == OrderStatus.CANCELLED
    refund = EscrowRefund.objects.get(order=order)
    assert (refund.initiator, refund.status, refund.amount_cents) == (
        RefundInitiator.CANCELLATION,
        RefundStatus.SUCCEEDED,
        5000,
    )
    assert stripe_refunded(order) == 5000
    assert not EscrowRelease.objects.filter(order=order).exists()
    assert Listing.objects.get(pk=listing.pk).stock == 5  # back on sale
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert ledger.order_total(order) == 0
    assert order.seller.notifications.filter(event_code="order.cancelled_paid").exists()


def test_a_buyer_cancelling_under_strict_gets_half_and_the_seller_the_rest(paid, buyer, seller):
    order = paid("strict")

    order = services.order_cancel(order=order, actor=buyer, expected_refund_cents=2500)

    assert order.status == OrderStatus.CANCELLED
    assert stripe_refunded(order) == 2500
    # The seller's compensation is the other 25.00, minus commission on that part (2.50).
    release = EscrowRelease.objects.get(order=order)
    assert (release.trigger, release.gross_cents, release.commission_cents) == (
        ReleaseTrigger.CANCELLATION,
        2500,
        250,
    )
    assert [t.amount for t in harness.stripe_transfers_for(order)] == [2250]
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert ledger.order_total(order) == 0
    assert harness.escrow_violations([order], sellers=[seller]) == []


def test_a_seller_cancelling_always_refunds_in_full_even_after_delivery(paid, seller):
    order = paid("strict")
    deliver_order(order=order, actor=seller, note="Sent")

    preview = services.order_cancel_preview(order=order, actor=seller)
    order = services.order_cancel(order=order, actor=seller)

    assert (preview.refund_cents, preview.compensation_cents) == (5000, 0)
    assert order.status == OrderStatus.CANCELLED
    assert stripe_refunded(order) == 5000


def test_a_changed_refund_since_the_preview_cancels_nothing(paid, buyer):
    order = paid("strict")

    with pytest.raises(ValidationFailed) as changed:
        services.order_cancel(order=order, actor=buyer, expected_refund_cents=5000)

    assert "changed to US$25.00" in changed.value.errors["expected_refund_cents"][0]
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert not EscrowRefund.objects.exists()


def test_the_buyer_cannot_cancel_a_delivered_order_nor_an_outsider_any(paid, buyer, seller):
    from accounts.factories import UserFactory

    order = paid("flexible")
    with pytest.raises(NotAllowed):
        services.order_cancel_preview(order=order, actor=UserFactory())
    deliver_order(order=order, actor=seller, note="Sent")
    with pytest.raises(InvalidTransition):
        services.order_cancel(order=order, actor=buyer, expected_refund_cents=2500)


def test_the_cancel_page_shows_the_exact_refund_and_confirms_it(client, paid, buyer):
    order = paid("strict")
    client.force_login(buyer)

    page = client.get(reverse("order-cancel", args=[order.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-refund-cents="2500"' in html and "US$25.00" in html
    assert "Strict" in html

    done = client.post(reverse("order-cancel", args=[order.pk]), {"expected_refund_cents": "2500"})

    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert stripe_refunded(order) == 2500


def test_a_stale_cancel_page_sends_the_buyer_back_to_look_again(client, paid, buyer):
    order = paid("strict")
    client.force_login(buyer)

    answer = client.post(
        reverse("order-cancel", args=[order.pk]), {"expected_refund_cents": "5000"}, follow=True
    )

    assert "changed to US$25.00" in answer.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED


def test_the_api_previews_then_cancels_with_the_previewed_refund(api_client, paid, buyer):
    order = paid("strict")
    api_client.force_authenticate(buyer)

    preview = api_client.get(f"/api/v1/orders/{order.pk}/refund-preview/")
    assert preview.status_code == 200
    assert preview.json()["refund_cents"] == 2500
    assert preview.json()["refund_display"] == "US$25.00"

    stale = api_client.post(
        f"/api/v1/orders/{order.pk}/cancel/", {"expected_refund_cents": 4000}, format="json"
    )
    assert stale.status_code == 400
    assert "expected_refund_cents" in stale.json()

    done = api_client.post(
        f"/api/v1/orders/{order.pk}/cancel/", {"expected_refund_cents": 2500}, format="json"
    )
    assert done.status_code == 200
    assert done.json()["status"] == "cancelled"
    assert stripe_refunded(order) == 2500
