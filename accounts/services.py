"""Every write to users, seller profiles and buyers' saved shipping addresses."""

from datetime import timedelta

from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from accounts.countries import CONNECT_COUNTRIES, UNKNOWN_COUNTRY_MESSAGE
from accounts.models import ADDRESS_FIELDS, COMMISSION_BPS_MAX, SellerProfile, ShippingAddress, User
from core import clock
from core.audit import audit_record
from core.countries import COUNTRY_NAMES
from core.errors import NotAllowed, ValidationFailed
from core.timezones import is_time_zone
from marketplace.services import store_create

SELLER_PROFILE_FIELDS = ("display_name", "bio", "country", "default_currency")


@transaction.atomic
def user_signup(*, email, password, full_name="", send_confirmation=True):
    """A new account, its address waiting for the link emailed to it (allauth's EmailAddress).
    Without send_confirmation (the demo seed, which vouches for its addresses) no email goes."""
    email = (email or "").strip().lower()
    errors = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Enter a valid email address."
    if not errors and User.objects.filter(email__iexact=email).exists():
        errors["email"] = "An account with this email already exists. Log in instead."
    candidate = User(email=email, full_name=full_name)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, full_name=full_name)
    except IntegrityError as exc:  # two sign-ups with one email racing
        raise ValidationFailed({"email": "An account with this email already exists."}) from exc
    audit_record(action="accounts.user.signed_up", actor=user, target=user, after={"email": email})
    address = EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
    if send_confirmation:
        EmailConfirmationHMAC(address).send(signup=True)
    return user


# --- Email verification (django-allauth's EmailAddress; accounts/email_verification.py) --------

EMAIL_UNVERIFIED = (
    "Confirm your email address first: open the link we emailed to {email}, or send it again "
    "from your account page."
)
EMAIL_LINK_INVALID = (
    "This confirmation link is not valid: it has expired, was already used, or was changed "
    "on its way. Sign in and send yourself a new link from your account page."
)
EMAIL_TAKEN = "An account with this email already exists."


def email_verified_require(*, user):
    """Selling and paying need a confirmed email address (staff excepted): NotAllowed (403)."""
    if not user.email_verified:
        raise NotAllowed(EMAIL_UNVERIFIED.format(email=user.email), code="email_unverified")


def _lock_user(user):
    return User.objects.select_for_update().get(pk=user.pk)


@transaction.atomic
def email_confirmation_resend(*, user):
    """Send the confirmation link again: for the account's address while it is unconfirmed,
    else for the new address waiting to replace it. Returns the address it was sent to, or None
    when there is nothing to confirm. The pages and the API limit how often (scope
    "email_confirmation")."""
    user = _lock_user(user)
    if user.email_verified_at is None:
        address, _ = EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"primary": True, "verified": False}
        )
        if address.verified:  # confirmed by allauth before this flag existed: keep in step
            _email_mark_verified(user, actor=user, email=user.email)
            return None
    else:
        address = _pending_address(user)
        if address is None:
            return None
    EmailConfirmationHMAC(address).send(signup=False)
    return address.email


def _pending_address(user):
    return (
        EmailAddress.objects.filter(user=user, verified=False)
        .exclude(email__iexact=user.email)
        .order_by("-pk")
        .first()
    )


@transaction.atomic
def email_confirm(*, key, request=None):
    """Whoever opens the emailed link confirms that address (the link is signed by allauth and
    expires after ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS). A new address replaces the old one
    only now. Returns the user; a bad, used or expired link is a ValidationFailed on "key"."""
    confirmation = EmailConfirmationHMAC.from_key(key or "")
    if confirmation is None:
        raise ValidationFailed({"key": EMAIL_LINK_INVALID})
    user = User.objects.select_for_update().get(pk=confirmation.email_address.user_id)
    # Read again under the lock: of two clicks on one link, the second finds it used.
    address = EmailAddress.objects.filter(pk=confirmation.email_address.pk).first()
    if address is None or address.verified:
        raise ValidationFailed({"key": EMAIL_LINK_INVALID})
    if User.objects.exclude(pk=user.pk).filter(email__iexact=address.email).exists():
        raise ValidationFailed({"key": EMAIL_TAKEN})
    before = user.email
    address.user = user
    if EmailConfirmationHMAC(address).confirm(request) is None:  # confirmed by another account
        raise ValidationFailed({"key": EMAIL_TAKEN})
    user.refresh_from_db()
    _email_mark_verified(user, actor=user, email=address.email, before=before)
    return user


def _email_mark_verified(user, *, actor, email, before=None):
    user.email_verified_at = clock.now()
    user.save(update_fields=["email_verified_at"])
    audit_record(
        action="accounts.email.confirmed",
        actor=actor,
        target=user,
        before={"email": before or email},
        after={"email": email},
    )


