"""Escrow: the order and everything money does to it. The buyer's payment held by the platform,
its release to the seller, and the ledger.

Payments and releases are rows with their own state; an order's escrow totals are derived from
them and from the append-only ledger, never stored twice.
"""

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Case, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse

from core.countries import country_name
from core.datetimes import validate_date_in_bounds
from core.money import format_money
from core.payment_errors import buyer_payment_message
from escrow.shipping import TRACKING_NUMBER_MAX_LENGTH, Carrier, tracking_url
from marketplace.models import Listing, ListingKind, Store
from marketplace.policies import CancellationPolicy


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Awaiting payment"  # stock reserved; buyer has not paid
    FUNDED = "funded", "Paid, held in escrow"  # the platform holds the buyer's money
    DELIVERED = (
        "delivered",
        "Delivered, in review",
    )  # seller delivered; buyer reviews until deadline
    RELEASED = "released", "Completed"  # money released to the seller minus commission
    # Called off: before payment (stock returned), or after it under the cancellation policy
    # (the buyer refunded, the seller's compensation released).
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"  # not paid in time; stock returned
    # Frozen: the buyer opened a dispute or the card's bank charged the payment back. Nothing is
    # released until it is resolved; `disputed_from` keeps the status to go back to.
    DISPUTED = "disputed", "Disputed"
    REFUNDED = "refunded", "Refunded"  # every cent paid went back to the buyer


# The one place that says which order moves are allowed. Money that arrives for an order that
# expired or was cancelled is refunded (refund_create), never revives the order.
ORDER_TRANSITIONS = {
    OrderStatus.PENDING_PAYMENT: {
        OrderStatus.FUNDED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    },
    OrderStatus.FUNDED: {
        OrderStatus.DELIVERED,
        OrderStatus.RELEASED,
        OrderStatus.CANCELLED,
        OrderStatus.DISPUTED,
        OrderStatus.REFUNDED,
    },
    OrderStatus.DELIVERED: {
        OrderStatus.RELEASED,
        OrderStatus.CANCELLED,
        OrderStatus.DISPUTED,
        OrderStatus.REFUNDED,
    },
    # A dispute ends with the money released, refunded, split (released) or, when it is
    # withdrawn or won, the order going back to where it was.
    OrderStatus.DISPUTED: {
        OrderStatus.FUNDED,
        OrderStatus.DELIVERED,
        OrderStatus.RELEASED,
        OrderStatus.REFUNDED,
    },
    # After release: refunded in full (the transfer reversed), or charged back by the bank.
    OrderStatus.RELEASED: {OrderStatus.REFUNDED, OrderStatus.DISPUTED},
    OrderStatus.REFUNDED: set(),
    OrderStatus.CANCELLED: set(),
    OrderStatus.EXPIRED: set(),
}


# The order's money is held (or was released): a decline before that is history.
PAID_ORDER_STATUSES = (
    OrderStatus.FUNDED,
    OrderStatus.DELIVERED,
    OrderStatus.RELEASED,
    OrderStatus.DISPUTED,
    OrderStatus.REFUNDED,
)


class OrderQuerySet(models.QuerySet):
    def with_release(self):
        """Prefetch the orders' releases (one query for the whole list), for Order.release."""
        return self.prefetch_related("releases")

    def with_payment_error(self):
        """Annotate the latest declined payment's codes and Stripe's text (for
        Order.payment_error and Order.payment_error_detail) in the same query."""
        latest_failure = EscrowPayment.objects.filter(
            order=OuterRef("pk"), status=PaymentStatus.FAILED
        ).order_by("-created_at", "-id")

        def latest(field):
            # NULL: no decline to tell (none, or the order is paid since).
            return Case(
                When(status__in=PAID_ORDER_STATUSES, then=Value(None)),
                default=Subquery(latest_failure.values(field)[:1]),
                output_field=models.CharField(),
            )

        return self.annotate(
            annotated_failure_message=latest("failure_message"),
            annotated_failure_code=latest("failure_code"),
            annotated_failure_decline_code=latest("failure_decline_code"),
        )

    def with_refunded_cents(self):
        """Annotate `refunded_cents` (see Order.refunded_cents) in the same query. A subquery,
        not a join, so it can sit beside other annotations without multiplying rows."""
        refunded = (
            EscrowRefund.objects.filter(
                order=OuterRef("pk"),
                status__in=REFUND_HOLDING_STATUSES,
                payment__status=PaymentStatus.SUCCEEDED,
            )
            .order_by()
            .values("order")
            .annotate(total=Sum("amount_cents"))
            .values("total")[:1]
        )
        return self.annotate(
            refunded_cents=Coalesce(
                Subquery(refunded, output_field=models.BigIntegerField()), Value(0)
            )
        )


