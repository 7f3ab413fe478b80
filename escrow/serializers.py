"""API shapes for orders, their payment and the seller's ledger.

Input serializers parse and check types only (an id is an integer, a note is text); the rules of
ordering and escrow live in marketplace.orders and escrow.services and come back as field errors.
Output serializers render what escrow.api's reads fetched in one query: nothing here may query
per row.
"""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import ShippingAddressFieldsSerializer
from core import clock
from core.datetimes import moment_in_bounds
from core.money import format_money
from escrow import selectors
from escrow.models import (
    BookingStatus,
    Dispute,
    DisputeReason,
    EscrowRefund,
    EscrowRelease,
    LedgerEntry,
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
)
from escrow.services.milestones import MAX_MILESTONES
from escrow.shipping import TRACKING_NUMBER_MAX_LENGTH, Carrier
from marketplace.availability import MAX_RANGE
from marketplace.serializers import StoreRefSerializer

# The largest id a database primary key can hold: a larger number names no listing, and must be a
# 400 rather than an overflow deep in the database driver.
MAX_ID = 2**63 - 1

MAX_SLOT_RANGE = MAX_RANGE

ROLE_BUYER = "buyer"
ROLE_SELLER = "seller"


# --- Input --------------------------------------------------------------------------------------


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time that must carry its offset (2026-12-07T10:00:00+01:00 or
    ...Z): a time without one could mean any zone. Years 1970 to 2999 (core.datetimes): the
    slots' arithmetic overflows near datetime's own ends."""

    def to_internal_value(self, value):
        text = value.strip() if isinstance(value, str) else value
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (TypeError, ValueError, AttributeError):
            raise serializers.ValidationError(
                "Give a date and time in ISO 8601 with its offset, e.g. 2026-12-07T10:00:00+01:00."
            ) from None
        if parsed.tzinfo is None:
            raise serializers.ValidationError(
                "Give the time's offset too, e.g. 2026-12-07T10:00:00+01:00 or ...Z for UTC."
            )
        try:
            return moment_in_bounds(parsed)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class OrderShippingAddressInputSerializer(ShippingAddressFieldsSerializer):
    """Where a product is shipped: an address's lines (accounts' rules), given back as
    "shipping_address.<field>" errors."""


class OrderCreateInputSerializer(serializers.Serializer):
    listing = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="The id of an approved listing.",
        error_messages={
            "min_value": "This listing is not available.",
            "max_value": "This listing is not available.",
        },
    )
    quantity = serializers.IntegerField(
        required=False,
        default=1,
        help_text="How many to order (1 to 100). Defaults to 1.",
    )
    slot_start = AwareDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="For a service with bookable times: the start of one of its free slots "
        "(GET /api/v1/listings/{id}/availability/), ISO 8601 with its offset. Leave it out for "
        "products and services ordered without a time.",
    )
    shipping_address = OrderShippingAddressInputSerializer(
        required=False,
        allow_null=True,
        default=None,
        help_text="A product: where to ship it (or shipping_address_id). A service: leave out.",
    )
    shipping_address_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_ID,
        help_text="A product: the id of one of your saved addresses "
        "(GET /api/v1/me/shipping-addresses/), instead of shipping_address.",
        error_messages={
            "min_value": "You have no saved address with this id.",
            "max_value": "You have no saved address with this id.",
        },
    )
    save_address = serializers.BooleanField(
        required=False, default=False, help_text="Save shipping_address for next time."
    )
    make_default = serializers.BooleanField(
        required=False, default=False, help_text="Make the address your default."
    )


class OrderShipInputSerializer(serializers.Serializer):
    carrier = serializers.ChoiceField(
        choices=Carrier.choices,
        help_text="The carrier: usps, ups, fedex, dhl, royal_mail, deutsche_post, la_poste, "
        "canada_post, australia_post or other (no tracking link).",
    )
    tracking_number = serializers.CharField(
        max_length=TRACKING_NUMBER_MAX_LENGTH,
        help_text="As printed on the label: letters and digits, spaces and hyphens between.",
    )


class OrderShippingOutputSerializer(serializers.Serializer):
    """A product order's address (a copy taken at ordering) and its parcel."""

    name = serializers.CharField(source="shipping_name")
    line1 = serializers.CharField(source="shipping_line1")
    line2 = serializers.CharField(source="shipping_line2")
    city = serializers.CharField(source="shipping_city")
    postal_code = serializers.CharField(source="shipping_postal_code")
    region = serializers.CharField(source="shipping_region")
    country = serializers.CharField(source="shipping_country")


class OrderDeliverInputSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=5000,
        help_text="What was delivered and how (a service; a product is shipped): a link, "
        "instructions.",
    )


class MilestoneInputSerializer(serializers.Serializer):
    # A blank title is the service's to refuse, with the plan's other mistakes at once.
    title = serializers.CharField(
        max_length=140, allow_blank=True, help_text="What this part delivers."
    )
    amount_cents = serializers.IntegerField(
        help_text="Its part of the order's total, in cents (at least 1)."
    )
    due_date = serializers.DateField(help_text="When it is due (YYYY-MM-DD), today or later.")


class MilestonePlanInputSerializer(serializers.Serializer):
    # The count (2 to 20) and the sum are escrow.services.milestones' rules, given back as
    # field errors ("milestones", "milestones.<n>.<field>").
    milestones = MilestoneInputSerializer(
        many=True,
        # Refused before 1,000 of them are checked one by one.
        max_length=MAX_MILESTONES,
        error_messages={"max_length": f"Split the order into at most {MAX_MILESTONES} milestones."},
        help_text="2 to 20 milestones, in order, adding up to the order's total exactly.",
    )


class MilestoneDeliverInputSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=5000,
        help_text="What was delivered for this milestone and how.",
    )


class OrderCancelInputSerializer(serializers.Serializer):
    expected_refund_cents = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The refund you showed the person (from refund-preview). If cancelling now "
        "would refund a different amount (time moved the order into another tier of its "
        "policy), nothing is cancelled and the answer is 400: preview again.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class CancellationPreviewOutputSerializer(serializers.Serializer):
    held_cents = serializers.IntegerField(help_text="What escrow holds for the order now.")
    refund_cents = serializers.IntegerField(help_text="Back to the buyer if cancelled now.")
    compensation_cents = serializers.IntegerField(
        help_text="To the seller (minus commission on it) if cancelled now."
    )
    percent = serializers.IntegerField()
    currency = serializers.CharField()
    refund_display = serializers.CharField()
    compensation_display = serializers.CharField()
    explanation = serializers.CharField(help_text="The policy's tier that applies, in words.")
    policy = serializers.CharField()
    policy_text = serializers.CharField()


class RefundCreateInputSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="How much to refund, in the order currency's smallest unit (cents), at most "
        "what is left to refund of the order.",
    )
    reason = serializers.CharField(
        max_length=500,
        help_text="Why the buyer is refunded. The buyer reads it.",
    )
    milestone = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_ID,
        help_text="A milestone order is refunded one milestone at a time: its id. A milestone "
        "not released yet is refunded in full (amount_cents its amount).",
    )


class OrderListQuerySerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=[("buying", "Orders you placed"), ("selling", "Orders placed with your store")],
        required=False,
        help_text="buying: orders you placed; selling: orders placed with your store. "
        "Both when left out.",
    )
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)


# --- Output -------------------------------------------------------------------------------------


class OrderListingRefSerializer(serializers.Serializer):
    """The listing as the buyer ordered it (its title is the snapshot taken at ordering)."""

    id = serializers.IntegerField(source="listing_id", read_only=True)
    title = serializers.CharField(source="listing_title", read_only=True)


class OrderReleaseOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = EscrowRelease
        fields = ("transfer_cents", "status")
        read_only_fields = fields