@transaction.atomic
def email_mark_verified(*, user, actor):
    """Staff (or the demo seed) vouch for the account's current address. Quiet when it is
    already confirmed."""
    user = _lock_user(user)
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"primary": True}
    )
    if not address.verified:
        address.verified = True
        address.save(update_fields=["verified"])
    if user.email_verified_at is None:
        _email_mark_verified(user, actor=actor, email=user.email)
    return user


@transaction.atomic
def email_change_request(*, user, email):
    """The person asks to use another address. The old one stays the account's (sign-in,
    emails) until the link sent to the new one is confirmed (email_confirm). One new address
    waits at a time: asking again replaces it."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationFailed({"email": "Enter a valid email address."}) from exc
    user = _lock_user(user)
    if email == user.email.lower():
        raise ValidationFailed({"email": "This is already your email address."})
    taken = User.objects.exclude(pk=user.pk).filter(email__iexact=email).exists()
    if taken or EmailAddress.objects.filter(email__iexact=email, verified=True).exists():
        raise ValidationFailed({"email": EMAIL_TAKEN})
    EmailAddress.objects.filter(user=user, verified=False).exclude(
        email__iexact=user.email
    ).delete()
    address = EmailAddress.objects.create(user=user, email=email, primary=False, verified=False)
    audit_record(
        action="accounts.email.change_requested",
        actor=user,
        target=user,
        before={"email": user.email},
        after={"email": email},
    )
    EmailConfirmationHMAC(address).send(signup=False)
    return address


def _validate_seller_fields(values):
    errors = {}
    if "display_name" in values and not (values["display_name"] or "").strip():
        errors["display_name"] = "Give buyers a name to know you by."
    country = values.get("country")
    if country is not None and country not in CONNECT_COUNTRIES:
        errors["country"] = UNKNOWN_COUNTRY_MESSAGE
    currency = values.get("default_currency")
    if currency is not None and currency.lower() not in settings.BAZAAR_CURRENCIES:
        allowed = ", ".join(c.upper() for c in settings.BAZAAR_CURRENCIES)
        errors["default_currency"] = f"Choose one of: {allowed}."
    if errors:
        raise ValidationFailed(errors)


@transaction.atomic
def seller_onboard(*, user, display_name, country, default_currency, bio="", store_name=""):
    """Make a user a seller: a seller profile and their store, in one step. Their email
    address must be confirmed first."""
    email_verified_require(user=user)
    if SellerProfile.objects.filter(user=user).exists():
        raise ValidationFailed({"display_name": "You are already a seller."})
    values = {
        "display_name": display_name,
        "country": (country or "").upper(),
        "default_currency": (default_currency or "").lower(),
        "bio": bio or "",
    }
    _validate_seller_fields(values)
    profile = SellerProfile.objects.create(user=user, **values)
    store_create(owner=user, name=store_name or display_name, description=bio or "", actor=user)
    audit_record(
        action="accounts.seller.onboarded",
        actor=user,
        target=profile,
        after={"display_name": display_name},
    )
    return profile


@transaction.atomic
def seller_profile_update(*, profile, actor, **fields):
    unknown = set(fields) - set(SELLER_PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(dict.fromkeys(unknown, "This field cannot be changed."))
    if "country" in fields:
        fields["country"] = (fields["country"] or "").upper()
    if "default_currency" in fields:
        fields["default_currency"] = (fields["default_currency"] or "").lower()
    _validate_seller_fields(fields)
    before = {k: getattr(profile, k) for k in fields}
    for key, value in fields.items():
        setattr(profile, key, value)
    profile.save()
    audit_record(
        action="accounts.seller_profile.updated",
        actor=actor,
        target=profile,
        before=before,
        after=fields,
    )
    return profile


@transaction.atomic
def seller_commission_set(*, profile, commission_bps, actor):
    """Staff set a seller's commission override in basis points (1000 = 10%), or clear it with
    None to use the platform default. Orders already placed keep the terms they snapshotted.

    Setting the value the profile already has is a quiet no-op.
    """
    if not (actor and actor.is_staff):
        raise NotAllowed("Only Bazaar staff can change a seller's commission.")
    if commission_bps is not None and (
        not isinstance(commission_bps, int)
        or isinstance(commission_bps, bool)
        or not 0 <= commission_bps <= COMMISSION_BPS_MAX
    ):
        raise ValidationFailed(
            {
                "commission_bps": "Give the commission in whole basis points from 0 to "
                f"{COMMISSION_BPS_MAX} (100%), or leave it empty for the platform default."
            }
        )
    profile = SellerProfile.objects.select_for_update().get(pk=profile.pk)
    before = profile.commission_bps
    if before == commission_bps:
        return profile
    profile.commission_bps = commission_bps
    profile.save(update_fields=["commission_bps", "updated_at"])
    audit_record(
        action="accounts.seller_commission.changed",
        actor=actor,
        target=profile,
        before={"commission_bps": before},
        after={"commission_bps": commission_bps},
    )
    return profile


_UNSET = object()


@transaction.atomic
def user_update(*, user, actor, full_name=_UNSET, time_zone=_UNSET):
    """The person edits their profile: their name and the time zone times are shown in."""
    before = {"full_name": user.full_name, "time_zone": user.time_zone}
    if time_zone is not _UNSET:
        if not is_time_zone(time_zone):
            raise ValidationFailed(
                {"time_zone": "Choose a time zone by its name, e.g. Europe/Berlin."}
            )
        user.time_zone = time_zone
    if full_name is not _UNSET:
        user.full_name = (full_name or "").strip()
    user.save(update_fields=["full_name", "time_zone"])
    audit_record(
        action="accounts.user.updated",
        actor=actor,
        target=user,
        before=before,
        after={"full_name": user.full_name, "time_zone": user.time_zone},
    )
    return user


SEEN_RESOLUTION = timedelta(seconds=60)


def user_seen(*, user):
    """Record that `user` has Bazaar open now. At most one write a minute per person."""
    if not getattr(user, "pk", None):
        return
    now = timezone.now()
    if user.last_seen_at and now - user.last_seen_at < SEEN_RESOLUTION:
        return
    User.objects.filter(pk=user.pk).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - SEEN_RESOLUTION)
    ).update(last_seen_at=now)
    user.last_seen_at = now


def user_password_changed(*, user):
    """A new password ends what the old one allowed: every API token of the account is revoked
    (whoever held one signs in again with the new password; web sessions end through Django's
    session hash, except the one that changed it). Whoever set it proved they own the account
    (the old password, a reset link, or staff), so the login lockout on it is lifted: the
    lockout page tells people to reset their password."""
    api_tokens_revoke_all(user=user)
    axes_reset(username=user.email)


# --- API tokens (django-rest-knox; accounts/authentication.py) ---------------------------------


def api_token_issue(*, user):
    """A new API token for `user`: (the token's row, the token to hand to the client once).
    Only its hash is stored; it expires after REST_KNOX["TOKEN_TTL"]."""
    return AuthToken.objects.create(user=user)


def api_token_revoke(*, token):
    """Sign one client out: its token stops working at once."""
    AuthToken.objects.filter(pk=token.pk).delete()


def api_tokens_revoke_all(*, user):
    """Sign every client of `user` out. Returns how many tokens were revoked."""
    revoked, _ = AuthToken.objects.filter(user=user).delete()
    return revoked


def api_tokens_purge_expired():
    """Delete tokens past their expiry. Knox removes an expired token only when its own client
    comes back with it; tokens of clients that never return would otherwise stay forever.
    Knox stamps and checks expiry with Django's timezone.now(), so this does too."""
    purged, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return purged


# --- Two-factor authentication for staff (django-otp; accounts/admin_site.py) -----------------

TWO_FACTOR_DEVICE_NAME = "Authenticator app"


REPLACING_NEEDS_A_CODE = (
    "To set up a new phone, sign in to the back office with a code from your current one "
    "first. Lost it? Another administrator can remove it (Admin, OTP TOTP: TOTP devices)."
)


def _two_factor_check(*, user, verified):
    if not user.is_staff:
        raise NotAllowed("Two-factor authentication is for Bazaar staff.")
    # A password alone must not swap the device that guards the account.
    if not verified and TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise NotAllowed(REPLACING_NEEDS_A_CODE)


@transaction.atomic
def two_factor_enrolment_start(*, user, verified):
    """A new secret for `user`'s authenticator app, not in use until confirmed with a code. An
    earlier unfinished enrolment is dropped; a confirmed device keeps working meanwhile.
    `verified`: this session signed in with a code (needed to replace a confirmed device)."""
    _two_factor_check(user=user, verified=verified)
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TWO_FACTOR_DEVICE_NAME, confirmed=False)


