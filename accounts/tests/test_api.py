"""Account API: tokens, sign-up, the signed-in user and becoming a seller."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.factories import DEFAULT_PASSWORD, SellerFactory, UserFactory
from accounts.models import SellerProfile, User
from accounts.testing import api_client_for
from core.testing import set_rate_limits
from marketplace.models import Store

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
SIGNUP = "/api/v1/auth/signup/"
ME = "/api/v1/me/"
SELLER_PROFILE = "/api/v1/me/seller-profile/"


def client_for(user):
    return api_client_for(user)


def onboarding_body(**overrides):
    return {
        "display_name": "Clay Corner",
        "country": "pt",
        "default_currency": "EUR",
        "bio": "Hand-thrown stoneware.",
        "store_name": "Clay Corner Studio",
    } | overrides


# --- Tokens -------------------------------------------------------------------------------------


def test_token_obtained_with_email_and_password_authenticates(api_client, settings):
    user = UserFactory(email="ana@example.com")

    response = api_client.post(TOKEN, {"email": "Ana@Example.com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    body = response.json()
    token = body["token"]
    expiry = datetime.fromisoformat(body["expiry"])
    lifetime = settings.REST_KNOX["TOKEN_TTL"]
    assert abs(expiry - (timezone.now() + lifetime)) < timedelta(minutes=1)
    stored = AuthToken.objects.get(user=user)
    assert token not in (stored.digest, stored.token_key)  # only a hash is kept
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get(ME)
    assert me.status_code == 200
    assert me.json()["email"] == "ana@example.com"


def test_each_login_gets_a_token_of_its_own(api_client):
    # One per device: signing out on one leaves the others signed in.
    user = UserFactory()
    body = {"email": user.email, "password": DEFAULT_PASSWORD}

    first = api_client.post(TOKEN, body).json()["token"]
    second = api_client.post(TOKEN, body).json()["token"]

    assert first != second
    assert AuthToken.objects.filter(user=user).count() == 2


def test_wrong_password_is_a_400_with_a_message(api_client):
    user = UserFactory()

    response = api_client.post(TOKEN, {"email": user.email, "password": "wrong-password"})

    assert response.status_code == 400
    assert response.json()["non_field_errors"] == ["Unable to log in with that email and password."]
    assert not AuthToken.objects.filter(user=user).exists()


def test_inactive_user_gets_no_token(api_client):
    user = UserFactory(is_active=False)

    response = api_client.post(TOKEN, {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 400
    assert not AuthToken.objects.exists()


def test_token_request_without_password_names_the_field(api_client):
    response = api_client.post(TOKEN, {"email": "someone@example.com"})

    assert response.status_code == 400
    assert response.json()["password"] == ["This field is required."]


def test_bad_token_is_a_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert api_client.get(ME).status_code == 401


def test_token_endpoint_is_throttled(api_client, settings):
    set_rate_limits(settings, auth="2/min")
    body = {"email": "nobody@example.com", "password": "whatever-it-is"}

    responses = [api_client.post(TOKEN, body) for _ in range(3)]

    assert [r.status_code for r in responses] == [400, 400, 429]
    assert 0 < int(responses[-1]["Retry-After"]) <= 60


def test_rotating_x_forwarded_for_does_not_reset_the_login_throttle(api_client, settings):
    # Without a trusted proxy the header is the client's own words: it must not pick the budget.
    set_rate_limits(settings, auth="3/min")
    body = {"email": "nobody@example.com", "password": "whatever-it-is"}

    statuses = [
        api_client.post(TOKEN, body, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(6)
    ]

    assert statuses == [400, 400, 400, 429, 429, 429]


def test_behind_a_trusted_proxy_the_throttle_keys_on_the_address_the_proxy_saw(
    api_client, settings
):
    set_rate_limits(settings, auth="2/min")
    settings.BAZAAR_TRUSTED_PROXIES = 1
    body = {"email": "nobody@example.com", "password": "whatever-it-is"}

    def post(forwarded_for):
        return api_client.post(TOKEN, body, HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # The client prepends made-up addresses; the proxy appends the one it saw.
    spoofed = [post(f"10.0.0.{n}, 198.51.100.7") for n in range(3)]
    other_client = post("198.51.100.8")

    assert spoofed == [400, 400, 429]
    assert other_client == 400


# --- Sign-up ------------------------------------------------------------------------------------


def test_signup_creates_the_user_and_returns_a_working_token(api_client):
    response = api_client.post(
        SIGNUP,
        {"email": "New@Example.com", "password": DEFAULT_PASSWORD, "full_name": "Nia Novak"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    user = User.objects.get(email="new@example.com")
    assert user.full_name == "Nia Novak"
    assert user.check_password(DEFAULT_PASSWORD)
    assert body["user"]["id"] == user.pk
    assert body["user"]["is_seller"] is False
    assert datetime.fromisoformat(body["expiry"]) > timezone.now() + timedelta(days=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get(ME).json()["email"] == "new@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": DEFAULT_PASSWORD}, "email"),
        ({"password": DEFAULT_PASSWORD}, "email"),
        ({"email": "short@example.com", "password": "123"}, "password"),
        ({"email": "short@example.com"}, "password"),
    ],
)
def test_signup_field_errors(api_client, body, field):
    response = api_client.post(SIGNUP, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert isinstance(response.json()[field], list)
    assert not User.objects.exists()


def test_signup_with_a_taken_email_is_a_400(api_client):
    UserFactory(email="taken@example.com")

    response = api_client.post(
        SIGNUP, {"email": "TAKEN@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert "already exists" in response.json()["email"][0]
    assert User.objects.count() == 1


# --- Me -----------------------------------------------------------------------------------------


def test_me_is_401_when_anonymous(api_client):
    assert api_client.get(ME).status_code == 401
    assert api_client.patch(ME, {"full_name": "x"}).status_code == 401


def test_me_for_a_buyer(api_client):
    user = UserFactory(email="buyer@example.com", full_name="Bo Buyer")

    body = client_for(user).get(ME).json()

    assert body == {
        "id": user.pk,
        "email": "buyer@example.com",
        "full_name": "Bo Buyer",
        "time_zone": "UTC",
        "email_verified": True,
        "pending_email": None,
        "is_seller": False,
        "seller_profile": None,
        "store_slug": None,
    }


def test_me_for_a_seller_nests_the_profile_and_names_the_store():
    seller = SellerFactory()
    seller.seller_profile.commission_bps = 800
    seller.seller_profile.save()

    body = client_for(seller).get(ME).json()

    assert body["is_seller"] is True
    assert body["store_slug"] == seller.store.slug
    assert body["seller_profile"]["display_name"] == seller.seller_profile.display_name
    assert body["seller_profile"]["commission_bps"] == 800
    assert body["seller_profile"]["effective_commission_bps"] == 800


def test_me_update_full_name():
    user = UserFactory(full_name="Old Name")

    response = client_for(user).patch(ME, {"full_name": "  New Name "}, format="json")

    assert response.status_code == 200
    assert response.json()["full_name"] == "New Name"
    user.refresh_from_db()
    assert user.full_name == "New Name"


def test_me_update_cannot_change_email():
    user = UserFactory(email="fixed@example.com")

    client_for(user).patch(ME, {"full_name": "A", "email": "other@example.com"}, format="json")

    user.refresh_from_db()
    assert user.email == "fixed@example.com"


# --- Seller profile -----------------------------------------------------------------------------


def test_becoming_a_seller_creates_profile_and_store():
    user = UserFactory()
    client = client_for(user)

    response = client.post(SELLER_PROFILE, onboarding_body(), format="json")

    assert response.status_code == 201, response.json()
    profile = SellerProfile.objects.get(user=user)
    assert profile.country == "PT"
    assert profile.default_currency == "eur"
    store = Store.objects.get(owner=user)
    assert store.name == "Clay Corner Studio"
    assert response.json()["store_slug"] == store.slug
    me = client.get(ME).json()
    assert me["is_seller"] is True
    assert me["store_slug"] == store.slug


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"country": "Portugal"}, "country"),
        ({"country": "1"}, "country"),
        ({"default_currency": "xyz"}, "default_currency"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "   "}, "display_name"),
    ],
)
def test_becoming_a_seller_field_errors(overrides, field):
    user = UserFactory()

    response = client_for(user).post(SELLER_PROFILE, onboarding_body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not SellerProfile.objects.filter(user=user).exists()
    assert not Store.objects.filter(owner=user).exists()


def test_becoming_a_seller_twice_is_a_400():
    seller = SellerFactory()

    response = client_for(seller).post(SELLER_PROFILE, onboarding_body(), format="json")

    assert response.status_code == 400
    assert SellerProfile.objects.filter(user=seller).count() == 1


def test_seller_updates_profile_but_not_commission():
    seller = SellerFactory()
    profile = seller.seller_profile
    profile.commission_bps = 800
    profile.save()

    response = client_for(seller).patch(
        SELLER_PROFILE,
        {"display_name": "Renamed", "default_currency": "GBP", "commission_bps": 0},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["display_name"] == "Renamed"
    assert response.json()["commission_bps"] == 800
    profile.refresh_from_db()
    assert profile.display_name == "Renamed"
    assert profile.default_currency == "gbp"
    assert profile.commission_bps == 800


def test_seller_profile_update_field_error():
    seller = SellerFactory()

    response = client_for(seller).patch(SELLER_PROFILE, {"country": "XX1"}, format="json")

    assert response.status_code == 400
    assert "country" in response.json()


def test_seller_profile_read():
    seller = SellerFactory()

    response = client_for(seller).get(SELLER_PROFILE)

    assert response.status_code == 200
    assert response.json()["display_name"] == seller.seller_profile.display_name
    assert response.json()["store_slug"] == seller.store.slug


def test_seller_profile_of_a_non_seller_is_404_with_a_hint():
    client = client_for(UserFactory())

    response = client.get(SELLER_PROFILE)
    update = client.patch(SELLER_PROFILE, {"display_name": "X"}, format="json")

    assert response.status_code == 404
    assert "become one" in response.json()["detail"]
    assert update.status_code == 404
    assert not SellerProfile.objects.exists()


def test_seller_profile_is_401_when_anonymous(api_client):
    assert api_client.post(SELLER_PROFILE, onboarding_body(), format="json").status_code == 401


def test_me_update_time_zone():
    user = UserFactory()

    response = client_for(user).patch(ME, {"time_zone": "Europe/Berlin"}, format="json")

    assert response.status_code == 200
    assert response.json()["time_zone"] == "Europe/Berlin"
    user.refresh_from_db()
    assert user.time_zone == "Europe/Berlin"


@pytest.mark.parametrize("name", ["Mars/Olympus", "localtime", "Factory", "right/Europe/Berlin"])
def test_me_update_with_an_unknown_time_zone_is_a_400_naming_the_field(name):
    user = UserFactory(full_name="Kept")

    response = client_for(user).patch(
        ME, {"time_zone": name, "full_name": "Changed"}, format="json"
    )

    assert response.status_code == 400
    assert "time_zone" in response.json()
    user.refresh_from_db()
    assert user.time_zone == "UTC"
    assert user.full_name == "Kept"
