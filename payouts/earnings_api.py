"""A seller's earnings for mobile clients.

GET /api/v1/seller/earnings/          net earnings per week or month, per currency
GET /api/v1/seller/earnings/export/   the seller's ledger lines in a range, as CSV

The same reads as the earnings page (payouts.earnings) and its CSV export.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from payouts import earnings

NOT_A_SELLER = "Only sellers have earnings. POST to /api/v1/me/seller-profile/ to become one."
DATE_HELP = "YYYY-MM-DD, in the site's time zone."


class _RangeQuerySerializer(serializers.Serializer):
    """`from` and `to` (Python keywords, so added in get_fields), both optional."""

    max_days = earnings.MAX_RANGE_DAYS

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False,
            error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
            help_text=f"The first day. {DATE_HELP}",
        )
        fields["to"] = serializers.DateField(
            required=False,
            error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
            help_text=f"The last day (included). {DATE_HELP} Today when left out.",
        )
        return fields

    def validate(self, attrs):
        period = attrs.get("period") or "week"
        start, end, errors = earnings.resolve_range(
            period, attrs.get("from"), attrs.get("to"), max_days=self.max_days
        )
        if errors:
            raise serializers.ValidationError({name: [message] for name, message in errors.items()})
        return {"period": period, "from": start, "to": end}


class EarningsQueryInputSerializer(_RangeQuerySerializer):
    period = serializers.ChoiceField(
        choices=earnings.PERIOD_CHOICES,
        required=False,
        help_text="week (the default) or month.",
    )


class EarningsExportQueryInputSerializer(_RangeQuerySerializer):
    max_days = earnings.MAX_EXPORT_DAYS


class EarningsPeriodOutputSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="The period's first day (a Monday, or the 1st).")
    end = serializers.DateField(help_text="The period's last day (included).")
    net_cents = serializers.IntegerField(
        help_text="What became yours in the period, net of what was taken back and of what you "
        "came to owe; negative when more was taken back than earned."
    )


class CurrencyEarningsOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    total_cents = serializers.IntegerField(help_text="The periods' sum.")
    periods = EarningsPeriodOutputSerializer(many=True)


class SellerEarningsOutputSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=earnings.PERIOD_CHOICES)
    currencies = CurrencyEarningsOutputSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(source="start", help_text="The range's first day.")
        fields["to"] = serializers.DateField(source="end", help_text="The range's last day.")
        return fields


def _seller(request):
    if not request.user.is_seller:
        raise PermissionDenied(NOT_A_SELLER)
    return request.user


class SellerEarningsApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="seller_earnings_retrieve",
        tags=["seller"],
        summary="Your net earnings per week or month",
        description=(
            "Per currency, what became yours in each week (Monday to Sunday) or calendar month "
            "of the range, in the site's time zone: releases to you less what refunds and "
            "chargebacks took back and what you came to owe. Every period of the range is "
            "listed, zero when nothing happened; the periods of all time add up to "
            "`lifetime_earnings_cents` of GET /api/v1/seller/balance/. Without `from`/`to`, "
            "the last 12 weeks or months."
        ),
        parameters=[EarningsQueryInputSerializer],
        responses={
            200: SellerEarningsOutputSerializer,
            400: OpenApiResponse(
                description="Field messages: `period` not week or month, `from`/`to` not a "
                "date from 2000-01-01 to 2100-12-31, `to` before `from`, a range of more than "
                f"{earnings.MAX_RANGE_DAYS} days."
            ),
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def get(self, request):
        seller = _seller(request)
        query = EarningsQueryInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = query.validated_data
        report = earnings.seller_earnings(
            seller=seller, period=fields["period"], start=fields["from"], end=fields["to"]
        )
        return Response(SellerEarningsOutputSerializer(report).data)


class SellerEarningsExportApi(APIView):
    permission_classes = (IsAuthenticated,)

    def perform_content_negotiation(self, request, force=False):
        # The lines are CSV whatever the Accept header says; errors are JSON like the API's.
        return (JSONRenderer(), JSONRenderer.media_type)

    @extend_schema(
        operation_id="seller_earnings_export",
        tags=["seller"],
        summary="Your ledger lines in a range, as CSV",
        description=(
            "The lines of your ledger accounts booked from `from` to `to` (both included, at "
            f"most {earnings.MAX_EXPORT_DAYS} days; without them the last 12 weeks), oldest "
            "first, as the earnings page's download. Columns: "
            f"{', '.join(earnings.CSV_COLUMNS)}. Amounts are seen from your side: positive "
            "when money became yours, negative when it left for your Stripe account or you "
            "came to owe it; `amount` in the currency's units (12.50), `amount_cents` in "
            "cents. Cells that a spreadsheet would read as a formula start with '."
        ),
        parameters=[EarningsExportQueryInputSerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR, description="The CSV file, as an attachment."
            ),
            400: OpenApiResponse(
                description="Field messages: `from`/`to` not a date from 2000-01-01 to "
                f"2100-12-31, `to` before `from`, a range of more than "
                f"{earnings.MAX_EXPORT_DAYS} days."
            ),
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def get(self, request):
        seller = _seller(request)
        query = EarningsExportQueryInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = query.validated_data
        return earnings.seller_ledger_csv_response(
            seller=seller, start=fields["from"], end=fields["to"]
        )
