"""Every accounts factory builds a saved, valid object that can log in where it should."""

import pytest
from django.urls import reverse

from accounts import factories
from accounts.factories import DEFAULT_PASSWORD, SellerProfileFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name", ["UserFactory", "StaffFactory", "SellerFactory", "SellerProfileFactory"]
)
def test_factory_builds_a_valid_saved_object(name):
    obj = getattr(factories, name)()

    assert obj.pk is not None
    type(obj).objects.get(pk=obj.pk)  # really in the database
    obj.full_clean()


def test_every_user_factory_makes_a_user_who_can_log_in(client):
    for factory in (factories.UserFactory, factories.StaffFactory, factories.SellerFactory):
        user = factory()
        response = client.post(
            reverse("login"), {"username": user.email, "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 302, factory.__name__
        assert client.session["_auth_user_id"] == str(user.pk)
        client.post(reverse("logout"))


def test_staff_factory_makes_staff():
    staff = factories.StaffFactory()
    assert staff.is_staff
    assert not factories.UserFactory().is_staff


def test_seller_factory_makes_a_seller_with_a_store():
    seller = factories.SellerFactory()
    seller.refresh_from_db()
    assert seller.is_seller
    assert seller.store.owner == seller
    seller.seller_profile.full_clean()
    seller.store.full_clean()


def test_seller_profile_factory_user_is_a_seller():
    profile = SellerProfileFactory()
    assert profile.user.is_seller
