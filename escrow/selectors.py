"""Reads the order and ledger pages need: an order's timeline, buyers' and sellers' order lists,
a seller's ledger lines and their totals, their earnings per week or month and their accounts'
lines in a range (payouts' earnings page, API and CSV); and which orders and releases the
periodic jobs are due to act on.

Every list is one query with its related rows joined (select_related), and the totals are a
fixed number of grouped aggregates, so a page costs the same however many orders it shows.
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, F, Max, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.selectors import SellerAccountFields, seller_account_sql
from core import clock
from core.datetimes import date_in_bounds
from core.models import AuditEntry
from core.rows import cursor as rows_cursor
from core.timezones import zone
from escrow.commission import milestone_fee_shares, refund_shares, release_split
from escrow.models import (
    BLOCKING_BOOKING_STATUSES,
    OPEN_DISPUTE_STATUSES,
    OPEN_MILESTONE_STATUSES,
    REFUND_HOLDING_STATUSES,
    Booking,
    BookingStatus,
    Chargeback,
    Dispute,
    DisputeReason,
    DisputeStatus,
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    TransferReversal,
)
from marketplace.availability import local_midnight, open_slots, week_start
from marketplace.models import ListingKind

# Orders whose money the platform holds for the seller right now.
HELD_STATUSES = (OrderStatus.FUNDED, OrderStatus.DELIVERED)


# --- Orders -------------------------------------------------------------------------------------


def orders_for_buyer(*, user):
    """The orders a user placed, newest first."""
    return (
        Order.objects.filter(buyer_id=user.pk)
        .select_related("store", "seller")
        .with_refunded_cents()
        .order_by("-created_at", "-id")
    )


def orders_for_seller(*, user):
    """The orders a seller received, newest first, with their release (if any) joined."""
    return (
        Order.objects.filter(seller_id=user.pk)
        .select_related("buyer", "store")
        .with_release()
        .with_refunded_cents()
        .order_by("-created_at", "-id")
    )


def order_for_participant_get(*, user, pk):
    """An order its buyer or its seller may see; 404 for everyone else (staff use the admin)."""
    if not getattr(user, "is_authenticated", False):
        return get_object_or_404(Order.objects.none(), pk=pk)
    queryset = (
        Order.objects.filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk))
        .select_related("buyer", "seller", "store", "listing")
        .with_release()
        .with_refunded_cents()
    )
    return get_object_or_404(queryset, pk=pk)


def order_for_seller_get(*, user, pk):
    """An order of the seller's own, for the seller's pages (refund); 404 for everyone else,
    its buyer too."""
    if not getattr(user, "is_authenticated", False):
        return get_object_or_404(Order.objects.none(), pk=pk)
    queryset = (
        Order.objects.filter(seller_id=user.pk)
        .select_related("buyer", "seller", "store", "listing")
        .with_release()
        .with_refunded_cents()
    )
    return get_object_or_404(queryset, pk=pk)


def order_milestones(order):
    """The order's milestones in plan order, each with its release joined (one query)."""
    return list(
        Milestone.objects.filter(order_id=order.pk).select_related("release").order_by("position")
    )


def order_chargebacks(order):
    """The order's card chargebacks, newest first (one query; usually none)."""
    return list(Chargeback.objects.filter(order_id=order.pk).order_by("-created_at", "-id"))


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


@dataclass(frozen=True)
class ReleasePreview:
    """What releasing an order would move now, for staff to confirm before they do."""

    order: Order
    gross_cents: int  # what escrow holds for it (paid minus refunds)
    commission_cents: int  # the platform's commission on that
    fee_passed_on_cents: int  # Stripe's fee on the payment, when the seller pays it
    transfer_cents: int  # to the seller's Stripe account (before any debt of theirs)

    @property
    def releasable_by_staff(self):
        return self.order.status == OrderStatus.DELIVERED


def orders_release_preview(*, order_ids):
    """The orders staff chose to release, oldest first, each with the split escrow_release
    would make (escrow.commission.release_split: what refunds left, commission, Stripe fee
    passed on, transfer before any debt of the seller's). One query."""
    paid = EscrowPayment.objects.filter(order_id=OuterRef("pk"), status=PaymentStatus.SUCCEEDED)
    refunded = (
        EscrowRefund.objects.holding()
        .filter(order_id=OuterRef("pk"), payment__status=PaymentStatus.SUCCEEDED)
        .order_by()
        .values("order_id")
        .annotate(total=Sum("amount_cents"))
        .values("total")[:1]
    )
    orders = (
        Order.objects.filter(pk__in=order_ids)
        .select_related("buyer", "seller", "store")
        .annotate(
            paid_cents=Subquery(paid.values("amount_cents")[:1]),
            paid_fee_cents=Subquery(paid.values("stripe_fee_cents")[:1]),
            refunded_cents=Coalesce(Subquery(refunded), 0),
        )
        .order_by("pk")
    )
    previews = []
    for order in orders:
        split = release_split(
            paid=order.paid_cents or order.total_cents,
            refunded=order.refunded_cents,
            commission=order.commission_cents,
            stripe_fee=order.paid_fee_cents,
            fee_payer=order.stripe_fee_payer,
            return_commission=settings.ESCROW_REFUND_RETURNS_COMMISSION,
        )
        previews.append(
            ReleasePreview(
                order=order,
                gross_cents=split.gross_cents,
                commission_cents=split.commission_cents,
                fee_passed_on_cents=split.fee_passed_on_cents,
                transfer_cents=split.net_cents,
            )
        )
    return previews