class MilestoneOutputSerializer(serializers.ModelSerializer):
    """A milestone of an order, with its state and its review countdown. Read with its release
    joined (escrow.selectors.order_milestones): no query per row."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    amount_display = serializers.CharField(read_only=True)
    seconds_until_release = serializers.SerializerMethodField(
        help_text="Delivered: seconds until it is released automatically (0 when due); null "
        "otherwise."
    )
    release = OrderReleaseOutputSerializer(
        read_only=True, allow_null=True, help_text="Its release to the seller; null before."
    )

    class Meta:
        model = Milestone
        fields = (
            "id",
            "position",
            "title",
            "amount_cents",
            "commission_cents",
            "currency",
            "amount_display",
            "due_date",
            "status",
            "status_display",
            "delivered_at",
            "delivery_note",
            "review_deadline",
            "seconds_until_release",
            "released_at",
            "release",
        )
        read_only_fields = fields
        extra_kwargs = {
            "commission_cents": {
                "help_text": "Its part of the order's commission (the parts add up to it)."
            },
            "status": {
                "help_text": "proposed (the buyer has not accepted the plan), pending, "
                "delivered (in review), released or refunded."
            },
        }

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=0))
    def get_seconds_until_release(self, milestone):
        if milestone.status != MilestoneStatus.DELIVERED or milestone.review_deadline is None:
            return None
        if "now" not in self.context:  # the sandbox's clock is a query: once per response
            self.context["now"] = clock.now()
        return max(0, int((milestone.review_deadline - self.context["now"]).total_seconds()))


class DisputeSummaryOutputSerializer(serializers.ModelSerializer):
    """A dispute in an order's summary: where it stands and its deadlines."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    resolution = serializers.CharField(
        read_only=True,
        help_text="Once resolved: release, refund or split; empty before.",
    )

    class Meta:
        model = Dispute
        fields = (
            "id",
            "status",
            "status_display",
            "reason",
            "response_due_at",
            "resolve_by",
            "resolution",
            "created_at",
        )
        read_only_fields = fields


