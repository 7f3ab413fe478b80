"""Stripe Connect Express for sellers: create the account, send the seller through Stripe's hosted
onboarding, and mirror what Stripe says about the account.

Every Stripe call goes through core.stripe_client. Stripe's errors reach callers as
StripeUnavailable (with a message a seller can act on) or DomainError (a Bazaar rule said no).

Ordering: `account.updated` webhooks arrive late, twice, or out of order. The handler never trusts
the event's copy of the account: it retrieves the account again (as dj-stripe advises) and
connect_account_sync() stores that snapshot only if it is newer than the one already stored.
"""

import ipaddress
import logging
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit
from uuid import uuid4

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import ConnectedAccount, SellerProfile
from accounts.selectors import connect_status
from core import stripe_client
from core.audit import audit_record
from core.errors import DomainError
from marketplace.selectors import store_for_owner
from marketplace.services import store_create, store_update
from notifications.services import notify

logger = logging.getLogger(__name__)

ONBOARDING = "account_onboarding"
# The mirrored fields, in the order the admin and the audit trail show them.
STATUS_FIELDS = (
    "charges_enabled",
    "payouts_enabled",
    "details_submitted",
    "requirements_currently_due",
    "requirements_past_due",
    "requirements_eventually_due",
    "disabled_reason",
    "current_deadline",
    "capabilities",
    "business_profile",
)


class NotOnboarded(DomainError):
    """The seller has not finished Stripe's onboarding yet."""

    status_code = 409
    code = "connect_not_onboarded"


def _absolute(path):
    return settings.SITE_URL.rstrip("/") + path


def _is_public(url):
    """Stripe refuses business URLs it cannot reach (localhost, bare IP addresses)."""
    host = (urlsplit(url).hostname or "").lower()
    if "." not in host or host.endswith((".local", ".localhost", ".internal")):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _value(obj, key, default=None):
    """A field of a StripeObject or a plain dict."""
    if obj is None:
        return default
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _plain(obj):
    """StripeObject -> plain dict/list (JSON-safe)."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


# --- Creating the account and links -------------------------------------------------------------


def connect_account_start(*, seller_profile):
    """The seller's ConnectedAccount, creating their Express account at Stripe the first time.

    Safe to call twice or concurrently: the Stripe call carries an idempotency key made from the
    seller profile, so Stripe makes one account, and the mirror row is unique per profile.
    """
    existing = ConnectedAccount.objects.filter(seller_profile=seller_profile).first()
    if existing is not None:
        return existing
    user = seller_profile.user
    store = getattr(user, "store", None)
    business_profile = {"name": (store.name if store else "") or seller_profile.display_name}
    if store is not None and _is_public(settings.SITE_URL):
        # A marketplace seller without a website of their own may give their store page.
        business_profile["url"] = _absolute(store.get_absolute_url())
    params = {
        "type": "express",
        "country": seller_profile.country.upper(),
        "email": user.email,
        "business_type": "individual",
        "capabilities": {
            "card_payments": {"requested": True},
            "transfers": {"requested": True},
        },
        # Manual payouts controlled by the platform: Bazaar pays sellers out when escrow releases.
        "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        "business_profile": business_profile,
        "metadata": {"seller_profile_id": str(seller_profile.pk)},
    }
    observed_at = timezone.now()
    account = stripe_client.call(
        stripe_client.client().v1.accounts.create,
        params=params,
        options={
            "idempotency_key": stripe_client.idempotency_key(seller_profile, "connect-account")
        },
    )
    try:
        with transaction.atomic():
            connected = ConnectedAccount.objects.create(
                seller_profile=seller_profile, stripe_account_id=account.id
            )
            audit_record(
                action="accounts.connected_account.created",
                actor=user,
                target=connected,
                after={"stripe_account_id": account.id},
            )
    except IntegrityError:
        # A concurrent request stored it first (same idempotency key, so the same account).
        return ConnectedAccount.objects.get(seller_profile=seller_profile)
    return connect_account_sync(stripe_account=account, observed_at=observed_at) or connected


def connect_onboarding_link_create(*, seller_profile, return_url, refresh_url):
    """A fresh, single-use Stripe onboarding URL for the seller (their account is made if
    needed). Returns (connected_account, url)."""
    connected = connect_account_start(seller_profile=seller_profile)
    # Links are single-use, so each request gets its own key; a retry of this call still
    # reuses it (the SDK retries with the same key).
    key = f"{stripe_client.idempotency_key(connected, 'account-link')}-{uuid4().hex}"
    link = stripe_client.call(
        stripe_client.client().v1.account_links.create,
        params={
            "account": connected.stripe_account_id,
            # Stripe allows `account_update` links only where the platform collects
            # requirements (Custom accounts); an Express account fixes what is due by going
            # through `account_onboarding` again, which asks only for what is missing.
            "type": ONBOARDING,
            "return_url": return_url,
            "refresh_url": refresh_url,
        },
        options={"idempotency_key": key},
    )
    return connected, link.url


def connect_login_link_create(*, seller_profile):
    """A single-use link into the seller's Stripe Express dashboard."""
    connected = ConnectedAccount.objects.filter(seller_profile=seller_profile).first()
    if connected is None or not connected.details_submitted:
        raise NotOnboarded(
            "Finish setting up payouts with Stripe first; your Stripe dashboard opens after that."
        )
    key = f"{stripe_client.idempotency_key(connected, 'login-link')}-{uuid4().hex}"
    link = stripe_client.call(
        stripe_client.client().v1.accounts.login_links.create,
        connected.stripe_account_id,
        options={"idempotency_key": key},
    )
    return link.url


