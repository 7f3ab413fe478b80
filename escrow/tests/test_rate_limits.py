"""Placing orders and starting payments are limited per person (BAZAAR_RATE_ORDERS,
BAZAAR_RATE_PAYMENTS), the website and the API together: 429 with Retry-After in the API, a
message on the page, and nothing reserved or charged beyond the limit."""

import pytest
from django.urls import reverse

from accounts.testing import api_client_for
from core.testing import set_rate_limits
from escrow.models import EscrowPayment, Order
from escrow.testing import SHIPPING_ADDRESS, SHIPPING_FORM
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


@pytest.fixture
def plenty(seller):
    return ListingFactory(store=seller.store, price_cents=900, currency="usd", stock=None)


def _api_order(app, listing):
    return app.post(
        ORDERS,
        {"listing": listing.pk, "quantity": 1, "shipping_address": SHIPPING_ADDRESS},
        format="json",
    )


def _web_order(client, listing):
    return client.post(
        reverse("order-create", args=[listing.pk]),
        {"quantity": "1", "shipping_step": "1"} | SHIPPING_FORM,
    )


def test_ordering_through_the_api_past_the_limit_is_429_with_retry_after(settings, buyer, plenty):
    set_rate_limits(settings, orders="3/hour")
    app = api_client_for(buyer)

    responses = [_api_order(app, plenty) for _ in range(4)]

    assert [r.status_code for r in responses] == [201, 201, 201, 429]
    assert 0 < int(responses[3]["Retry-After"]) <= 3600
    assert Order.objects.filter(buyer=buyer).count() == 3


def test_ordering_on_the_page_past_the_limit_says_so(settings, client, buyer, plenty):
    set_rate_limits(settings, orders="2/hour")
    client.force_login(buyer)

    placed = [_web_order(client, plenty) for _ in range(2)]
    refused = _web_order(client, plenty)

    assert [r.status_code for r in placed] == [302, 302]
    assert refused.status_code == 429
    assert "You have placed many orders in a short time. Try again in" in (refused.content.decode())
    assert Order.objects.filter(buyer=buyer).count() == 2


def test_orders_on_the_page_and_in_the_api_share_one_budget(settings, client, buyer, plenty):
    set_rate_limits(settings, orders="2/hour")
    client.force_login(buyer)
    app = api_client_for(buyer)

    _web_order(client, plenty)
    _api_order(app, plenty)

    assert _web_order(client, plenty).status_code == 429
    assert _api_order(app, plenty).status_code == 429


def test_paying_through_the_api_past_the_limit_is_429_with_retry_after(settings, buyer, plenty):
    set_rate_limits(settings, payments="2/hour")
    app = api_client_for(buyer)
    orders = [_api_order(app, plenty).json()["id"] for _ in range(3)]

    responses = [app.post(f"{ORDERS}{order_id}/pay/") for order_id in orders]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert int(responses[2]["Retry-After"]) > 0
    assert not EscrowPayment.objects.filter(order_id=orders[2]).exists()


def test_pressing_pay_past_the_limit_says_so_on_the_order_page(settings, client, buyer, plenty):
    set_rate_limits(settings, payments="2/hour")
    client.force_login(buyer)
    orders = [Order.objects.get(pk=_web_order(client, plenty).url.split("/")[-2]) for _ in "abc"]

    started = [client.post(reverse("order-pay", args=[order.pk])) for order in orders[:2]]
    refused = client.post(reverse("order-pay", args=[orders[2].pk]), follow=True)

    assert all("/stripe-sandbox/checkout/cs_" in r["Location"] for r in started)
    assert refused.redirect_chain == [(orders[2].get_absolute_url(), 302)]
    notes = [str(m) for m in refused.context["messages"]]
    assert any(n.startswith("You have started many payments in a short time.") for n in notes)
    assert not EscrowPayment.objects.filter(order=orders[2]).exists()
