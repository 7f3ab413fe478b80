"""Orders for mobile clients, mounted at /api/v1/orders/.

POST /api/v1/orders/                 order a listing (Idempotency-Key: a retry returns the order)
GET  /api/v1/orders/                 your orders, as buyer and as seller (?role=, ?status=)
GET  /api/v1/orders/{id}/            one of your orders
POST /api/v1/orders/{id}/pay/        a PaymentIntent to confirm with Stripe's mobile SDK (buyer)
POST /api/v1/orders/{id}/deliver/    the seller says a service is delivered; review window starts
POST /api/v1/orders/{id}/ship/       the seller ships a product (carrier, tracking number)
POST /api/v1/orders/{id}/received/   the buyer confirms the product arrived; review window starts
POST /api/v1/orders/{id}/approve/    the buyer approves: the escrow is released to the seller
POST /api/v1/orders/{id}/cancel/     the buyer calls off an order (paid: under its policy);
                                     the seller cancels a paid order (full refund)
GET  /api/v1/orders/{id}/refund-preview/  what cancelling now would refund
GET  /api/v1/orders/{id}/refunds/    the order's refunds (buyer and seller)
POST /api/v1/orders/{id}/refunds/    the seller refunds all or part of it (Idempotency-Key)
GET  /api/v1/orders/ledger/          the seller's ledger lines and totals per currency
GET  /api/v1/orders/{id}/dispute/            the order's dispute (the open one, else the latest)
POST /api/v1/orders/{id}/dispute/            the buyer reports a problem (Idempotency-Key)
POST /api/v1/orders/{id}/dispute/respond/    the seller answers it
POST /api/v1/orders/{id}/dispute/withdraw/   the buyer withdraws it
POST /api/v1/orders/{id}/reschedule/         propose another free slot for the booking
POST /api/v1/orders/{id}/reschedule/accept/  the other party accepts it: the booking moves
POST /api/v1/orders/{id}/reschedule/decline/ either party drops the proposal
GET  /api/v1/listings/{id}/availability/     a bookable service's free slots, ?from=&to=
                                             (ListingAvailabilityApi; /slots/ is its alias)
GET  /api/v1/seller/bookings/                the seller's bookings (SellerBookingsApi)

Thin views: every write is one call to marketplace.orders or escrow.services, whose domain
errors become 400/403/409 in core.api_errors. An order is visible to its buyer and its
seller only: anyone else gets a 404, so ids cannot be probed. An order is funded only when
Stripe's webhook confirms the payment, never because a client says it paid.

The seller's ledger comes from escrow.selectors (the same reads as the ledger page, so the app
and the page show the same figures). The order reads are this module's own: the API's list
fetches the receipt and release with every row, which the pages' selectors do not.
"""

from datetime import timedelta

from django.db.models import Case, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.functions import NullIf
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from core import stripe_client
from core.api_errors import dotted_errors
from core.errors import NotAllowed, ValidationFailed
from core.pagination import StandardPagination
from core.throttling import THROTTLED, ScopedRateThrottle
from escrow import selectors, services
from escrow.models import (
    OPEN_DISPUTE_STATUSES,
    Booking,
    Dispute,
    EscrowPayment,
    Milestone,
    Order,
    PaymentStatus,
    RefundInitiator,
    ReleaseTrigger,
)
from escrow.serializers import (
    CancellationPreviewOutputSerializer,
    DisputeOpenInputSerializer,
    DisputeOutputSerializer,
    DisputeRespondInputSerializer,
    LedgerPageOutputSerializer,
    MilestoneDeliverInputSerializer,
    MilestoneOutputSerializer,
    MilestonePlanInputSerializer,
    OrderCancelInputSerializer,
    OrderCreateInputSerializer,
    OrderDeliverInputSerializer,
    OrderListQuerySerializer,
    OrderOutputSerializer,
    OrderShipInputSerializer,
    PaymentIntentOutputSerializer,
    RefundCreateInputSerializer,
    RefundOutputSerializer,
    RescheduleInputSerializer,
    SellerBookingOutputSerializer,
    SellerBookingsQuerySerializer,
    SlotsOutputSerializer,
    SlotsQuerySerializer,
    utc_iso,
)
from marketplace import selectors as catalogue_selectors

TAGS = ["orders"]
ORDER_NOT_FOUND = "You have no order with this id."
# A PaymentIntent's states the app is told as they are; every other one is "pending".
PAID_INTENT_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.DUPLICATE)
NOT_A_SELLER = "Only sellers have a ledger. POST to /api/v1/me/seller-profile/ to become one."
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255  # Stripe's limit, and our columns' width
NO_DISPUTE = "This order has no dispute."
NO_MILESTONE = "This order has no milestone with this id."

