"""Every change of an order's state. Payments and releases (payments.py, releases.py) call the
`order_mark_*` ones inside their own transactions; pages, the API, admin and tasks call the rest.

Each transition locks the order row, checks the move against ORDER_TRANSITIONS and returns
quietly when the order is already there.
"""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.selectors import seller_can_accept_payments, shipping_address_get
from accounts.services import (
    email_verified_require,
    shipping_address_clean,
    shipping_address_save,
)
from core import clock
from core.audit import audit_record, audited_transition
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.money import below_minimum_message, minimum_charge_cents
from core.timezones import format_local
from escrow.commission import terms_for_seller
from escrow.models import (
    CHARGEBACK_CLOSED_STATUSES,
    MILESTONE_TRANSITIONS,
    OPEN_DISPUTE_STATUSES,
    ORDER_TRANSITIONS,
    Booking,
    BookingStatus,
    Chargeback,
    Dispute,
    DisputeResolution,
    DisputeStatus,
    EscrowPayment,
    EscrowRefund,
    MilestoneStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
)
from escrow.services import dispute_notices
from escrow.services.bookings import (
    booked_review_deadline,
    booking_complete_for,
    booking_confirm_for,
    booking_free_for,
    booking_hold,
)
from escrow.services.transitions import dispute_move
from escrow.shipping import Carrier, tracking_number_problem
from escrow.signals import order_placed
from marketplace.models import ListingKind
from marketplace.services import (
    listing_lock_for_order,
    listing_stock_reserve,
    listing_stock_return,
)
from notifications.services import notify

logger = logging.getLogger(__name__)

MAX_QUANTITY = 100


@transaction.atomic
def order_create(
    *,
    buyer,
    listing_id,
    quantity=1,
    client_key="",
    shipping_address=None,
    shipping_address_id=None,
    save_address=False,
    make_default=False,
    slot_start=None,
):
    """A buyer orders an approved listing: price and commission are snapshotted, stock reserved.
    A service with availability is booked at `slot_start`, one of its free slots (bookings.py).

    A product needs where to ship it: `shipping_address` (its fields) or `shipping_address_id`
    (one of the buyer's saved addresses); the order keeps a copy. With save_address the typed
    address is saved for next time (make_default: offered first). A service takes neither.

    With a client_key (the API's Idempotency-Key) a retry returns the order made the first time.
    """
    if client_key:
        existing = Order.objects.filter(buyer=buyer, client_key=client_key).first()
        if existing:
            return existing
    # Paying needs a confirmed email address (NotAllowed: 403 in the API, a message on the page).
    email_verified_require(user=buyer)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise ValidationFailed({"quantity": "Order at least one."})
    if quantity > MAX_QUANTITY:
        raise ValidationFailed({"quantity": f"Order at most {MAX_QUANTITY} at a time."})
    # Locked until the order is made: a second buyer of the last item waits here, then sees it
    # sold (marketplace owns the listing row and its stock).
    listing = listing_lock_for_order(listing_id=listing_id)
    if listing is None:
        raise ValidationFailed({"listing": "This listing is not available."})
    if listing.kind == ListingKind.SERVICE and quantity != 1:
        # The order page books a service once; the API follows the same rule.
        raise ValidationFailed({"quantity": "A service is booked once per order: order 1."})
    seller = listing.store.owner
    if seller.pk == buyer.pk:
        raise ValidationFailed({"listing": "You cannot buy your own listing."})
    if not seller_can_accept_payments(seller):
        raise ValidationFailed(
            {"listing": "This seller cannot take payments right now. Try again later."}
        )
    total = order_total_check(listing=listing, quantity=quantity)
    reserved = listing_stock_reserve(listing=listing, quantity=quantity)
    shipping = _shipping_for(
        listing=listing,
        buyer=buyer,
        address=shipping_address,
        address_id=shipping_address_id,
        save=save_address,
        make_default=make_default,
    )
    terms = terms_for_seller(seller.seller_profile)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                buyer=buyer,
                seller=seller,
                store=listing.store,
                listing=listing,
                listing_title=listing.title,
                listing_kind=listing.kind,
                unit_price_cents=listing.price_cents,
                quantity=quantity,
                total_cents=total,
                currency=listing.currency,
                commission_bps=terms.bps,
                commission_fixed_cents=terms.fixed_cents,
                commission_min_cents=terms.minimum_cents,
                commission_cents=terms.commission_on(total),
                stripe_fee_payer=settings.BAZAAR_STRIPE_FEE_PAYER,
                cancellation_policy=listing.effective_cancellation_policy,
                stock_reserved=reserved,
                expires_at=clock.now() + timedelta(minutes=settings.BAZAAR_PAYMENT_EXPIRY_MINUTES),
                client_key=client_key or "",
                transit_days=(
                    listing.effective_transit_days if listing.kind == ListingKind.PRODUCT else None
                ),
                **{f"shipping_{name}": value for name, value in shipping.items()},
            )
    except IntegrityError:
        # The same Idempotency-Key raced in twice: hand back the order the other request made.
        transaction.set_rollback(True)
        return Order.objects.get(buyer=buyer, client_key=client_key)
    booking_hold(order=order, listing=listing, slot_start=slot_start)
    audit_record(
        action="escrow.order.created",
        actor=buyer,
        target=order,
        after={"total_cents": total, "currency": order.currency, "quantity": quantity},
    )
    order_placed.send(sender=Order, order=order)
    return order