# --- Mirroring Stripe's state -------------------------------------------------------------------


def connect_account_refresh(*, stripe_account_id):
    """Retrieve the account from Stripe now and mirror it (what the webhook handler does).

    Read as Stripe's JSON (a raw request of the stripe SDK, with its errors): the mirror takes a
    dozen fields, and turning the whole account into StripeObjects, its every nested hash, was
    a third of the read's CPU, once per account.updated event."""
    observed_at = timezone.now()
    response = stripe_client.call(
        stripe_client.client().raw_request,
        "get",
        f"/v1/accounts/{quote(stripe_account_id, safe='')}",
    )
    return connect_account_sync(stripe_account=response.data, observed_at=observed_at)


def _status_from_stripe(account):
    requirements = _value(account, "requirements", {})
    deadline = _value(requirements, "current_deadline")
    return {
        "charges_enabled": bool(_value(account, "charges_enabled", False)),
        "payouts_enabled": bool(_value(account, "payouts_enabled", False)),
        "details_submitted": bool(_value(account, "details_submitted", False)),
        "requirements_currently_due": list(_value(requirements, "currently_due", [])),
        "requirements_past_due": list(_value(requirements, "past_due", [])),
        "requirements_eventually_due": list(_value(requirements, "eventually_due", [])),
        "disabled_reason": _value(requirements, "disabled_reason", "") or "",
        "current_deadline": datetime.fromtimestamp(deadline, tz=UTC) if deadline else None,
        "capabilities": _plain(_value(account, "capabilities", {})),
        "business_profile": _plain(_value(account, "business_profile", {})),
    }


def _find_for_sync(account):
    connected = (
        ConnectedAccount.objects.select_for_update()
        .select_related("seller_profile__user")
        .filter(stripe_account_id=account["id"])
        .first()
    )
    if connected is not None:
        return connected
    # Our row may be missing if the process stopped between Stripe's answer and our write:
    # the account's metadata names the seller profile it was made for.
    profile_id = _value(_value(account, "metadata", {}), "seller_profile_id")
    if not (profile_id and str(profile_id).isdigit()):
        return None
    profile = SellerProfile.objects.filter(pk=int(profile_id)).first()
    if profile is None or ConnectedAccount.objects.filter(seller_profile=profile).exists():
        return None
    return ConnectedAccount.objects.create(seller_profile=profile, stripe_account_id=account["id"])


