"""The payouts app's models.

Payout is one payout of a seller's Stripe balance to their bank (payouts.services).

SellerBalance is a proxy of accounts' SellerProfile with no table of its own: it gives the
admin a read-only page of each seller's balances (payouts.admin), computed by
payouts.selectors.seller_balances like the seller's page and the API.
"""

from django.conf import settings
from django.db import models

from accounts.models import SellerProfile


class SellerBalance(SellerProfile):
    class Meta:
        proxy = True
        verbose_name = "seller balance"
        verbose_name_plural = "seller balances"


# --- Payouts ------------------------------------------------------------------------------------


class PayoutStatus(models.TextChoices):
    # Our row exists; Stripe has not answered yet (or could not be reached: sent again with the
    # same idempotency key, so Stripe makes one payout whatever happens).
    REQUESTED = "requested", "Requested"
    # Stripe's own states.
    PENDING = "pending", "Pending"
    IN_TRANSIT = "in_transit", "In transit"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    # Stripe refused to make it (no money moved).
    REFUSED = "refused", "Refused by Stripe"


# Where each status may go. Stripe may still fail a payout it reported paid (the bank returns it
# days later), so paid -> failed is allowed; nothing leaves failed, canceled or refused.
PAYOUT_TRANSITIONS = {
    PayoutStatus.REQUESTED: {
        PayoutStatus.PENDING,
        PayoutStatus.IN_TRANSIT,
        PayoutStatus.PAID,
        PayoutStatus.FAILED,
        PayoutStatus.CANCELED,
        PayoutStatus.REFUSED,
    },
    PayoutStatus.PENDING: {
        PayoutStatus.IN_TRANSIT,
        PayoutStatus.PAID,
        PayoutStatus.FAILED,
        PayoutStatus.CANCELED,
    },
    PayoutStatus.IN_TRANSIT: {PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.CANCELED},
    PayoutStatus.PAID: {PayoutStatus.FAILED},
    PayoutStatus.FAILED: set(),
    PayoutStatus.CANCELED: set(),
    PayoutStatus.REFUSED: set(),
}
# The money left the seller's Stripe balance (or is leaving it).
PAYOUT_OUT_STATUSES = (
    PayoutStatus.REQUESTED,
    PayoutStatus.PENDING,
    PayoutStatus.IN_TRANSIT,
    PayoutStatus.PAID,
)


class PayoutMethod(models.TextChoices):
    STANDARD = "standard", "Standard (1–2 business days)"
    INSTANT = "instant", "Instant (within 30 minutes, with a fee)"


class Payout(models.Model):
    """Money from a seller's Stripe balance to their bank: one Stripe Payout on their connected
    account, made with an idempotency key from this row.

    `amount_cents` leaves their Stripe balance; an instant payout's `fee_cents` is kept out of it
    (it stays on their balance and is booked as owed to Bazaar, paid off by their next release),
    so the bank receives `amount_cents - fee_cents` (`bank_cents`).
    """

    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts"
    )
    stripe_account_id = models.CharField(max_length=255)
    currency = models.CharField(max_length=3)
    amount_cents = models.BigIntegerField()
    fee_cents = models.BigIntegerField(default=0)
    method = models.CharField(
        max_length=10, choices=PayoutMethod.choices, default=PayoutMethod.STANDARD
    )
    status = models.CharField(
        max_length=12, choices=PayoutStatus.choices, default=PayoutStatus.REQUESTED
    )
    stripe_payout_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    arrival_date = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The schedule's period this payout is for ("" for a request): one payout per seller,
    # currency and period, whatever number of beat ticks or workers try.
    period = models.CharField(max_length=20, blank=True)
    # The client's Idempotency-Key (API): the same key from the same seller is the same payout.
    client_key = models.CharField(max_length=255, blank=True)
    # The ledger lines written: when Stripe took the money, and when it came back.
    sent_booked = models.BooleanField(default=False)
    returned_booked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["seller", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["seller", "currency", "period"],
                condition=~models.Q(period=""),
                name="payout_one_per_period",
            ),
            models.UniqueConstraint(
                fields=["seller", "client_key"],
                condition=~models.Q(client_key=""),
                name="payout_client_key_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0), name="payout_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(fee_cents__gte=0)
                & models.Q(fee_cents__lt=models.F("amount_cents")),
                name="payout_fee_below_amount",
            ),
        ]

    def __str__(self):
        return f"Payout #{self.pk} ({self.get_status_display()})"

    @property
    def bank_cents(self):
        return self.amount_cents - self.fee_cents


# --- Schedules and holds ------------------------------------------------------------------------


class PayoutInterval(models.TextChoices):
    MANUAL = "manual", "Only when I ask"
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"
    MONTHLY = "monthly", "Every month"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class PayoutSchedule(models.Model):
    """A seller's payout terms: when their available balance is paid out on its own
    (payouts.services.payouts_run_scheduled), and whether staff hold their payouts (risk review),
    with the reason they read. One row per seller, made when first needed."""

    seller = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payout_schedule"
    )
    interval = models.CharField(
        max_length=10, choices=PayoutInterval.choices, default=PayoutInterval.MANUAL
    )
    weekly_anchor = models.PositiveSmallIntegerField(
        choices=Weekday.choices, default=Weekday.MONDAY
    )
    # A day past the month's end (29-31) means its last day.
    monthly_anchor = models.PositiveSmallIntegerField(default=1)
    changed_at = models.DateTimeField(null=True, blank=True)
    held = models.BooleanField(default=False)
    hold_reason = models.TextField(blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekly_anchor__lte=6), name="payout_schedule_weekday"
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_anchor__gte=1) & models.Q(monthly_anchor__lte=31),
                name="payout_schedule_month_day",
            ),
        ]

    def __str__(self):
        return f"{self.seller}: {self.get_interval_display()}"