def utc_iso(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


class SlotsQuerySerializer(serializers.Serializer):
    # "from" is a Python keyword: the field is declared through the class namespace.
    vars()["from"] = AwareDateTimeField(help_text="Start of the range (ISO 8601 with offset).")
    to = AwareDateTimeField(help_text="End of the range, at most 62 days after its start.")

    def validate(self, attrs):
        start, end = attrs["from"], attrs["to"]
        if end <= start:
            raise serializers.ValidationError({"to": "The end must be after the start."})
        if end - start > MAX_SLOT_RANGE:
            raise serializers.ValidationError(
                {"to": f"Ask for at most {MAX_SLOT_RANGE.days} days at a time."}
            )
        return attrs


class SlotOutputSerializer(serializers.Serializer):
    start = serializers.CharField(help_text="UTC, ISO 8601 (e.g. 2026-12-07T09:00:00Z).")
    end = serializers.CharField(help_text="UTC, ISO 8601: start plus the service's duration.")


class SlotsOutputSerializer(serializers.Serializer):
    listing = serializers.IntegerField()
    time_zone = serializers.CharField(
        help_text="The listing's zone (IANA name): the seller's hours are wall-clock times there."
    )
    duration_minutes = serializers.IntegerField()
    slots = SlotOutputSerializer(many=True, help_text="Free slots starting in [from, to).")


class BookingOutputSerializer(serializers.Serializer):
    """A booked service's time: UTC ISO 8601 and the listing's zone."""

    order = serializers.IntegerField(source="order_id")
    status = serializers.ChoiceField(choices=BookingStatus.choices)
    status_display = serializers.CharField(source="get_status_display")
    starts_at = serializers.SerializerMethodField()
    ends_at = serializers.SerializerMethodField()
    time_zone = serializers.CharField()
    proposed_starts_at = serializers.SerializerMethodField(
        help_text="A new time one party proposed and the other has not accepted yet; null if none."
    )
    proposed_by = serializers.SerializerMethodField(
        help_text="Who proposed it: buyer or seller; null if no proposal."
    )

    @extend_schema_field(serializers.CharField())
    def get_starts_at(self, booking):
        return utc_iso(booking.starts_at)

    @extend_schema_field(serializers.CharField())
    def get_ends_at(self, booking):
        return utc_iso(booking.ends_at)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_proposed_starts_at(self, booking):
        return utc_iso(booking.proposed_starts_at)

    @extend_schema_field(
        serializers.ChoiceField(choices=[ROLE_BUYER, ROLE_SELLER], allow_null=True)
    )
    def get_proposed_by(self, booking):
        if booking.proposed_by_id is None:
            return None
        return ROLE_SELLER if booking.proposed_by_id == booking.seller_id else ROLE_BUYER


class SellerBookingOutputSerializer(BookingOutputSerializer):
    listing_title = serializers.CharField(source="order.listing_title")
    buyer_name = serializers.CharField(source="order.buyer.get_short_name")
    order_status = serializers.CharField(source="order.status")


class SellerBookingsQuerySerializer(serializers.Serializer):
    when = serializers.ChoiceField(
        choices=["upcoming", "past"],
        required=False,
        default="upcoming",
        help_text="upcoming (default): not ended yet, soonest first; past: latest first.",
    )


class RescheduleInputSerializer(serializers.Serializer):
    slot_start = AwareDateTimeField(
        help_text="The proposed new start: one of the listing's free slots (ISO 8601 with offset)."
    )


class OrderOutputSerializer(serializers.ModelSerializer):
    """An order as its buyer or its seller sees it."""

    # Needs `request` in the context (the caller's role). Rows come from escrow.api._orders_for(),
    # which fetches the store, the release, the receipt and the payment error with the order.

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    listing = OrderListingRefSerializer(source="*", read_only=True)
    store = StoreRefSerializer(read_only=True)
    role = serializers.SerializerMethodField(
        help_text="Your part in this order: buyer (you placed it) or seller (your store sells)."
    )
    total_display = serializers.CharField(
        read_only=True, help_text='The total formatted for people, e.g. "US$25.00".'
    )
    seller_gets_cents = serializers.IntegerField(
        read_only=True, help_text="The total minus the platform's commission."
    )
    seconds_until_release = serializers.SerializerMethodField(
        help_text="While the order is delivered: seconds left in the buyer's review window, "
        "after which the money is released to the seller automatically. Null otherwise."
    )
    receipt_url = serializers.URLField(
        read_only=True,
        allow_null=True,
        help_text="Stripe's receipt of the successful payment; null until the order is paid.",
    )
    release = OrderReleaseOutputSerializer(
        read_only=True,
        allow_null=True,
        help_text="The transfer of the money to the seller; null until the escrow is released.",
    )
    payment_error = serializers.CharField(
        read_only=True,
        help_text="Why the last payment attempt was declined, in plain words for the buyer "
        "(not Stripe's developer text), while the order is not paid; empty once it is paid or "
        "when no attempt was declined.",
    )
    refunded_cents = serializers.IntegerField(
        read_only=True,
        min_value=0,
        help_text="What of the order's payment went back to the buyer, or is on its way back "
        "(refunds pending or made). The list: GET /api/v1/orders/{id}/refunds/.",
    )
    refunded_display = serializers.CharField(
        read_only=True, help_text='refunded_cents formatted for people, e.g. "US$10.00".'
    )
    partly_refunded = serializers.BooleanField(
        read_only=True,
        help_text="Some, not all, of the payment went back to the buyer (a refunded order's "
        "status is refunded).",
    )
    dispute = serializers.SerializerMethodField(
        help_text="The buyer's report of a problem: the open one, else the latest; null if "
        "none. The whole dispute is at GET /api/v1/orders/{id}/dispute/."
    )
    booking = serializers.SerializerMethodField(
        help_text="The booked time of a service with bookable times; null otherwise."
    )
    dispute_reasons = serializers.SerializerMethodField(
        help_text="The reasons a report of a problem with this order may give now (POST "
        "/api/v1/orders/{id}/dispute/): no_show only for a confirmed booking whose booked start "
        "has passed."
    )
    shipping_address = serializers.SerializerMethodField(
        help_text="A product: where it is shipped (a copy of the address given at ordering). "
        "Null for a service. Only the order's buyer and seller see it."
    )
    carrier = serializers.ChoiceField(
        choices=Carrier.choices,
        allow_blank=True,
        read_only=True,
        help_text="A shipped product's carrier; empty before shipping.",
    )
    carrier_display = serializers.CharField(source="get_carrier_display", read_only=True)
    tracking_url = serializers.CharField(
        read_only=True,
        help_text="The carrier's page following the parcel; empty before shipping and for "
        "carrier other.",
    )

    class Meta:
        model = Order
        fields = (
            "id",
            "status",
            "status_display",
            "listing",
            "store",
            "role",
            "quantity",
            "unit_price_cents",
            "total_cents",
            "currency",
            "total_display",
            "commission_cents",
            "commission_bps",
            "seller_gets_cents",
            "payment_error",
            "refunded_cents",
            "refunded_display",
            "partly_refunded",
            "funded_at",
            "delivered_at",
            "delivery_note",
            "review_deadline",
            "seconds_until_release",
            "released_at",
            "receipt_url",
            "release",
            "milestones_accepted_at",
            "dispute",
            "dispute_reasons",
            "booking",
            "shipping_address",
            "transit_days",
            "carrier",
            "carrier_display",
            "tracking_number",
            "tracking_url",
            "shipped_at",
            "received_at",
            "created_at",
        )
        read_only_fields = fields
        extra_kwargs = {
            "transit_days": {
                "help_text": "A product: days from shipping allowed for the parcel to arrive. "
                "Its review window starts after them, or at receipt if the buyer confirms it."
            },
            "shipped_at": {"help_text": "A product: when the seller marked it shipped."},
            "received_at": {"help_text": "A product: when the buyer confirmed receiving it."},
            "milestones_accepted_at": {
                "help_text": "When the buyer accepted the seller's milestone plan (null: none). "
                "Its milestones are at GET /api/v1/orders/{id}/milestones/; release is null for "
                "an order released milestone by milestone."
            },
        }

    @extend_schema_field(BookingOutputSerializer(allow_null=True))
    def get_booking(self, order):
        # escrow.api._orders_for fetches the booking with the order.
        booking = selectors.order_booking(order)
        return BookingOutputSerializer(booking).data if booking else None

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(DisputeReason.choices))
    )
    def get_dispute_reasons(self, order):
        # The sandbox's clock is read from the database: once per response (shared context).
        if "now" not in self.context:
            self.context["now"] = clock.now()
        return selectors.dispute_reasons_for(order, now=self.context["now"])

    @extend_schema_field(DisputeSummaryOutputSerializer(allow_null=True))
    def get_dispute(self, order):
        # escrow.api._orders_for prefetches the order's disputes, open first then newest.
        disputes = getattr(order, "dispute_list", None)
        if disputes is None:
            disputes = list(order.disputes.order_by("-created_at", "-id"))
            disputes.sort(key=lambda d: not d.is_open)
        return DisputeSummaryOutputSerializer(disputes[0]).data if disputes else None

    @extend_schema_field(OrderShippingOutputSerializer(allow_null=True))
    def get_shipping_address(self, order):
        if not order.shipping_line1:
            return None
        return OrderShippingOutputSerializer(order).data

    @extend_schema_field(serializers.ChoiceField(choices=[ROLE_BUYER, ROLE_SELLER]))
    def get_role(self, order):
        user = self.context["request"].user
        return ROLE_BUYER if order.buyer_id == user.pk else ROLE_SELLER

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=0))
    def get_seconds_until_release(self, order):
        if order.status != OrderStatus.DELIVERED or order.review_deadline is None:
            return None
        # The sandbox's clock is read from the database: once per response, not once per row
        # (the context dict is shared by every row of a list).
        if "now" not in self.context:
            self.context["now"] = clock.now()
        left = (order.review_deadline - self.context["now"]).total_seconds()
        return max(0, int(left))