class Order(models.Model):
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_placed"
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_received"
    )
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="orders")
    # Snapshots: what the buyer agreed to, whatever happens to the listing later.
    listing_title = models.CharField(max_length=140)
    listing_kind = models.CharField(max_length=10, choices=ListingKind.choices)
    unit_price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    total_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    commission_bps = models.PositiveIntegerField()
    commission_fixed_cents = models.PositiveIntegerField(default=0)
    commission_min_cents = models.PositiveIntegerField(default=0)
    commission_cents = models.PositiveIntegerField()
    stripe_fee_payer = models.CharField(max_length=10, default="platform")
    # The listing's effective policy when the order was placed (marketplace.policies). The
    # default only fills orders placed before policies existed, when every store was Flexible.
    cancellation_policy = models.CharField(
        max_length=10, choices=CancellationPolicy.choices, default=CancellationPolicy.FLEXIBLE
    )
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    stock_reserved = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_note = models.TextField(blank=True)
    review_deadline = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # While DISPUTED: the status it goes back to when the dispute ends without a resolution.
    disputed_from = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    # The API client's Idempotency-Key for creating this order, so a retry returns it.
    client_key = models.CharField(max_length=255, blank=True)
    # Products: where the buyer asked for it to be sent, copied from what they gave at checkout
    # (a saved address edited later does not change it). Seen by the buyer, the seller and staff.
    shipping_name = models.CharField(max_length=100, blank=True)
    shipping_line1 = models.CharField(max_length=200, blank=True)
    shipping_line2 = models.CharField(max_length=200, blank=True)
    shipping_city = models.CharField(max_length=100, blank=True)
    shipping_postal_code = models.CharField(max_length=20, blank=True)
    shipping_region = models.CharField(max_length=100, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)
    # Products: the days from shipping allowed for the parcel to arrive (the listing's, when
    # the order was placed); the review window starts after them unless receipt is confirmed.
    transit_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Products: the seller's shipment (order_mark_shipped) and the buyer's confirmation that it
    # arrived (order_confirm_received), which starts the review window at once.
    carrier = models.CharField(max_length=20, choices=Carrier.choices, blank=True)
    tracking_number = models.CharField(max_length=TRACKING_NUMBER_MAX_LENGTH, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    # When the buyer accepted the seller's milestone plan (Milestone rows): from then on the
    # order is delivered, released and refunded milestone by milestone, never as a whole.
    milestones_accepted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        # Kept from when orders lived in marketplace/: the move changed no data.
        db_table = "marketplace_order"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["buyer", "-created_at"]),
            models.Index(fields=["seller", "-created_at"]),
            models.Index(fields=["status", "review_deadline"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_cents=models.F("unit_price_cents") * models.F("quantity")),
                name="order_total_is_price_times_quantity",
            ),
            models.CheckConstraint(
                condition=models.Q(commission_cents__lte=models.F("total_cents")),
                name="order_commission_within_total",
            ),
            models.UniqueConstraint(
                fields=["buyer", "client_key"],
                condition=~models.Q(client_key=""),
                name="order_client_key_per_buyer",
            ),
        ]

    def __str__(self):
        return f"Order #{self.pk} {self.listing_title}"

    def get_absolute_url(self):
        return reverse("order-detail", kwargs={"pk": self.pk})

    @property
    def total_display(self):
        return format_money(self.total_cents, self.currency)

    @property
    def commission_display(self):
        return format_money(self.commission_cents, self.currency)

    @property
    def seller_gets_cents(self):
        return self.total_cents - self.commission_cents

    @property
    def transfer_group(self):
        return f"order-{self.pk}"

    @property
    def is_product(self):
        return self.listing_kind == ListingKind.PRODUCT

    @property
    def shipping_address(self):
        """The address the order is shipped to, as a dict of its fields; {} without one."""
        if not self.shipping_line1:
            return {}
        return {
            "name": self.shipping_name,
            "line1": self.shipping_line1,
            "line2": self.shipping_line2,
            "city": self.shipping_city,
            "postal_code": self.shipping_postal_code,
            "region": self.shipping_region,
            "country": self.shipping_country,
        }

    @property
    def shipping_country_name(self):
        return country_name(self.shipping_country)

    @property
    def tracking_url(self):
        """The carrier's page following the parcel; "" for Other or before shipping."""
        return tracking_url(self.carrier, self.tracking_number)

    @property
    def in_transit(self):
        """A shipped product the buyer has not confirmed receiving yet."""
        return (
            self.is_product
            and self.status == OrderStatus.DELIVERED
            and self.shipped_at is not None
            and self.received_at is None
        )

    @property
    def status_label(self):
        """The status as people read it: a product in review is shipped or received."""
        if self.is_product and self.status == OrderStatus.DELIVERED and self.shipped_at:
            return "Received, in review" if self.received_at else "Shipped"
        return self.get_status_display()

    @property
    def has_milestone_plan(self):
        """The buyer accepted a milestone plan: the order moves milestone by milestone."""
        return self.milestones_accepted_at is not None

    @property
    def release(self):
        """The order's one release when it is released as a whole (None before, and for an
        order released milestone by milestone: see Milestone.release). Read from
        OrderQuerySet.with_release()'s prefetch when there is one, else one query."""
        cache = getattr(self, "_prefetched_objects_cache", {})
        if "releases" in cache:
            return next((r for r in cache["releases"] if r.milestone_id is None), None)
        if self.pk is None:
            return None
        return self.releases.filter(milestone__isnull=True).first()

    # Why the buyer's last payment attempt was declined, while the order is not paid; "" once it
    # is. Stored once, on the failed EscrowPayment: lists annotate it (with_payment_error); an
    # order read without the annotation asks each time (one query).
    def _latest_failure(self):
        """(Stripe's text, code, decline code) of the decline to tell, or None."""
        if "annotated_failure_message" in self.__dict__:
            if self.annotated_failure_message is None:
                return None
            return (
                self.annotated_failure_message,
                self.annotated_failure_code or "",
                self.annotated_failure_decline_code or "",
            )
        if self.status in PAID_ORDER_STATUSES or self.pk is None:
            return None
        return (
            self.payments.filter(status=PaymentStatus.FAILED)
            .order_by("-created_at", "-id")
            .values_list("failure_message", "failure_code", "failure_decline_code")
            .first()
        )

    @property
    def payment_error(self):
        """What the buyer is told (plain words from core.payment_errors), or ""."""
        failure = self._latest_failure()
        return buyer_payment_message(failure[1], failure[2]) if failure else ""

    @property
    def payment_error_detail(self):
        """Stripe's own text and codes, for staff; "" when there is no decline to tell."""
        failure = self._latest_failure()
        if not failure:
            return ""
        message, code, decline_code = failure
        codes = " / ".join(c for c in (code, decline_code) if c)
        return f"{message} ({codes})" if codes else message

    # What of the order's payment went back to the buyer, or is on its way back (refunds
    # pending or made; a second payment's refund is not the order's). Stored once, on the
    # EscrowRefund rows: lists annotate it (with_refunded_cents); an order read without the
    # annotation asks each time (one query). The same sum as services.order_refunded_cents.
    _refunded_cents = None

    @property
    def refunded_cents(self):
        if self._refunded_cents is not None:
            return self._refunded_cents
        if self.pk is None:
            return 0
        return (
            EscrowRefund.objects.holding()
            .filter(order_id=self.pk, payment__status=PaymentStatus.SUCCEEDED)
            .aggregate(total=Sum("amount_cents"))["total"]
            or 0
        )

    @refunded_cents.setter
    def refunded_cents(self, value):
        self._refunded_cents = value

    @property
    def refunded_display(self):
        return format_money(self.refunded_cents, self.currency)

    @property
    def partly_refunded(self):
        """Some of the payment went back to the buyer, not all of it."""
        return self.status != OrderStatus.REFUNDED and 0 < self.refunded_cents < self.total_cents

    def refresh_from_db(self, *args, **kwargs):
        # Annotations read with the old row are stale now.
        for name in (
            "annotated_failure_message",
            "annotated_failure_code",
            "annotated_failure_decline_code",
        ):
            self.__dict__.pop(name, None)
        self._refunded_cents = None
        super().refresh_from_db(*args, **kwargs)