@transaction.atomic
def two_factor_enrolment_confirm(*, user, device, token, verified):
    """Confirm the enrolment with a code the app shows. The new device replaces any older one
    (a new phone). Refuses a wrong or reused code; django-otp slows down repeated guesses."""
    _two_factor_check(user=user, verified=verified)
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
    allowed, _ = device.verify_is_allowed()
    if not allowed or not device.verify_token((token or "").strip()):
        raise ValidationFailed(
            {
                "otp_token": "That code is not right or has expired. Enter the code your app "
                "shows now."
            }
        )
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_record(action="accounts.two_factor.enabled", actor=user, target=user)
    return device


# --- Shipping addresses ----------------------------------------------------------------------

ADDRESS_MAX_LENGTHS = {
    "name": 100,
    "line1": 200,
    "line2": 200,
    "city": 100,
    "postal_code": 20,
    "region": 100,
    "country": 2,
}
ADDRESS_REQUIRED = {
    "name": "Enter the name of the person the parcel is for.",
    "line1": "Enter the street address.",
    "city": "Enter the town or city.",
    "country": "Choose a country.",
}
POSTAL_CODE_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -")
MAX_SAVED_ADDRESSES = 20


def shipping_address_clean(fields):
    """A shipping address as typed (a dict) checked and tidied: the one rule for checkout pages,
    the API and saved addresses. Returns the address's fields; raises ValidationFailed with a
    message per field."""
    if not isinstance(fields, dict):
        raise ValidationFailed({"shipping_address": "Give the address as an object."})
    errors, clean = {}, {}
    unknown = set(fields) - set(ADDRESS_FIELDS)
    for name in sorted(unknown):
        errors[name] = "This is not a field of an address."
    for name in ADDRESS_FIELDS:
        value = fields.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = "Enter text."
            continue
        value = " ".join(value.split())  # no line breaks or tabs: one line each
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            errors[name] = "Enter plain text."
            continue
        if len(value) > ADDRESS_MAX_LENGTHS[name]:
            errors[name] = f"At most {ADDRESS_MAX_LENGTHS[name]} characters."
            continue
        if not value and name in ADDRESS_REQUIRED:
            errors[name] = ADDRESS_REQUIRED[name]
            continue
        clean[name] = value
    country = clean.get("country", "").upper()
    if "country" in clean:
        if country not in COUNTRY_NAMES:
            errors["country"] = "Choose a country from the list (a two-letter ISO code, e.g. US)."
        clean["country"] = country
    postal_code = clean.get("postal_code", "")
    if postal_code and not set(postal_code) <= POSTAL_CODE_CHARACTERS:
        errors["postal_code"] = "Use letters, digits, spaces and hyphens only."
    if errors:
        raise ValidationFailed(errors)
    return clean