def order_total_check(*, listing, quantity):
    """The total of `quantity` of `listing`, refused (on `quantity`) below Stripe's minimum
    charge for its currency: an order that could never be paid. The checkout's first step asks
    it too, so the buyer hears it before giving an address."""
    total = listing.price_cents * quantity
    minimum = minimum_charge_cents(listing.currency)
    if total < minimum:
        # Stripe would refuse the charge (amount_too_small).
        message = below_minimum_message(listing.currency, "The total")
        enough = -(-minimum // listing.price_cents)
        if listing.kind == ListingKind.PRODUCT and enough <= MAX_QUANTITY:
            message += f" Order at least {enough}."
        raise ValidationFailed({"quantity": message})
    return total


SHIPPING_REQUIRED = "Give the address to ship this product to."
NOT_SHIPPED = "A service is not shipped: leave the shipping address out."


def _shipping_for(*, listing, buyer, address, address_id, save, make_default):
    """The address a product order is shipped to (its fields, checked), {} for a service."""
    if listing.kind != ListingKind.PRODUCT:
        if address or address_id is not None:
            raise ValidationFailed({"shipping_address": NOT_SHIPPED})
        return {}
    if address_id is not None:
        if address:
            raise ValidationFailed(
                {"shipping_address": "Give a saved address's id or an address, not both."}
            )
        saved = shipping_address_get(user=buyer, pk=address_id)
        if saved is None:
            raise ValidationFailed(
                {"shipping_address_id": "You have no saved address with this id."}
            )
        if make_default:
            shipping_address_save(user=buyer, make_default=True, **saved.as_fields())
        return saved.as_fields()
    if not address:
        raise ValidationFailed({"shipping_address": SHIPPING_REQUIRED})
    try:
        clean = shipping_address_clean(address)
    except ValidationFailed as exc:
        # Each message under its field's path, as the API names them ("shipping_address.city").
        raise ValidationFailed(
            {f"shipping_address.{field}": message for field, message in exc.errors.items()}
        ) from exc
    if save or make_default:
        shipping_address_save(user=buyer, make_default=make_default, **clean)
    return clean


def _lock(order):
    return Order.objects.select_for_update().get(pk=order.pk if hasattr(order, "pk") else order)


def _move(order, *, to, actor, action, save_also=None, **changes):
    """Move a locked order to `to`; (order, True) when it moved, (order, False) if already there.
    `save_also`: as core.audit.audited_transition's (the whole row is saved without it)."""
    return audited_transition(
        order,
        to=to,
        allowed=ORDER_TRANSITIONS,
        actor=actor,
        action=action,
        save_also=save_also,
        **changes,
    )


def _return_stock(order):
    if order.stock_reserved:
        listing_stock_return(listing_id=order.listing_id, quantity=order.quantity)
        order.stock_reserved = False


# A Checkout payment whose session may still take the buyer's money: waiting, or declined (the
# buyer may try another card on the same page).
CHECKOUT_OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.FAILED)


