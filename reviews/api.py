"""Reviews for mobile clients.

GET  /api/v1/orders/{id}/review/         the order's reviews as you may see them (buyer, seller)
POST /api/v1/orders/{id}/review/         review the other side of the order (once, in the window)
POST /api/v1/orders/{id}/review/reply/   the seller replies publicly to the buyer's review
GET  /api/v1/stores/{slug}/reviews/      a store's published buyer reviews, newest first

Thin views: reads come from reviews.selectors, writes are one call to reviews.services, whose
domain errors become 400/403/409 in core.api_errors. An order is visible to its buyer and its
seller only: anyone else gets a 404, as for a missing order.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidTransition, NotAllowed
from core.pagination import KeysetPagination
from escrow.selectors import order_for_participant_get
from marketplace.selectors import store_public_get
from reviews import selectors, services
from reviews.serializers import (
    OrderReviewsOutputSerializer,
    ReplyInputSerializer,
    ReviewInputSerializer,
    ReviewOutputSerializer,
)

TAGS = ["reviews"]
ORDER_NOT_FOUND = "You have no order with this id."
STORE_NOT_FOUND = "No store with this slug."


def _order(request, pk):
    try:
        return order_for_participant_get(user=request.user, pk=pk)
    except Http404:
        raise NotFound(ORDER_NOT_FOUND) from None


def _state(order, user):
    state = selectors.order_reviews_for(order=order, user=user)
    return {
        "can_review": state.can_review,
        "opens_at": state.opens_at,
        "window_ends_at": state.window_ends_at,
        "mine": state.mine,
        "theirs": state.theirs,
        "theirs_sealed": state.theirs_sealed,
        "can_reply": state.can_reply,
    }


class OrderReviewApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=TAGS,
        summary="The order's reviews, as you may see them",
        description=(
            "Double-blind: the other side's review is in `theirs` only once published (both "
            "sides reviewed, or the review window ended); until then `theirs_sealed` says it "
            "exists. Your own review is always in `mine`."
        ),
        responses={
            200: OrderReviewsOutputSerializer,
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
        },
    )
    def get(self, request, pk):
        order = _order(request, pk)
        return Response(OrderReviewsOutputSerializer(_state(order, request.user)).data)

    @extend_schema(
        tags=TAGS,
        summary="Review the other side of the order",
        description=(
            "The buyer reviews the seller, the seller the buyer: once each, from the order's "
            "release (or its dispute's resolution) until `window_ends_at`. The review stays "
            "sealed until the other side has reviewed too or the window ends; the other side is "
            "told a review is waiting, not what it says."
        ),
        request=ReviewInputSerializer,
        responses={
            201: ReviewOutputSerializer,
            400: OpenApiResponse(
                description="Field errors: `rating` (1 to 5), `text` (too long); `detail`: you "
                "have already reviewed this order"
            ),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(
                description="Not completed yet (not released, dispute not resolved), or the "
                "review window is over"
            ),
        },
    )
    def post(self, request, pk):
        order = _order(request, pk)
        data = ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_create(order=order, author=request.user, **data.validated_data)
        return Response(ReviewOutputSerializer(review).data, status=status.HTTP_201_CREATED)


class OrderReviewReplyApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=TAGS,
        summary="Reply publicly to the buyer's review (seller only, once)",
        request=ReplyInputSerializer,
        responses={
            200: ReviewOutputSerializer,
            400: OpenApiResponse(description="Field errors: `reply` (empty, too long, or sent)"),
            403: OpenApiResponse(description="Only the seller can reply"),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(description="The buyer's review is not published"),
        },
    )
    def post(self, request, pk):
        order = _order(request, pk)
        if order.seller_id != request.user.pk:
            raise NotAllowed("Only the seller can reply to the buyer's review.")
        data = ReplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = selectors.order_reviews_for(order=order, user=request.user).theirs
        if review is None:
            raise InvalidTransition("You can reply once the buyer's review is published.")
        review = services.review_reply(
            review=review, seller=request.user, text=data.validated_data["reply"]
        )
        return Response(ReviewOutputSerializer(review).data)


class StoreReviewListApi(ListAPIView):
    permission_classes = (AllowAny,)
    serializer_class = ReviewOutputSerializer
    pagination_class = KeysetPagination
    filter_backends = ()

    def get_queryset(self):
        try:
            store = store_public_get(slug=self.kwargs["slug"])
        except Http404:
            raise NotFound(STORE_NOT_FOUND) from None
        return selectors.store_reviews_public(store=store)

    @extend_schema(
        tags=TAGS,
        summary="A store's published buyer reviews, newest first",
        description="Published: both sides of the order reviewed, or the window ended; reviews "
        "hidden by staff are left out. The store's average is `rating_average` on the store.",
        responses={
            200: ReviewOutputSerializer(many=True),
            404: OpenApiResponse(description=STORE_NOT_FOUND),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
