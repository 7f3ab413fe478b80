import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.models import SellerProfile, User
from accounts.services import (
    seller_commission_set,
    seller_onboard,
    seller_profile_update,
    user_signup,
    user_update,
)
from core.errors import NotAllowed, ValidationFailed
from core.models import AuditEntry
from marketplace.models import Store

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "tulip-orbit-5512"


# --- Sign-up ------------------------------------------------------------------------------------


def test_signup_creates_a_user_who_can_log_in_with_a_lower_case_email():
    user = user_signup(email="  Ada@Example.COM ", password=GOOD_PASSWORD, full_name="Ada L")

    assert user.email == "ada@example.com"
    assert user.full_name == "Ada L"
    assert not user.is_staff
    assert not user.is_seller
    # The login lockout's backend needs the request every real login has.
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, email="ada@example.com", password=GOOD_PASSWORD) == user
    entry = AuditEntry.objects.get(action="accounts.user.signed_up")
    assert entry.actor == user
    assert entry.after == {"email": "ada@example.com"}


@pytest.mark.parametrize("email", ["", "not-an-email", "ada@", "@example.com", "a b@example.com"])
def test_signup_refuses_a_bad_email(email):
    with pytest.raises(ValidationFailed) as exc:
        user_signup(email=email, password=GOOD_PASSWORD)
    assert "email" in exc.value.errors
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@example.com", "Ada@Example.Com"])
def test_signup_refuses_an_email_already_taken_in_any_case(email):
    UserFactory(email="ada@example.com")

    with pytest.raises(ValidationFailed) as exc:
        user_signup(email=email, password=GOOD_PASSWORD)

    assert "already exists" in exc.value.errors["email"][0]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "password",
    [
        "short1",  # too short
        "password123",  # too common
        "48151623429",  # entirely numeric
        "ada@example.com",  # the email itself
    ],
)
def test_signup_refuses_a_weak_password(password):
    with pytest.raises(ValidationFailed) as exc:
        user_signup(email="ada@example.com", password=password)
    assert exc.value.errors["password"]
    assert not User.objects.exists()


def test_signup_reports_email_and_password_problems_together():
    with pytest.raises(ValidationFailed) as exc:
        user_signup(email="nope", password="123")
    assert {"email", "password"} <= set(exc.value.errors)


# --- Becoming a seller --------------------------------------------------------------------------


def test_seller_onboard_creates_a_profile_and_a_store():
    user = UserFactory()

    profile = seller_onboard(
        user=user,
        display_name="Okafor Ceramics",
        country="us",
        default_currency="USD",
        bio="Stoneware from Portland.",
    )

    user.refresh_from_db()
    assert user.is_seller
    assert profile.user == user
    assert profile.country == "US"
    assert profile.default_currency == "usd"
    assert profile.commission_bps is None
    store = Store.objects.get(owner=user)
    assert store.name == "Okafor Ceramics"
    assert store.slug == "okafor-ceramics"
    assert store.description == "Stoneware from Portland."
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        "accounts.seller.onboarded",
        "marketplace.store.created",
    }


def test_seller_onboard_uses_the_store_name_when_given():
    profile = seller_onboard(
        user=UserFactory(),
        display_name="Maya",
        country="US",
        default_currency="usd",
        store_name="Maya's Mugs",
    )
    assert profile.user.store.name == "Maya's Mugs"
    assert profile.user.store.slug == "mayas-mugs"


def test_two_stores_with_one_name_get_different_slugs():
    slugs = [
        seller_onboard(
            user=UserFactory(), display_name="Clay Works", country="US", default_currency="usd"
        ).user.store.slug
        for _ in range(3)
    ]
    assert slugs == ["clay-works", "clay-works-2", "clay-works-3"]


