"""API tokens expire, can be revoked one by one or all at once, and do not survive a new
password (changed or reset, on the pages, in the admin or anywhere else)."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.factories import DEFAULT_PASSWORD, StaffFactory, UserFactory
from accounts.tasks import purge_expired_api_tokens
from accounts.testing import api_token_for

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
LOGOUT = "/api/v1/auth/logout/"
LOGOUT_ALL = "/api/v1/auth/logout-all/"
ME = "/api/v1/me/"
NEW_PASSWORD = "quiet-lantern-harbour-42"


def _app(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _signed_in(token):
    return _app(token).get(ME).status_code == 200


def _sign_in(email, password=DEFAULT_PASSWORD):
    response = APIClient().post(TOKEN, {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["token"]


def test_a_token_stops_working_when_it_expires(settings):
    user = UserFactory()
    token = _sign_in(user.email)
    assert _signed_in(token)

    # The clock passes the expiry the sign-in answered with.
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))

    response = _app(token).get(ME)
    assert response.status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()  # expired tokens are deleted


def test_the_lifetime_is_a_setting(settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(hours=2)}
    user = UserFactory()

    _sign_in(user.email)

    expiry = AuthToken.objects.get(user=user).expiry
    assert abs(expiry - (timezone.now() + timedelta(hours=2))) < timedelta(minutes=1)


def test_logout_revokes_only_the_token_it_sent():
    user = UserFactory()
    phone, tablet = _sign_in(user.email), _sign_in(user.email)

    response = _app(phone).post(LOGOUT)

    assert response.status_code == 204
    assert not _signed_in(phone)
    assert _signed_in(tablet)
    assert _app(phone).post(LOGOUT).status_code == 401


def test_logout_all_revokes_every_token_of_the_account_only():
    user, other = UserFactory(), UserFactory()
    phone, tablet = _sign_in(user.email), _sign_in(user.email)
    others = _sign_in(other.email)

    response = _app(phone).post(LOGOUT_ALL)

    assert response.status_code == 204
    assert not _signed_in(phone)
    assert not _signed_in(tablet)
    assert _signed_in(others)


def test_logging_out_needs_a_token(client):
    # A browser session cannot sign out an app (nor be signed out by this endpoint).
    client.force_login(UserFactory())

    assert client.post(LOGOUT).status_code in (401, 403)
    assert client.post(LOGOUT_ALL).status_code in (401, 403)
    assert APIClient().post(LOGOUT).status_code == 401


def test_changing_the_password_on_the_website_signs_every_app_out(client):
    user = UserFactory()
    phone = _sign_in(user.email)
    client.post(reverse("login"), {"username": user.email, "password": DEFAULT_PASSWORD})

    response = client.post(
        reverse("password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )

    assert response["Location"] == reverse("password_change_done")
    assert not _signed_in(phone)
    assert not AuthToken.objects.filter(user=user).exists()
    # The page that changed it stays signed in (Django's session hash), and the new password
    # gives the app a new token.
    assert client.get(reverse("account")).status_code == 200
    assert _signed_in(_sign_in(user.email, NEW_PASSWORD))


def test_changing_the_password_ends_the_other_web_sessions(client):
    user = UserFactory()
    other_browser = APIClient()
    other_browser.force_login(user)
    client.force_login(user)

    client.post(
        reverse("password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )

    assert client.get(reverse("account")).status_code == 200
    assert other_browser.get(reverse("account")).status_code == 302


def test_resetting_the_password_signs_every_app_out(client):
    user = UserFactory(email="dan@example.com")
    phone, tablet = _sign_in(user.email), _sign_in(user.email)

    client.post(reverse("password_reset"), {"email": user.email})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    form_page = client.get(link.group(1), follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert done["Location"] == reverse("password_reset_complete")
    assert not _signed_in(phone)
    assert not _signed_in(tablet)


def test_staff_setting_a_password_in_the_admin_signs_every_app_out(client):
    user = UserFactory()
    phone = _sign_in(user.email)
    client.force_login(StaffFactory(is_superuser=True))

    response = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    assert not _signed_in(phone)


def test_a_new_password_set_anywhere_revokes_the_tokens_and_nothing_else_does():
    user = UserFactory()
    token = api_token_for(user)

    user.full_name = "Renamed"
    user.save()
    user.refresh_from_db()
    user.check_password(DEFAULT_PASSWORD)  # may re-hash: not a new password
    assert _signed_in(token)

    user.set_password(NEW_PASSWORD)
    user.save()
    assert not _signed_in(token)


def test_the_daily_job_deletes_expired_tokens_only():
    user = UserFactory()
    live = _sign_in(user.email)
    stale = AuthToken.objects.create(user=UserFactory())[0]
    AuthToken.objects.filter(pk=stale.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    purged = purge_expired_api_tokens.delay().get()

    assert purged == 1
    assert not AuthToken.objects.filter(pk=stale.pk).exists()
    assert _signed_in(live)
