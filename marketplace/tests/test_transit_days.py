"""A product's transit allowance (#15): the days from shipping its parcel is given to arrive
before the buyer's review window starts. The seller sets it on the listing (form and API);
empty follows BAZAAR_DEFAULT_TRANSIT_DAYS. Services are not shipped and take none."""

import re

import pytest
from django.urls import reverse

from accounts.factories import SellerFactory
from accounts.testing import api_client_for
from core.errors import ValidationFailed
from marketplace import services
from marketplace.factories import ListingFactory, ServiceListingFactory
from marketplace.models import Listing

pytestmark = pytest.mark.django_db

SELLER_LISTINGS = "/api/v1/seller/listings/"


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
        "cancellation_policy": "",
        "transit_days": "",
    } | overrides


def test_empty_follows_the_sites_default(settings):
    settings.BAZAAR_DEFAULT_TRANSIT_DAYS = 9
    assert ListingFactory().effective_transit_days == 9
    assert ListingFactory(transit_days=3).effective_transit_days == 3


def test_the_seller_sets_it_on_the_listing_form(client):
    seller = SellerFactory()
    client.force_login(seller)

    response = client.post(reverse("seller-listing-create"), _form(transit_days="4"))

    assert response.status_code == 302
    listing = Listing.objects.get(store=seller.store)
    assert listing.transit_days == 4
    edit = client.get(reverse("seller-listing-edit", args=[listing.pk])).content.decode()
    assert 'name="transit_days" value="4"' in edit


def test_a_bad_allowance_is_an_error_next_to_the_field(client):
    seller = SellerFactory()
    client.force_login(seller)

    response = client.post(reverse("seller-listing-create"), _form(transit_days="0"))

    assert response.status_code == 200
    assert _field_errors(response, "transit_days") == [
        "Ensure this value is greater than or equal to 1."
    ]
    assert not Listing.objects.filter(store=seller.store).exists()


def test_the_api_sets_and_shows_it():
    seller = SellerFactory()
    listing = ListingFactory(store=seller.store)
    api = api_client_for(seller)

    changed = api.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"transit_days": 5}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["transit_days"] == 5

    cleared = api.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"transit_days": None}, format="json")
    assert cleared.json()["transit_days"] == 7  # the default again

    refused = api.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"transit_days": 91}, format="json")
    assert refused.status_code == 400
    assert "transit_days" in refused.json()


def test_a_service_takes_no_transit_allowance():
    service = ServiceListingFactory()
    with pytest.raises(ValidationFailed) as refused:
        services.listing_update(listing=service, actor=service.store.owner, transit_days=3)
    assert "transit_days" in refused.value.errors


def test_a_stores_default_applies_to_its_products_without_their_own(client, settings):
    settings.BAZAAR_DEFAULT_TRANSIT_DAYS = 7
    seller = SellerFactory()
    own = ListingFactory(store=seller.store, transit_days=2)
    follows = ListingFactory(store=seller.store)
    client.force_login(seller)

    form = client.get(reverse("seller-store-edit")).content.decode()
    assert 'name="default_transit_days"' in form
    api = api_client_for(seller)
    store_url = f"/api/v1/stores/{seller.store.slug}/"
    changed = api.patch(store_url, {"default_transit_days": 12}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["default_transit_days"] == 12

    assert Listing.objects.get(pk=follows.pk).effective_transit_days == 12
    assert Listing.objects.get(pk=own.pk).effective_transit_days == 2
    refused = api.patch(store_url, {"default_transit_days": 0}, format="json")
    assert refused.status_code == 400 and "default_transit_days" in refused.json()
