"""Reads the order and ledger pages need: an order's timeline, buyers' and sellers' order lists,
a seller's ledger lines and their totals; and which orders and releases the periodic jobs are
due to act on.

Every list is one query with its related rows joined (select_related), and the totals are a
fixed number of grouped aggregates, so a page costs the same however many orders it shows.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, F, Q, Sum, Value, When
from django.shortcuts import get_object_or_404

from core import clock
from core.models import AuditEntry
from escrow.models import (
    OPEN_DISPUTE_STATUSES,
    Dispute,
    DisputeStatus,
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReleaseStatus,
)

# Orders whose money the platform holds for the seller right now.
HELD_STATUSES = (OrderStatus.FUNDED, OrderStatus.DELIVERED)


# --- Orders -------------------------------------------------------------------------------------


def orders_for_buyer(*, user):
    """The orders a user placed, newest first."""
    return (
        Order.objects.filter(buyer_id=user.pk)
        .select_related("store", "seller")
        .order_by("-created_at", "-id")
    )


def orders_for_seller(*, user):
    """The orders a seller received, newest first, with their release (if any) joined."""
    return (
        Order.objects.filter(seller_id=user.pk)
        .select_related("buyer", "store", "release")
        .order_by("-created_at", "-id")
    )


def order_for_participant_get(*, user, pk):
    """An order its buyer or its seller may see; 404 for everyone else (staff use the admin)."""
    if not getattr(user, "is_authenticated", False):
        return get_object_or_404(Order.objects.none(), pk=pk)
    queryset = Order.objects.filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk)).select_related(
        "buyer", "seller", "store", "listing", "release"
    )
    return get_object_or_404(queryset, pk=pk)


def order_release(order):
    """The order's EscrowRelease, or None (works whether or not it was select_related)."""
    return getattr(order, "release", None)


@dataclass(frozen=True)
class OrderPayments:
    latest: EscrowPayment | None  # the most recent attempt, whatever its outcome
    succeeded: EscrowPayment | None  # the payment that funded the order (receipt), if any
    duplicates: tuple[EscrowPayment, ...] = ()  # paid again after it was paid: to refund

    @property
    def receipt_url(self):
        return self.succeeded.receipt_url if self.succeeded else ""


def order_payments(order):
    """The order's payment attempts, summarised for its page (one query)."""
    attempts = list(EscrowPayment.objects.filter(order_id=order.pk).order_by("-created_at", "-id"))
    succeeded = next((p for p in attempts if p.status == PaymentStatus.SUCCEEDED), None)
    return OrderPayments(
        latest=attempts[0] if attempts else None,
        succeeded=succeeded,
        duplicates=tuple(p for p in attempts if p.status == PaymentStatus.DUPLICATE),
    )


# --- What the periodic jobs are due to do (ids only: each is acted on in its own transaction) --


def orders_due_for_auto_release(*, now=None):
    """Delivered orders whose buyer's review window has ended."""
    now = now or clock.now()
    return Order.objects.filter(status=OrderStatus.DELIVERED, review_deadline__lte=now).values_list(
        "pk", flat=True
    )


def orders_due_for_release_reminder(*, now=None):
    """Delivered orders that release themselves within BAZAAR_RELEASE_REMINDER_HOURS and whose
    buyer has not been reminded yet."""
    now = now or clock.now()
    soon = now + timedelta(hours=settings.BAZAAR_RELEASE_REMINDER_HOURS)
    return Order.objects.filter(
        status=OrderStatus.DELIVERED,
        reminder_sent_at__isnull=True,
        review_deadline__lte=soon,
        review_deadline__gt=now,
    ).values_list("pk", flat=True)


def orders_due_for_expiry(*, now=None):
    """Unpaid orders past their payment window."""
    now = now or clock.now()
    return Order.objects.filter(
        status=OrderStatus.PENDING_PAYMENT, expires_at__lte=now
    ).values_list("pk", flat=True)


def refunds_due_for_retry(*, now=None):
    """Refunds still pending with no refund at Stripe (its request failed, or was interrupted):
    older than ESCROW_TRANSFER_TIMEOUT_SECONDS, and not in flight."""
    stale = (now or clock.now()) - timedelta(seconds=settings.ESCROW_TRANSFER_TIMEOUT_SECONDS)
    return list(
        EscrowRefund.objects.filter(
            status=RefundStatus.PENDING, stripe_refund_id__isnull=True, created_at__lte=stale
        )
        .filter(Q(in_flight_since__isnull=True) | Q(in_flight_since__lte=stale))
        .values_list("pk", flat=True)
    )


def payments_unwanted_unrefunded():
    """Payments Stripe took that their order does not need (a second payment, or one for an
    order that closed unpaid) and that no refund was started for."""
    return list(
        EscrowPayment.objects.filter(succeeded_at__isnull=False, refunds__isnull=True)
        .filter(
            Q(status=PaymentStatus.DUPLICATE)
            | Q(status=PaymentStatus.SUCCEEDED, order__funded_at__isnull=True)
        )
        .values_list("pk", flat=True)
    )


