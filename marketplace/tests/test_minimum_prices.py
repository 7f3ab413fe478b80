"""A price below Stripe's minimum charge for its currency could never be paid: it is refused
wherever a listing is saved or published (#15)."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory
from accounts.testing import api_client_for
from core.errors import ValidationFailed
from core.money import MINIMUM_CHARGE_CENTS, minimum_charge_cents
from marketplace import services
from marketplace.factories import ListingFactory
from marketplace.models import Listing, ListingStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller():
    return SellerFactory()


def body(**overrides):
    return {
        "kind": "product",
        "title": "Sticker",
        "description": "A small sticker.",
        "price_cents": 49,
        "currency": "usd",
        "stock": 3,
    } | overrides


def test_the_table_has_stripes_minimums_for_every_currency_bazaar_sells_in(settings):
    assert (minimum_charge_cents("usd"), minimum_charge_cents("EUR")) == (50, 50)
    assert (minimum_charge_cents("gbp"), minimum_charge_cents("jpy")) == (30, 50)
    assert set(settings.BAZAAR_CURRENCIES) <= set(MINIMUM_CHARGE_CENTS)


def test_a_currency_without_a_minimum_fails_the_system_check(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.BAZAAR_CURRENCIES = ["usd", "xyz"]
    with pytest.raises(SystemCheckError, match="'xyz'"):
        call_command("check")


@pytest.mark.parametrize(
    ("price", "currency", "message"),
    [
        (49, "usd", "at least US$0.50"),
        (1, "usd", "at least US$0.50"),
        (29, "gbp", "at least £0.30"),
        (49, "eur", "at least €0.50"),
    ],
)
def test_the_service_refuses_a_price_below_the_minimum(seller, price, currency, message):
    with pytest.raises(ValidationFailed) as excinfo:
        services.listing_create(
            store=seller.store, actor=seller, **body(price_cents=price, currency=currency)
        )
    assert message in excinfo.value.errors["price_cents"][0]
    assert not Listing.objects.exists()


@pytest.mark.parametrize(("price", "currency"), [(50, "usd"), (30, "gbp"), (50, "eur")])
def test_the_minimum_itself_is_accepted(seller, price, currency):
    listing = services.listing_create(
        store=seller.store, actor=seller, **body(price_cents=price, currency=currency)
    )
    assert listing.price_cents == price


def test_lowering_a_price_below_the_minimum_is_refused(seller):
    listing = ListingFactory(store=seller.store, price_cents=500, status=ListingStatus.DRAFT)
    with pytest.raises(ValidationFailed):
        services.listing_update(listing=listing, actor=seller, price_cents=20)
    listing.refresh_from_db()
    assert listing.price_cents == 500


def test_the_api_answers_400_with_the_minimum_on_the_field(seller):
    response = api_client_for(seller).post(
        "/api/v1/seller/listings/", body(price_cents=49), format="json"
    )
    assert response.status_code == 400
    assert "at least US$0.50" in response.json()["price_cents"][0]
    assert not Listing.objects.exists()


def test_the_seller_page_shows_the_minimum_next_to_the_price(client, seller):
    client.force_login(seller)
    response = client.post(
        reverse("seller-listing-create"),
        {
            "title": "Sticker",
            "kind": "product",
            "description": "A small sticker.",
            "price": "0.49",
            "currency": "usd",
            "stock": "4",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(r'<ul class="errorlist" id="id_price_error">(.*?)</ul>', html, re.S)
    assert match and "at least US$0.50" in match.group(1)
    assert not Listing.objects.exists()


def test_staff_cannot_approve_a_listing_priced_below_the_minimum(client):
    staff = StaffFactory()
    client.force_login(staff)
    # Saved before prices were checked.
    cheap = ListingFactory(price_cents=10, status=ListingStatus.PENDING_REVIEW)
    response = client.post(
        reverse("admin:marketplace_listing_changelist"),
        {"action": "approve_listings", ACTION_CHECKBOX_NAME: [str(cheap.pk)]},
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("at least US$0.50" in text for text in texts), texts
    cheap.refresh_from_db()
    assert cheap.status == ListingStatus.PENDING_REVIEW
