"""Payouts for mobile clients.

GET /api/v1/seller/balance/   where the seller's money is, per currency

The figures come from payouts.selectors.seller_balances, the same read as the seller's payouts
page and the admin. Stripe being unreachable is not an error: the ledger's figures come back,
Stripe's are null and `stripe_error` says why.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from payouts.selectors import seller_balances
from payouts.serializers import SellerBalanceOutputSerializer

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
