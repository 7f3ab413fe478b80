"""An order whose total is below Stripe's minimum charge could never be paid: it is refused when
it is placed, on the page and in the API, with the minimum in words (#15)."""

import re

import pytest
from django.urls import reverse

from accounts.testing import sign_in_api_client
from core.errors import ValidationFailed
from escrow.models import Order
from escrow.testing import place_order
from marketplace.factories import ListingFactory
from marketplace.models import Listing

pytestmark = pytest.mark.django_db


@pytest.fixture
def cheap(seller):
    # 20 cents each: one cannot be charged, three can.
    return ListingFactory(store=seller.store, price_cents=20, currency="usd", stock=10)


def test_an_order_below_the_minimum_is_refused_and_reserves_nothing(cheap, buyer):
    with pytest.raises(ValidationFailed) as excinfo:
        place_order(buyer=buyer, listing_id=cheap.pk, quantity=2)
    message = excinfo.value.errors["quantity"][0]
    assert "The total must be at least US$0.50" in message
    assert "Order at least 3." in message
    assert not Order.objects.exists()
    assert Listing.objects.get(pk=cheap.pk).stock == 10


def test_the_quantity_counts_towards_the_minimum(cheap, buyer):
    order = place_order(buyer=buyer, listing_id=cheap.pk, quantity=3)
    assert order.total_cents == 60


def test_the_minimum_follows_the_currency(seller, buyer):
    listing = ListingFactory(store=seller.store, price_cents=30, currency="gbp", stock=3)
    assert place_order(buyer=buyer, listing_id=listing.pk).total_cents == 30
    euro = ListingFactory(store=seller.store, price_cents=30, currency="eur", stock=3)
    with pytest.raises(ValidationFailed, match="at least €0.50"):
        place_order(buyer=buyer, listing_id=euro.pk)


def test_the_api_answers_400_with_the_minimum_on_the_quantity(api_client, cheap, buyer):
    response = sign_in_api_client(api_client, buyer).post(
        "/api/v1/orders/", {"listing": cheap.pk, "quantity": 1}, format="json"
    )
    assert response.status_code == 400
    assert "at least US$0.50" in response.json()["quantity"][0]
    assert not Order.objects.exists()


def test_the_page_shows_the_minimum_next_to_the_quantity(client, cheap, buyer):
    client.force_login(buyer)
    response = client.post(reverse("order-create", args=[cheap.pk]), {"quantity": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(r'<ul class="errorlist" id="id_quantity_error">(.*?)</ul>', html, re.S)
    assert match and "at least US$0.50" in match.group(1)
    assert not Order.objects.exists()