class RefundOutputSerializer(serializers.ModelSerializer):
    """A refund of an order, as its buyer or its seller sees it. The seller's share (what was
    taken back from them after release) is the seller's to see: null for the buyer."""

    # Needs `is_seller` in the context (escrow.api passes it).

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    initiator_display = serializers.CharField(source="get_initiator_display", read_only=True)
    amount_display = serializers.CharField(
        read_only=True, help_text='The amount formatted for people, e.g. "US$10.00".'
    )
    taken_back_cents = serializers.SerializerMethodField(
        help_text="Seller only (null for the buyer). After release: the seller's share of this "
        "refund taken back from their Stripe balance (a transfer reversal)."
    )
    debt_cents = serializers.SerializerMethodField(
        help_text="Seller only (null for the buyer). After release: the part of the seller's "
        "share their Stripe balance could not cover; it is recovered from their next releases."
    )

    class Meta:
        model = EscrowRefund
        fields = (
            "id",
            "status",
            "status_display",
            "amount_cents",
            "currency",
            "amount_display",
            "initiator",
            "initiator_display",
            "reason",
            "after_release",
            "taken_back_cents",
            "debt_cents",
            "failure_message",
            "created_at",
            "succeeded_at",
        )
        read_only_fields = fields
        extra_kwargs = {
            "initiator": {
                "help_text": "Who or what started it: the seller, Bazaar's staff, a "
                "cancellation, a dispute's resolution, a payment made twice or after the order "
                "closed, or a refund made in Stripe's dashboard."
            },
            "after_release": {
                "help_text": "Made after the money was released to the seller: their share was "
                "taken back."
            },
            "failure_message": {"help_text": "Why Stripe could not make it, when it failed."},
        }

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=0))
    def get_taken_back_cents(self, refund):
        return refund.taken_back_cents if self.context.get("is_seller") else None

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=0))
    def get_debt_cents(self, refund):
        return refund.debt_cents if self.context.get("is_seller") else None


