"""The payouts API's output: a seller's balances (payouts.selectors.seller_balances)."""

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