class StripeCustomer(models.Model):
    """A buyer's Stripe Customer, made once and reused for every payment."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stripe_customer"
    )
    stripe_customer_id = models.CharField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.stripe_customer_id


# --- Milestones: a service order paid once, delivered and released in parts ---------------------


class MilestoneStatus(models.TextChoices):
    # Part of the seller's plan the buyer has not accepted yet: the seller may replace it.
    PROPOSED = "proposed", "Proposed"
    PENDING = "pending", "In progress"  # the plan is accepted; the seller works on it
    DELIVERED = "delivered", "Delivered, in review"  # the buyer reviews until review_deadline
    RELEASED = "released", "Released"  # its amount left escrow for the seller (EscrowRelease)
    # Its whole amount goes back to the buyer (an EscrowRefund naming it); if Stripe fails that
    # refund it is back where it was.
    REFUNDED = "refunded", "Refunded"


# The one place that says which milestone moves are allowed. A proposal is accepted or replaced
# (its rows deleted) as a whole; a dispute's resolution may release a milestone not delivered.
MILESTONE_TRANSITIONS = {
    MilestoneStatus.PROPOSED: {MilestoneStatus.PENDING},
    MilestoneStatus.PENDING: {
        MilestoneStatus.DELIVERED,
        MilestoneStatus.RELEASED,
        MilestoneStatus.REFUNDED,
    },
    MilestoneStatus.DELIVERED: {MilestoneStatus.RELEASED, MilestoneStatus.REFUNDED},
    MilestoneStatus.RELEASED: set(),
    MilestoneStatus.REFUNDED: {MilestoneStatus.PENDING, MilestoneStatus.DELIVERED},
}

# A milestone in these states still holds its amount in escrow.
OPEN_MILESTONE_STATUSES = (MilestoneStatus.PENDING, MilestoneStatus.DELIVERED)


class Milestone(models.Model):
    """A part of a service order: the seller proposes the plan, the buyer accepts it, then each
    part is delivered, and released (or refunded) on its own, with its own EscrowRelease."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="milestones")
    position = models.PositiveSmallIntegerField()  # 1, 2, ... in the plan's order
    title = models.CharField(max_length=140)
    amount_cents = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # The milestone's part of the order's commission: the order's commission shared in
    # proportion to the amounts, largest remainder (escrow.commission.split_in_proportion), so
    # the parts add up to the order's commission exactly.
    commission_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    due_date = models.DateField(validators=[validate_date_in_bounds])
    status = models.CharField(
        max_length=10, choices=MilestoneStatus.choices, default=MilestoneStatus.PROPOSED
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_note = models.TextField(blank=True)
    review_deadline = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "position"]
        indexes = [models.Index(fields=["status", "review_deadline"])]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="milestone_position_unique"),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gte=1), name="milestone_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(commission_cents__lte=models.F("amount_cents")),
                name="milestone_commission_within_amount",
            ),
        ]

    def __str__(self):
        return f"Milestone {self.position} of order #{self.order_id}: {self.title}"

    @property
    def amount_display(self):
        return format_money(self.amount_cents, self.currency)

    @property
    def is_open(self):
        return self.status in OPEN_MILESTONE_STATUSES