def checkout_sessions_expire_later(*, order):
    """Called with the order locked as it closes: after commit, a task expires its open Checkout
    Sessions at Stripe (payments.payment_checkout_sessions_expire), so a page opened before the
    order closed can no longer be paid. Stripe is never called inside the transaction."""
    if order.payments.filter(
        kind=EscrowPayment.Kind.CHECKOUT,
        status__in=CHECKOUT_OPEN_STATUSES,
        stripe_checkout_session_id__isnull=False,
    ).exists():
        transaction.on_commit(partial(_checkout_sessions_expire_queue, order.pk))


def _checkout_sessions_expire_queue(order_id):
    # escrow.tasks imports escrow.services (its tasks call them), which imports this module.
    from escrow.tasks import expire_checkout_sessions

    try:
        expire_checkout_sessions.delay(order_id)
    except Exception:
        # The order is closed whatever happens here: its sessions still end at their own
        # expires_at, and a payment that lands meanwhile is refunded as a late payment.
        logger.exception("Could not expire the Checkout Sessions of order %s", order_id)


@transaction.atomic
def order_cancel_unpaid(*, order, actor):
    """The buyer (or staff) calls off an unpaid order; its stock returns."""
    order = _lock(order)
    if actor.pk != order.buyer_id and not actor.is_staff:
        raise NotAllowed("Only the buyer can cancel this order.")
    if order.status != OrderStatus.PENDING_PAYMENT and order.status != OrderStatus.CANCELLED:
        raise InvalidTransition("Only an order that is not paid yet can be cancelled.")
    _return_stock(order)
    booking_free_for(order=order, actor=actor)
    order, moved = _move(
        order,
        to=OrderStatus.CANCELLED,
        actor=actor,
        action="escrow.order.cancelled",
        closed_at=clock.now(),
        stock_reserved=order.stock_reserved,
    )
    if moved:
        checkout_sessions_expire_later(order=order)
    return order


def order_mark_cancelled(*, order, actor, action):
    """A paid order is cancelled (escrow's cancellation transaction, order locked): an item not
    delivered goes back on sale."""
    if order.status == OrderStatus.FUNDED:
        _return_stock(order)
    booking_free_for(order=order, actor=actor)
    order, _ = _move(
        order,
        to=OrderStatus.CANCELLED,
        actor=actor,
        action=action,
        closed_at=clock.now(),
        stock_reserved=order.stock_reserved,
    )
    return order