@transaction.atomic
def shipping_address_save(*, user, make_default=False, **fields):
    """The buyer saves an address for next time (at checkout); with make_default, or as their
    first, it becomes the one chosen first. The same address saved again is the same row."""
    clean = shipping_address_clean(fields)
    addresses = _shipping_addresses_locked(user)
    address = next((a for a in addresses if a.as_fields() == clean), None)
    if address is None:
        if len(addresses) >= MAX_SAVED_ADDRESSES:
            raise ValidationFailed(
                {"save_address": f"You can keep at most {MAX_SAVED_ADDRESSES} addresses."}
            )
        address = ShippingAddress.objects.create(user=user, **clean)
        audit_record(
            action="accounts.shipping_address.created", actor=user, target=address, after=clean
        )
    if make_default or not addresses:
        address = _shipping_address_make_default(address, addresses, actor=user)
    return address


@transaction.atomic
def shipping_address_set_default(*, user, address_id):
    """The buyer picks which of their saved addresses checkout offers first."""
    addresses = _shipping_addresses_locked(user)
    address = next((a for a in addresses if a.pk == address_id), None)
    if address is None:
        raise ValidationFailed({"shipping_address_id": "You have no saved address with this id."})
    return _shipping_address_make_default(address, addresses, actor=user)


def _shipping_addresses_locked(user):
    """The user's addresses, read with the user's row locked: two checkouts at once (even the
    first two, when there is no address row to lock yet) save and pick the default one after
    the other, so there is never a second default nor a duplicate."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    return list(ShippingAddress.objects.filter(user=user))


def _shipping_address_make_default(address, addresses, *, actor):
    if address.is_default:
        return address
    ShippingAddress.objects.filter(user_id=address.user_id, is_default=True).update(
        is_default=False
    )
    address.is_default = True
    address.save(update_fields=["is_default", "updated_at"])
    audit_record(
        action="accounts.shipping_address.made_default",
        actor=actor,
        target=address,
        before={"default": next((a.pk for a in addresses if a.is_default), None)},
        after={"default": address.pk},
    )
    return address


@transaction.atomic
def shipping_address_delete(*, user, address_id):
    """The buyer forgets a saved address (orders keep their own copy)."""
    address = ShippingAddress.objects.select_for_update().filter(user=user, pk=address_id).first()
    if address is None:
        return False
    audit_record(
        action="accounts.shipping_address.deleted",
        actor=user,
        target=address,
        before=address.as_fields(),
    )
    address.delete()
    return True
