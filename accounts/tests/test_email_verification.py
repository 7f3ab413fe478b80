"""Email addresses are confirmed by a link: at sign-up and when the address changes. Until then
the person cannot sell or pay (pages and API); staff are unaffected."""

import re
import time
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.factories import DEFAULT_PASSWORD, StaffFactory, UserFactory
from accounts.models import SellerProfile, User
from accounts.testing import api_client_for
from core.audit import AuditEntry
from core.testing import set_rate_limits

pytestmark = pytest.mark.django_db

PASSWORD = "quiet-lantern-harbour-42"
LINK = re.compile(r"https?://\S+/accounts/email/confirm/(\S+?)/")


def _signup(client, email="ada@example.com"):
    return client.post(
        reverse("signup"),
        {"email": email, "full_name": "Ada L", "password1": PASSWORD, "password2": PASSWORD},
    )


def _key_in(message):
    return LINK.search(message.body).group(1)


def _confirm(client, key):
    return client.post(reverse("email-confirm", args=[key]))


def _unverified(**kwargs):
    return UserFactory(email_verified_at=None, **kwargs)


def _seller_form():
    return {
        "display_name": "Ada's",
        "store_name": "Ada's Looms",
        "country": "US",
        "default_currency": "usd",
        "bio": "",
    }


# --- Sign-up sends the link; opening it confirms ------------------------------------------------


def test_signup_sends_a_link_that_confirms_the_address(client):
    response = _signup(client)
    assert response.status_code == 302
    user = User.objects.get(email="ada@example.com")
    assert user.email_verified_at is None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Confirm your email address for Bazaar"
    key = _key_in(message)
    assert "text/html" in message.alternatives[0].mimetype

    page = client.get(reverse("email-confirm", args=[key]))
    assert page.status_code == 200
    assert "Confirm ada@example.com" in page.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is None  # a GET (a mail scanner) confirms nothing

    response = _confirm(client, key)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at is not None
    assert EmailAddress.objects.get(user=user).verified
    assert AuditEntry.objects.filter(action="accounts.email.confirmed").exists()
    assert len(mail.outbox) == 1  # no "address changed" notice for a first confirmation