@transaction.atomic
def order_expire(*, order_id):
    """An unpaid order's time ran out: it expires and its stock returns (Celery, idempotent)."""
    order = _lock(order_id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        return order
    if order.expires_at and order.expires_at > clock.now():
        return order
    _return_stock(order)
    booking_free_for(order=order)
    order, moved = _move(
        order,
        to=OrderStatus.EXPIRED,
        actor=None,
        action="escrow.order.expired",
        closed_at=clock.now(),
        stock_reserved=order.stock_reserved,
    )
    if moved:
        checkout_sessions_expire_later(order=order)
    return order


def order_mark_funded(*, order):
    """Called by escrow inside its payment transaction, with the order locked (pending payment:
    money for a closed order is refunded instead, see payments._record_success)."""
    order, moved = _move(
        order,
        to=OrderStatus.FUNDED,
        actor=None,
        action="escrow.order.funded",
        funded_at=clock.now(),
    )
    if moved:
        booking = booking_confirm_for(order=order)
        if booking is not None:
            # A booked service releases itself a review window after its slot ends.
            order.review_deadline = booked_review_deadline(booking)
            order.save(update_fields=["review_deadline", "updated_at"])
        context = {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "amount": order.total_display,
            "action_url": order.get_absolute_url(),
        }
        notify(order.seller, "order.funded", context)
        notify(order.buyer, "order.paid", context)
    return order


@transaction.atomic
def order_payment_failed(*, order_id, message):
    """A payment attempt was declined: the order stays payable, and the buyer is told why.

    The reason is stored once, on the failed payment (Order.payment_error reads it from there);
    `message` is what the buyer is told, in plain words (EscrowPayment.failure_reason).
    """
    order = _lock(order_id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        return order
    notify(
        order.buyer,
        "order.payment_failed",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "reason": message[:300],
            "action_url": order.get_absolute_url(),
        },
    )
    return order


@transaction.atomic
def order_deliver(*, order, actor, note=""):
    """The seller says the work is delivered; the buyer's review window starts."""
    order = _lock(order)
    if actor.pk != order.seller_id:
        raise NotAllowed("Only the seller can mark this order delivered.")
    if order.status == OrderStatus.DELIVERED:
        return order
    if order.has_milestone_plan:
        raise InvalidTransition(
            "This order is delivered milestone by milestone: deliver its milestones."
        )
    if order.listing_kind == ListingKind.PRODUCT:
        # A product is shipped (order_mark_shipped), with its tracking number; its review
        # window follows the parcel, not the seller's word.
        raise InvalidTransition(MARK_SHIPPED_INSTEAD)
    delivered_at = clock.now()
    review_deadline = delivered_at + timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS)
    booking = Booking.objects.filter(order=order, status=BookingStatus.CONFIRMED).first()
    if booking is not None:
        if delivered_at < booking.ends_at:
            raise InvalidTransition(
                "This service is booked until "
                f"{format_local(booking.ends_at, actor.time_zone)}: mark it delivered once "
                "the booked time is over."
            )
        # The buyer's review window started when the booked time ended.
        review_deadline = booked_review_deadline(booking)
    order, moved = _move(
        order,
        to=OrderStatus.DELIVERED,
        actor=actor,
        action="escrow.order.delivered",
        delivered_at=delivered_at,
        delivery_note=(note or "").strip()[:5000],
        review_deadline=review_deadline,
    )
    if moved:
        notify(
            order.buyer,
            "order.delivered",
            {
                "order_id": order.pk,
                "listing_title": order.listing_title,
                "deadline": order.review_deadline.strftime("%d %b %Y %H:%M UTC"),
                "action_url": order.get_absolute_url(),
            },
        )
    return order


MARK_SHIPPED_INSTEAD = "A product is marked shipped, with its carrier and tracking number."


@transaction.atomic
def order_mark_shipped(*, order, actor, carrier, tracking_number):
    """The seller sent a paid product: carrier and tracking number recorded, the buyer told.

    The order is in review from now on (DELIVERED): its review window starts when the buyer
    confirms receipt (order_confirm_received) or, failing that, after the order's transit
    allowance, so review_deadline = shipped_at + transit days + BAZAAR_REVIEW_WINDOW_DAYS."""
    errors = {}
    if carrier not in Carrier.values:
        errors["carrier"] = "Choose a carrier from the list (Other if yours is not there)."
    problem = tracking_number_problem(tracking_number)
    if problem:
        errors["tracking_number"] = problem
    order = _lock(order)
    if actor.pk != order.seller_id:
        raise NotAllowed("Only the seller can mark this order shipped.")
    if order.listing_kind != ListingKind.PRODUCT:
        raise InvalidTransition("Only a product is shipped; mark a service delivered.")
    if order.shipped_at is not None:
        return order  # shipped already (a repeated click): nothing changes
    if errors:
        raise ValidationFailed(errors)
    shipped_at = clock.now()
    order, moved = _move(
        order,
        to=OrderStatus.DELIVERED,
        actor=actor,
        action="escrow.order.shipped",
        shipped_at=shipped_at,
        delivered_at=shipped_at,
        carrier=carrier,
        tracking_number=" ".join(tracking_number.split()),
        review_deadline=shipped_at + _transit_allowance(order) + _review_window(),
    )
    if moved:
        notify(
            order.buyer,
            "order.shipped",
            {
                "order_id": order.pk,
                "listing_title": order.listing_title,
                "carrier": order.get_carrier_display(),
                "tracking_number": order.tracking_number,
                "tracking_url": order.tracking_url,
                "deadline": order.review_deadline.strftime("%d %b %Y %H:%M UTC"),
                "action_url": order.get_absolute_url(),
            },
        )
    return order


