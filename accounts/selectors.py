"""Reads about sellers' Stripe Connect accounts that views, the API and other apps need, and
about staff's two-factor devices.

`seller_can_accept_payments(user)` is the check checkout/escrow use: a seller whose Stripe account
cannot take charges must not be bought from. `connect_status()` turns Stripe's requirements and
disabled_reason into sentences a seller can act on.
"""

from dataclasses import dataclass, field
from datetime import datetime

from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.conf import settings
from django.utils import formats, timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ConnectedAccount, SellerProfile, ShippingAddress


def seller_can_accept_payments(user):
    """True when Stripe accepts charges for this seller (their Connect account is enabled)."""
    if user is None or not getattr(user, "pk", None):
        return False
    return ConnectedAccount.objects.filter(
        seller_profile__user_id=user.pk, charges_enabled=True
    ).exists()


def connected_account_id_for(user):
    """The seller's Stripe account id (acct_...), or "" when they have none."""
    if user is None or not getattr(user, "pk", None):
        return ""
    return (
        ConnectedAccount.objects.filter(seller_profile__user_id=user.pk)
        .values_list("stripe_account_id", flat=True)
        .first()
        or ""
    )


def seller_can_withdraw(user):
    """True when Stripe pays out to the seller's bank (payouts enabled)."""
    if user is None or not getattr(user, "pk", None):
        return False
    return ConnectedAccount.objects.filter(
        seller_profile__user_id=user.pk, payouts_enabled=True
    ).exists()


@dataclass(frozen=True)
class SellerAccountFields:
    """What paying a seller needs of their Connect account: where the money goes and whether
    Stripe pays it on to their bank."""

    stripe_account_id: str = ""
    payouts_enabled: bool = False


def seller_account_sql(*, alias):
    """The seller's SellerAccountFields for another app's query written in SQL: (columns, joins).
    `joins` are LEFT JOINs taking one parameter, the seller's user id, and `columns` selects
    their `stripe_account_id` and `payouts_enabled` (NULL when they have no account; a seller
    has at most one profile and one account). A release reads them in the statement that reads
    its payment (escrow.selectors.payment_for_release), a round trip less than reading them
    apart. `alias` prefixes the joined tables' aliases, to keep them apart from the caller's."""
    profile, account = SellerProfile._meta.db_table, ConnectedAccount._meta.db_table
    columns = f"{alias}_a.stripe_account_id, {alias}_a.payouts_enabled"
    joins = (
        f"LEFT JOIN {profile} {alias}_p ON {alias}_p.user_id = %s "
        f"LEFT JOIN {account} {alias}_a ON {alias}_a.seller_profile_id = {alias}_p.id"
    )
    return columns, joins


def connected_account_for(user):
    """The seller's ConnectedAccount, or None (also for users who do not sell)."""
    if user is None or not getattr(user, "pk", None):
        return None
    return ConnectedAccount.objects.filter(seller_profile__user_id=user.pk).first()


# --- Plain words ---------------------------------------------------------------------------------

# Stripe requirement (prefix) -> what a seller calls it. First match wins; order matters.
REQUIREMENT_WORDS = [
    ("external_account", "a bank account"),
    ("individual.verification", "a photo ID"),
    ("individual.dob", "your date of birth"),
    ("individual.first_name", "your legal name"),
    ("individual.last_name", "your legal name"),
    ("individual.address", "your home address"),
    ("individual.ssn_last_4", "the last 4 digits of your Social Security number"),
    ("individual.id_number", "your ID number"),
    ("individual.email", "your email address"),
    ("individual.phone", "your phone number"),
    ("individual", "some personal details"),
    ("business_profile.url", "your website or a description of what you sell"),
    ("business_profile.product_description", "a description of what you sell"),
    ("business_profile.mcc", "your industry"),
    ("business_profile.support_phone", "a support phone number"),
    ("business_profile", "some business details"),
    ("business_type", "your business type"),
    ("company.verification", "a document about your company"),
    ("company", "your company's details"),
    ("representative", "details of your company's representative"),
    ("owners", "details of your company's owners"),
    ("directors", "details of your company's directors"),
    ("tos_acceptance", "your acceptance of Stripe's terms"),
]

DISABLED_REASONS = {
    "requirements.pending_verification": "Stripe is checking your details; this usually takes a "
    "few minutes.",
    "under_review": "Stripe is reviewing your account.",
    "platform_paused": "Bazaar has paused payments to your account. Contact Bazaar support.",
    "listed": "Stripe has paused payments to your account. Contact Stripe support.",
    "action_required.requested_capabilities": "Stripe needs you to confirm the services you use.",
    "other": "Stripe has paused payments to your account. Contact Stripe support.",
}
REJECTED = "Stripe closed this account and cannot process payments for it. Contact Stripe support."


def requirement_words(fields):
    """['individual.dob.day', 'external_account'] -> ['your date of birth', 'a bank account']."""
    words = []
    for name in fields:
        phrase = next(
            (
                text
                for prefix, text in REQUIREMENT_WORDS
                if name == prefix or name.startswith(prefix + ".")
            ),
            "some more information",
        )
        if phrase not in words:
            words.append(phrase)
    return words


def join_words(words):
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


class State:
    NOT_STARTED = "not_started"  # no Stripe account yet
    INCOMPLETE = "incomplete"  # onboarding not finished: nothing enabled
    RESTRICTED = "restricted"  # details given, but Stripe stopped charges (past due, review...)
    PAYOUTS_PAUSED = "payouts_paused"  # buyers can pay; payouts wait for missing details
    DUE_SOON = "due_soon"  # everything works, but Stripe will need more by a deadline
    READY = "ready"  # buyers can pay and payouts are on