class BookingStatus(models.TextChoices):
    HELD = "held", "Held, awaiting payment"  # the order is not paid yet: nobody else gets it
    CONFIRMED = "confirmed", "Confirmed"  # paid: the seller expects the buyer then
    CANCELLED = "cancelled", "Cancelled"  # the order expired or was called off: the time is free
    COMPLETED = "completed", "Completed"  # the order's money was released


# The one place that says which booking moves are allowed.
BOOKING_TRANSITIONS = {
    BookingStatus.HELD: {BookingStatus.CONFIRMED, BookingStatus.CANCELLED},
    BookingStatus.CONFIRMED: {BookingStatus.CANCELLED, BookingStatus.COMPLETED},
    BookingStatus.CANCELLED: set(),
    BookingStatus.COMPLETED: set(),
}

# A booking in these states takes its time from the seller's calendar: two of them of one seller
# never overlap (the exclusion constraint of migration 0013 on PostgreSQL, the seller's row lock
# and an overlap query in escrow.services.bookings everywhere).
BLOCKING_BOOKING_STATUSES = (BookingStatus.HELD, BookingStatus.CONFIRMED)


class Booking(models.Model):
    """The time a service order was booked for: one of the listing's free slots
    (marketplace.availability), held while the order waits for payment, confirmed once it is
    paid, freed when it expires or is cancelled. It lives and dies with its order."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="booking")
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # ends_at plus the availability's buffer: the seller's calendar is busy until then.
    blocked_until = models.DateTimeField()
    # The availability's zone when it was booked (the seller's): how the seller reads the time.
    time_zone = models.CharField(max_length=64)
    status = models.CharField(
        max_length=10, choices=BookingStatus.choices, default=BookingStatus.HELD
    )
    # A new time one party proposed and the other has not accepted yet (rescheduling).
    proposed_starts_at = models.DateTimeField(null=True, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["seller", "starts_at"]),
            models.Index(fields=["status", "ends_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="booking_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(blocked_until__gte=models.F("ends_at")),
                name="booking_blocked_until_after_end",
            ),
        ]

    def __str__(self):
        return f"Booking of order #{self.order_id} at {self.starts_at:%Y-%m-%d %H:%M} UTC"

    @property
    def is_blocking(self):
        return self.status in BLOCKING_BOOKING_STATUSES


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # checkout session / payment intent created; buyer paying
    SUCCEEDED = "succeeded", "Succeeded"  # Stripe confirmed the charge: the money is held
    FAILED = "failed", "Failed"  # the last attempt was declined; the buyer may try again
    # Stripe took the money but the order was already paid (the buyer paid in two tabs): the
    # money is booked like the first payment and refunded at once (EscrowRefund).
    DUPLICATE = "duplicate", "Paid twice"
    CANCELLED = "cancelled", "Cancelled"  # abandoned (session expired, order closed)


# The one place that says which payment moves are allowed. Money Stripe took is never ignored:
# an attempt that was declined or abandoned and that Stripe then confirms still succeeds (or is
# a duplicate, when another payment funded the order first).
PAYMENT_TRANSITIONS = {
    PaymentStatus.PENDING: {
        PaymentStatus.SUCCEEDED,
        PaymentStatus.DUPLICATE,
        PaymentStatus.FAILED,
        PaymentStatus.CANCELLED,
    },
    # A declined PaymentIntent can be confirmed again with another card.
    PaymentStatus.FAILED: {
        PaymentStatus.SUCCEEDED,
        PaymentStatus.DUPLICATE,
        PaymentStatus.CANCELLED,
    },
    PaymentStatus.CANCELLED: {PaymentStatus.SUCCEEDED, PaymentStatus.DUPLICATE},
    PaymentStatus.SUCCEEDED: set(),
    PaymentStatus.DUPLICATE: set(),
}


class EscrowPayment(models.Model):
    """One attempt to pay an order: a Checkout Session (web) or a PaymentIntent (API)."""

    class Kind(models.TextChoices):
        CHECKOUT = "checkout", "Stripe Checkout"
        PAYMENT_INTENT = "payment_intent", "Payment intent (mobile)"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    stripe_checkout_session_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True
    )
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_fee_cents = models.PositiveIntegerField(null=True, blank=True)
    receipt_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(
        max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    # Why Stripe declined it: Stripe's own text (for staff) and its codes, from which buyers are
    # told in plain words (failure_reason, core.payment_errors).
    failure_message = models.CharField(max_length=300, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    failure_decline_code = models.CharField(max_length=60, blank=True)
    client_secret = models.CharField(max_length=255, blank=True)
    client_key = models.CharField(max_length=255, blank=True)  # the API's Idempotency-Key
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(status="succeeded"),
                name="one_successful_payment_per_order",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for order {self.order_id} ({self.status})"

    @property
    def amount_display(self):
        return format_money(self.amount_cents, self.currency)

    @property
    def failure_reason(self):
        """Why it failed, in plain words for the buyer ("" unless it failed)."""
        if not (self.failure_message or self.failure_code):
            return ""
        return buyer_payment_message(self.failure_code, self.failure_decline_code)


class ReleaseStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # decided; the transfer to the seller is being made
    TRANSFERRED = "transferred", "Transferred"  # Stripe made the transfer to the seller
    FAILED = "failed", "Failed"  # Stripe refused the transfer; staff can retry (same key)


# The one place that says which release moves are allowed. A failed transfer is retried with
# the same idempotency key, so it can still go through; a transfer made is final (reversals are
# rows of their own, TransferReversal).
RELEASE_TRANSITIONS = {
    ReleaseStatus.PENDING: {ReleaseStatus.TRANSFERRED, ReleaseStatus.FAILED},
    ReleaseStatus.FAILED: {ReleaseStatus.TRANSFERRED},
    ReleaseStatus.TRANSFERRED: set(),
}


class ReleaseTrigger(models.TextChoices):
    BUYER = "buyer", "Buyer approved"
    AUTO = "auto", "Review window ended"
    STAFF = "staff", "Staff released"
    # The seller's compensation when the buyer cancelled under the listing's policy.
    CANCELLATION = "cancellation", "Cancellation compensation"
    DISPUTE = "dispute", "Dispute resolved"


class EscrowReleaseQuerySet(models.QuerySet):
    def with_amount_reversed(self):
        """Annotate `amount_reversed_cents` (see EscrowRelease.amount_reversed_cents) in the same
        query. A subquery, not a join: a join would repeat each release once per reversal and
        inflate every other sum taken beside it."""
        reversed_sum = (
            TransferReversal.objects.filter(release=OuterRef("pk"))
            .order_by()
            .values("release")
            .annotate(total=Sum("amount_cents"))
            .values("total")[:1]
        )
        return self.annotate(
            amount_reversed_cents=Coalesce(
                Subquery(reversed_sum, output_field=models.BigIntegerField()), Value(0)
            )
        )


class EscrowRelease(models.Model):
    """Money leaving escrow for the seller: gross minus commission, as one Stripe Transfer.

    An order has one (milestone None), or, when it moves milestone by milestone, one per
    released milestone, each its own Transfer in the order's transfer_group."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="releases")
    milestone = models.OneToOneField(
        Milestone, on_delete=models.PROTECT, null=True, blank=True, related_name="release"
    )
    trigger = models.CharField(max_length=20, choices=ReleaseTrigger.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    gross_cents = models.PositiveIntegerField()
    commission_cents = models.PositiveIntegerField()
    # The part of Stripe's fee passed to the seller (0 when the platform bears it).
    fee_passed_on_cents = models.PositiveIntegerField(default=0)
    # The seller's debt (refunds after release their balance could not cover) taken from this
    # release before the transfer.
    debt_recovered_cents = models.PositiveIntegerField(default=0)
    transfer_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    destination_account = models.CharField(max_length=80)
    source_charge = models.CharField(max_length=255)
    stripe_transfer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=ReleaseStatus.choices, default=ReleaseStatus.PENDING
    )
    failure_message = models.CharField(max_length=300, blank=True)
    # Set, under the row lock, by the one caller that sends the transfer request to Stripe;
    # cleared when Stripe's answer is recorded. While it is recent, nobody else sends one: a
    # retry waits ESCROW_TRANSFER_TIMEOUT_SECONDS (the caller may have died mid-call).
    transfer_in_flight_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    transferred_at = models.DateTimeField(null=True, blank=True)

    objects = EscrowReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    gross_cents=models.F("commission_cents")
                    + models.F("fee_passed_on_cents")
                    + models.F("debt_recovered_cents")
                    + models.F("transfer_cents")
                ),
                name="release_gross_is_commission_fee_debt_and_transfer",
            ),
            # An order released as a whole has one release, as when this was a one-to-one.
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(milestone__isnull=True),
                name="one_release_per_order_without_milestone",
            ),
        ]

    def __str__(self):
        if self.milestone_id:
            return f"Release of order {self.order_id} milestone {self.milestone_id} ({self.status})"
        return f"Release of order {self.order_id} ({self.status})"

    @property
    def transfer_display(self):
        return format_money(self.transfer_cents, self.currency)

    # What Stripe pulled back from the seller after the transfer: the sum of the release's
    # TransferReversal rows, stored there only. Lists annotate it (with_amount_reversed); a
    # release read without the annotation asks each time (one query).
    _amount_reversed_cents = None

    @property
    def amount_reversed_cents(self):
        if self._amount_reversed_cents is not None:
            return self._amount_reversed_cents
        return self.reversals.aggregate(total=Sum("amount_cents"))["total"] or 0

    @amount_reversed_cents.setter
    def amount_reversed_cents(self, value):
        self._amount_reversed_cents = value

    def refresh_from_db(self, *args, **kwargs):
        self._amount_reversed_cents = None  # an annotation read with the old row is stale now
        super().refresh_from_db(*args, **kwargs)


