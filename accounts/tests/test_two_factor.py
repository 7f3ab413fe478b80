"""Two-factor authentication for staff in the admin (django-otp, TOTP): enrolment with a QR
code, the code at the admin's sign-in, and BAZAAR_ADMIN_REQUIRE_2FA."""

import base64
import re
import time
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.factories import DEFAULT_PASSWORD, StaffFactory, UserFactory
from core.models import AuditEntry

pytestmark = pytest.mark.django_db

ADMIN = reverse("admin:index")
ADMIN_LOGIN = reverse("admin:login")
ENROL = reverse("two-factor")


def code_for(device, *, steps_ahead=0):
    """The code the authenticator app shows now (or `steps_ahead` periods later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def confirmed_device(user):
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def admin_login(client, user, code=None, password=DEFAULT_PASSWORD):
    data = {"username": user.email, "password": password, "next": ADMIN}
    if code is not None:
        data["otp_token"] = code
    return client.post(ADMIN_LOGIN, data)


def html(response):
    return unescape(response.content.decode())


@pytest.fixture
def staff():
    return StaffFactory(email="finance@example.com")


# --- Signing in to the admin --------------------------------------------------------------------


def test_staff_with_a_device_must_give_a_valid_code(client, staff):
    device = confirmed_device(staff)

    without = admin_login(client, staff)
    wrong = admin_login(client, staff, code="000000" if code_for(device) != "000000" else "111111")

    for response in (without, wrong):
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
    assert "Enter the 6-digit code your authenticator app shows for Bazaar." in html(without)
    assert "That code is not right or has expired." in html(wrong)
    assert 'value="' + DEFAULT_PASSWORD not in html(without)  # the password is not sent back

    # django-otp slows down guessing; after its back-off the right code works.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    right = admin_login(client, staff, code=code_for(device))

    assert right.status_code == 302
    assert right["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_a_code_cannot_be_used_twice(client, staff):
    device = confirmed_device(staff)
    code = code_for(device)
    assert admin_login(client, staff, code=code).status_code == 302
    client.post(reverse("admin:logout"))

    again = admin_login(client, staff, code=code)

    assert again.status_code == 200
    assert "_auth_user_id" not in client.session


def test_staff_with_a_device_signed_in_on_the_website_are_asked_for_the_code(client, staff):
    confirmed_device(staff)
    client.post(reverse("login"), {"username": staff.email, "password": DEFAULT_PASSWORD})

    response = client.get(ADMIN)

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN)
    page = client.get(response["Location"])
    assert 'name="otp_token"' in html(page)


def test_without_the_setting_staff_without_a_device_get_in_with_the_password(
    client, staff, settings
):
    settings.BAZAAR_ADMIN_REQUIRE_2FA = False

    response = admin_login(client, staff)

    assert response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200
    # The code field is there (for those with a device) and empty is fine without one.
    assert 'name="otp_token"' in html(Client().get(ADMIN_LOGIN))


def test_with_the_setting_staff_without_a_device_are_sent_to_enrol(client, staff, settings):
    settings.BAZAAR_ADMIN_REQUIRE_2FA = True
    admin_login(client, staff)

    response = client.get(ADMIN, follow=True)

    assert response.redirect_chain[-1][0].startswith(ENROL)
    assert "The back office requires two-factor authentication." in html(response)
    assert client.get(reverse("admin:escrow_order_changelist")).status_code == 302


def test_with_the_setting_staff_with_a_device_get_in_with_the_code(client, staff, settings):
    settings.BAZAAR_ADMIN_REQUIRE_2FA = True
    device = confirmed_device(staff)

    admin_login(client, staff, code=code_for(device))

    assert client.get(ADMIN).status_code == 200


def test_people_who_are_not_staff_still_cannot_get_in(client):
    user = UserFactory()

    response = admin_login(client, user)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


# --- Enrolling ----------------------------------------------------------------------------------


def _start(client):
    return client.post(ENROL, {"action": "start", "next": ADMIN})


def test_enrolling_shows_a_qr_code_and_a_code_turns_it_on(client, staff, settings):
    settings.BAZAAR_ADMIN_REQUIRE_2FA = True
    admin_login(client, staff)
    first = client.get(ENROL)
    assert first.status_code == 200
    assert not TOTPDevice.objects.exists()  # no writes on GET

    started = _start(client)
    page = client.get(started["Location"])
    device = TOTPDevice.objects.get(user=staff, confirmed=False)

    # A QR code the app can scan: an SVG image carrying the otpauth:// URL, no script.
    (data_uri,) = re.findall(r'<img class="two-factor__qr" src="([^"]+)"', html(page))
    assert data_uri.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(data_uri.split(",", 1)[1]).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<script" not in svg
    assert "otpauth://" not in html(page)  # the secret is in the image and the typed key only
    assert "no-store" in page["Cache-Control"]
    assert client.get(ADMIN).status_code == 302  # not on until confirmed

    wrong = client.post(ENROL, {"action": "confirm", "otp_token": "12345", "next": ADMIN})
    assert wrong.status_code == 200
    assert "That code is not right or has expired." in html(wrong)

    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    done = client.post(ENROL, {"action": "confirm", "otp_token": code_for(device), "next": ADMIN})

    assert done["Location"] == ADMIN
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(ADMIN).status_code == 200  # this session showed a code
    assert AuditEntry.objects.filter(action="accounts.two_factor.enabled").count() == 1

    # Next time, the admin asks for the code.
    client.post(reverse("admin:logout"))
    assert admin_login(client, staff).status_code == 200
    assert "_auth_user_id" not in client.session
    assert admin_login(client, staff, code=code_for(device, steps_ahead=1)).status_code == 302


def test_the_enrolment_page_needs_no_inline_script_or_style(client, staff):
    client.force_login(staff)
    _start(client)

    page = client.get(ENROL)

    body = html(page)
    assert not re.search(r"<script\b(?![^>]*\bsrc=)", body)
    assert "<style" not in body
    assert " style=" not in body
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy


def test_a_password_alone_cannot_replace_a_confirmed_device(client, staff):
    confirmed_device(staff)
    # Signed in on the website with the password only (a thief who has just that).
    client.post(reverse("login"), {"username": staff.email, "password": DEFAULT_PASSWORD})

    page = client.get(ENROL)
    started = _start(client)

    assert "sign in to the back office" in html(page)
    assert started.status_code == 302
    assert TOTPDevice.objects.filter(user=staff).count() == 1
    assert not TOTPDevice.objects.filter(confirmed=False).exists()


def test_after_signing_in_with_the_code_a_new_phone_replaces_the_old_one(client, staff):
    old = confirmed_device(staff)
    admin_login(client, staff, code=code_for(old))

    _start(client)
    new = TOTPDevice.objects.get(user=staff, confirmed=False)
    client.post(ENROL, {"action": "confirm", "otp_token": code_for(new), "next": ADMIN})

    assert list(TOTPDevice.objects.filter(user=staff).values_list("pk", "confirmed")) == [
        (new.pk, True)
    ]


def test_the_enrolment_page_is_for_staff_only(client):
    assert client.get(ENROL)["Location"].startswith(reverse("login"))
    client.force_login(UserFactory())
    assert client.get(ENROL).status_code == 404
    assert _start(client).status_code == 404
    assert not TOTPDevice.objects.exists()
