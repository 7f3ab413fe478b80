"""Shipping races with real row locks (PostgreSQL only, as test_concurrency.py): the seller's
"Mark shipped" pressed many times at once, or against the buyer's cancellation; a buyer's two
checkouts saving their first address at once."""

from functools import partial

import pytest
from django.db import connection

from accounts.factories import UserFactory
from accounts.models import ShippingAddress
from accounts.services import shipping_address_save
from core.models import AuditEntry
from core.testing import race
from escrow import services
from escrow.models import OrderStatus
from escrow.shipping import Carrier
from escrow.testing import SHIPPING_ADDRESS, pay_on_checkout_page, place_order

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL's row locks (set DATABASE_URL): SQLite ignores "
        "select_for_update and serialises every writer, so these races cannot happen there.",
    ),
]

THREADS = 6
SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def funded_order(client, buyer, listing):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def ship(order, seller, number):
    return lambda: services.order_mark_shipped(
        order=order, actor=seller, carrier=Carrier.USPS, tracking_number=number
    )


def test_mark_shipped_pressed_at_once_ships_once(client, seller, listing, buyer, stripe_sandbox):
    order = funded_order(client, buyer, listing)

    _, crashes = race(*(ship(order, seller, f"9400{i:018d}") for i in range(THREADS)))

    assert not crashes, "\n".join(crashes)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    shipped = AuditEntry.objects.filter(target_id=str(order.pk), action="escrow.order.shipped")
    assert shipped.count() == 1
    assert shipped.get().after["tracking_number"] == order.tracking_number


def test_shipping_and_the_buyers_cancellation_racing_end_one_way(
    client, seller, listing, buyer, stripe_sandbox
):
    order = funded_order(client, buyer, listing)
    preview = services.order_cancel_preview(order=order, actor=buyer)

    outcomes, crashes = race(
        ship(order, seller, "940010000000000000001"),
        lambda: services.order_cancel(
            order=order, actor=buyer, expected_refund_cents=preview.refund_cents
        ),
    )

    assert not crashes, "\n".join(crashes)
    order.refresh_from_db()
    if order.status == OrderStatus.CANCELLED:
        assert order.shipped_at is None and order.tracking_number == ""
    else:
        assert order.status == OrderStatus.DELIVERED and order.shipped_at is not None
    assert sum(not isinstance(o, Exception) for o in outcomes) >= 1


def test_two_checkouts_saving_the_first_address_leave_one_default():
    user = UserFactory()
    other = SHIPPING_ADDRESS | {"line1": "2 Other Road"}

    _, crashes = race(
        *(
            partial(shipping_address_save, user=user, make_default=True, **address)
            for address in (SHIPPING_ADDRESS, other, SHIPPING_ADDRESS, other)
        )
    )

    assert not crashes, "\n".join(crashes)
    assert ShippingAddress.objects.filter(user=user).count() == 2
    assert ShippingAddress.objects.filter(user=user, is_default=True).count() == 1