def release_transfer_in_flight(release, *, now=None):
    """Someone's transfer request for the release may still be on its way to Stripe."""
    since = release.transfer_in_flight_since
    timeout = timedelta(seconds=settings.ESCROW_TRANSFER_TIMEOUT_SECONDS)
    return since is not None and since > (now or clock.now()) - timeout


def releases_due_for_transfer_retry(*, now=None):
    """Releases whose transfer Stripe refused, or that were interrupted before Stripe answered:
    pending for longer than ESCROW_TRANSFER_TIMEOUT_SECONDS. A pending release younger than that
    is its first caller's, and a request still in flight is left to whoever sent it."""
    stale = (now or clock.now()) - timedelta(seconds=settings.ESCROW_TRANSFER_TIMEOUT_SECONDS)
    return EscrowRelease.objects.filter(
        Q(status=ReleaseStatus.FAILED) | Q(status=ReleaseStatus.PENDING, created_at__lte=stale),
        Q(transfer_in_flight_since__isnull=True) | Q(transfer_in_flight_since__lte=stale),
    ).values_list("pk", flat=True)


# --- Timeline -----------------------------------------------------------------------------------

# Audit action -> (what happened, in the marketplace's words; tone of the dot on the timeline).
TIMELINE_WORDS = {
    "escrow.order.created": ("Order placed", "info"),
    "escrow.order.funded": ("Payment received and held in escrow", "success"),
    "escrow.order.delivered": ("Marked as delivered", "info"),
    "escrow.order.approved": ("Buyer approved; payment released to the seller", "success"),
    "escrow.order.auto_released": (
        "Review window ended; payment released to the seller",
        "success",
    ),
    "escrow.order.released_by_staff": ("Bazaar released the payment to the seller", "success"),
    "escrow.order.cancelled": ("Order cancelled", "muted"),
    "escrow.order.expired": ("Order expired before it was paid", "muted"),
    # Disputes (escrow/services/disputes.py).
    "escrow.order.disputed": ("Problem reported; the payment is frozen", "warning"),
    "escrow.order.dispute_withdrawn": ("Report withdrawn; the order continues", "info"),
    "escrow.order.released_by_dispute": (
        "Dispute resolved; the seller's share released to them",
        "success",
    ),
}


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    action: str
    title: str
    tone: str
    actor_role: str  # "buyer", "seller", "staff" or "bazaar" (automatic)

    @property
    def actor_label(self):
        return {
            "buyer": "Buyer",
            "seller": "Seller",
            "staff": "Bazaar staff",
            "bazaar": "Bazaar",
        }[self.actor_role]


def _actor_role(entry, order):
    if entry.actor_id is None:
        return "bazaar"
    if entry.actor_id == order.buyer_id:
        return "buyer"
    if entry.actor_id == order.seller_id:
        return "seller"
    return "staff"


def order_timeline(order):
    """What happened to the order, oldest first, from its audit entries (one query)."""
    entries = AuditEntry.objects.filter(
        target_type=ContentType.objects.get_for_model(Order), target_id=str(order.pk)
    ).order_by("created_at", "id")
    events = []
    for entry in entries:
        title, tone = TIMELINE_WORDS.get(
            entry.action,
            # <app>.<entity>.<verb>: an action without words reads as its verb.
            (entry.action.rsplit(".", 1)[-1].replace("_", " ").capitalize(), "info"),
        )
        events.append(
            TimelineEvent(
                at=entry.created_at,
                action=entry.action,
                title=title,
                tone=tone,
                actor_role=_actor_role(entry, order),
            )
        )
    return events


# --- A seller's ledger --------------------------------------------------------------------------


