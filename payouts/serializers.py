"""The payouts API's output: a seller's balances (payouts.selectors.seller_balances)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class PendingAmountOutputSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    available_on = serializers.DateTimeField(
        allow_null=True,
        help_text="When Stripe makes it available to pay out; null when Stripe did not list "
        "its date.",
    )


class CurrencyBalanceOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    in_escrow_cents = serializers.IntegerField(
        help_text="Your share (after commission, refunds and card fees passed on) of paid orders "
        "Bazaar holds until they are approved, their review window ends or a dispute is decided."
    )
    transferring_cents = serializers.IntegerField(
        help_text="Released to you; the transfer to your Stripe account has not gone through yet."
    )
    on_the_way_cents = serializers.IntegerField(
        allow_null=True,
        help_text="On your Stripe account, still settling (Stripe's pending balance). Null when "
        "Stripe could not be read or you have no Stripe account.",
    )
    on_the_way = PendingAmountOutputSerializer(
        many=True, help_text="The pending amounts by the date each becomes available."
    )
    available_cents = serializers.IntegerField(
        allow_null=True,
        help_text="On your Stripe account, ready to be paid out (Stripe's available balance). "
        "Null when Stripe could not be read or you have no Stripe account.",
    )
    paid_out_cents = serializers.IntegerField(
        allow_null=True,
        help_text="Paid out to your bank, lifetime (Stripe's paid payouts). Null when Stripe "
        "could not be read or you have no Stripe account.",
    )
    lifetime_earnings_cents = serializers.IntegerField(
        help_text="Everything released to you, net of Bazaar's commission, refunds and "
        "chargebacks taken back, and of what you owe."
    )
    debt_cents = serializers.IntegerField(
        help_text="What you owe Bazaar (refunds after release your Stripe balance could not "
        "cover): taken from your next releases in this currency."
    )


class SellerBalanceOutputSerializer(serializers.Serializer):
    currencies = CurrencyBalanceOutputSerializer(many=True)
    has_stripe_account = serializers.BooleanField()
    stripe_error = serializers.CharField(
        allow_blank=True,
        help_text="Why the Stripe figures are null (Stripe could not be reached); empty "
        "when they are there.",
    )
    paid_out_complete = serializers.BooleanField(
        help_text="False when you have more paid payouts than one read follows: paid_out_cents "
        "is then at least that much."
    )
    checked_at = serializers.DateTimeField()


# --- Payouts ------------------------------------------------------------------------------------


class CoveredOrderOutputSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    title = serializers.CharField()
    amount_cents = serializers.IntegerField(help_text="The part of the order's money paid out.")
    currency = serializers.CharField()
    whole = serializers.BooleanField(
        help_text="False when the payout paid out only part of the order's money (the rest "
        "went in the payout before or after)."
    )


class PayoutOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(
        help_text="requested (Stripe not answered yet), pending, in_transit, paid, failed, "
        "canceled, or refused (Stripe would not make it; no money moved)."
    )
    method = serializers.CharField()
    currency = serializers.CharField()
    amount_cents = serializers.IntegerField(help_text="What leaves your Stripe balance.")
    fee_cents = serializers.IntegerField(help_text="The instant payout fee (0 for standard).")
    bank_cents = serializers.IntegerField(help_text="What reaches your bank.")
    arrival_date = serializers.DateTimeField(allow_null=True)
    failure_message = serializers.SerializerMethodField(
        help_text="Why the payout failed, in plain words; empty unless it failed or was refused."
    )
    scheduled = serializers.SerializerMethodField(
        help_text="True when your payout schedule made it, false when you asked for it."
    )
    orders = serializers.SerializerMethodField(
        help_text="The released orders whose money the payout paid out, the oldest money first; "
        "empty for a payout that failed, was canceled or refused, or is not sent yet."
    )
    created_at = serializers.DateTimeField()

    def get_scheduled(self, payout) -> bool:
        return bool(payout.period)

    @extend_schema_field(CoveredOrderOutputSerializer(many=True))
    def get_orders(self, payout):
        covered = self.context.get("covered") or {}
        return CoveredOrderOutputSerializer(covered.get(payout.pk, []), many=True).data

    def get_failure_message(self, payout) -> str:
        from payouts.services import failure_words

        if payout.status == "failed":
            return failure_words(payout.failure_code)
        return payout.failure_message if payout.status == "refused" else ""


class PayoutCreateInputSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField(min_value=1, max_value=10**12)
    currency = serializers.RegexField(r"^[a-zA-Z]{3}$", help_text="ISO 4217, e.g. usd.")
    method = serializers.ChoiceField(choices=["standard", "instant"], default="standard")


# --- Schedule -----------------------------------------------------------------------------------


class PayoutScheduleOutputSerializer(serializers.Serializer):
    interval = serializers.ChoiceField(
        choices=["manual", "daily", "weekly", "monthly"],
        help_text="manual: only when you ask; daily, weekly or monthly: your available balance "
        "above the minimum is paid out on its own.",
    )
    weekly_anchor = serializers.IntegerField(help_text="For weekly: 0 = Monday ... 6 = Sunday.")
    monthly_anchor = serializers.IntegerField(
        help_text="For monthly: the day of the month, 1 to 31 (29-31 mean the last day of a "
        "shorter month)."
    )
    description = serializers.CharField(help_text="The schedule in words.")
    next_payout_on = serializers.DateField(
        allow_null=True,
        help_text="The next day the scheduled job pays you out; null when manual or held.",
    )
    held = serializers.BooleanField(help_text="Staff hold your payouts while they review.")
    hold_reason = serializers.CharField(
        allow_blank=True, help_text="Why your payouts are held; empty unless held."
    )


class PayoutScheduleInputSerializer(serializers.Serializer):
    interval = serializers.ChoiceField(choices=["manual", "daily", "weekly", "monthly"])
    weekly_anchor = serializers.IntegerField(min_value=0, max_value=6, default=0)
    monthly_anchor = serializers.IntegerField(min_value=1, max_value=31, default=1)