@transaction.atomic
def order_confirm_received(*, order, actor):
    """The buyer says the parcel arrived: their review window starts now, whatever was left of
    the transit allowance (review_deadline = now + BAZAAR_REVIEW_WINDOW_DAYS)."""
    order = _lock(order)
    if actor.pk != order.buyer_id:
        raise NotAllowed("Only the buyer can confirm receiving this order.")
    if order.listing_kind != ListingKind.PRODUCT:
        raise InvalidTransition("Only a shipped product is received.")
    if order.received_at is not None:
        return order
    if order.status != OrderStatus.DELIVERED or order.shipped_at is None:
        raise InvalidTransition("The seller has not shipped this order yet.")
    received_at = clock.now()
    before = {"received_at": None, "review_deadline": order.review_deadline.isoformat()}
    order.received_at = received_at
    order.review_deadline = received_at + _review_window()
    order.reminder_sent_at = None
    order.save(update_fields=["received_at", "review_deadline", "reminder_sent_at", "updated_at"])
    audit_record(
        action="escrow.order.received",
        actor=actor,
        target=order,
        before=before,
        after={
            "received_at": received_at.isoformat(),
            "review_deadline": order.review_deadline.isoformat(),
        },
    )
    notify(
        order.seller,
        "order.received",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "deadline": order.review_deadline.strftime("%d %b %Y %H:%M UTC"),
            "action_url": order.get_absolute_url(),
        },
    )
    return order


def _review_window():
    return timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS)


def _transit_allowance(order):
    return timedelta(days=order.transit_days or settings.BAZAAR_DEFAULT_TRANSIT_DAYS)


def order_mark_released(*, order, actor, action, as_locked=False):
    """Called by escrow inside its release transaction, with the order locked. `as_locked`: the
    order is as its lock read it (no other field changed since), so the UPDATE sets only what
    the move changes rather than every column."""
    order, moved = _move(
        order,
        to=OrderStatus.RELEASED,
        actor=actor,
        action=action,
        save_also=() if as_locked else None,
        released_at=clock.now(),
    )
    if moved:
        booking_complete_for(order=order, actor=actor)
    return order, moved


def milestone_move(*, milestone, to, actor, action, **changes):
    """Move a locked Milestone to `to` (MILESTONE_TRANSITIONS, audited). (milestone, moved)."""
    return audited_transition(
        milestone, to=to, allowed=MILESTONE_TRANSITIONS, actor=actor, action=action, **changes
    )


def order_close_if_milestones_done(*, order, actor=None):
    """A milestone order (locked by the caller) whose every milestone is settled is released:
    each one released, or refunded with Stripe's refund made (a refund still pending may fail
    and give the milestone back). An order whose milestones were all refunded becomes refunded
    with its last refund (refunds._after_success), not here."""
    if not order.has_milestone_plan or order.status not in (
        OrderStatus.FUNDED,
        OrderStatus.DISPUTED,
    ):
        return order, False
    milestones = list(order.milestones.all())
    if not any(m.status == MilestoneStatus.RELEASED for m in milestones):
        return order, False
    refunded_done = set(
        EscrowRefund.objects.filter(
            milestone__in=milestones, after_release=False, status=RefundStatus.SUCCEEDED
        ).values_list("milestone_id", flat=True)
    )
    for milestone in milestones:
        if milestone.status == MilestoneStatus.RELEASED:
            continue
        if milestone.status == MilestoneStatus.REFUNDED and milestone.pk in refunded_done:
            continue
        return order, False
    return order_mark_released(order=order, actor=actor, action="escrow.order.milestones_settled")


def order_mark_refunded(*, order, actor=None):
    """Every cent paid went back to the buyer (escrow's refund transaction, order locked)."""
    was = order.status
    order, moved = _move(
        order,
        to=OrderStatus.REFUNDED,
        actor=actor,
        action="escrow.order.refunded",
        closed_at=clock.now(),
    )
    if moved:
        booking_free_for(order=order, actor=actor)
    if moved and was == OrderStatus.DISPUTED:
        _dispute_end_refunded(order=order, actor=actor)
    return order, moved