def test_the_api_signup_sends_the_link_too(api_client):
    response = api_client.post(
        "/api/v1/auth/signup/", {"email": "bo@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["user"]["email_verified"] is False
    assert mail.outbox[0].to == ["bo@example.com"]


def test_an_unverified_user_sees_the_banner_until_confirmed(client):
    _signup(client)
    home = client.get(reverse("home")).content.decode()
    assert "Confirm your email address." in home
    assert "Send the link again" in home
    _confirm(client, _key_in(mail.outbox[0]))
    assert "Confirm your email address." not in client.get(reverse("home")).content.decode()


@pytest.mark.parametrize("key", ["nonsense", "MQ:1vAbCd:forgedsignature"])
def test_a_bad_link_is_a_clear_error_page(client, key):
    for response in (client.get(reverse("email-confirm", args=[key])), _confirm(client, key)):
        assert response.status_code == 400
        assert "This confirmation link is not valid" in response.content.decode()


def test_an_expired_link_is_a_clear_error_page(client, settings):
    _signup(client)
    key = _key_in(mail.outbox[0])
    days = settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS
    later = time.time() + days * 86400 + 60
    with mock.patch("time.time", return_value=later):
        response = _confirm(client, key)
    assert response.status_code == 400
    assert "has expired" in response.content.decode()
    assert User.objects.get(email="ada@example.com").email_verified_at is None


def test_a_used_link_does_not_work_twice(client):
    _signup(client)
    key = _key_in(mail.outbox[0])
    assert _confirm(client, key).status_code == 302
    assert _confirm(client, key).status_code == 400


# --- The gates: selling and paying --------------------------------------------------------------


def test_unverified_cannot_become_a_seller_on_the_page_until_confirmed(client):
    _signup(client)
    response = client.post(reverse("seller-onboard"), _seller_form())
    assert response.status_code == 200
    assert "Confirm your email address first" in response.content.decode()
    assert not SellerProfile.objects.exists()

    _confirm(client, _key_in(mail.outbox[0]))
    response = client.post(reverse("seller-onboard"), _seller_form())
    assert response.status_code == 302
    assert SellerProfile.objects.count() == 1


def test_unverified_cannot_become_a_seller_in_the_api():
    user = _unverified()
    api = api_client_for(user)
    body = _seller_form()
    response = api.post("/api/v1/me/seller-profile/", body, format="json")
    assert response.status_code == 403
    assert "Confirm your email address first" in response.json()["detail"]
    user.email_verified_at = user.date_joined
    user.save()
    assert api.post("/api/v1/me/seller-profile/", body, format="json").status_code == 201


def test_staff_are_not_gated(client):
    staff = StaffFactory(email_verified_at=None)
    client.force_login(staff)
    assert "Confirm your email address." not in client.get(reverse("home")).content.decode()
    response = client.post(reverse("seller-onboard"), _seller_form())
    assert response.status_code == 302


# --- Sending the link again is rate limited -----------------------------------------------------


def test_resend_is_rate_limited(client, settings):
    set_rate_limits(settings, email_confirmation="2/hour")
    client.force_login(_unverified(email="cy@example.com"))
    for _ in range(2):
        response = client.post(reverse("email-resend"), follow=True)
        assert "We sent a new link to cy@example.com" in response.content.decode()
    response = client.post(reverse("email-resend"), follow=True)
    assert "You asked for a link a moment ago" in response.content.decode()
    assert len(mail.outbox) == 2


def test_resend_in_the_api_is_rate_limited(settings):
    set_rate_limits(settings, email_confirmation="1/hour")
    api = api_client_for(_unverified())
    assert api.post("/api/v1/me/email/resend/").status_code == 202
    assert api.post("/api/v1/me/email/resend/").status_code == 429
    assert len(mail.outbox) == 1


def test_resend_when_confirmed_sends_nothing(client):
    client.force_login(UserFactory())
    response = client.post(reverse("email-resend"), follow=True)
    assert "already confirmed" in response.content.decode()
    assert mail.outbox == []


# --- Changing the address: the old one stays until the new one is confirmed --------------------


def test_changing_the_email_confirms_the_new_address_before_switching(client):
    user = UserFactory(email="old@example.com")
    client.force_login(user)
    response = client.post(reverse("email-change"), {"email": "New@Example.com"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "old@example.com"
    assert user.email_verified
    assert mail.outbox[0].to == ["new@example.com"]
    account = client.get(reverse("account")).content.decode()
    assert "new@example.com" in account and "stays old@example.com" in account

    _confirm(client, _key_in(mail.outbox[0]))
    user.refresh_from_db()
    assert user.email == "new@example.com"
    # The old address is told, in case someone else moved the account away from it.
    notice = mail.outbox[-1]
    assert notice.to == ["old@example.com"]
    assert notice.subject == "Your Bazaar email address was changed"
    assert "from old@example.com to new@example.com" in notice.body
    assert list(EmailAddress.objects.filter(user=user).values_list("email", "verified")) == [
        ("new@example.com", True)
    ]
    # The new address signs in; the old one no longer does.
    login = reverse("login")
    for email, status in [("old@example.com", 200), ("new@example.com", 302)]:
        client.logout()
        response = client.post(login, {"username": email, "password": DEFAULT_PASSWORD})
        assert response.status_code == status


def test_changing_to_a_taken_or_bad_address_is_a_form_error(client):
    UserFactory(email="taken@example.com")
    user = UserFactory(email="me@example.com")
    client.force_login(user)
    for email, error in [
        ("taken@example.com", "An account with this email already exists."),
        ("not-an-address", "Enter a valid email address."),
        ("ME@example.com", "This is already your email address."),
    ]:
        response = client.post(reverse("email-change"), {"email": email})
        assert response.status_code == 400
        assert error in response.content.decode()
    assert mail.outbox == []


def test_changing_the_email_in_the_api():
    user = UserFactory(email="old@example.com")
    api = api_client_for(user)
    response = api.post("/api/v1/me/email/", {"email": "new@example.com"}, format="json")
    assert response.status_code == 202
    assert response.json()["pending_email"] == "new@example.com"
    assert api.get("/api/v1/me/").json()["email"] == "old@example.com"
    bad = api.post("/api/v1/me/email/", {"email": "old@example.com"}, format="json")
    assert bad.status_code == 400 and "email" in bad.json()

    api_client_for(user).post(reverse("email-confirm", args=[_key_in(mail.outbox[0])]))
    me = api.get("/api/v1/me/").json()
    assert (me["email"], me["email_verified"], me["pending_email"]) == (
        "new@example.com",
        True,
        None,
    )


def test_a_new_address_taken_meanwhile_is_refused_at_confirmation(client):
    user = UserFactory(email="old@example.com")
    client.force_login(user)
    client.post(reverse("email-change"), {"email": "new@example.com"})
    UserFactory(email="new@example.com")
    response = _confirm(client, _key_in(mail.outbox[0]))
    assert response.status_code == 400
    user.refresh_from_db()
    assert user.email == "old@example.com"


# --- Staff -------------------------------------------------------------------------------------


def test_staff_mark_an_address_confirmed_in_the_admin(admin_client):
    user = _unverified(email="dee@example.com")
    changelist = reverse("admin:accounts_user_changelist")
    listed = admin_client.get(changelist, {"email_confirmed": "no"}).content.decode()
    assert "dee@example.com" in listed
    response = admin_client.post(
        changelist, {"action": "mark_email_confirmed", "_selected_action": [user.pk]}, follow=True
    )
    assert "Marked 1 email address(es) as confirmed." in response.content.decode()
    user.refresh_from_db()
    assert user.email_verified
    assert EmailAddress.objects.get(user=user).verified
    assert (
        "dee@example.com"
        not in admin_client.get(changelist, {"email_confirmed": "no"}).content.decode()
    )
