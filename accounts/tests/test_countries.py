"""The seller's country is chosen from the ISO 3166-1 countries where Stripe opens Express
accounts (Connect onboarding creates the account there), on the page and in the API (#15)."""

import re

import pytest
from django.urls import reverse

from accounts import services
from accounts.countries import CONNECT_COUNTRIES, COUNTRY_CHOICES
from accounts.factories import SellerFactory, UserFactory
from accounts.models import SellerProfile
from accounts.testing import api_client_for
from core.errors import ValidationFailed

pytestmark = pytest.mark.django_db

SELLER_PROFILE = "/api/v1/me/seller-profile/"


def test_the_list_holds_iso_codes_with_names_in_name_order():
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in CONNECT_COUNTRIES)
    assert CONNECT_COUNTRIES["US"] == "United States"
    assert CONNECT_COUNTRIES["DE"] == "Germany"
    assert [name for _, name in COUNTRY_CHOICES] == sorted(CONNECT_COUNTRIES.values())


def test_the_onboarding_page_offers_a_select_of_countries(client):
    client.force_login(UserFactory())
    html = client.get(reverse("seller-onboard")).content.decode()
    select = re.search(r'<select name="country"[^>]*>(.*?)</select>', html, re.S)
    assert select, "the country is a select"
    assert 'autocomplete="country"' in html
    assert '<option value="DE">Germany</option>' in select.group(1)
    assert '<option value="US">United States</option>' in select.group(1)
    assert 'value="KP"' not in select.group(1)  # not a country Stripe pays sellers in


@pytest.mark.parametrize("country", ["ZZ", "KP", "Germany"])
def test_the_page_refuses_a_country_outside_the_list_next_to_the_field(client, country):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        reverse("seller-onboard"),
        {"display_name": "Kiln", "country": country, "default_currency": "usd"},
    )
    assert response.status_code == 200
    errors = re.search(
        r'<ul class="errorlist" id="id_country_error">(.*?)</ul>', response.content.decode(), re.S
    )
    assert errors and "Choose the country you sell from in the list" in errors.group(1)
    assert not SellerProfile.objects.filter(user=user).exists()


@pytest.mark.parametrize("country", ["ZZ", "KP", "U1", "Portugal"])
def test_the_api_answers_400_to_an_unknown_country(country):
    user = UserFactory()
    response = api_client_for(user).post(
        SELLER_PROFILE,
        {"display_name": "Clay", "country": country, "default_currency": "eur"},
        format="json",
    )
    assert response.status_code == 400
    assert "Choose the country you sell from" in response.json()["country"][0]
    assert not SellerProfile.objects.filter(user=user).exists()


def test_the_api_takes_a_listed_code_in_any_case():
    user = UserFactory()
    response = api_client_for(user).post(
        SELLER_PROFILE,
        {"display_name": "Clay", "country": "de", "default_currency": "eur"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert SellerProfile.objects.get(user=user).country == "DE"


def test_changing_the_country_to_an_unknown_one_is_a_400_and_changes_nothing():
    seller = SellerFactory()
    response = api_client_for(seller).patch(SELLER_PROFILE, {"country": "ZZ"}, format="json")
    assert response.status_code == 400
    seller.seller_profile.refresh_from_db()
    assert seller.seller_profile.country == "US"


def test_the_service_refuses_a_code_outside_the_list():
    with pytest.raises(ValidationFailed) as excinfo:
        services.seller_onboard(
            user=UserFactory(), display_name="Clay", country="ZZ", default_currency="usd"
        )
    assert "country" in excinfo.value.errors