def _dispute_end_refunded(*, order, actor):
    """The buyer got every cent back while their dispute was open (the seller refunded them in
    full, or it was refunded at Stripe): nothing is left to decide, it ends as refunded."""
    dispute = (
        Dispute.objects.select_for_update()
        .filter(order=order, status__in=OPEN_DISPUTE_STATUSES)
        .first()
    )
    if dispute is None:
        return  # a chargeback froze the order, or the dispute was resolved by this refund
    refunded = sum(
        EscrowRefund.objects.holding()
        .filter(order=order, payment__status=PaymentStatus.SUCCEEDED)
        .values_list("amount_cents", flat=True)
    )
    now = clock.now()
    dispute, _ = dispute_move(
        dispute=dispute,
        to=DisputeStatus.RESOLVED,
        actor=actor,
        resolution=DisputeResolution.REFUND,
        refund_cents=refunded,
        release_cents=0,
        resolved_by=actor if getattr(actor, "pk", None) else None,
        resolved_at=now,
        closed_at=now,
        resolution_note="The order was refunded in full.",
    )
    dispute_notices.notify_resolved(dispute, order)


def order_mark_disputed(*, order, actor=None, action="escrow.order.disputed"):
    """A dispute or a chargeback freezes the order (caller's transaction, order locked): no
    release until it ends. Where it was is kept for when it ends without a resolution."""
    if order.status == OrderStatus.DISPUTED:
        return order, False
    return _move(
        order, to=OrderStatus.DISPUTED, actor=actor, action=action, disputed_from=order.status
    )


def order_mark_undisputed(*, order, actor=None, action="escrow.order.dispute_ended"):
    """The dispute ended without moving money (withdrawn, or a chargeback won): the order goes
    back to where it was, and a delivered order's review window starts again in full."""
    if order.status != OrderStatus.DISPUTED:
        return order, False
    if Dispute.objects.filter(order=order, status__in=OPEN_DISPUTE_STATUSES).exists():
        # A chargeback ended, but the buyer's own dispute still holds the order frozen: only its
        # resolution or withdrawal (which closes it first) lets the order go.
        return order, False
    if (
        Chargeback.objects.filter(order=order)
        .exclude(status__in=CHARGEBACK_CLOSED_STATUSES)
        .exists()
    ):
        # The buyer withdrew their dispute, but their bank still disputes the payment: the
        # chargeback's outcome lets the order go.
        return order, False
    back = order.disputed_from or OrderStatus.FUNDED
    changes = {"disputed_from": ""}
    if order.has_milestone_plan:
        # As for a delivered order: the milestones in review get a fresh review window.
        order.milestones.filter(status=MilestoneStatus.DELIVERED).update(
            review_deadline=clock.now() + timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS),
            updated_at=clock.now(),
        )
    if back == OrderStatus.DELIVERED:
        changes["review_deadline"] = clock.now() + timedelta(
            days=settings.BAZAAR_REVIEW_WINDOW_DAYS
        )
        changes["reminder_sent_at"] = None
    booking = Booking.objects.filter(order=order, status=BookingStatus.CONFIRMED).first()
    if back == OrderStatus.FUNDED and booking is not None:
        # A paid booking releases itself after its review window: never straight after the
        # dispute that froze it ends.
        changes["review_deadline"] = max(
            booked_review_deadline(booking),
            clock.now() + timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS),
        )
    return _move(order, to=back, actor=actor, action=action, **changes)


@transaction.atomic
def order_remind(*, order_id):
    order = _lock(order_id)
    if order.status != OrderStatus.DELIVERED or order.reminder_sent_at:
        return order, False
    order.reminder_sent_at = clock.now()
    order.save(update_fields=["reminder_sent_at", "updated_at"])
    notify(
        order.buyer,
        "order.release_reminder",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "deadline": order.review_deadline.strftime("%d %b %Y %H:%M UTC"),
            "action_url": order.get_absolute_url(),
            # "Report a problem before ...": the dispute form (escrow/views.py order_dispute).
            "dispute_url": reverse("order-dispute", kwargs={"pk": order.pk}),
        },
    )
    return order, True
