"""Payouts for mobile clients.

GET /api/v1/seller/balance/   where the seller's money is, per currency
GET /api/v1/seller/payouts/   the seller's payouts, newest first (?status=&from=&to=), each
                              with the released orders it paid out
POST /api/v1/seller/payouts/  request a payout (Idempotency-Key)
GET/PUT /api/v1/seller/payout-schedule/   when you are paid out on your own; a staff hold

The figures come from payouts.selectors.seller_balances, the same read as the seller's payouts
page and the admin. Stripe being unreachable is not an error: the ledger's figures come back,
Stripe's are null and `stripe_error` says why.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ValidationFailed
from core.pagination import StandardPagination
from payouts.forms import PayoutHistoryForm
from payouts.models import Payout, PayoutStatus
from payouts.selectors import payouts_for_seller, payouts_orders_covered, seller_balances
from payouts.serializers import (
    PayoutCreateInputSerializer,
    PayoutOutputSerializer,
    PayoutScheduleInputSerializer,
    PayoutScheduleOutputSerializer,
    SellerBalanceOutputSerializer,
)
from payouts.services import (
    payout_request_create,
    payout_schedule_set,
    schedule_for,
    schedule_next_date,
    schedule_words,
)

NOT_A_SELLER = "Only sellers have a balance. POST to /api/v1/me/seller-profile/ to become one."


class SellerBalanceApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="seller_balance_retrieve",
        tags=["seller"],
        summary="Your balances as a seller: in escrow, on the way, available, paid out",
        description=(
            "Per currency: your share of paid orders Bazaar holds (in escrow), released money "
            "still settling on your Stripe account with the date each amount becomes available "
            "(on the way), what Stripe can pay out to your bank now (available), what it paid "
            "out (lifetime), your lifetime earnings net of commission and refunds, and what you "
            "owe. The Stripe figures are null, and `stripe_error` says why, when Stripe cannot "
            "be reached."
        ),
        responses={
            200: SellerBalanceOutputSerializer,
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def get(self, request):
        if not request.user.is_seller:
            raise PermissionDenied(NOT_A_SELLER)
        balances = seller_balances(seller=request.user)
        return Response(SellerBalanceOutputSerializer(balances).data)


# --- Payout requests ----------------------------------------------------------------------------

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class SellerPayoutListApi(generics.ListAPIView):
    """GET /api/v1/seller/payouts/ (your payouts, newest first; ?status=) and POST (request one)."""

    permission_classes = (IsAuthenticated,)
    pagination_class = StandardPagination
    serializer_class = PayoutOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator's look
            return Payout.objects.none()
        if not self.request.user.is_seller:
            raise PermissionDenied(NOT_A_SELLER)
        form = PayoutHistoryForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationFailed({name: list(errors) for name, errors in form.errors.items()})
        data = form.cleaned_data
        return payouts_for_seller(
            seller=self.request.user, status=data["status"], since=data["from"], until=data["to"]
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        covered = payouts_orders_covered(seller=request.user, payouts=page)
        data = PayoutOutputSerializer(page, many=True, context={"covered": covered}).data
        return self.get_paginated_response(data)

    @extend_schema(
        operation_id="seller_payouts_list",
        tags=["seller"],
        summary="Your payouts, newest first",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=[s.value for s in PayoutStatus],
                description="Only payouts in this status.",
            ),
            OpenApiParameter(
                "from", OpenApiTypes.DATE, description="Requested on or after this day."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="Requested on or before this day."
            ),
        ],
        responses={
            200: PayoutOutputSerializer(many=True),
            400: OpenApiResponse(description="An unknown status, or a bad date or range."),
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="seller_payouts_create",
        tags=["seller"],
        summary="Request a payout of your available balance to your bank",
        description=(
            "Standard (1–2 business days) or instant (within 30 minutes, for a fee kept out of "
            "what reaches the bank). At least PAYOUT_MINIMUM_CENTS, at most what you may pay "
            "out now (available at Stripe less what you owe). Send an Idempotency-Key header: "
            "the same key returns the same payout."
        ),
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_KEY_HEADER,
                str,
                location=OpenApiParameter.HEADER,
                description="Any unique string; a retry with the same key makes no second payout.",
            )
        ],
        request=PayoutCreateInputSerializer,
        responses={
            201: PayoutOutputSerializer,
            400: OpenApiResponse(description="Field errors: amount, currency, method."),
            403: OpenApiResponse(description="Not a seller, or payouts not set up."),
            503: OpenApiResponse(description="Stripe could not be reached."),
        },
    )
    def post(self, request):
        if not request.user.is_seller:
            raise PermissionDenied(NOT_A_SELLER)
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER, "").strip()
        if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
            raise ValidationFailed(
                {IDEMPOTENCY_KEY_HEADER: f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."}
            )
        data = PayoutCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payout = payout_request_create(
            seller=request.user,
            amount_cents=data.validated_data["amount_cents"],
            currency=data.validated_data["currency"],
            method=data.validated_data["method"],
            client_key=key,
        )
        return Response(PayoutOutputSerializer(payout).data, status=status.HTTP_201_CREATED)


# --- Schedule -----------------------------------------------------------------------------------


def _schedule_data(schedule):
    return PayoutScheduleOutputSerializer(
        {
            "interval": schedule.interval,
            "weekly_anchor": schedule.weekly_anchor,
            "monthly_anchor": schedule.monthly_anchor,
            "description": schedule_words(schedule),
            "next_payout_on": schedule_next_date(schedule),
            "held": schedule.held,
            "hold_reason": schedule.hold_reason if schedule.held else "",
        }
    ).data


class SellerPayoutScheduleApi(APIView):
    """GET /api/v1/seller/payout-schedule/ and PUT (choose it)."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="seller_payout_schedule_retrieve",
        tags=["seller"],
        summary="When you are paid out on your own, and whether staff hold your payouts",
        responses={
            200: PayoutScheduleOutputSerializer,
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def get(self, request):
        if not request.user.is_seller:
            raise PermissionDenied(NOT_A_SELLER)
        return Response(_schedule_data(schedule_for(request.user)))

    @extend_schema(
        operation_id="seller_payout_schedule_update",
        tags=["seller"],
        summary="Choose when you are paid out: manual, daily, weekly or monthly",
        description=(
            "Scheduled payouts pay out your available balance above PAYOUT_MINIMUM_CENTS on the "
            "chosen day (weekly: weekly_anchor, 0 = Monday; monthly: monthly_anchor, a day past "
            "a month's end meaning its last day). Days before the change are not paid late."
        ),
        request=PayoutScheduleInputSerializer,
        responses={
            200: PayoutScheduleOutputSerializer,
            400: OpenApiResponse(
                description="Field errors: interval, weekly_anchor, monthly_anchor."
            ),
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def put(self, request):
        if not request.user.is_seller:
            raise PermissionDenied(NOT_A_SELLER)
        data = PayoutScheduleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = payout_schedule_set(seller=request.user, **data.validated_data)
        return Response(_schedule_data(schedule))