# --- Refunds ------------------------------------------------------------------------------------

# The statuses in which the seller or staff may refund an order. escrow.services.refunds decides
# (its _REFUNDABLE_BY_PARTICIPANTS); the pages use this only to offer the form.
REFUNDABLE_STATUSES = (
    OrderStatus.FUNDED,
    OrderStatus.DELIVERED,
    OrderStatus.RELEASED,
    OrderStatus.DISPUTED,
)
# Refunds of a payment the order did not need: the buyer's money, never the seller's.
UNWANTED_PAYMENT_INITIATORS = (RefundInitiator.DUPLICATE_PAYMENT, RefundInitiator.LATE_PAYMENT)


def order_refunds(order):
    """The order's refunds, newest first (one query)."""
    return list(EscrowRefund.objects.filter(order_id=order.pk).order_by("-created_at", "-id"))


@dataclass(frozen=True)
class RefundQuote:
    """What of an order's payment can still be refunded, for the refund forms (seller, staff)."""

    currency: str
    paid_cents: int = 0  # the payment that funded the order (0: not paid)
    refunded_cents: int = 0  # refunded, or being refunded
    refundable_cents: int = 0  # what is left to refund
    status_allows: bool = False  # the order's status lets the seller or staff refund it
    after_release: bool = False  # the money was released: the seller's share is taken back
    release_in_progress: bool = False  # released, the transfer not made yet: refunds wait
    # After release: what refunding all that is left takes back from the seller (their share;
    # the platform returns its commission's share), as escrow.commission.refund_shares splits it.
    seller_share_cents: int = 0

    @property
    def can_refund(self):
        return self.status_allows and self.refundable_cents > 0 and not self.release_in_progress

    @property
    def platform_share_cents(self):
        return self.refundable_cents - self.seller_share_cents if self.after_release else 0


def order_refund_quote(order):
    """What can still be refunded of the order and, after release, how a refund of all of it
    is shared (one query; one more when the order was read without its release)."""
    holding = Q(refunds__status__in=REFUND_HOLDING_STATUSES)
    payment = (
        EscrowPayment.objects.filter(order_id=order.pk, status=PaymentStatus.SUCCEEDED)
        .annotate(
            held=Sum("refunds__amount_cents", filter=holding, default=0),
            held_after_release=Sum(
                "refunds__amount_cents",
                filter=holding & Q(refunds__after_release=True),
                default=0,
            ),
        )
        .first()
    )
    if payment is None:
        return RefundQuote(currency=order.currency)
    refundable = max(payment.amount_cents - payment.held, 0)
    release = order_release(order)
    after_release = release is not None
    in_progress = after_release and release.status != ReleaseStatus.TRANSFERRED
    seller_share = 0
    if after_release and not in_progress:
        # A release's gross is what was left when it was made; what it can still give back.
        amount = min(refundable, release.gross_cents - payment.held_after_release)
        if amount > 0:
            seller_share = refund_shares(
                amount,
                refunded_before=payment.held_after_release,
                gross=release.gross_cents,
                commission=release.commission_cents,
                fee_passed_on=release.fee_passed_on_cents,
                return_commission=settings.ESCROW_REFUND_RETURNS_COMMISSION,
            ).seller_cents
    return RefundQuote(
        currency=payment.currency,
        paid_cents=payment.amount_cents,
        refunded_cents=payment.held,
        refundable_cents=refundable,
        status_allows=order.status in REFUNDABLE_STATUSES,
        after_release=after_release,
        release_in_progress=in_progress,
        seller_share_cents=seller_share,
    )


def seller_refunds(*, seller, limit=20):
    """The latest refunds of the seller's orders, newest first, with their order (one query).
    Refunds of a payment the order did not need are left out: that money was never theirs."""
    return list(
        EscrowRefund.objects.filter(order__seller_id=seller.pk)
        .exclude(initiator__in=UNWANTED_PAYMENT_INITIATORS)
        .select_related("order")
        .order_by("-created_at", "-id")[:limit]
    )


# --- What the periodic jobs are due to do (ids only: each is acted on in its own transaction) --