class PaymentIntentOutputSerializer(serializers.Serializer):
    """What Stripe's mobile SDK needs to confirm the payment on the phone."""

    payment_intent_id = serializers.CharField(help_text="Stripe's PaymentIntent id (pi_...).")
    client_secret = serializers.CharField(
        help_text="Hand this to Stripe's SDK (PaymentSheet / confirmPayment). Do not store it."
    )
    publishable_key = serializers.CharField(help_text="The Stripe publishable key to use.")
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(
        choices=[
            ("pending", "Pending"),
            ("succeeded", "Succeeded"),
            ("duplicate", "Paid twice: to refund"),
        ],
        help_text="pending until Stripe's webhook confirms the payment: the order is funded only "
        "then. Poll GET /api/v1/orders/{id}/ for status funded. duplicate: this intent was paid "
        "after another payment had already funded the order; it is the one to refund.",
    )
    payment_error = serializers.CharField(
        allow_blank=True,
        help_text="Why the last attempt with this intent was declined, in plain words for the "
        "buyer; empty if none was.",
    )


class LedgerEntryOutputSerializer(serializers.ModelSerializer):
    """One line of your account in the ledger (rows from escrow.selectors.seller_ledger_lines)."""

    order = serializers.IntegerField(source="order_id", read_only=True, allow_null=True)
    amount_cents = serializers.IntegerField(
        read_only=True, help_text="As booked: debits positive, credits negative."
    )
    seller_amount_cents = serializers.IntegerField(
        read_only=True,
        help_text="From your side: positive when money became yours (a release), negative when "
        "it left for your Stripe account (a transfer).",
    )
    seller_amount_display = serializers.SerializerMethodField()

    class Meta:
        model = LedgerEntry
        fields = (
            "id",
            "transaction_id",
            "order",
            "account",
            "amount_cents",
            "seller_amount_cents",
            "currency",
            "seller_amount_display",
            "memo",
            "stripe_object_id",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_seller_amount_display(self, entry):
        sign = "-" if entry.seller_amount_cents < 0 else ""
        return sign + format_money(abs(entry.seller_amount_cents), entry.currency)


class LedgerTotalsOutputSerializer(serializers.Serializer):
    """Your money in one currency (escrow.selectors.seller_ledger_totals, as on the ledger page)."""

    currency = serializers.CharField()
    held_cents = serializers.IntegerField(
        help_text="Your share (after commission) of paid orders still held in escrow."
    )
    released_cents = serializers.IntegerField(
        help_text="Released from escrow and transferred to your Stripe account."
    )
    commission_paid_cents = serializers.IntegerField(
        source="commission_cents", help_text="Bazaar's commission on your released orders."
    )
    transferring_cents = serializers.IntegerField(
        help_text="Released, but the transfer to your Stripe account has not gone through yet."
    )
    reversed_cents = serializers.IntegerField(
        help_text="Pulled back from your Stripe account after a transfer."
    )
    refunded_after_release_cents = serializers.IntegerField(
        help_text="Refunded to buyers after the money was released to you."
    )
    taken_back_cents = serializers.IntegerField(
        help_text="Your share of those refunds: taken back from your Stripe balance, or owed "
        "where it could not cover it."
    )
    debt_cents = serializers.IntegerField(
        help_text="What you owe Bazaar now (refunds your Stripe balance could not cover). It "
        "is recovered from your next releases in this currency before they are transferred."
    )
    held_display = serializers.SerializerMethodField()
    released_display = serializers.SerializerMethodField()
    commission_paid_display = serializers.SerializerMethodField()
    debt_display = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_held_display(self, totals):
        return format_money(totals.held_cents, totals.currency)

    @extend_schema_field(OpenApiTypes.STR)
    def get_released_display(self, totals):
        return format_money(totals.released_cents, totals.currency)

    @extend_schema_field(OpenApiTypes.STR)
    def get_commission_paid_display(self, totals):
        return format_money(totals.commission_cents, totals.currency)

    @extend_schema_field(OpenApiTypes.STR)
    def get_debt_display(self, totals):
        return format_money(totals.debt_cents, totals.currency)


class LedgerPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    totals = LedgerTotalsOutputSerializer(
        many=True, help_text="One row per currency, over all your orders (not only this page)."
    )
    results = LedgerEntryOutputSerializer(many=True)


# --- Disputes -----------------------------------------------------------------------------------


class DisputeOpenInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=DisputeReason.choices,
        help_text="not_received: it never arrived; not_as_described: it is not what the "
        "listing said; no_show: the seller did not show up (only for a confirmed booking once "
        "its booked start has passed: the order's dispute_reasons lists it then; left "
        "unanswered by the seller's deadline, it is refunded in full); other: something else.",
    )
    description = serializers.CharField(
        max_length=5000,
        help_text="What you expected, what you got, what you tried with the seller. Attach "
        "photos or files in the order's conversation (POST /api/v1/conversations/...).",
    )


