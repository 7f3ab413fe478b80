"""Account pages: sign up, log in/out, passwords, profile, becoming a seller."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.factories import DEFAULT_PASSWORD, SellerFactory, UserFactory
from accounts.models import User
from marketplace.models import Store

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "quiet-lantern-harbour-42"


def _html(response):
    return response.content.decode()


def _field_errors(response, field):
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', _html(response))
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


def _signup(client, **overrides):
    data = {
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    } | overrides
    return client.post(reverse("signup"), data)


# --- Sign up ------------------------------------------------------------------------------------


def test_signup_creates_user_and_logs_in(client):
    response = _signup(client, email="Ada@Example.com")

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get(email="ada@example.com")
    assert user.full_name == "Ada Lovelace"
    assert user.check_password(NEW_PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("account")).status_code == 200


def test_signup_redirects_to_safe_next_only(client):
    assert _signup(client, next="/seller/")["Location"] == "/seller/"
    client.logout()
    response = _signup(client, email="bob@example.com", next="https://evil.example/")
    assert response["Location"] == reverse("home")


def test_signup_with_taken_email_shows_error(client):
    UserFactory(email="ada@example.com")

    response = _signup(client, email="ADA@example.com")

    assert response.status_code == 200
    assert _field_errors(response, "email") == [
        "An account with this email already exists. Log in instead."
    ]
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
    assert "_auth_user_id" not in client.session


def test_signup_password_mismatch_and_weak_password(client):
    mismatch = _signup(client, password2="something-else-entirely-7")
    weak = _signup(client, password1="12345678", password2="12345678")

    assert _field_errors(mismatch, "password2") == ["The two passwords are not the same."]
    assert "This password is entirely numeric." in _field_errors(weak, "password1")
    assert not User.objects.exists()


def test_signup_requires_fields(client):
    response = client.post(reverse("signup"), {})

    assert response.status_code == 200
    for field in ("email", "full_name", "password1", "password2"):
        assert _field_errors(response, field) == ["This field is required."]


# --- Log in / out -------------------------------------------------------------------------------


def test_login_and_logout(client):
    user = UserFactory(email="cara@example.com")

    page = client.get(reverse("login"))
    bad = client.post(reverse("login"), {"username": user.email, "password": "wrong"})
    good = client.post(
        reverse("login"), {"username": user.email, "password": DEFAULT_PASSWORD, "next": "/seller/"}
    )

    assert 'type="email" name="username"' in _html(page)
    assert bad.status_code == 200
    assert "Please enter a correct email and password" in _html(bad)
    assert good["Location"] == "/seller/"
    assert client.session["_auth_user_id"] == str(user.pk)

    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout"))["Location"] == reverse("home")
    assert "_auth_user_id" not in client.session


def test_logout_button_in_topbar_for_signed_in_users(client):
    client.force_login(UserFactory())

    html = _html(client.get(reverse("home")))

    assert f'action="{reverse("logout")}" method="post"' in html
    assert 'id="topbar-notifications"' in html


# --- Passwords ----------------------------------------------------------------------------------


def test_password_reset_sends_email_with_working_link(client):
    user = UserFactory(email="dan@example.com")

    response = client.post(reverse("password_reset"), {"email": "dan@example.com"})

    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Reset your Bazaar password"
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.body).group(1)

    form_page = client.get(link, follow=True)
    assert "Choose a new password" in _html(form_page)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        reverse("password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )

    assert response["Location"] == reverse("password_change_done")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert "Password changed" in _html(client.get(reverse("password_change_done")))


def test_password_change_wrong_old_password_shows_error(client):
    client.force_login(UserFactory())

    response = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert _field_errors(response, "old_password")


# --- Profile ------------------------------------------------------------------------------------


def test_account_page_updates_full_name(client):
    user = UserFactory(full_name="Old Name")
    client.force_login(user)

    page = client.get(reverse("account"))
    response = client.post(reverse("account"), {"full_name": "  New Name ", "time_zone": "UTC"})

    assert 'value="Old Name"' in _html(page)
    assert response["Location"] == reverse("account")
    user.refresh_from_db()
    assert user.full_name == "New Name"


def test_account_page_sets_the_time_zone_and_refuses_an_unknown_one(client):
    user = UserFactory()
    client.force_login(user)

    bad = client.post(reverse("account"), {"full_name": "", "time_zone": "Nowhere/Town"})
    good = client.post(reverse("account"), {"full_name": "", "time_zone": "America/New_York"})

    assert bad.status_code == 200
    assert "id_time_zone_error" in _html(bad)
    assert good.status_code == 302
    user.refresh_from_db()
    assert user.time_zone == "America/New_York"


def test_account_requires_login(client):
    response = client.get(reverse("account"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Becoming a seller --------------------------------------------------------------------------


def _onboard(client, **overrides):
    data = {
        "display_name": "Kiln Studio",
        "store_name": "Kiln & Co",
        "country": "us",
        "default_currency": "eur",
        "bio": "Stoneware made in Portland.",
    } | overrides
    return client.post(reverse("seller-onboard"), data)


def test_become_a_seller_creates_profile_and_store(client):
    user = UserFactory()
    client.force_login(user)

    response = _onboard(client)

    assert response["Location"] == reverse("seller-dashboard")
    user.refresh_from_db()
    profile = user.seller_profile
    assert (profile.display_name, profile.country, profile.default_currency) == (
        "Kiln Studio",
        "US",
        "eur",
    )
    assert user.store.name == "Kiln & Co"
    dashboard = _html(client.get(reverse("seller-dashboard")))
    assert "You have no listings yet." in dashboard


def test_become_a_seller_offers_configured_currencies(client, settings):
    client.force_login(UserFactory())

    html = _html(client.get(reverse("seller-onboard")))

    for currency in settings.BAZAAR_CURRENCIES:
        assert f'<option value="{currency}"' in html


def test_become_a_seller_bad_input_shows_errors(client):
    user = UserFactory()
    client.force_login(user)

    response = _onboard(client, display_name="   ", default_currency="xyz")

    assert response.status_code == 200
    assert _field_errors(response, "display_name") == ["This field is required."]
    assert _field_errors(response, "default_currency") == [
        "Select a valid choice. xyz is not one of the available choices."
    ]
    assert not Store.objects.filter(owner=user).exists()


def test_become_a_seller_service_error_shows_next_to_field(client):
    user = UserFactory()
    client.force_login(user)

    response = _onboard(client, country="1x")

    assert response.status_code == 200
    assert _field_errors(response, "country") == [
        "Choose the country you sell from in the list: Stripe can pay sellers in these countries."
    ]
    assert not Store.objects.filter(owner=user).exists()


def test_existing_seller_is_sent_to_dashboard(client):
    client.force_login(SellerFactory())

    response = client.get(reverse("seller-onboard"))

    assert response["Location"] == reverse("seller-dashboard")


def test_become_a_seller_requires_login(client):
    response = client.get(reverse("seller-onboard"))

    assert response["Location"].startswith(reverse("login"))