class TransferReversal(models.Model):
    """Money Stripe moved back from the seller's account (a transfer reversal)."""

    release = models.ForeignKey(EscrowRelease, on_delete=models.PROTECT, related_name="reversals")
    # The refund this reversal paid for, when Bazaar made it for one (None: made at Stripe).
    refund = models.OneToOneField(
        "EscrowRefund",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversal",
    )
    stripe_reversal_id = models.CharField(max_length=255, unique=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.stripe_reversal_id


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # decided (the amount is reserved); Stripe is refunding
    SUCCEEDED = "succeeded", "Refunded"  # the money is on its way back to the buyer
    FAILED = "failed", "Failed"  # Stripe could not refund it; the amount is free again
    CANCELED = "canceled", "Canceled"  # called off before Stripe refunded it


# The one place that says which refund moves are allowed. A pending refund ends once; Stripe can
# still fail a refund it reported succeeded (the card was closed): the money comes back to the
# platform and the refund is failed.
REFUND_TRANSITIONS = {
    RefundStatus.PENDING: {RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CANCELED},
    RefundStatus.SUCCEEDED: {RefundStatus.FAILED},
    RefundStatus.FAILED: set(),
    RefundStatus.CANCELED: set(),
}

# A refund in these states holds its amount: it counts against what is left to refund or release.
REFUND_HOLDING_STATUSES = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)