def seller_ledger_lines(*, seller):
    """The lines of the seller's payable account, newest first.

    A release credits the account (Bazaar owes the seller the order's share); the transfer to the
    seller's Stripe account debits it. `seller_amount_cents` is the line seen from the seller's
    side: positive when money became theirs, negative when it left for their Stripe account.
    """
    return (
        LedgerEntry.objects.filter(account=LedgerAccount.seller_payable(seller.pk))
        .select_related("order", "order__release")
        .annotate(seller_amount_cents=-F("amount_cents"))
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class SellerTotals:
    currency: str
    held_cents: int = 0  # the seller's share of paid orders still in escrow
    released_cents: int = 0  # transferred to the seller's Stripe account
    commission_cents: int = 0  # Bazaar's commission on released orders
    transferring_cents: int = 0  # released, but the transfer has not gone through yet
    reversed_cents: int = 0  # pulled back from the seller's account after a transfer


def seller_ledger_totals(*, seller, default_currency="usd"):
    """Held / released / commission / reversed per currency (two grouped queries).

    With no orders at all, one row of zeros in `default_currency`, so the page still says so.
    """
    rows = {}

    def row(currency):
        return rows.setdefault(currency, {"currency": currency})

    held = (
        Order.objects.filter(seller_id=seller.pk, status__in=HELD_STATUSES)
        .values("currency")
        .annotate(total=Sum(F("total_cents") - F("commission_cents")))
        .order_by()
    )
    for item in held:
        row(item["currency"])["held_cents"] = item["total"] or 0

    transferred = Q(status=ReleaseStatus.TRANSFERRED)
    releases = (
        EscrowRelease.objects.filter(order__seller_id=seller.pk)
        .with_amount_reversed()
        .values("currency")
        .annotate(
            released=Sum("transfer_cents", filter=transferred),
            commission=Sum("commission_cents"),
            transferring=Sum("transfer_cents", filter=~transferred),
            reversed=Sum("amount_reversed_cents"),
        )
        .order_by()
    )
    for item in releases:
        target = row(item["currency"])
        target["released_cents"] = item["released"] or 0
        target["commission_cents"] = item["commission"] or 0
        target["transferring_cents"] = item["transferring"] or 0
        target["reversed_cents"] = item["reversed"] or 0

    if not rows:
        row(default_currency)
    return [SellerTotals(**rows[currency]) for currency in sorted(rows)]


# --- Disputes -----------------------------------------------------------------------------------


def order_dispute(order):
    """The order's dispute that matters now: the open one, else the latest closed one (None if
    the buyer never reported a problem). One query."""
    return (
        Dispute.objects.filter(order_id=order.pk)
        .select_related("refund", "resolved_by")
        .order_by(
            Case(When(status__in=OPEN_DISPUTE_STATUSES, then=Value(0)), default=Value(1)),
            "-created_at",
            "-id",
        )
        .first()
    )


def disputes_due_for_escalation(*, now=None):
    """Open disputes not escalated yet whose seller has not answered by the deadline, or that
    staff have not decided by theirs."""
    now = now or clock.now()
    return list(
        Dispute.objects.filter(escalated_at__isnull=True)
        .filter(
            Q(status=DisputeStatus.OPEN, response_due_at__lte=now)
            | Q(status__in=OPEN_DISPUTE_STATUSES, resolve_by__lte=now)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def dispute_deciders():
    """The staff who may resolve disputes (the escrow.resolve_dispute permission, held directly
    or through a group such as Finance) and superusers: they are told of escalations."""
    permission = Permission.objects.filter(
        content_type__app_label="escrow", codename="resolve_dispute"
    ).first()
    can = Q(is_superuser=True)
    if permission is not None:
        can |= Q(user_permissions=permission) | Q(groups__permissions=permission)
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(can)
        .distinct()
        .order_by("pk")
    )


# How the parties read a dispute's audit entries on the order page.
DISPUTE_TIMELINE_WORDS = {
    "escrow.dispute.opened": ("The buyer reported a problem; the payment is frozen", "warning"),
    "escrow.dispute.answered": ("The seller answered", "info"),
    "escrow.dispute.escalated": ("Deadline passed: Bazaar's team was alerted", "warning"),
    "escrow.dispute.resolved": ("Bazaar's team resolved the dispute", "success"),
    "escrow.dispute.withdrawn": ("The buyer withdrew the report", "muted"),
}


def dispute_timeline(dispute):
    """What happened to the dispute, oldest first, from its audit entries (one query)."""
    entries = AuditEntry.objects.filter(
        target_type=ContentType.objects.get_for_model(Dispute), target_id=str(dispute.pk)
    ).order_by("created_at", "id")
    order = dispute.order
    events = []
    for entry in entries:
        title, tone = DISPUTE_TIMELINE_WORDS.get(
            entry.action, (entry.action.rsplit(".", 1)[-1].replace("_", " ").capitalize(), "info")
        )
        if entry.action == "escrow.dispute.resolved" and entry.actor_id == order.seller_id:
            title = "The seller refunded the order in full; the dispute is closed"
        events.append(
            TimelineEvent(
                at=entry.created_at,
                action=entry.action,
                title=title,
                tone=tone,
                actor_role=_actor_role(entry, order),
            )
        )
    return events


def order_held_cents(order):
    """What the platform still holds of the order's payment: paid minus the refunds pending or
    made; 0 once it was released or when it is not paid."""
    if EscrowRelease.objects.filter(order_id=order.pk).exists():
        return 0
    payment = EscrowPayment.objects.filter(
        order_id=order.pk, status=PaymentStatus.SUCCEEDED
    ).first()
    if payment is None:
        return 0
    refunded = (
        EscrowRefund.objects.holding()
        .filter(payment=payment)
        .aggregate(total=Sum("amount_cents"))["total"]
        or 0
    )
    return payment.amount_cents - refunded