@transaction.atomic
def connect_account_sync(*, stripe_account, observed_at=None):
    """Mirror a Stripe account object read at `observed_at`. Ignores a snapshot older than the
    stored one; raises the seller's notifications and updates their store's contact details.
    Returns the ConnectedAccount, or None for an account Bazaar does not know."""
    observed_at = observed_at or timezone.now()
    connected = _find_for_sync(stripe_account)
    if connected is None:
        logger.info("Ignoring Stripe account %s: no seller has it", stripe_account["id"])
        return None
    if connected.stripe_updated_at and observed_at < connected.stripe_updated_at:
        logger.info("Ignoring an older snapshot of %s", connected.stripe_account_id)
        return connected
    status = _status_from_stripe(stripe_account)
    before = {field: getattr(connected, field) for field in STATUS_FIELDS}
    for field, value in status.items():
        setattr(connected, field, value)
    connected.stripe_updated_at = observed_at
    connected.save()
    changed = {f: status[f] for f in STATUS_FIELDS if before[f] != status[f]}
    if changed:
        audit_record(
            action="accounts.connected_account.synced",
            actor=None,
            target=connected,
            before={f: before[f] for f in changed},
            after=changed,
        )
        _notify_status_change(connected, before)
    if connected.details_submitted:  # the business profile is the seller's own from here on
        _store_from_business_profile(connected)
    return connected


def _notify_status_change(connected, before):
    user = connected.seller_profile.user
    was_ready = before["charges_enabled"] and before["payouts_enabled"]
    is_ready = connected.charges_enabled and connected.payouts_enabled
    lost = (before["charges_enabled"] and not connected.charges_enabled) or (
        before["payouts_enabled"] and not connected.payouts_enabled
    )
    finished_with_gaps = (
        connected.details_submitted and not before["details_submitted"] and not is_ready
    )
    action_url = reverse("connect")
    if is_ready and not was_ready:
        notify(user, "connect.ready", {"action_url": action_url})
    elif lost or finished_with_gaps:
        summary = " ".join(connect_status(connected=connected).messages)
        notify(user, "connect.action_required", {"action_url": action_url, "summary": summary})


def _support_url(profile):
    for url in (profile.get("support_url"), profile.get("url")):
        url = (url or "").strip()
        if url and not url.startswith(("http://", "https://")):
            url = "https://" + url
        # The store page Bazaar gave Stripe as the seller's website is no support address.
        if url and not url.startswith(settings.SITE_URL.rstrip("/") + "/"):
            return url[:200]
    return ""


def _store_from_business_profile(connected):
    """The seller's storefront follows what they told Stripe: a store is opened if they have
    none, and its contact details take Stripe's support email, phone and URL. Idempotent: a
    repeated event changes nothing."""
    user = connected.seller_profile.user
    profile = connected.business_profile or {}
    contact = {
        "contact_email": (profile.get("support_email") or "").strip()[:254],
        "contact_phone": (profile.get("support_phone") or "").strip()[:40],
        "support_url": _support_url(profile),
    }
    contact = {key: value for key, value in contact.items() if value}
    store = store_for_owner(user=user)
    try:
        if store is None:
            name = (profile.get("name") or connected.seller_profile.display_name).strip()[:100]
            store_create(owner=user, name=name, actor=user, **contact)
            return
        changed = {key: value for key, value in contact.items() if getattr(store, key) != value}
        if changed:
            store_update(store=store, actor=user, **changed)
    except DomainError as exc:
        # The payouts status is mirrored either way; a store rule saying no is not worth
        # failing (and retrying) Stripe's webhook for.
        logger.warning("Store of %s not updated from Stripe: %s", user.pk, exc.message)