@dataclass(frozen=True)
class ConnectStatus:
    state: str
    headline: str
    messages: list = field(default_factory=list)
    # The button that fixes it: "Set up payouts with Stripe", "Fix it on Stripe"... or "".
    action_label: str = ""
    can_accept_payments: bool = False
    can_receive_payouts: bool = False
    deadline: datetime | None = None
    account: ConnectedAccount | None = None

    @property
    def level(self):
        return {
            State.READY: "success",
            State.RESTRICTED: "error",
            State.NOT_STARTED: "info",
        }.get(self.state, "warning")

    @property
    def can_open_dashboard(self):
        return bool(self.account and self.account.details_submitted)


def _by(deadline):
    return formats.date_format(deadline, "j F Y") if deadline else ""


def connect_status(*, connected):
    """What a seller needs to know about their Stripe account, in plain words."""
    if connected is None:
        return ConnectStatus(
            state=State.NOT_STARTED,
            headline="Set up payouts to get paid",
            messages=[
                "Bazaar pays sellers through Stripe. Set up payouts with Stripe so buyers can "
                "pay you."
            ],
            action_label="Set up payouts with Stripe",
        )
    due = join_words(requirement_words(connected.requirements_currently_due))
    past = join_words(requirement_words(connected.requirements_past_due))
    common = {
        "can_accept_payments": connected.charges_enabled,
        "can_receive_payouts": connected.payouts_enabled,
        "deadline": connected.current_deadline,
        "account": connected,
    }
    if not connected.details_submitted:
        message = (
            f"Stripe needs {due} before buyers can pay you."
            if due
            else "Finish Stripe's form so buyers can pay you."
        )
        return ConnectStatus(
            state=State.INCOMPLETE,
            headline="Finish setting up payouts",
            messages=[message],
            action_label="Continue on Stripe",
            **common,
        )
    reason = connected.disabled_reason
    if not connected.charges_enabled:
        if reason == "requirements.past_due" or connected.requirements_past_due:
            messages = ["Payments are paused: information is past due."]
            if past or due:
                messages.append(f"Stripe needs {past or due} before buyers can pay you again.")
        elif reason.startswith("rejected"):
            messages = [REJECTED]
        else:
            messages = [DISABLED_REASONS.get(reason, "Stripe has paused payments to your account.")]
            if due:
                messages.append(f"Stripe needs {due}.")
        return ConnectStatus(
            state=State.RESTRICTED,
            headline="Buyers cannot pay you right now",
            messages=messages,
            action_label="" if reason.startswith("rejected") else "Fix it on Stripe",
            **common,
        )
    if not connected.payouts_enabled:
        messages = [
            f"Stripe needs {due} before you can be paid."
            if due
            else "Stripe has paused payouts to your bank account."
        ]
        if connected.current_deadline:
            messages.append(
                f"Send it by {_by(connected.current_deadline)} to keep taking payments."
            )
        return ConnectStatus(
            state=State.PAYOUTS_PAUSED,
            headline="Buyers can pay you, but payouts are on hold",
            messages=messages,
            action_label="Fix it on Stripe",
            **common,
        )
    if due:
        when = f" by {_by(connected.current_deadline)}" if connected.current_deadline else ""
        return ConnectStatus(
            state=State.DUE_SOON,
            headline="Stripe will need more information",
            messages=[f"You can take payments and get paid. Stripe needs {due}{when}."],
            action_label="Fix it on Stripe",
            **common,
        )
    return ConnectStatus(
        state=State.READY,
        headline="You are ready to sell",
        messages=["You can take payments and receive payouts."],
        **common,
    )


def connect_status_for(user):
    """connect_status() for a user; None for users who do not sell."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_seller:
        return None
    return connect_status(connected=connected_account_for(user))


def user_is_online(user):
    """True when the person had Bazaar open within the last MESSAGING_ONLINE_SECONDS."""
    seen = getattr(user, "last_seen_at", None)
    if seen is None:
        return False
    return (timezone.now() - seen).total_seconds() < settings.MESSAGING_ONLINE_SECONDS


def seller_ids_by_connected_account():
    """{Stripe account id: seller's user id} for every connected account (reconciliation)."""
    return dict(
        ConnectedAccount.objects.values_list("stripe_account_id", "seller_profile__user_id")
    )


# --- Two-factor authentication (django-otp; accounts/admin_site.py) -----------------------------


def two_factor_device(user):
    """The authenticator app `user` signs in to the admin with (a confirmed TOTP device), or
    None. Enrolling a new one replaces it, so there is at most one."""
    if not getattr(user, "pk", None):
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def two_factor_pending_device(user):
    """The device `user` started to enrol and has not confirmed with a code yet, or None."""
    if not getattr(user, "pk", None):
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def shipping_addresses_for(user):
    """The buyer's saved shipping addresses, the default first. Nobody else's."""
    if not getattr(user, "pk", None):
        return ShippingAddress.objects.none()
    return ShippingAddress.objects.filter(user=user)


def shipping_address_get(*, user, pk):
    """One of the buyer's saved addresses; None when they have none with this id."""
    if not getattr(user, "pk", None) or not isinstance(pk, int):
        return None
    return ShippingAddress.objects.filter(user=user, pk=pk).first()


def email_pending(user):
    """The new address the person asked to change to and has not confirmed yet, or None."""
    if not getattr(user, "pk", None):
        return None
    address = (
        EmailAddress.objects.filter(user=user, verified=False)
        .exclude(email__iexact=user.email)
        .order_by("-pk")
        .first()
    )
    return address.email if address else None


def email_confirmation_address(key):
    """The address a confirmation link (its signed key) would confirm, or None when the link is
    bad, expired or already used."""
    confirmation = EmailConfirmationHMAC.from_key(key or "")
    return confirmation.email_address.email if confirmation else None