IDEMPOTENCY_KEY = OpenApiParameter(
    name=IDEMPOTENCY_KEY_HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique key you make for this request (a UUID), at most 255 characters. Retrying "
        "with the same key (after a timeout or a lost connection) returns the same result "
        "instead of doing it twice, with the same status code."
    ),
)

# --- Reads --------------------------------------------------------------------------------------


def _orders_for(*, user, role=None, status=None):
    """The orders `user` takes part in, newest first, with what the API shows fetched in the
    same query: the store, the release, the receipt of the successful payment and the reason
    the last attempt was declined."""
    if role == "buying":
        scope = Q(buyer=user)
    elif role == "selling":
        scope = Q(seller=user)
    else:
        scope = Q(buyer=user) | Q(seller=user)
    receipt = EscrowPayment.objects.filter(
        order=OuterRef("pk"), status=PaymentStatus.SUCCEEDED
    ).values("receipt_url")[:1]
    # The orders' disputes, open first then newest: one query for the whole page.
    disputes = Dispute.objects.order_by(
        Case(When(status__in=OPEN_DISPUTE_STATUSES, then=Value(0)), default=Value(1)),
        "-created_at",
        "-id",
    )
    queryset = (
        Order.objects.filter(scope)
        .select_related("store", "booking")
        .with_release()
        .with_payment_error()
        .with_refunded_cents()
        .annotate(receipt_url=NullIf(Subquery(receipt), Value("")))
        .prefetch_related(Prefetch("disputes", queryset=disputes, to_attr="dispute_list"))
        .order_by("-created_at", "-id")
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def _order_get(*, user, pk):
    """One order of `user`'s; 404 for anyone who is neither its buyer nor its seller."""
    order = _orders_for(user=user).filter(pk=pk).first()
    if order is None:
        raise NotFound(ORDER_NOT_FOUND)
    return order


# --- Helpers ------------------------------------------------------------------------------------


def _idempotency_key(request):
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER, "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationFailed(
            {IDEMPOTENCY_KEY_HEADER: f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."}
        )
    return key


def _require_buyer(order, user, message):
    # The services check this too, but return an already-made result (an existing release, a
    # payment found by key) before they look at who asks; the other party must not get it.
    if order.buyer_id != user.pk:
        raise NotAllowed(message)


def _require_seller(order, user, message):
    # As _require_buyer: a refund found by its Idempotency-Key is returned before the service
    # asks who wants it.
    if order.seller_id != user.pk:
        raise NotAllowed(message)


def _transition_schema(summary, description, *, request=None, extra=None):
    return extend_schema(
        tags=TAGS,
        summary=summary,
        description=description,
        request=request,
        responses={
            200: OrderOutputSerializer,
            403: OpenApiResponse(description="You are not the party who can do this"),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(description="The order's status does not allow this move"),
            **(extra or {}),
        },
    )


# --- Orders -------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        tags=TAGS,
        summary="Your orders, as buyer and as seller, newest first",
        parameters=[OrderListQuerySerializer],
    ),
    retrieve=extend_schema(
        tags=TAGS,
        summary="One of your orders",
        responses={200: OrderOutputSerializer, 404: OpenApiResponse(description=ORDER_NOT_FOUND)},
    ),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = (IsAuthenticated,)
    serializer_class = OrderOutputSerializer
    filter_backends = ()
    lookup_value_regex = r"\d+"
    queryset = Order.objects.none()  # for the schema; requests use _orders_for()
    throttle_classes = (ScopedRateThrottle,)

    @property
    def throttle_scope(self):
        # Per person, shared with the pages: BAZAAR_RATE_ORDERS and BAZAAR_RATE_PAYMENTS.
        return {"create": "orders", "pay": "payments"}.get(self.action)

    def get_queryset(self):
        return _orders_for(user=self.request.user)

    def get_object(self):
        return _order_get(user=self.request.user, pk=self.kwargs["pk"])

    def _render(self, order, status_code=status.HTTP_200_OK):
        # Re-read: the service's copy lacks the receipt and release fetched for the output.
        order = _order_get(user=self.request.user, pk=order.pk)
        return Response(self.get_serializer(order).data, status=status_code)

    def list(self, request, *args, **kwargs):
        query = OrderListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = _orders_for(user=request.user, **query.validated_data)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Order a listing",
        description=(
            "Reserves the stock and snapshots the price and the platform's commission. The "
            "order waits for payment (POST /api/v1/orders/{id}/pay/) until it expires.\n\n"
            "A product needs where to ship it: shipping_address (name, line1, city and country "
            "required) or shipping_address_id (one of your saved addresses); the order keeps a "
            "copy. A service refuses both.\n\n"
            "With an Idempotency-Key header, a retry with the same key returns the order the "
            "first request made, with the same 201 response; the same key with a different "
            "listing or quantity is a 400."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=OrderCreateInputSerializer,
        responses={
            201: OrderOutputSerializer,
            400: OpenApiResponse(
                description="Field errors: the listing is not available or is yours, the "
                "quantity is not a whole number from 1 to 100 or more than is in stock (a "
                "service: not 1), slot_start missing for a service with bookable times, not "
                'one of its free slots ("This time is no longer available") or given for a '
                "listing without bookable times, a product's shipping address is missing or "
                "incomplete (shipping_address, shipping_address.<field>, shipping_address_id), "
                "or a service was given one"
            ),
            403: OpenApiResponse(
                description="Your email address is not confirmed yet: open the link we "
                "emailed (POST /api/v1/me/email/resend/ sends it again)"
            ),
            429: THROTTLED,
        },
    )
    def create(self, request):
        key = _idempotency_key(request)
        data = OrderCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing_id = data.validated_data["listing"]
        quantity = data.validated_data["quantity"]
        address = data.validated_data["shipping_address"]
        order = services.order_create(
            buyer=request.user,
            listing_id=listing_id,
            quantity=quantity,
            client_key=key,
            slot_start=data.validated_data["slot_start"],
            shipping_address=dict(address) if address is not None else None,
            shipping_address_id=data.validated_data["shipping_address_id"],
            save_address=data.validated_data["save_address"],
            make_default=data.validated_data["make_default"],
        )
        booking = selectors.order_booking(order)
        booked_at = booking.starts_at if booking else None
        slot_start = data.validated_data["slot_start"]
        if order.listing_id != listing_id or order.quantity != quantity or booked_at != slot_start:
            # Stripe's rule: a key stands for one request; reusing it for another is a mistake.
            raise ValidationFailed(
                {
                    IDEMPOTENCY_KEY_HEADER: f"This key was already used for order #{order.pk} "
                    "with a different listing or quantity, or another time. Use a new key for a "
                    "new order."
                }
            )
        return self._render(order, status.HTTP_201_CREATED)

    @_transition_schema(
        "Propose another time for the booking (buyer or seller)",
        "slot_start must be one of the listing's free slots "
        "(GET /api/v1/listings/{id}/availability/). The booking stays where it is until the "
        "other party accepts (POST .../reschedule/accept/); a new proposal replaces the "
        "previous one. The other party is notified.",
        request=RescheduleInputSerializer,
        extra={
            400: OpenApiResponse(
                description="Field errors: slot_start missing, without its offset, the time "
                'already booked, or not a free slot ("This time is no longer available")'
            )
        },
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        order = self.get_object()
        data = RescheduleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.booking_reschedule_propose(
            order=order, actor=request.user, slot_start=data.validated_data["slot_start"]
        )
        return self._render(order)

    @_transition_schema(
        "Accept the proposed time (the other party)",
        "The booking moves to the proposed time if it is still free, with no new payment; both "
        "are notified with an updated calendar invitation.",
        extra={
            400: OpenApiResponse(
                description="slot_start: the proposed time was taken since "
                '("This time is no longer available")'
            )
        },
    )
    @action(detail=True, methods=["post"], url_path="reschedule/accept")
    def reschedule_accept(self, request, pk=None):
        order = self.get_object()
        services.booking_reschedule_accept(order=order, actor=request.user)
        return self._render(order)

    @_transition_schema(
        "Decline or withdraw the proposed time (buyer or seller)",
        "The booking stays at its time. Without a proposal, nothing changes.",
    )
    @action(detail=True, methods=["post"], url_path="reschedule/decline")
    def reschedule_decline(self, request, pk=None):
        order = self.get_object()
        services.booking_reschedule_decline(order=order, actor=request.user)
        return self._render(order)

    @extend_schema(
        tags=TAGS,
        summary="Pay for your order: a PaymentIntent for Stripe's mobile SDK (buyer only)",
        description=(
            "Returns the PaymentIntent's client_secret and the publishable key: confirm the "
            "payment with Stripe's SDK on the device. The order becomes funded only when "
            "Stripe's webhook confirms the payment; poll GET /api/v1/orders/{id}/.\n\n"
            "While the order is unpaid, asking again returns the same PaymentIntent (also after "
            "a declined card: confirm it again with another card). With an Idempotency-Key "
            "header a retry returns the intent the first request made."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=None,
        responses={
            200: PaymentIntentOutputSerializer,
            403: OpenApiResponse(
                description="Only the buyer can pay, once their email address is confirmed"
            ),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(description="The order is not awaiting payment (or expired)"),
            429: THROTTLED,
            503: OpenApiResponse(description="Stripe could not be reached; nothing was charged"),
        },
    )
    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        key = _idempotency_key(request)
        order = self.get_object()
        _require_buyer(order, request.user, "Only the buyer can pay for this order.")
        payment = services.payment_intent_start(order=order, buyer=request.user, client_key=key)
        body = {
            "payment_intent_id": payment.stripe_payment_intent_id,
            "client_secret": payment.client_secret,
            "publishable_key": stripe_client.publishable_key(),
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "status": payment.status if payment.status in PAID_INTENT_STATUSES else "pending",
            "payment_error": payment.failure_reason,
        }
        return Response(PaymentIntentOutputSerializer(body).data)

    @_transition_schema(
        "Mark your service order delivered (seller only)",
        "Starts the buyer's review window; when it ends, the money is released automatically. "
        "A product is not delivered but shipped: POST /api/v1/orders/{id}/ship/ (409 here).",
        request=OrderDeliverInputSerializer,
    )
    @action(detail=True, methods=["post"])
    def deliver(self, request, pk=None):
        order = self.get_object()
        data = OrderDeliverInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_deliver(order=order, actor=request.user, **data.validated_data)
        return self._render(order)

    @_transition_schema(
        "Mark your product order shipped (seller only)",
        "Records the carrier and tracking number and tells the buyer (with a tracking link for "
        "a known carrier). The buyer's review window then ends the order's transit_days plus "
        "the review window after shipping, unless the buyer confirms receipt sooner. Shipping "
        "again returns the order as it is.",
        request=OrderShipInputSerializer,
        extra={400: OpenApiResponse(description="Field errors: carrier, tracking_number")},
    )
    @action(detail=True, methods=["post"])
    def ship(self, request, pk=None):
        order = self.get_object()
        _require_seller(order, request.user, "Only the seller can mark this order shipped.")
        data = OrderShipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_mark_shipped(order=order, actor=request.user, **data.validated_data)
        return self._render(order)

    @_transition_schema(
        "Confirm your product arrived (buyer only)",
        "Starts the buyer's review window now: the money is released automatically when it "
        "ends, unless the buyer approves sooner or reports a problem. Confirming again returns "
        "the order as it is.",
    )
    @action(detail=True, methods=["post"])
    def received(self, request, pk=None):
        order = self.get_object()
        _require_buyer(order, request.user, "Only the buyer can confirm receiving this order.")
        order = services.order_confirm_received(order=order, actor=request.user)
        return self._render(order)

    @_transition_schema(
        "Approve the delivery: release the money to the seller (buyer only)",
        "The seller receives the total minus the platform's commission as a Stripe transfer. "
        "Approving again returns the order as it is.",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        order = self.get_object()
        _require_buyer(order, request.user, "Only the buyer can approve this order.")
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=request.user)
        return self._render(order)

    @_transition_schema(
        "Cancel an order",
        "Unpaid: the buyer calls it off and its stock returns. Paid and not released yet: the "
        "buyer cancels under the order's cancellation policy (GET refund-preview first and "
        "send its refund_cents as expected_refund_cents), the seller cancels with a full "
        "refund. The part the buyer does not get back goes to the seller.",
        request=OrderCancelInputSerializer,
        extra={400: OpenApiResponse(description="The refund changed since the preview")},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = OrderCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_cancel(
            order=self.get_object(), actor=request.user, **data.validated_data
        )
        return self._render(order)

    @extend_schema(
        methods=["GET"],
        tags=TAGS,
        summary="The refunds of your order, newest first",
        description=(
            "Every refund of the order, whoever started it (the seller, Bazaar's staff, a "
            "cancellation, a dispute's resolution, a second payment going back, a refund made "
            "at Stripe), with its status: pending until Stripe confirms it, then succeeded, "
            "or failed. The order's refunded_cents sums those pending or succeeded."
        ),
        request=None,
        responses={
            200: RefundOutputSerializer(many=True),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
        },
    )
    @extend_schema(
        methods=["POST"],
        tags=TAGS,
        summary="Refund all or part of your order to the buyer (seller only)",
        description=(
            "Refunds amount_cents to the card the buyer paid with. Before release it comes "
            "from the money held in escrow. After release your share is taken back from your "
            "Stripe balance (a transfer reversal) and Bazaar returns its commission's share; "
            "if your balance cannot cover it, the buyer is refunded anyway and the rest is "
            "recovered from your next releases (debt_cents).\n\n"
            "201 with the refund: status succeeded when Stripe made it, pending while Stripe "
            "has not confirmed it (Bazaar keeps asking), failed with failure_message when "
            "Stripe refused it (nothing was refunded).\n\n"
            "With an Idempotency-Key header a retry with the same key returns the refund the "
            "first request made, with the same 201, and refunds nothing more; the same key "
            "with another amount is a 400."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=RefundCreateInputSerializer,
        responses={
            201: RefundOutputSerializer,
            400: OpenApiResponse(
                description="Field errors: the amount is not a whole number of cents from 1 "
                "to what is left to refund, or there is no reason"
            ),
            403: OpenApiResponse(description="Only the seller can refund"),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(
                description="The order's status does not allow a refund (not paid, closed), "
                "or its transfer to the seller is still being made"
            ),
        },
    )
    # One order's refunds are few (each takes part of one payment): one list, not pages.
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def refunds(self, request, pk=None):
        order = self.get_object()
        is_seller = order.seller_id == request.user.pk
        context = {"request": request, "is_seller": is_seller}
        if request.method == "GET":
            rows = selectors.order_refunds(order)
            return Response(RefundOutputSerializer(rows, many=True, context=context).data)
        key = _idempotency_key(request)
        _require_seller(order, request.user, "Only the seller can refund this order.")
        data = RefundCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data["amount_cents"]
        milestone = None
        if data.validated_data["milestone"] is not None:
            milestone = Milestone.objects.filter(
                pk=data.validated_data["milestone"], order_id=order.pk
            ).first()
            if milestone is None:
                raise ValidationFailed({"milestone": "Choose a milestone of this order."})
        refund = services.refund_create(
            order=order,
            amount_cents=amount,
            reason=data.validated_data["reason"],
            initiator=RefundInitiator.SELLER,
            actor=request.user,
            client_key=key,
            milestone=milestone,
        )
        if refund.amount_cents != amount:
            # As for orders: a key stands for one request.
            raise ValidationFailed(
                {
                    IDEMPOTENCY_KEY_HEADER: f"This key was already used for refund #{refund.pk} "
                    "of another amount. Use a new key for a new refund."
                }
            )
        body = RefundOutputSerializer(refund, context=context).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        summary="What cancelling the order now would refund",
        description="For the buyer, under the order's cancellation policy; for the seller, "
        "always everything held. Only a paid order not released yet can be cancelled this way.",
        responses={
            200: CancellationPreviewOutputSerializer,
            403: OpenApiResponse(description="You are not the buyer or the seller"),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(description="The order's status does not allow cancelling"),
        },
    )
    @action(detail=True, methods=["get"], url_path="refund-preview")
    def refund_preview(self, request, pk=None):
        preview = services.order_cancel_preview(order=self.get_object(), actor=request.user)
        return Response(CancellationPreviewOutputSerializer(preview).data)

    @extend_schema(
        tags=TAGS,
        summary="Your ledger as a seller: lines and totals per currency",
        description=(
            "The lines of your account in Bazaar's double-entry ledger, newest first: a "
            "release credits it (Bazaar owes you the order's share), the transfer to your "
            "Stripe account debits it. `seller_amount_cents` is a line from your side: "
            "positive when money became yours, negative when it left for your Stripe account. "
            "`totals` covers all your orders, not only this page."
        ),
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY),
            OpenApiParameter("page_size", OpenApiTypes.INT, OpenApiParameter.QUERY),
        ],
        responses={
            200: LedgerPageOutputSerializer,
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    @action(detail=False, methods=["get"])
    def ledger(self, request):
        user = request.user
        if not user.is_seller:
            raise PermissionDenied(NOT_A_SELLER)
        page = self.paginate_queryset(selectors.seller_ledger_lines(seller=user))
        totals = selectors.seller_ledger_totals(
            seller=user, default_currency=user.seller_profile.default_currency
        )
        body = {
            "count": self.paginator.page.paginator.count,
            "next": self.paginator.get_next_link(),
            "previous": self.paginator.get_previous_link(),
            "totals": totals,
            "results": page,
        }
        return Response(LedgerPageOutputSerializer(body).data)

    # --- Disputes -------------------------------------------------------------------------------

    def _dispute(self, order):
        dispute = selectors.order_dispute(order)
        if dispute is None:
            raise NotFound(NO_DISPUTE)
        return dispute

    @extend_schema(
        methods=["GET"],
        tags=TAGS,
        summary="The order's dispute: the open one, else the latest",
        responses={
            200: DisputeOutputSerializer,
            404: OpenApiResponse(description=f"{ORDER_NOT_FOUND} / {NO_DISPUTE}"),
        },
    )
    @extend_schema(
        methods=["POST"],
        tags=TAGS,
        summary="Report a problem with your order (buyer only)",
        description=(
            "While the payment is held (the order is funded or delivered, not released): the "
            "order becomes disputed, nothing is released automatically, and the seller is asked "
            "to answer by `response_due_at`. Bazaar's team decides by `resolve_by`: refund, "
            "release or split. Attach evidence in the order's conversation.\n\n"
            "With an Idempotency-Key header a retry returns the dispute the first request "
            "opened, with the same 201; the same key with another reason or description is a "
            "400."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=DisputeOpenInputSerializer,
        responses={
            201: DisputeOutputSerializer,
            400: OpenApiResponse(description="Field errors: the reason or the description"),
            403: OpenApiResponse(description="Only the buyer can report a problem"),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(
                description="The payment is not held (not paid yet, released, refunded), or a "
                "dispute is already open"
            ),
        },
    )
    @action(detail=True, methods=["get", "post"])
    def dispute(self, request, pk=None):
        order = self.get_object()
        if request.method == "GET":
            return Response(DisputeOutputSerializer(self._dispute(order)).data)
        key = _idempotency_key(request)
        _require_buyer(order, request.user, "Only the buyer can report a problem with this order.")
        data = DisputeOpenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dispute, _ = services.dispute_open(
            order=order, actor=request.user, client_key=key, **data.validated_data
        )
        if (dispute.reason, dispute.description) != (
            data.validated_data["reason"],
            data.validated_data["description"].strip(),
        ):
            raise ValidationFailed(
                {
                    IDEMPOTENCY_KEY_HEADER: f"This key was already used for dispute #{dispute.pk} "
                    "with another reason or description. Use a new key for a new report."
                }
            )
        return Response(DisputeOutputSerializer(dispute).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        summary="Answer the buyer's report (seller only)",
        description="Once: anything more goes into the order's conversation.",
        request=DisputeRespondInputSerializer,
        responses={
            200: DisputeOutputSerializer,
            400: OpenApiResponse(description="Field errors: the response"),
            403: OpenApiResponse(description="Only the seller can answer"),
            404: OpenApiResponse(description=f"{ORDER_NOT_FOUND} / {NO_DISPUTE}"),
            409: OpenApiResponse(description="Answered already, or the dispute is closed"),
        },
    )
    @action(detail=True, methods=["post"], url_path="dispute/respond")
    def dispute_respond(self, request, pk=None):
        order = self.get_object()
        dispute = self._dispute(order)
        if order.seller_id != request.user.pk:
            raise NotAllowed("Only the seller can answer this dispute.")
        data = DisputeRespondInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = services.dispute_respond(
            dispute=dispute, actor=request.user, response=data.validated_data["response"]
        )
        return Response(DisputeOutputSerializer(dispute).data)

    @extend_schema(
        tags=TAGS,
        summary="Withdraw your report (buyer only)",
        description=(
            "The order goes back to where it was; a delivered order's review window starts "
            "again in full. Withdrawing again returns the dispute as it is."
        ),
        request=None,
        responses={
            200: DisputeOutputSerializer,
            403: OpenApiResponse(description="Only the buyer can withdraw it"),
            404: OpenApiResponse(description=f"{ORDER_NOT_FOUND} / {NO_DISPUTE}"),
            409: OpenApiResponse(description="The dispute was resolved"),
        },
    )
    @action(detail=True, methods=["post"], url_path="dispute/withdraw")
    def dispute_withdraw(self, request, pk=None):
        dispute = self._dispute(self.get_object())
        dispute = services.dispute_withdraw(dispute=dispute, actor=request.user)
        return Response(DisputeOutputSerializer(dispute).data)

    # --- Milestones -----------------------------------------------------------------------------

    def _milestones_response(self, order, status_code=status.HTTP_200_OK):
        rows = selectors.order_milestones(order)
        return Response(MilestoneOutputSerializer(rows, many=True).data, status=status_code)

    def _milestone(self, order):
        milestone = Milestone.objects.filter(
            pk=self.kwargs["milestone_id"], order_id=order.pk
        ).first()
        if milestone is None:
            raise NotFound(NO_MILESTONE)
        return milestone

    @extend_schema(
        methods=["GET"],
        tags=TAGS,
        summary="The order's milestones, in plan order, with their states and countdowns",
        responses={
            200: MilestoneOutputSerializer(many=True),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
        },
    )
    @extend_schema(
        methods=["POST"],
        tags=TAGS,
        summary="Propose (or replace) a milestone plan for a service order (seller only)",
        description=(
            "Splits the order into 2 to 20 milestones (title, amount_cents, due_date) adding up "
            "to its total. Allowed before anything is delivered (awaiting payment or paid) and "
            "until the buyer accepts it (POST .../milestones/accept/): a new proposal replaces "
            "the old one. The order's commission is shared among the milestones by amount. "
            "201 with the proposed milestones."
        ),
        request=MilestonePlanInputSerializer,
        responses={
            201: MilestoneOutputSerializer(many=True),
            400: OpenApiResponse(
                description="Field errors: fewer than 2 or more than 20 milestones, amounts not "
                "adding up to the total or below 1 cent, a title missing, a date not "
                "YYYY-MM-DD or in the past (keys milestones and milestones.<n>.<field>)"
            ),
            403: OpenApiResponse(description="Only the seller can propose milestones"),
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
            409: OpenApiResponse(
                description="Not a service, already delivered or closed, or the buyer accepted "
                "a plan already"
            ),
        },
    )
    # An order has at most 20 milestones: one list, not pages.
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def milestones(self, request, pk=None):
        order = self.get_object()
        if request.method == "GET":
            return self._milestones_response(order)
        data = MilestonePlanInputSerializer(data=request.data)
        if not data.is_valid():
            # The service names a milestone's fields milestones.<n>.<field>: so do these.
            raise ValidationFailed(dotted_errors(data.errors))
        services.milestone_plan_propose(
            order=order, actor=request.user, milestones=data.validated_data["milestones"]
        )
        return self._milestones_response(order, status.HTTP_201_CREATED)

    @_transition_schema(
        "Accept the seller's milestone plan (buyer only)",
        "From then on the order is delivered, released and refunded milestone by milestone; "
        "the plan is fixed. Accepting again returns the order as it is.",
    )
    @action(detail=True, methods=["post"], url_path="milestones/accept")
    def milestones_accept(self, request, pk=None):
        order = self.get_object()
        order = services.milestone_plan_accept(order=order, actor=request.user)
        return self._render(order)

    @extend_schema(
        tags=TAGS,
        summary="Mark one milestone delivered (seller only)",
        description="Starts the buyer's review window for it; when it ends, its money is "
        "released automatically. Delivering again returns it as it is.",
        request=MilestoneDeliverInputSerializer,
        responses={
            200: MilestoneOutputSerializer,
            400: OpenApiResponse(description="Field errors: the note is too long"),
            403: OpenApiResponse(description="Only the seller can deliver it"),
            404: OpenApiResponse(description=f"{ORDER_NOT_FOUND} / {NO_MILESTONE}"),
            409: OpenApiResponse(
                description="The plan is not accepted, the order is not paid, frozen by a "
                "dispute or closed, or the milestone is not in progress"
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"milestones/(?P<milestone_id>\d+)/deliver",
    )
    def milestone_deliver(self, request, pk=None, milestone_id=None):
        order = self.get_object()
        milestone = self._milestone(order)
        data = MilestoneDeliverInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.milestone_deliver(milestone=milestone, actor=request.user, **data.validated_data)
        return self._milestone_render(order, milestone)

    @extend_schema(
        tags=TAGS,
        summary="Approve one delivered milestone: release its money to the seller (buyer only)",
        description="The seller receives its amount minus its part of the commission, as its "
        "own Stripe transfer. Approving again returns it as it is.",
        request=None,
        responses={
            200: MilestoneOutputSerializer,
            403: OpenApiResponse(description="Only the buyer can approve it"),
            404: OpenApiResponse(description=f"{ORDER_NOT_FOUND} / {NO_MILESTONE}"),
            409: OpenApiResponse(
                description="Not delivered, refunded, or the order is frozen by a dispute"
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"milestones/(?P<milestone_id>\d+)/approve",
    )
    def milestone_approve(self, request, pk=None, milestone_id=None):
        order = self.get_object()
        milestone = self._milestone(order)
        _require_buyer(order, request.user, "Only the buyer can approve this milestone.")
        services.milestone_approve(milestone=milestone, actor=request.user)
        return self._milestone_render(order, milestone)

    def _milestone_render(self, order, milestone):
        row = next(m for m in selectors.order_milestones(order) if m.pk == milestone.pk)
        return Response(MilestoneOutputSerializer(row).data)


# --- Bookable times -----------------------------------------------------------------------------

NOT_BOOKABLE = "This listing has no bookable times: it is ordered without a time."
NOT_A_SELLER_BOOKINGS = (
    "Only sellers have bookings. POST to /api/v1/me/seller-profile/ to become one."
)


def _free_slots_schema(*, operation_id, summary, alias_of=None):
    """The schema of the buyers' free slots: one answer under two paths, each its own operation."""
    description = (
        "Start and end (UTC, ISO 8601) of every free slot starting in [from, to), and the "
        "listing's zone: the seller's weekly hours and exceptions less the times already "
        "booked, no sooner than the minimum notice and no further ahead than the horizon. "
        "Order one with POST /api/v1/orders/ and slot_start. Anyone may read them. (The "
        "seller edits the weekly hours at /api/v1/seller/listings/{id}/availability/.)"
    )
    if alias_of:
        description += f" The same answer as {alias_of}, kept for the apps that use this path."
    return extend_schema(
        operation_id=operation_id,
        tags=["listings"],
        summary=summary,
        description=description,
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATETIME,
                required=True,
                description="Start of the range, ISO 8601 with offset (2026-12-07T00:00:00+01:00).",
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.DATETIME,
                required=True,
                description="End of the range, at most 62 days after from.",
            ),
        ],
        responses={
            200: SlotsOutputSerializer,
            400: OpenApiResponse(
                description="Field errors (from, to): missing, not ISO 8601 with an offset, "
                "outside the years 1970 to 2999, the end not after the start, or more than "
                "62 days"
            ),
            404: OpenApiResponse(
                description="No such listing on sale, or no bookable times (a product, or a "
                "service without availability)"
            ),
        },
    )


class ListingAvailabilityApi(GenericAPIView):
    """GET /api/v1/listings/{id}/availability/?from=&to=: a bookable service's free slots."""

    permission_classes = (AllowAny,)
    serializer_class = SlotsOutputSerializer

    @_free_slots_schema(
        operation_id="listings_availability",
        summary="Free slots of a bookable service (its availability for buyers)",
    )
    def get(self, request, pk):
        listing = catalogue_selectors.listing_public_get(pk=pk)
        availability = catalogue_selectors.availability_for_listing(listing_id=listing.pk)
        if availability is None or not listing.duration_minutes:
            raise NotFound(NOT_BOOKABLE)
        query = SlotsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["from"], query.validated_data["to"]
        slots = selectors.listing_free_slots(
            listing=listing, availability=availability, start=start, end=end
        )
        duration = timedelta(minutes=listing.duration_minutes)
        data = {
            "listing": listing.pk,
            "time_zone": availability.time_zone,
            "duration_minutes": listing.duration_minutes,
            "slots": [{"start": utc_iso(slot), "end": utc_iso(slot + duration)} for slot in slots],
        }
        return Response(SlotsOutputSerializer(data).data)


class ListingSlotsApi(ListingAvailabilityApi):
    """GET /api/v1/listings/{id}/slots/?from=&to=: the same free slots under their first name."""

    @_free_slots_schema(
        operation_id="listings_slots",
        summary="Free slots of a bookable service (alias of availability)",
        alias_of="GET /api/v1/listings/{id}/availability/",
    )
    def get(self, request, pk):
        return super().get(request, pk)


class SellerBookingsApi(GenericAPIView):
    """GET /api/v1/seller/bookings/: the seller's booked times, paginated."""

    permission_classes = (IsAuthenticated,)
    pagination_class = StandardPagination
    serializer_class = SellerBookingOutputSerializer
    queryset = Booking.objects.none()  # for the schema; requests use the selector

    @extend_schema(
        operation_id="seller_bookings_list",
        tags=["seller"],
        summary="Your bookings: upcoming (soonest first) or past (latest first)",
        parameters=[SellerBookingsQuerySerializer],
        responses={
            200: SellerBookingOutputSerializer(many=True),
            400: OpenApiResponse(description="Field errors: when is not upcoming or past"),
            403: OpenApiResponse(description=NOT_A_SELLER_BOOKINGS),
        },
    )
    def get(self, request):
        if not request.user.is_seller:
            raise PermissionDenied(NOT_A_SELLER_BOOKINGS)
        query = SellerBookingsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.seller_bookings(
            seller=request.user, upcoming=query.validated_data["when"] == "upcoming"
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(SellerBookingOutputSerializer(page, many=True).data)