class DisputeRespondInputSerializer(serializers.Serializer):
    response = serializers.CharField(
        max_length=5000, help_text="What happened from the seller's side."
    )


class DisputeOutputSerializer(serializers.ModelSerializer):
    """A dispute as the order's buyer and seller see it."""

    order = serializers.IntegerField(source="order_id", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    reason_display = serializers.CharField(source="get_reason_display", read_only=True)
    currency = serializers.CharField(source="order.currency", read_only=True)
    response_due_at = serializers.DateTimeField(
        read_only=True,
        help_text="The seller answers by then; past it, Bazaar's team is alerted.",
    )
    resolve_by = serializers.DateTimeField(
        read_only=True, help_text="Bazaar's team decides by then."
    )
    resolution = serializers.CharField(
        read_only=True,
        help_text="Once resolved: release (to the seller), refund (to the buyer) or split; "
        "empty before.",
    )
    refund_cents = serializers.IntegerField(
        read_only=True, help_text="Refunded to the buyer by the decision."
    )
    release_cents = serializers.IntegerField(
        read_only=True,
        help_text="Released to the seller by the decision (before Bazaar's commission).",
    )

    class Meta:
        model = Dispute
        fields = (
            "id",
            "order",
            "status",
            "status_display",
            "reason",
            "reason_display",
            "description",
            "response",
            "responded_at",
            "response_due_at",
            "resolve_by",
            "resolution",
            "refund_cents",
            "release_cents",
            "currency",
            "resolution_note",
            "resolved_at",
            "closed_at",
            "created_at",
        )
        read_only_fields = fields