def test_a_seller_cannot_onboard_twice():
    seller = SellerFactory()

    with pytest.raises(ValidationFailed) as exc:
        seller_onboard(user=seller, display_name="Again", country="US", default_currency="usd")

    assert "already a seller" in exc.value.errors["display_name"][0]
    assert SellerProfile.objects.filter(user=seller).count() == 1
    assert Store.objects.filter(owner=seller).count() == 1


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"display_name": "  "}, "display_name"),
        ({"country": "USA"}, "country"),
        ({"country": "1"}, "country"),
        ({"default_currency": "jpy"}, "default_currency"),
        ({"default_currency": ""}, "default_currency"),
    ],
)
def test_seller_onboard_refuses_bad_input_and_creates_nothing(fields, error_field):
    user = UserFactory()
    values = {"display_name": "Shop", "country": "US", "default_currency": "usd"} | fields

    with pytest.raises(ValidationFailed) as exc:
        seller_onboard(user=user, **values)

    assert error_field in exc.value.errors
    assert not SellerProfile.objects.exists()
    assert not Store.objects.exists()


# --- Updates ------------------------------------------------------------------------------------


def test_seller_profile_update_changes_allowed_fields_and_audits_them():
    seller = SellerFactory(seller__display_name="Old name", seller__country="US")
    profile = seller.seller_profile

    seller_profile_update(profile=profile, actor=seller, display_name="New name", country="de")

    profile.refresh_from_db()
    assert profile.display_name == "New name"
    assert profile.country == "DE"
    entry = AuditEntry.objects.get(action="accounts.seller_profile.updated")
    assert entry.before == {"display_name": "Old name", "country": "US"}
    assert entry.after == {"display_name": "New name", "country": "DE"}


def test_a_seller_cannot_set_their_own_commission():
    seller = SellerFactory()
    with pytest.raises(ValidationFailed) as exc:
        seller_profile_update(profile=seller.seller_profile, actor=seller, commission_bps=0)
    assert "commission_bps" in exc.value.errors
    seller.seller_profile.refresh_from_db()
    assert seller.seller_profile.commission_bps is None


def test_user_update_trims_the_name_and_audits_it():
    user = UserFactory(full_name="Ada")
    user_update(user=user, actor=user, full_name="  Ada Lovelace ")
    user.refresh_from_db()
    assert user.full_name == "Ada Lovelace"
    entry = AuditEntry.objects.get(action="accounts.user.updated")
    assert entry.before == {"full_name": "Ada", "time_zone": "UTC"}
    assert entry.after == {"full_name": "Ada Lovelace", "time_zone": "UTC"}


# --- Commission (staff) -------------------------------------------------------------------------


def test_staff_set_and_clear_a_commission_override_each_audited():
    staff = StaffFactory()
    profile = SellerFactory().seller_profile

    seller_commission_set(profile=profile, commission_bps=800, actor=staff)
    seller_commission_set(profile=profile, commission_bps=800, actor=staff)  # no change: quiet
    seller_commission_set(profile=profile, commission_bps=None, actor=staff)

    profile.refresh_from_db()
    assert profile.commission_bps is None
    entries = AuditEntry.objects.filter(target_id=str(profile.pk)).order_by("id")
    assert [(e.actor, e.before, e.after) for e in entries] == [
        (staff, {"commission_bps": None}, {"commission_bps": 800}),
        (staff, {"commission_bps": 800}, {"commission_bps": None}),
    ]


@pytest.mark.parametrize("value", [10_001, -1, "800", 8.5, True])
def test_a_commission_that_is_not_0_to_10000_basis_points_is_refused(value):
    profile = SellerFactory().seller_profile

    with pytest.raises(ValidationFailed) as refused:
        seller_commission_set(profile=profile, commission_bps=value, actor=StaffFactory())

    assert "commission_bps" in refused.value.errors
    profile.refresh_from_db()
    assert profile.commission_bps is None
    assert not AuditEntry.objects.filter(target_id=str(profile.pk)).exists()


def test_only_staff_set_a_commission():
    profile = SellerFactory().seller_profile

    with pytest.raises(NotAllowed):
        seller_commission_set(profile=profile, commission_bps=0, actor=profile.user)

    profile.refresh_from_db()
    assert profile.commission_bps is None
