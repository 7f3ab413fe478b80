"""A buyer's saved shipping addresses (#15): one rule for what an address needs, one default,
and nobody else's. Checkout's use of them is tested in escrow/tests/test_shipping.py."""

import pytest
from django.urls import reverse

from accounts import services
from accounts.factories import ShippingAddressFactory, UserFactory
from accounts.models import ShippingAddress
from accounts.testing import api_client_for
from core.errors import ValidationFailed

pytestmark = pytest.mark.django_db

ADDRESSES = "/api/v1/me/shipping-addresses/"
HOME = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "gb",
}


def test_an_address_is_tidied_and_checked_field_by_field():
    clean = services.shipping_address_clean(HOME | {"line1": "  12  St James's\nSquare "})
    assert clean["line1"] == "12 St James's Square"
    assert clean["country"] == "GB"

    with pytest.raises(ValidationFailed) as refused:
        services.shipping_address_clean(
            {"name": "", "line1": "x" * 201, "city": 5, "country": "Narnia", "phone": "1"}
        )
    assert set(refused.value.errors) == {"name", "line1", "city", "country", "phone"}


def test_the_first_address_is_the_default_and_saving_it_again_changes_nothing():
    user = UserFactory()
    first = services.shipping_address_save(user=user, **HOME)
    again = services.shipping_address_save(user=user, **HOME)
    second = services.shipping_address_save(user=user, **(HOME | {"line1": "1 Other Road"}))

    assert first.pk == again.pk
    assert first.is_default and not second.is_default
    services.shipping_address_set_default(user=user, address_id=second.pk)
    assert list(ShippingAddress.objects.filter(is_default=True)) == [second]


def test_the_api_lists_saves_defaults_and_forgets_only_your_own(django_assert_max_num_queries):
    user = UserFactory()
    theirs = ShippingAddressFactory()
    api = api_client_for(user)

    saved = api.post(ADDRESSES, HOME, format="json")
    assert saved.status_code == 201
    assert saved.json()["is_default"] is True
    other = api.post(ADDRESSES, HOME | {"line1": "1 Other Road"}, format="json").json()
    bad = api.post(ADDRESSES, HOME | {"country": ""}, format="json")
    assert bad.status_code == 400 and bad.json() == {"country": ["Choose a country."]}

    made = api.post(f"{ADDRESSES}{other['id']}/default/")
    assert made.status_code == 200 and made.json()["is_default"] is True
    for _ in range(5):
        ShippingAddressFactory(user=user)
    # Token, then the addresses in one query however many there are.
    with django_assert_max_num_queries(4):
        listed = api.get(ADDRESSES).json()
    assert len(listed) == 7 and listed[0]["id"] == other["id"]  # the default first
    assert theirs.line1 not in str(listed)

    assert api.post(f"{ADDRESSES}{theirs.pk}/default/").status_code == 404
    assert api.delete(f"{ADDRESSES}{theirs.pk}/").status_code == 404
    assert api.delete(f"{ADDRESSES}{other['id']}/").status_code == 204
    assert ShippingAddress.objects.filter(pk=theirs.pk).exists()
    assert not ShippingAddress.objects.filter(pk=other["id"]).exists()


def test_the_address_page_lists_yours_makes_one_default_and_removes_one(client):
    user = UserFactory()
    first = ShippingAddressFactory(user=user, line1="1 First Street", is_default=True)
    second = ShippingAddressFactory(user=user, line1="2 Second Street")
    theirs = ShippingAddressFactory(line1="3 Someone Else Road")
    client.force_login(user)

    page = client.get(reverse("shipping-addresses")).content.decode()
    assert "1 First Street" in page and "2 Second Street" in page
    assert "3 Someone Else Road" not in page

    made = client.post(reverse("shipping-address-default", args=[second.pk]))
    assert made.status_code == 302
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.is_default and not first.is_default

    assert client.post(reverse("shipping-address-delete", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("shipping-address-delete", args=[first.pk])).status_code == 302
    assert list(ShippingAddress.objects.filter(user=user)) == [second]
    assert ShippingAddress.objects.filter(pk=theirs.pk).exists()
