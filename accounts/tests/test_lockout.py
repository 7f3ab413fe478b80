"""Login lockout: after too many wrong passwords for one account from one address, the pages'
login, the admin's and the API's token login all refuse it, even with the right password."""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.urls import reverse

from accounts.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
LOCKED_OUT = "Too many failed attempts to log in to this account"
NEW_PASSWORD = "quiet-lantern-harbour-42"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _web_login(client, email, password, **extra):
    return client.post(reverse("login"), {"username": email, "password": password}, **extra)


def _admin_login(client, email, password, **extra):
    return client.post(
        reverse("admin:login"),
        {"username": email, "password": password, "next": "/admin/"},
        **extra,
    )


def _api_login(client, email, password, **extra):
    return client.post(TOKEN, {"email": email, "password": password}, format="json", **extra)


def _signed_in(client):
    return "_auth_user_id" in client.session


def test_web_login_locks_out_after_the_limit_even_with_the_right_password(client):
    user = UserFactory(email="ana@example.com")

    failures = [_web_login(client, user.email, "wrong-password") for _ in range(2)]
    last_failure = _web_login(client, user.email, "wrong-password")
    right_password = _web_login(client, user.email, DEFAULT_PASSWORD)

    assert [r.status_code for r in failures] == [200, 200]
    assert "Please enter a correct email and password" in failures[0].content.decode()
    for response in (last_failure, right_password):
        assert response.status_code == 429
        html = response.content.decode()
        assert LOCKED_OUT in html
        assert "Try again in 15 minutes, or reset your password." in html
        assert f'href="{reverse("password_reset")}"' in html
    assert not _signed_in(client)


def test_admin_login_locks_out_after_the_limit_even_with_the_right_password(client):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)

    for _ in range(3):
        _admin_login(client, staff.email, "wrong-password")
    response = _admin_login(client, staff.email, DEFAULT_PASSWORD)

    assert response.status_code == 429
    assert LOCKED_OUT in response.content.decode()
    assert not _signed_in(client)
    assert client.get("/admin/")["Location"].startswith(reverse("admin:login"))


def test_api_token_login_locks_out_after_the_limit_even_with_the_right_password(api_client):
    user = UserFactory(email="ana@example.com")

    failures = [_api_login(api_client, user.email, "wrong-password") for _ in range(3)]
    response = _api_login(api_client, user.email, DEFAULT_PASSWORD)

    assert [r.status_code for r in failures] == [400, 400, 429]
    assert response.status_code == 429
    assert LOCKED_OUT in response.json()["detail"]
    assert "reset your password" in response.json()["detail"]
    assert int(response["Retry-After"]) == 15 * 60
    assert "token" not in response.json()


def test_failures_on_the_pages_and_the_api_count_together(client, api_client):
    user = UserFactory(email="ana@example.com")

    _web_login(client, user.email, "wrong-password")
    _api_login(api_client, user.email, "wrong-password")
    _admin_login(client, user.email, "wrong-password")

    assert _api_login(api_client, user.email, DEFAULT_PASSWORD).status_code == 429
    assert _web_login(client, user.email, DEFAULT_PASSWORD).status_code == 429


def test_changing_the_case_of_the_email_does_not_start_a_new_count(client):
    user = UserFactory(email="ana@example.com")

    for email in ("ana@example.com", "ANA@example.com", " Ana@Example.COM "):
        _web_login(client, email, "wrong-password")

    assert _web_login(client, user.email, DEFAULT_PASSWORD).status_code == 429


def test_rotating_x_forwarded_for_does_not_reset_the_lockout(client, api_client):
    user = UserFactory(email="ana@example.com")

    for n in range(3):
        _web_login(client, user.email, "wrong-password", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    web = _web_login(client, user.email, DEFAULT_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")
    api = _api_login(api_client, user.email, DEFAULT_PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert web.status_code == 429
    assert api.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_the_lockout_is_per_account_and_address(client):
    # Someone guessing from one address locks out that pair only: the owner elsewhere gets in,
    # and other accounts from the guessing address are not affected.
    user = UserFactory(email="ana@example.com")
    other = UserFactory(email="bo@example.com")
    for _ in range(3):
        _web_login(client, user.email, "wrong-password", REMOTE_ADDR="203.0.113.5")

    from_elsewhere = _web_login(client, user.email, DEFAULT_PASSWORD, REMOTE_ADDR="198.51.100.9")
    client.logout()
    other_account = _web_login(client, other.email, DEFAULT_PASSWORD, REMOTE_ADDR="203.0.113.5")

    assert from_elsewhere.status_code == 302
    assert other_account.status_code == 302


def test_the_lockout_ends_after_the_cool_off(client):
    user = UserFactory(email="ana@example.com")
    for _ in range(3):
        _web_login(client, user.email, "wrong-password")
    assert _web_login(client, user.email, DEFAULT_PASSWORD).status_code == 429

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    assert _web_login(client, user.email, DEFAULT_PASSWORD).status_code == 302
    assert _signed_in(client)


def test_a_successful_login_starts_the_count_again(client):
    user = UserFactory(email="ana@example.com")
    for _ in range(2):
        _web_login(client, user.email, "wrong-password")
    assert _web_login(client, user.email, DEFAULT_PASSWORD).status_code == 302
    client.logout()

    for _ in range(2):
        _web_login(client, user.email, "wrong-password")

    assert _web_login(client, user.email, DEFAULT_PASSWORD).status_code == 302


def test_resetting_the_password_lifts_the_lockout(client):
    # The lockout page tells people to reset their password: the new one then works at once.
    user = UserFactory(email="ana@example.com")
    for _ in range(3):
        _web_login(client, user.email, "wrong-password")

    client.post(reverse("password_reset"), {"email": user.email})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    form_page = client.get(link.group(1), follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert _web_login(client, user.email, NEW_PASSWORD).status_code == 302
    assert _signed_in(client)
    assert not AccessAttempt.objects.filter(username=user.email).exists()