class RefundInitiator(models.TextChoices):
    SELLER = "seller", "Seller"
    STAFF = "staff", "Staff"
    CANCELLATION = "cancellation", "Cancellation"
    DISPUTE = "dispute", "Dispute resolution"
    DUPLICATE_PAYMENT = "duplicate_payment", "Paid twice"
    LATE_PAYMENT = "late_payment", "Paid after the order closed"
    EXTERNAL = "external", "Made at Stripe"


class EscrowRefundQuerySet(models.QuerySet):
    def holding(self):
        return self.filter(status__in=REFUND_HOLDING_STATUSES)


class EscrowRefund(models.Model):
    """Money going back to the buyer: all or part of one payment, as one Stripe Refund.

    How the refund is shared between the seller and the platform is decided with the refund
    (escrow.refunds.refund_split) and stored here, so the booking and any later refund of the
    same order add up to the cent.
    """

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(EscrowPayment, on_delete=models.PROTECT, related_name="refunds")
    # The milestone this refund gives back (milestone orders): all of it before its release,
    # or part of its release after (the seller's share taken back from that release).
    milestone = models.ForeignKey(
        Milestone, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    initiator = models.CharField(max_length=20, choices=RefundInitiator.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500)
    amount_cents = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    currency = models.CharField(max_length=3)
    # After release: the part taken back from the seller (a transfer reversal, or a debt when
    # their balance could not cover it), and the platform's part (commission and the Stripe fee
    # passed on). Before release all three are 0: the money was still held.
    after_release = models.BooleanField(default=False)
    seller_share_cents = models.PositiveIntegerField(default=0)
    commission_share_cents = models.PositiveIntegerField(default=0)
    fee_share_cents = models.PositiveIntegerField(default=0)
    debt_cents = models.PositiveIntegerField(default=0)  # the seller's share booked as a debt
    status = models.CharField(
        max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    client_key = models.CharField(max_length=255, blank=True)  # the API's Idempotency-Key
    # Set, under the row lock, by the one caller that sends Stripe the requests; see
    # EscrowRelease.transfer_in_flight_since.
    in_flight_since = models.DateTimeField(null=True, blank=True)
    booked_at = models.DateTimeField(null=True, blank=True)  # the ledger lines were written
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    objects = EscrowRefundQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    seller_share_cents__lte=models.F("amount_cents")
                    - models.F("commission_share_cents")
                    - models.F("fee_share_cents")
                ),
                name="refund_shares_within_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(debt_cents__lte=models.F("seller_share_cents")),
                name="refund_debt_within_seller_share",
            ),
            models.UniqueConstraint(
                fields=["order", "client_key"],
                condition=~models.Q(client_key=""),
                name="refund_client_key_per_order",
            ),
        ]

    def __str__(self):
        return f"Refund of {self.amount_display} for order {self.order_id} ({self.status})"

    @property
    def amount_display(self):
        return format_money(self.amount_cents, self.currency)

    @property
    def taken_back_cents(self):
        """The seller's share that was taken back from their Stripe balance (a reversal); the
        rest of it, debt_cents, they owe."""
        return self.seller_share_cents - self.debt_cents

    @property
    def platform_share_cents(self):
        """The part the platform paid from its own balance (after release)."""
        if not self.after_release:
            return 0
        return self.amount_cents - self.seller_share_cents


