"""A listing's numbers stay within what the database and the clock can hold (#14): a service's
duration at most 525,600 minutes (a year), a product's stock at most 1,000,000. Beyond them
PostgreSQL's integer column overflowed (DataError) or computing slots did (OverflowError): a
500. Now a field error on the page, a 400 naming the field in the API, a refusal in the
service and in the model's own validation; the admin shows both read-only."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory
from accounts.testing import api_client_for
from core.errors import ValidationFailed
from marketplace import services
from marketplace.factories import ListingFactory, ServiceListingFactory
from marketplace.models import DURATION_MINUTES_MAX, STOCK_MAX, Listing

pytestmark = pytest.mark.django_db

SELLER_LISTINGS = "/api/v1/seller/listings/"
DURATION_ERROR = "Give a duration of at most 525,600 minutes (a year)."
STOCK_ERROR = "Give a stock of at most 1,000,000."
HUGE = [525_601, 2**31 - 1, 2**31, 10**12, 10**30]
HUGE_STOCK = [1_000_001, 2**31 - 1, 2**31, 10**12, 10**30]


def test_the_bounds():
    assert DURATION_MINUTES_MAX == 525_600
    assert STOCK_MAX == 1_000_000


def _field_errors(response, field):
    html = response.content.decode()
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html)
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


def _form(**overrides):
    return {
        "title": "Glazed bowl",
        "kind": "product",
        "description": "Wide and shallow.",
        "price": "18.00",
        "currency": "usd",
        "stock": "4",
        "duration_minutes": "",
        "cancellation_policy": "",
        "transit_days": "",
    } | overrides


def _service_form(**overrides):
    return _form(kind="service", stock="", duration_minutes="60") | overrides


# --- The page ------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", HUGE)
def test_a_duration_beyond_a_year_is_an_error_next_to_the_field(client, minutes):
    seller = SellerFactory()
    client.force_login(seller)

    response = client.post(
        reverse("seller-listing-create"), _service_form(duration_minutes=str(minutes))
    )

    assert response.status_code == 200
    assert _field_errors(response, "duration_minutes") == [DURATION_ERROR]
    assert not Listing.objects.filter(store=seller.store).exists()


@pytest.mark.parametrize("stock", HUGE_STOCK)
def test_a_stock_beyond_a_million_is_an_error_next_to_the_field(client, stock):
    seller = SellerFactory()
    listing = ListingFactory(store=seller.store, stock=3)
    client.force_login(seller)

    response = client.post(
        reverse("seller-listing-edit", args=[listing.pk]), _form(stock=str(stock))
    )

    assert response.status_code == 200
    assert _field_errors(response, "stock") == [STOCK_ERROR]
    listing.refresh_from_db()
    assert listing.stock == 3


def test_the_bounds_themselves_are_taken_on_the_page(client):
    seller = SellerFactory()
    client.force_login(seller)

    year = client.post(
        reverse("seller-listing-create"),
        _service_form(title="A year of lessons", duration_minutes="525600"),
    )
    million = client.post(
        reverse("seller-listing-create"), _form(title="Many bowls", stock="1000000")
    )

    assert year.status_code == 302 and million.status_code == 302
    assert Listing.objects.get(title="A year of lessons").duration_minutes == 525_600
    assert Listing.objects.get(title="Many bowls").stock == 1_000_000


# --- The API -------------------------------------------------------------------------------------


def _create_body(**overrides):
    return {
        "title": "Glazed bowl",
        "kind": "product",
        "description": "Wide and shallow.",
        "price_cents": 1800,
        "currency": "usd",
        "stock": 4,
    } | overrides


@pytest.mark.parametrize("minutes", HUGE)
def test_the_api_refuses_a_duration_beyond_a_year_on_create_and_update(minutes):
    seller = SellerFactory()
    service = ServiceListingFactory(store=seller.store, duration_minutes=60)
    api = api_client_for(seller)

    created = api.post(
        SELLER_LISTINGS,
        _create_body(kind="service", stock=None, duration_minutes=minutes),
        format="json",
    )
    changed = api.patch(
        f"{SELLER_LISTINGS}{service.pk}/", {"duration_minutes": minutes}, format="json"
    )

    assert created.status_code == 400, created.json()
    assert created.json()["duration_minutes"] == [DURATION_ERROR]
    assert changed.status_code == 400, changed.json()
    assert changed.json()["duration_minutes"] == [DURATION_ERROR]
    service.refresh_from_db()
    assert service.duration_minutes == 60


@pytest.mark.parametrize("stock", HUGE_STOCK)
def test_the_api_refuses_a_stock_beyond_a_million_on_create_and_update(stock):
    seller = SellerFactory()
    listing = ListingFactory(store=seller.store, stock=3)
    api = api_client_for(seller)

    created = api.post(SELLER_LISTINGS, _create_body(stock=stock), format="json")
    changed = api.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"stock": stock}, format="json")

    assert created.status_code == 400, created.json()
    assert created.json()["stock"] == [STOCK_ERROR]
    assert changed.status_code == 400, changed.json()
    assert changed.json()["stock"] == [STOCK_ERROR]
    listing.refresh_from_db()
    assert listing.stock == 3


def test_the_api_takes_the_bounds_themselves():
    seller = SellerFactory()
    api = api_client_for(seller)

    year = api.post(
        SELLER_LISTINGS,
        _create_body(kind="service", stock=None, duration_minutes=525_600),
        format="json",
    )
    million = api.post(SELLER_LISTINGS, _create_body(stock=1_000_000), format="json")

    assert year.status_code == 201, year.json()
    assert million.status_code == 201, million.json()


# --- The service and the model ------------------------------------------------------------------


def test_the_service_refuses_them_with_field_errors():
    seller = SellerFactory()
    service = ServiceListingFactory(store=seller.store)
    product = ListingFactory(store=seller.store)

    with pytest.raises(ValidationFailed) as duration:
        services.listing_update(listing=service, actor=seller, duration_minutes=10**12)
    with pytest.raises(ValidationFailed) as stock:
        services.listing_update(listing=product, actor=seller, stock=2**31)

    assert duration.value.errors == {"duration_minutes": [DURATION_ERROR]}
    assert stock.value.errors == {"stock": [STOCK_ERROR]}


def test_the_models_own_validation_refuses_them():
    service = ServiceListingFactory.build(duration_minutes=525_601)
    product = ListingFactory.build(stock=1_000_001)

    with pytest.raises(ValidationError) as duration:
        service.clean_fields(exclude=["store", "category"])
    with pytest.raises(ValidationError) as stock:
        product.clean_fields(exclude=["store", "category"])

    assert duration.value.message_dict["duration_minutes"] == [DURATION_ERROR]
    assert stock.value.message_dict["stock"] == [STOCK_ERROR]


def test_staff_see_them_read_only_and_a_forged_post_changes_nothing(client):
    staff = StaffFactory()
    client.force_login(staff)
    listing = ListingFactory(stock=3)
    url = reverse("admin:marketplace_listing_change", args=[listing.pk])

    page = client.get(url)
    forged = client.post(url, {"stock": str(10**12), "duration_minutes": str(2**31)})

    assert page.status_code == 200
    assert 'name="stock"' not in page.content.decode()
    assert forged.status_code in (200, 302)
    listing.refresh_from_db()
    assert listing.stock == 3