def orders_due_for_auto_release(*, now=None):
    """Delivered orders whose buyer's review window has ended, and paid booked services whose
    review window (from the end of the booked time) has ended."""
    now = now or clock.now()
    booked_and_over = Q(
        status=OrderStatus.FUNDED,
        booking__status=BookingStatus.CONFIRMED,
        milestones_accepted_at__isnull=True,
    )
    return (
        Order.objects.filter(Q(status=OrderStatus.DELIVERED) | booked_and_over)
        .filter(review_deadline__lte=now)
        .values_list("pk", flat=True)
    )


def milestones_due_for_auto_release(*, now=None):
    """Delivered milestones whose buyer's review window has ended, of orders not frozen by a
    dispute (Milestone rows with only their id and order's id)."""
    now = now or clock.now()
    return (
        Milestone.objects.filter(
            status=MilestoneStatus.DELIVERED,
            review_deadline__lte=now,
            order__status=OrderStatus.FUNDED,
        )
        .only("pk", "order_id")
        .order_by("review_deadline", "pk")
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


@dataclass(frozen=True)
class PaymentForRelease:
    """An order's succeeded payment as deciding its release reads it (payment_for_release)."""

    amount_cents: int
    stripe_fee_cents: int
    stripe_charge_id: str
    refunds_held_cents: int  # what refunds pending or made hold of it: they leave escrow first
    seller_debt_cents: int  # the seller's debt account's balance in the order's currency
    seller_account: SellerAccountFields
    release_id: int | None  # the order's release, when one was decided already
    has_booking: bool  # the order has a booked time (made with the order, never later)


@cache  # built once per process: the tables' names do not change
def _payment_for_release_sql():
    payment, refund = EscrowPayment._meta.db_table, EscrowRefund._meta.db_table
    entry, release = LedgerEntry._meta.db_table, EscrowRelease._meta.db_table
    booking = Booking._meta.db_table
    holding = ", ".join(["%s"] * len(REFUND_HOLDING_STATUSES))
    account_columns, account_joins = seller_account_sql(alias="seller")
    # The releases' order is EscrowRelease.Meta.ordering (newest first), as .first() reads it.
    return (
        f"SELECT p.amount_cents, p.stripe_fee_cents, p.stripe_charge_id, "
        f"CAST(COALESCE((SELECT SUM(r.amount_cents) FROM {refund} r "
        f"WHERE r.payment_id = p.id AND r.status IN ({holding})), 0) AS BIGINT), "
        f"CAST(COALESCE((SELECT SUM(l.amount_cents) FROM {entry} l "
        f"WHERE l.account = %s AND l.currency = %s), 0) AS BIGINT), "
        f"(SELECT d.id FROM {release} d WHERE d.order_id = p.order_id "
        f"AND d.milestone_id IS NULL ORDER BY d.created_at DESC, d.id DESC LIMIT 1), "
        f"EXISTS (SELECT 1 FROM {booking} b WHERE b.order_id = p.order_id), "
        f"{account_columns} "
        f"FROM {payment} p {account_joins} "
        f"WHERE p.order_id = %s AND p.status = %s LIMIT 2"
    )


def payment_for_release(*, order):
    """The order's succeeded payment with what deciding its release needs beside it, in one
    query (a PaymentForRelease): what refunds hold of it, the balance of the seller's debt
    account in the order's currency (not floored at 0), the seller's SellerAccountFields
    (accounts.selectors), the order's release when one was decided already (its milestones'
    releases are not counted) and whether it has a booking. Read with the order locked, in a
    statement after the lock's (which sees what a racing caller committed before the lock was
    granted: a subquery of the locking statement would not): the order's release and refunds
    cannot change meanwhile; the debt is read again under the seller's lock before a release
    pays any of it. Raises EscrowPayment.DoesNotExist when the order is not paid.

    Written in SQL: it runs once per release, 10,000 times in one auto-release job, and Django
    building and compiling the same five subqueries through the ORM was about a third of a
    release's CPU."""
    params = [
        *REFUND_HOLDING_STATUSES,
        LedgerAccount.seller_debt(order.seller_id),
        order.currency,
        order.seller_id,
        order.pk,
        PaymentStatus.SUCCEEDED,
    ]
    with rows_cursor() as cursor:  # prepared, where the database takes it
        cursor.execute(_payment_for_release_sql(), params)
        rows = cursor.fetchall()
    if not rows:
        raise EscrowPayment.DoesNotExist("The order has no succeeded payment.")
    if len(rows) > 1:
        raise EscrowPayment.MultipleObjectsReturned("The order has two succeeded payments.")
    amount, fee, charge, held, debt, release_id, booked, account_id, payouts_enabled = rows[0]
    return PaymentForRelease(
        amount_cents=amount,
        stripe_fee_cents=fee,
        stripe_charge_id=charge,
        refunds_held_cents=held,
        seller_debt_cents=debt,
        seller_account=SellerAccountFields(
            stripe_account_id=account_id or "", payouts_enabled=bool(payouts_enabled)
        ),
        release_id=release_id,
        has_booking=bool(booked),
    )


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
    "escrow.order.shipped": ("Shipped by the seller", "info"),
    "escrow.order.received": ("The buyer confirmed receiving it", "info"),
    "escrow.order.approved": ("Buyer approved; payment released to the seller", "success"),
    "escrow.order.auto_released": (
        "Review window ended; payment released to the seller",
        "success",
    ),
    "escrow.order.released_by_staff": ("Bazaar released the payment to the seller", "success"),
    "escrow.order.cancelled": ("Order cancelled", "muted"),
    "escrow.order.expired": ("Order expired before it was paid", "muted"),
    "escrow.order.refunded": ("Refunded in full to the buyer", "muted"),
    "escrow.order.disputed": ("Problem reported; the payment is frozen", "warning"),
    "escrow.order.dispute_withdrawn": ("Report withdrawn; the order continues", "info"),
    "escrow.order.dispute_ended": ("Dispute ended; the order goes on where it was", "info"),
    "escrow.order.charged_back": (
        "The buyer's bank disputed the payment; nothing is released until it decides",
        "warning",
    ),
    "escrow.order.chargeback_won": ("The bank decided for the seller; the order goes on", "info"),
    "escrow.order.compensation_released": (
        "Cancelled; the seller's compensation released to them",
        "success",
    ),
    "escrow.order.released_by_dispute": (
        "Dispute resolved; payment released to the seller",
        "success",
    ),
    # Milestone orders: the plan's entries are the order's; each milestone's are its own.
    "escrow.order.milestones_proposed": ("The seller proposed milestones", "info"),
    "escrow.order.milestones_accepted": ("The buyer accepted the milestones", "success"),
    "escrow.order.milestones_settled": (
        "Every milestone released or refunded; the order is complete",
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


def _timeline(target, *, order, words):
    """What happened to `target` (the order, or its dispute), oldest first, from its audit
    entries in the marketplace's words (one query)."""
    entries = AuditEntry.objects.filter(
        target_type=ContentType.objects.get_for_model(type(target)), target_id=str(target.pk)
    ).order_by("created_at", "id")
    events = []
    for entry in entries:
        title, tone = words.get(
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


def order_timeline(order):
    """What happened to the order, oldest first, from its audit entries (one query)."""
    return _timeline(order, order=order, words=TIMELINE_WORDS)


# --- A seller's ledger --------------------------------------------------------------------------


def seller_ledger_lines(*, seller):
    """The lines of the seller's payable account, newest first.

    A release credits the account (Bazaar owes the seller the order's share); the transfer to the
    seller's Stripe account debits it. `seller_amount_cents` is the line seen from the seller's
    side: positive when money became theirs, negative when it left for their Stripe account.
    """
    return (
        LedgerEntry.objects.filter(account=LedgerAccount.seller_payable(seller.pk))
        .select_related("order")
        .prefetch_related("order__releases")
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
    # Refunds made after release: what the buyers got back, and the seller's share of it (taken
    # back from their Stripe balance, or owed where it could not cover it).
    refunded_after_release_cents: int = 0
    taken_back_cents: int = 0
    # What the seller owes Bazaar now (refunds their balance could not cover): recovered from
    # their next releases before anything is transferred.
    debt_cents: int = 0


def orders_holding_money(*, seller):
    """The seller's orders whose money escrow holds now (paid, not released: funded, delivered,
    or disputed before release), with their payment and the refunds made before release
    annotated. One query."""
    paid = EscrowPayment.objects.filter(order_id=OuterRef("pk"), status=PaymentStatus.SUCCEEDED)
    refunded = (
        EscrowRefund.objects.holding()
        .filter(order_id=OuterRef("pk"), payment__status=PaymentStatus.SUCCEEDED)
        .order_by()
        .values("order_id")
        .annotate(total=Sum("amount_cents"))
        .values("total")[:1]
    )
    holding = Q(status__in=HELD_STATUSES) | Q(
        status=OrderStatus.DISPUTED, disputed_from__in=HELD_STATUSES
    )
    return (
        Order.objects.filter(holding, seller_id=seller.pk)
        .annotate(
            paid_cents=Subquery(paid.values("amount_cents")[:1]),
            paid_fee_cents=Subquery(paid.values("stripe_fee_cents")[:1]),
            refunded_before_cents=Coalesce(Subquery(refunded), 0),
        )
        .order_by()
    )


def _milestone_orders_held(orders):
    """{order: the seller's share of its milestones still held} for the milestone orders among
    `orders` (annotated by orders_holding_money): each open milestone's amount less its
    commission and its share of the Stripe fee passed on, as its release will compute it
    (escrow.commission.milestone_fee_shares). One query, none when there is no such order."""
    planned = {order.pk: order for order in orders if order.has_milestone_plan}
    if not planned:
        return {}
    plans = defaultdict(list)
    for milestone in Milestone.objects.filter(order_id__in=planned).order_by(
        "order_id", "position"
    ):
        plans[milestone.order_id].append(milestone)
    held = {}
    for order_id, milestones in plans.items():
        order = planned[order_id]
        fees = milestone_fee_shares(
            [m.amount_cents for m in milestones],
            commissions=[m.commission_cents for m in milestones],
            stripe_fee=order.paid_fee_cents,
            fee_payer=order.stripe_fee_payer,
        )
        held[order] = sum(
            m.amount_cents - m.commission_cents - fee
            for m, fee in zip(milestones, fees, strict=True)
            if m.status in OPEN_MILESTONE_STATUSES
        )
    return held


def seller_held_cents(*, seller):
    """{currency: cents}: the seller's share of what escrow holds for them now. What refunds
    left of each paid order, less the commission (and fee passed on) kept on it, as its release
    will compute it (release_split). A disputed order frozen before release holds its money
    too. One query; the ledger page and the payouts page both read it."""
    held = defaultdict(int)
    orders = list(orders_holding_money(seller=seller))
    for order, net in _milestone_orders_held(orders).items():
        held[order.currency] += net
    for order in orders:
        if order.has_milestone_plan:
            continue
        split = release_split(
            paid=order.paid_cents or order.total_cents,
            refunded=order.refunded_before_cents,
            commission=order.commission_cents,
            stripe_fee=order.paid_fee_cents,
            fee_payer=order.stripe_fee_payer,
            return_commission=settings.ESCROW_REFUND_RETURNS_COMMISSION,
        )
        held[order.currency] += split.net_cents
    return dict(held)


def seller_ledger_totals(*, seller, default_currency="usd"):
    """Held / released / commission / reversed / refunded after release / owed, per currency
    (four grouped queries).

    With no orders at all, one row of zeros in `default_currency`, so the page still says so.
    """
    rows = {}

    def row(currency):
        return rows.setdefault(currency, {"currency": currency})

    for currency, cents in seller_held_cents(seller=seller).items():
        row(currency)["held_cents"] = cents

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

    refunds = (
        EscrowRefund.objects.filter(
            order__seller_id=seller.pk, status=RefundStatus.SUCCEEDED, after_release=True
        )
        .values("currency")
        .annotate(refunded=Sum("amount_cents"), share=Sum("seller_share_cents"))
        .order_by()
    )
    for item in refunds:
        target = row(item["currency"])
        target["refunded_after_release_cents"] = item["refunded"] or 0
        target["taken_back_cents"] = item["share"] or 0

    # The debt is the ledger's balance of the seller's debt account: booked by refunds, paid
    # off by releases (escrow.services.releases).
    debts = (
        LedgerEntry.objects.filter(account=LedgerAccount.seller_debt(seller.pk))
        .values("currency")
        .annotate(balance=Sum("amount_cents"))
        .order_by()
    )
    for item in debts:
        if item["balance"]:
            row(item["currency"])["debt_cents"] = item["balance"]

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


def no_show_refusal(order, *, now=None):
    """Why the buyer cannot say the seller did not show up, or "" when they can: only for a
    booked service whose booking is confirmed (paid) once its booked start has passed."""
    booking = order_booking(order)
    if booking is None:
        return "Choose this only for a booked service: this order has no booked time."
    if booking.status != BookingStatus.CONFIRMED:
        return "This order's booking is not confirmed: choose another reason."
    if booking.starts_at > (now or clock.now()):
        return (
            f"The booked time starts at {booking.starts_at:%d %b %Y %H:%M} UTC: you can say "
            "the seller did not show up once it has begun."
        )
    return ""


def dispute_reasons_for(order, *, now=None):
    """The reasons the buyer may choose for this order now (the dispute form and the API offer
    these): every one, except "the seller did not show up" where it does not apply."""
    return [
        value
        for value in DisputeReason.values
        if value != DisputeReason.NO_SHOW or not no_show_refusal(order, now=now)
    ]


def no_show_disputes_due_for_refund(*, now=None):
    """No-show disputes the seller has not answered by their deadline: refunded in full by the
    beat job before it escalates anything."""
    now = now or clock.now()
    return list(
        Dispute.objects.filter(
            status=DisputeStatus.OPEN, reason=DisputeReason.NO_SHOW, response_due_at__lte=now
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
    order = dispute.order
    events = _timeline(dispute, order=order, words=DISPUTE_TIMELINE_WORDS)
    for i, event in enumerate(events):
        if event.action == "escrow.dispute.resolved" and event.actor_role == "seller":
            events[i] = replace(
                event, title="The seller refunded the order in full; the dispute is closed"
            )
    return events


def order_held_cents(order):
    """What the platform still holds of the order's payment: paid minus the refunds pending or
    made; 0 once it was released or when it is not paid. For a milestone order: the amounts of
    the milestones neither released nor refunded."""
    if order.has_milestone_plan:
        return (
            Milestone.objects.filter(
                order_id=order.pk, status__in=OPEN_MILESTONE_STATUSES
            ).aggregate(total=Sum("amount_cents"))["total"]
            or 0
        )
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


# --- A seller's earnings by period (payouts' earnings page, API and CSV) -----------------------

EARNINGS_PERIODS = ("week", "month")


def _period_of(expression, period):
    """The start of the week (Monday) or calendar month of `expression`, in the site's time
    zone (Django truncates in the current time zone)."""
    trunc = TruncWeek if period == "week" else TruncMonth
    return trunc(expression, tzinfo=timezone.get_current_timezone())


def seller_earnings_by_period(*, seller, period, since, until):
    """{(currency, first day of the period): net cents} of what became the seller's between the
    aware datetimes `since` (included) and `until` (excluded), per week (starting Monday) or
    calendar month in the site's time zone. Periods with no booking are left out.

    The same definition as the lifetime earnings of payouts.selectors.seller_balances, each
    amount dated by when it was booked, so the periods of all time add up to that figure:

    - + a release's transfer to the seller: when the transfer was booked (transferred_at), or,
      while it is not made yet, when the release was decided (created_at);
    - − a transfer reversal (a refund or chargeback after release): when it was made;
    - + a won chargeback given back: when its return transfer was booked in the ledger;
    - − the seller's debt account: each booking (a refund their balance could not cover: +,
      paid off from a later release: −) on its own date.

    Four grouped queries (truncated in SQL), whatever the number of orders.
    """
    if period not in EARNINGS_PERIODS:
        raise ValueError(f"Unknown period {period!r}: one of {EARNINGS_PERIODS}.")
    net = defaultdict(int)

    def add(rows, sign):
        for item in rows:
            if item["total"]:
                day = timezone.localtime(item["period"]).date()
                net[(item["currency"], day)] += sign * item["total"]

    def grouped(queryset, booked, amount):
        return (
            queryset.annotate(booked_at=booked)
            .filter(booked_at__gte=since, booked_at__lt=until)
            .annotate(period=_period_of("booked_at", period))
            .values("currency", "period")
            .annotate(total=Sum(amount))
            .order_by()
        )

    add(
        grouped(
            EscrowRelease.objects.filter(order__seller_id=seller.pk),
            Coalesce("transferred_at", "created_at"),
            "transfer_cents",
        ),
        +1,
    )
    add(
        grouped(
            TransferReversal.objects.filter(release__order__seller_id=seller.pk),
            F("created_at"),
            "amount_cents",
        ),
        -1,
    )
    # The return transfer's booking dates it; a row without one (older books) falls back on
    # when the chargeback closed.
    return_booked = LedgerEntry.objects.filter(
        stripe_object_id=OuterRef("stripe_return_transfer_id"),
        account=LedgerAccount.CHARGEBACK_LOSSES,
    ).values("created_at")[:1]
    add(
        grouped(
            Chargeback.objects.filter(order__seller_id=seller.pk).exclude(
                stripe_return_transfer_id=""
            ),
            Coalesce(Subquery(return_booked), "closed_at", "created_at"),
            "returned_cents",
        ),
        +1,
    )
    add(
        grouped(
            LedgerEntry.objects.filter(account=LedgerAccount.seller_debt(seller.pk)),
            F("created_at"),
            "amount_cents",
        ),
        -1,
    )
    return dict(net)


def seller_account_lines(*, seller, since, until):
    """The lines of every ledger account of the seller's (`seller_<kind>:<seller id>`: payable,
    debt, and whatever seller accounts later bookings add) booked between the aware datetimes
    `since` (included) and `until` (excluded), oldest first, as plain values: created_at,
    order_id, account, memo, amount_cents (as booked: debit > 0), currency, stripe_object_id.

    One query, read with a server-side cursor (`.iterator()`) by whoever streams it."""
    return (
        LedgerEntry.objects.filter(
            account__startswith="seller_",
            account__endswith=f":{seller.pk}",
            created_at__gte=since,
            created_at__lt=until,
        )
        .order_by("created_at", "id")
        .values_list(
            "created_at",
            "order_id",
            "account",
            "memo",
            "amount_cents",
            "currency",
            "stripe_object_id",
        )
    )


@dataclass(frozen=True)
class SellerPayoutStanding:
    """What deciding a seller's payout reads of their escrow (seller_payout_standing)."""

    first_transfer_at: datetime | None  # when their first release reached Stripe (None: never)
    owed: dict  # currency -> what they owe Bazaar in it, only where it is more than 0


@cache  # built once per process: the tables' names do not change
def _seller_payout_standing_sql():
    release, order = EscrowRelease._meta.db_table, Order._meta.db_table
    entry = LedgerEntry._meta.db_table
    return (
        f"SELECT (SELECT r.transferred_at FROM {release} r "
        f"INNER JOIN {order} o ON o.id = r.order_id "
        f"WHERE o.seller_id = %s AND r.transferred_at IS NOT NULL "
        f"ORDER BY r.transferred_at LIMIT 1), "
        f"l.currency, CAST(COALESCE(SUM(l.amount_cents), 0) AS BIGINT) "
        f"FROM (SELECT 1 AS one) one LEFT JOIN {entry} l ON l.account = %s "
        f"GROUP BY l.currency"
    )


def seller_payout_standing(*, seller):
    """When the seller's first release was transferred to their Stripe account (payouts measure
    a new seller's first payout delay from it) and what they owe Bazaar in each currency (the
    balance of their debt account: refunds their balance could not cover, instant payout fees),
    in one query. Written in SQL: the scheduled payouts job reads it once per due seller,
    thousands in a run, and Django building the two queries cost more than running them."""
    with rows_cursor() as cursor:  # prepared, where the database takes it
        cursor.execute(
            _seller_payout_standing_sql(), [seller.pk, LedgerAccount.seller_debt(seller.pk)]
        )
        fetched = cursor.fetchall()
    first = fetched[0][0]
    if isinstance(first, str):  # SQLite keeps a timestamp as its text, in UTC
        first = parse_datetime(first)
    if first is not None and timezone.is_naive(first):  # SQLite's, read as a datetime
        first = first.replace(tzinfo=UTC)
    return SellerPayoutStanding(
        first_transfer_at=first,
        owed={currency: total for _, currency, total in fetched if currency and total > 0},
    )


def seller_transferred_releases(*, seller, currency):
    """The seller's releases in `currency` whose money reached their Stripe account, in the order
    it arrived (oldest first), as plain values: order_id, listing_title, net_cents (the transfer
    less what Stripe pulled back since), transferred_at. Payouts pay them out oldest first
    (payouts.selectors.payouts_orders_covered). One query."""
    return (
        EscrowRelease.objects.with_amount_reversed()
        .filter(
            order__seller_id=seller.pk,
            currency=currency,
            status=ReleaseStatus.TRANSFERRED,
            transferred_at__isnull=False,
        )
        .annotate(net_cents=F("transfer_cents") - F("amount_reversed_cents"))
        .order_by("transferred_at", "id")
        .values_list("order_id", "order__listing_title", "net_cents", "transferred_at")
    )


# --- Bookings -----------------------------------------------------------------------------------


def seller_busy_ranges(*, seller_id, start, end, exclude_pk=None):
    """(starts_at, blocked_until) of the seller's held and confirmed bookings overlapping
    [start, end): the time marketplace.availability must not offer."""
    rows = Booking.objects.filter(
        seller_id=seller_id,
        status__in=BLOCKING_BOOKING_STATUSES,
        starts_at__lt=end,
        blocked_until__gt=start,
    )
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return list(rows.values_list("starts_at", "blocked_until"))


def listing_free_slots(*, listing, availability, start, end, now=None, exclude_pk=None):
    """Free slots (aware UTC start times) of a service listing beginning in [start, end): its
    availability's hours less the seller's bookings (two queries)."""
    step = timedelta(minutes=(listing.duration_minutes or 0) + availability.buffer_minutes)
    busy = seller_busy_ranges(
        seller_id=listing.store.owner_id, start=start - step, end=end + step, exclude_pk=exclude_pk
    )
    return open_slots(
        availability, listing.duration_minutes, start, end, busy=busy, now=now or clock.now()
    )


def seller_bookings(*, seller, upcoming=True, now=None):
    """The seller's held and confirmed bookings (upcoming: not ended yet, soonest first) or past
    ones (ended, or cancelled/completed; latest first), with their order and buyer."""
    now = now or clock.now()
    rows = Booking.objects.filter(seller=seller).select_related("order", "order__buyer")
    if upcoming:
        return rows.filter(status__in=BLOCKING_BOOKING_STATUSES, ends_at__gt=now).order_by(
            "starts_at", "pk"
        )
    return rows.filter(~Q(status__in=BLOCKING_BOOKING_STATUSES) | Q(ends_at__lte=now)).order_by(
        "-starts_at", "-pk"
    )


@dataclass(frozen=True)
class BookingDay:
    day: date
    bookings: list  # Booking rows starting that local day, soonest first


@dataclass(frozen=True)
class BookingWeek:
    """A seller's bookings of one week, Monday to Sunday in their zone: the calendar's page."""

    time_zone: str
    start: date  # the Monday
    days: list  # 7 BookingDay
    previous: date | None  # the Monday before, while within the years 1970 to 2999
    next: date | None  # the Monday after, likewise

    @property
    def booking_count(self):
        return sum(len(d.bookings) for d in self.days)


def seller_booking_week(*, seller, time_zone, week=None, now=None):
    """The seller's held, confirmed and completed bookings starting in the week (Monday to Sunday
    in `time_zone`) of `week`, a date from 1970 to 2999 (default: this week), grouped by local
    day. One query. The week is the page: a week holds as many bookings as the seller's hours
    allow, and a seller's hours are theirs to bound."""
    tz = zone(time_zone)
    today = (now or clock.now()).astimezone(tz).date()
    monday = week_start(week or today)
    start, end = local_midnight(monday, tz), local_midnight(monday + timedelta(days=7), tz)
    rows = (
        Booking.objects.filter(seller=seller, starts_at__gte=start, starts_at__lt=end)
        .exclude(status=BookingStatus.CANCELLED)
        .select_related("order", "order__buyer")
        .order_by("starts_at", "pk")
    )
    by_day = {monday + timedelta(days=n): [] for n in range(7)}
    for booking in rows:
        by_day[booking.starts_at.astimezone(tz).date()].append(booking)
    previous, following = monday - timedelta(days=7), monday + timedelta(days=7)
    return BookingWeek(
        time_zone=tz.key,
        start=monday,
        days=[BookingDay(day=day, bookings=by_day[day]) for day in sorted(by_day)],
        previous=previous if date_in_bounds(previous) else None,
        next=following if date_in_bounds(following) else None,
    )


def order_booking(order):
    """The order's booking, or None (one query unless select_related; none for a product, which
    is never booked)."""
    if order.listing_kind != ListingKind.SERVICE:
        return None
    try:
        return order.booking
    except Booking.DoesNotExist:
        return None


@dataclass(frozen=True)
class SlotDay:
    day: date
    slots: list  # [(utc start, local "HH:MM")]


@dataclass(frozen=True)
class SlotWeek:
    """A week of a bookable service's free slots as the viewer reads them: Monday to Sunday in
    `time_zone` (the viewer's, or the seller's for anonymous visitors)."""

    time_zone: str
    start: date  # the Monday
    days: list  # 7 SlotDay
    previous: date | None  # the Monday before, when it is not in the past
    next: date | None  # the Monday after, while within the horizon

    @property
    def slot_count(self):
        return sum(len(d.slots) for d in self.days)


def slot_week(*, listing, availability, time_zone, week=None, now=None, exclude_pk=None):
    """The free slots of the week starting on the Monday of `week` (a date; anything in the past:
    this week), grouped by the viewer's local day. Without `week`, this week, or the week of the
    next free slot when this one has none left (on a Sunday evening, or past a long notice), so
    the page opens on times a buyer can pick rather than on seven empty days."""
    now = now or clock.now()
    tz = zone(time_zone)
    this_monday = week_start(now.astimezone(tz).date())
    monday = max(week_start(week), this_monday) if week else this_monday
    last_day = (now + timedelta(days=availability.horizon_days)).astimezone(tz).date()
    if monday > last_day:
        monday = week_start(last_day)

    def free_from(day, days=7):
        return listing_free_slots(
            listing=listing,
            availability=availability,
            start=local_midnight(day, tz),
            end=local_midnight(day + timedelta(days=days), tz),
            now=now,
            exclude_pk=exclude_pk,
        )

    slots = free_from(monday)
    if not slots and week is None and monday + timedelta(days=7) <= last_day:
        later = free_from(monday + timedelta(days=7), days=(last_day - monday).days)
        if later:
            monday = week_start(later[0].astimezone(tz).date())
            week_end = local_midnight(monday + timedelta(days=7), tz)
            slots = [slot for slot in later if slot < week_end]
    by_day = {monday + timedelta(days=n): [] for n in range(7)}
    for slot in slots:
        local = slot.astimezone(tz)
        by_day.setdefault(local.date(), []).append((slot, f"{local:%H:%M}"))
    return SlotWeek(
        time_zone=tz.key,
        start=monday,
        days=[SlotDay(day=day, slots=by_day[day]) for day in sorted(by_day)][:7],
        previous=monday - timedelta(days=7) if monday > this_monday else None,
        next=monday + timedelta(days=7) if monday + timedelta(days=7) <= last_day else None,
    )


# --- For other apps' services -------------------------------------------------------------------


def order_locked(*, pk):
    """The order with its row locked until the caller's transaction ends, for another app whose
    writes about one order must not race each other (reviews: buyer and seller at once). Call it
    inside transaction.atomic."""
    return Order.objects.select_for_update().get(pk=pk)


def order_reviews_open_at(order):
    """When the order's buyer and seller may start reviewing each other: when its money was
    released (by the buyer, staff, the automatic release, its last milestone or a dispute's
    decision), or when staff resolved its dispute by refunding the buyer; None before either.

    A dispute is decided before any release, so a released order's moment is its release; only
    an order refunded (or frozen since) without one is asked about its dispute: one query then,
    none otherwise, so every other order page pays nothing for it."""
    if order.released_at:
        return order.released_at
    if order.status not in (OrderStatus.REFUNDED, OrderStatus.DISPUTED):
        return None
    return Dispute.objects.filter(order_id=order.pk, status=DisputeStatus.RESOLVED).aggregate(
        at=Max("resolved_at")
    )["at"]