class LedgerAccount:
    """The ledger's accounts. Debits are positive amounts, credits negative."""

    STRIPE_BALANCE = "stripe_balance"  # asset: money on the platform's Stripe balance
    BUYER_FUNDS_HELD = "buyer_funds_held"  # liability: buyers' money in escrow
    PLATFORM_COMMISSION = "platform_commission"  # revenue
    STRIPE_FEES = "stripe_fees"  # expense: Stripe's processing fees
    STRIPE_FEES_RECOVERED = "stripe_fees_recovered"  # fees passed on to sellers
    TRANSFER_REVERSALS = "transfer_reversals"  # money pulled back from sellers, to be settled
    REFUNDS = "refunds"  # kept for older books; refunds now book against the accounts they undo

    @staticmethod
    def seller_payable(seller_id):
        return f"seller_payable:{seller_id}"

    # Expense: money card networks took back (chargebacks) that no seller covers.
    CHARGEBACK_LOSSES = "chargeback_losses"

    @staticmethod
    def seller_debt(seller_id):
        """Asset: what a seller owes the platform (a refund after release their Stripe balance
        could not cover). Recovered from their next releases."""
        return f"seller_debt:{seller_id}"

    # Revenue: the fees of sellers' instant payouts.
    PAYOUT_FEES = "payout_fees"

    @staticmethod
    def seller_stripe_balance(seller_id):
        """Memorandum: what left a seller's Stripe balance for their bank (credited when Stripe
        takes a payout, debited back when it fails or is canceled). Paired with seller_payouts."""
        return f"seller_stripe_balance:{seller_id}"

    @staticmethod
    def seller_payouts(seller_id):
        """Memorandum: what was paid out to the seller's bank (see seller_stripe_balance)."""
        return f"seller_payouts:{seller_id}"


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Ledger entries are append-only.")

    def delete(self):
        raise TypeError("Ledger entries are append-only.")


class LedgerEntry(models.Model):
    """One line of a balanced, append-only double-entry booking."""

    transaction_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    order = models.ForeignKey(
        Order,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        null=True,
        blank=True,
    )
    account = models.CharField(max_length=80, db_index=True)
    amount_cents = models.BigIntegerField()  # debit > 0, credit < 0
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=200)
    # The Stripe object the booking follows (charge, transfer, reversal), for reconciliation.
    stripe_object_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_cents=0), name="ledger_no_zero_lines"
            ),
        ]

    def __str__(self):
        return f"{self.account} {self.amount_cents:+d} {self.currency}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Ledger entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Ledger entries are append-only.")

    @property
    def debit_cents(self):
        return self.amount_cents if self.amount_cents > 0 else 0

    @property
    def credit_cents(self):
        return -self.amount_cents if self.amount_cents < 0 else 0


class ReconciliationRun(models.Model):
    """One comparison of our ledger with Stripe's records."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    orders_checked = models.PositiveIntegerField(default=0)
    difference_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return (
            f"Reconciliation {self.started_at:%Y-%m-%d %H:%M} ({self.difference_count} differences)"
        )


class ReconciliationDifference(models.Model):
    """Something our ledger and Stripe disagree on, for staff to explain."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="differences")
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=60)
    stripe_object_id = models.CharField(max_length=255, blank=True)
    ours_cents = models.BigIntegerField(null=True, blank=True)
    stripe_cents = models.BigIntegerField(null=True, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.kind}: {self.message[:60]}"


# --- Card chargebacks ---------------------------------------------------------------------------


class ChargebackStatus(models.TextChoices):
    """Stripe's dispute statuses, as Stripe reports them (the row mirrors Stripe's dispute)."""

    WARNING_NEEDS_RESPONSE = "warning_needs_response", "Inquiry: needs a response"
    WARNING_UNDER_REVIEW = "warning_under_review", "Inquiry: under review"
    WARNING_CLOSED = "warning_closed", "Inquiry closed"
    NEEDS_RESPONSE = "needs_response", "Needs a response"
    UNDER_REVIEW = "under_review", "Evidence submitted, under review"
    WON = "won", "Won"
    LOST = "lost", "Lost"


CHARGEBACK_CLOSED_STATUSES = (
    ChargebackStatus.WARNING_CLOSED,
    ChargebackStatus.WON,
    ChargebackStatus.LOST,
)

# The evidence Bazaar drafts for staff to edit and submit (Stripe's evidence field names).
CHARGEBACK_EVIDENCE_TEXT_FIELDS = (
    "product_description",
    "customer_name",
    "customer_email_address",
    "service_date",
    "shipping_date",
    "refund_policy",
    "cancellation_policy",
    "uncategorized_text",
)


class Chargeback(models.Model):
    """A card payment disputed at the card network (Stripe's Dispute, charge.dispute.*).

    Stripe's dispute is the truth for its status and money; this row is what Bazaar did about
    it: the order frozen, the seller's share taken back (or owed), the evidence drafted and
    submitted, the balance transactions booked once each.
    """

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="chargebacks")
    payment = models.ForeignKey(EscrowPayment, on_delete=models.PROTECT, related_name="chargebacks")
    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=60)
    status = models.CharField(max_length=30, choices=ChargebackStatus.choices)
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    # After release: the seller's share of the disputed amount, what was reversed from their
    # transfer, and what they owe because their balance could not cover it.
    seller_share_cents = models.PositiveIntegerField(default=0)
    reversed_cents = models.PositiveIntegerField(default=0)
    debt_cents = models.PositiveIntegerField(default=0)
    stripe_reversal_id = models.CharField(max_length=255, blank=True)
    # A won chargeback after release gives the seller back what was taken from them.
    returned_cents = models.PositiveIntegerField(default=0)
    stripe_return_transfer_id = models.CharField(max_length=255, blank=True)
    # Stripe refused the return transfer this many times (the platform's funds were pending):
    # each new try is a new request, with its own idempotency key.
    return_refusals = models.PositiveIntegerField(default=0)
    # Stripe's balance transactions of the dispute already booked in the ledger.
    booked_balance_transactions = models.JSONField(default=list, blank=True)
    # The evidence draft staff edit before submitting (Stripe's evidence field names).
    evidence = models.JSONField(default=dict, blank=True)
    evidence_file_id = models.CharField(max_length=255, blank=True)  # the conversation (PDF)
    evidence_submitted_at = models.DateTimeField(null=True, blank=True)
    evidence_submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Chargeback {self.stripe_dispute_id} on order {self.order_id} ({self.status})"

    @property
    def amount_display(self):
        return format_money(self.amount_cents, self.currency)

    @property
    def is_open(self):
        return self.status not in CHARGEBACK_CLOSED_STATUSES

    @property
    def is_inquiry(self):
        return self.status.startswith("warning")


# --- Disputes: a buyer reports a problem, staff decide where the held money goes -----------------


class DisputeReason(models.TextChoices):
    NOT_RECEIVED = "not_received", "I have not received it"
    NOT_AS_DESCRIBED = "not_as_described", "It is not as described"
    # Only for a booked service once its booked start has passed (escrow.services.disputes);
    # unanswered by the seller's deadline, it is refunded in full automatically.
    NO_SHOW = "no_show", "The seller did not show up"
    OTHER = "other", "Something else"


class DisputeStatus(models.TextChoices):
    # The buyer reported a problem: the order is frozen (DISPUTED) and the seller is asked to
    # answer by `response_due_at`.
    OPEN = "open", "Waiting for the seller"
    # The seller answered: Bazaar's staff decide by `resolve_by`.
    ANSWERED = "answered", "Waiting for Bazaar's decision"
    # Staff decided where the held money goes (release, refund or a split), or the seller
    # refunded the buyer in full meanwhile.
    RESOLVED = "resolved", "Resolved"
    # The buyer took it back: the order went back to where it was, nothing moved.
    WITHDRAWN = "withdrawn", "Withdrawn"


# The one place that says which dispute moves are allowed. Staff may decide before the seller
# answers (a seller who never does must not hold the buyer's money forever); the buyer may
# withdraw until staff decide.
DISPUTE_TRANSITIONS = {
    DisputeStatus.OPEN: {DisputeStatus.ANSWERED, DisputeStatus.RESOLVED, DisputeStatus.WITHDRAWN},
    DisputeStatus.ANSWERED: {DisputeStatus.RESOLVED, DisputeStatus.WITHDRAWN},
    DisputeStatus.RESOLVED: set(),
    DisputeStatus.WITHDRAWN: set(),
}

# A dispute in these states still holds its order frozen (at most one per order).
OPEN_DISPUTE_STATUSES = (DisputeStatus.OPEN, DisputeStatus.ANSWERED)


class DisputeResolution(models.TextChoices):
    RELEASE = "release", "Release to the seller"  # everything held goes to the seller
    REFUND = "refund", "Refund the buyer"  # everything held goes back to the buyer
    SPLIT = "split", "Split"  # part refunded, the rest released


class Dispute(models.Model):
    """A buyer's report of a problem with a paid order, before release. Evidence (photos,
    receipts) goes into the order's conversation, where both sides and staff see it."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="disputes")
    status = models.CharField(
        max_length=10, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    reason = models.CharField(max_length=20, choices=DisputeReason.choices)
    description = models.TextField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes_opened"
    )
    client_key = models.CharField(max_length=255, blank=True)  # the API's Idempotency-Key
    # The seller's side of it.
    response = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    # Deadlines, set when it opens (BAZAAR_DISPUTE_RESPONSE_DAYS, _RESOLUTION_DAYS): past them
    # the dispute is escalated to staff.
    response_due_at = models.DateTimeField()
    resolve_by = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Staff's decision. The amounts are what was decided; the refund and the release rows
    # (EscrowRefund, EscrowRelease) are what Stripe made of it.
    resolution = models.CharField(max_length=10, choices=DisputeResolution.choices, blank=True)
    refund_cents = models.PositiveIntegerField(default=0)
    release_cents = models.PositiveIntegerField(default=0)
    refund = models.OneToOneField(
        EscrowRefund,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dispute",
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # resolved or withdrawn
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("resolve_dispute", "Can resolve disputes (refund, release or split the money held)")
        ]
        indexes = [
            models.Index(fields=["status", "response_due_at"]),
            models.Index(fields=["status", "resolve_by"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(status__in=["open", "answered"]),
                name="one_open_dispute_per_order",
            ),
            models.UniqueConstraint(
                fields=["order", "client_key"],
                condition=~models.Q(client_key=""),
                name="dispute_client_key_per_order",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="resolved") | ~models.Q(resolution=""),
                name="resolved_dispute_has_resolution",
            ),
        ]

    def __str__(self):
        return f"Dispute #{self.pk} about order #{self.order_id} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("order-dispute", kwargs={"pk": self.order_id})

    @property
    def is_open(self):
        return self.status in OPEN_DISPUTE_STATUSES
