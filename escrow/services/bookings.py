"""The time a service order is booked for (Booking): held when the order is placed, confirmed
when it is paid, freed when it expires or is cancelled, completed when its money is released,
and moved when buyer and seller agree on another free slot.

Two held or confirmed bookings of one seller never overlap, counting the buffer after each
([starts_at, blocked_until)). Every write that takes time from a seller's calendar locks the
seller's row first, then asks marketplace.availability whether the slot is still one of the free
ones given the seller's other bookings; so two buyers of the same slot queue on the lock and the
second is told the time is gone. On PostgreSQL the exclusion constraint of migration 0013 holds
too, whatever writes the rows: its IntegrityError becomes the same refusal.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from core import clock
from core.audit import audit_record, audited_transition
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.timezones import format_local
from escrow import calendar, selectors
from escrow.models import (
    BOOKING_TRANSITIONS,
    Booking,
    BookingStatus,
    Order,
    OrderStatus,
)
from marketplace.availability import is_open_slot
from marketplace.models import ListingKind
from marketplace.selectors import availability_for_listing
from notifications.services import notify

SLOT_TAKEN = "This time is no longer available. Pick another one."
SLOT_REQUIRED = "Pick a time for this service."
SLOT_NOT_BOOKABLE = "This service is ordered without a time."
PRODUCT_TAKES_NO_TIME = "This listing is a product: it is ordered without a time."

# A booking can be moved while it is held or confirmed and its order is paid or waiting for it.
RESCHEDULABLE_ORDER_STATUSES = (OrderStatus.PENDING_PAYMENT, OrderStatus.FUNDED)


def booked_review_deadline(booking):
    """A booked service's review window runs from the end of its booked time (not from its
    delivery): it releases itself BAZAAR_REVIEW_WINDOW_DAYS after the service took place."""
    return booking.ends_at + timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS)


def _move(booking, *, to, actor, action, **changes):
    return audited_transition(
        booking, to=to, allowed=BOOKING_TRANSITIONS, actor=actor, action=action, **changes
    )


def _lock_seller(seller_id):
    """The seller's row, locked: every booking of theirs is decided one at a time."""
    return get_user_model().objects.select_for_update().only("pk").get(pk=seller_id)


def _check_slot(*, availability, duration_minutes, seller_id, slot_start, exclude_pk=None):
    """Raise SLOT_TAKEN unless `slot_start` is a free slot now (the seller's row locked)."""
    step = timedelta(minutes=duration_minutes + availability.buffer_minutes)
    busy = selectors.seller_busy_ranges(
        seller_id=seller_id,
        start=slot_start - step,
        end=slot_start + step,
        exclude_pk=exclude_pk,
    )
    if not is_open_slot(availability, duration_minutes, slot_start, busy=busy, now=clock.now()):
        raise ValidationFailed({"slot_start": SLOT_TAKEN})


def _ranges(availability, duration_minutes, slot_start):
    ends_at = slot_start + timedelta(minutes=duration_minutes)
    return ends_at, ends_at + timedelta(minutes=availability.buffer_minutes)


def _save_guarded(booking, **kwargs):
    """Save inside a savepoint: PostgreSQL's exclusion constraint refusing it is SLOT_TAKEN."""
    try:
        with transaction.atomic():
            booking.save(**kwargs)
    except IntegrityError as exc:
        if "booking_no_overlap" in str(exc):
            raise ValidationFailed({"slot_start": SLOT_TAKEN}) from exc
        raise


def booking_hold(*, order, listing, slot_start):
    """Called by order_create in its transaction (the listing locked): a service with
    availability is booked at `slot_start`, held while the order waits for payment. A product,
    or a service without availability, takes no time (and refuses one)."""
    availability = (
        availability_for_listing(listing_id=listing.pk)
        if listing.kind == ListingKind.SERVICE
        else None
    )
    if availability is None:
        if slot_start is not None:
            # A product's buyer sent a time (a stale page, an API client): say why, in its words.
            refusal = (
                SLOT_NOT_BOOKABLE if listing.kind == ListingKind.SERVICE else PRODUCT_TAKES_NO_TIME
            )
            raise ValidationFailed({"slot_start": refusal})
        return None
    if slot_start is None:
        raise ValidationFailed({"slot_start": SLOT_REQUIRED})
    _lock_seller(order.seller_id)
    _check_slot(
        availability=availability,
        duration_minutes=listing.duration_minutes,
        seller_id=order.seller_id,
        slot_start=slot_start,
    )
    ends_at, blocked_until = _ranges(availability, listing.duration_minutes, slot_start)
    booking = Booking(
        order=order,
        seller_id=order.seller_id,
        starts_at=slot_start,
        ends_at=ends_at,
        blocked_until=blocked_until,
        time_zone=availability.time_zone,
    )
    _save_guarded(booking)
    audit_record(
        action="escrow.booking.held",
        actor=order.buyer,
        target=booking,
        after={"status": booking.status, "starts_at": slot_start.isoformat()},
    )
    return booking


def _booking_of(order):
    """The order's booking, locked, or None. An order read with select_related("booking")
    that came without one has none (a booking is made with its order, never later): no query."""
    known = Order.booking.related
    if known.is_cached(order) and known.get_cached_value(order) is None:
        return None
    return Booking.objects.select_for_update().filter(order_id=order.pk).first()


def booking_confirm_for(*, order):
    """The order was paid (payments, order locked): its booking is confirmed and both sides
    are told the time in their own zone, with an invitation for their calendar."""
    booking = _booking_of(order)
    if booking is None:
        return None
    booking, moved = _move(
        booking, to=BookingStatus.CONFIRMED, actor=None, action="escrow.booking.confirmed"
    )
    if moved:
        _notify_both(booking, order, "booking.confirmed")
    return booking


def booking_free_for(*, order, actor=None):
    """The order expired or was called off (its transaction, order locked): the time is free."""
    booking = _booking_of(order)
    if booking is None or not booking.is_blocking:
        return booking
    booking, _ = _move(
        booking,
        to=BookingStatus.CANCELLED,
        actor=actor,
        action="escrow.booking.cancelled",
        proposed_starts_at=None,
        proposed_by=None,
        proposed_at=None,
    )
    return booking


def booking_complete_for(*, order, actor=None):
    """The order's money was released (its transaction, order locked)."""
    booking = _booking_of(order)
    if booking is None or booking.status != BookingStatus.CONFIRMED:
        return booking
    booking, _ = _move(
        booking, to=BookingStatus.COMPLETED, actor=actor, action="escrow.booking.completed"
    )
    return booking


# --- Rescheduling by agreement ------------------------------------------------------------------


def _party(order, actor):
    if actor is not None and actor.pk == order.buyer_id:
        return "buyer"
    if actor is not None and actor.pk == order.seller_id:
        return "seller"
    raise NotAllowed("Only the buyer or the seller can move this booking.")


def _reschedulable(order):
    booking = _booking_of(order)
    if booking is None:
        raise InvalidTransition("This order has no booked time to move.")
    if not booking.is_blocking or order.status not in RESCHEDULABLE_ORDER_STATUSES:
        raise InvalidTransition("This booking can no longer be moved.")
    return booking


@transaction.atomic
def booking_reschedule_propose(*, order, actor, slot_start):
    """The buyer or the seller proposes another free slot; the other one accepts it (or not).
    A new proposal replaces the previous one."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    role = _party(order, actor)
    booking = _reschedulable(order)
    if slot_start is None:
        raise ValidationFailed({"slot_start": "Pick the new time."})
    if slot_start == booking.starts_at:
        raise ValidationFailed({"slot_start": "That is the time already booked."})
    availability = availability_for_listing(listing_id=order.listing_id)
    if availability is None:
        raise ValidationFailed({"slot_start": SLOT_TAKEN})
    _lock_seller(order.seller_id)
    _check_slot(
        availability=availability,
        duration_minutes=_duration(booking),
        seller_id=order.seller_id,
        slot_start=slot_start,
        exclude_pk=booking.pk,
    )
    before = {"proposed_starts_at": booking.proposed_starts_at}
    booking.proposed_starts_at = slot_start
    booking.proposed_by = actor
    booking.proposed_at = clock.now()
    booking.save(update_fields=["proposed_starts_at", "proposed_by", "proposed_at", "updated_at"])
    audit_record(
        action="escrow.booking.reschedule_proposed",
        actor=actor,
        target=booking,
        before={k: v.isoformat() if v else None for k, v in before.items()},
        after={"proposed_starts_at": slot_start.isoformat()},
    )
    other = order.seller if role == "buyer" else order.buyer
    notify(other, "booking.reschedule_proposed", _context(booking, order, other, slot_start))
    return booking


def _duration(booking):
    return int((booking.ends_at - booking.starts_at).total_seconds() // 60)


@transaction.atomic
def booking_reschedule_accept(*, order, actor):
    """The other party accepts the proposed time: the booking moves there (if it is still
    free), with no new payment; both are told, with an updated invitation."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    _party(order, actor)
    booking = _reschedulable(order)
    if booking.proposed_starts_at is None:
        raise InvalidTransition("No new time has been proposed.")
    if booking.proposed_by_id == actor.pk:
        raise NotAllowed("The other party accepts the time you proposed.")
    availability = availability_for_listing(listing_id=order.listing_id)
    if availability is None:
        raise ValidationFailed({"slot_start": SLOT_TAKEN})
    new_start = booking.proposed_starts_at
    duration = _duration(booking)
    _lock_seller(order.seller_id)
    _check_slot(
        availability=availability,
        duration_minutes=duration,
        seller_id=order.seller_id,
        slot_start=new_start,
        exclude_pk=booking.pk,
    )
    before = {"starts_at": booking.starts_at.isoformat()}
    ends_at, blocked_until = _ranges(availability, duration, new_start)
    booking.starts_at, booking.ends_at, booking.blocked_until = new_start, ends_at, blocked_until
    booking.proposed_starts_at = booking.proposed_by = booking.proposed_at = None
    _save_guarded(booking)
    if order.status == OrderStatus.FUNDED:
        order.review_deadline = booked_review_deadline(booking)
        order.save(update_fields=["review_deadline", "updated_at"])
    audit_record(
        action="escrow.booking.rescheduled",
        actor=actor,
        target=booking,
        before=before,
        after={"starts_at": new_start.isoformat()},
    )
    _notify_both(booking, order, "booking.rescheduled")
    return booking


@transaction.atomic
def booking_reschedule_decline(*, order, actor):
    """Either party withdraws or declines the proposed time: the booking stays where it is."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    _party(order, actor)
    booking = _reschedulable(order)
    if booking.proposed_starts_at is None:
        return booking
    proposed = booking.proposed_starts_at
    booking.proposed_starts_at = booking.proposed_by = booking.proposed_at = None
    booking.save(update_fields=["proposed_starts_at", "proposed_by", "proposed_at", "updated_at"])
    audit_record(
        action="escrow.booking.reschedule_declined",
        actor=actor,
        target=booking,
        before={"proposed_starts_at": proposed.isoformat()},
    )
    return booking


# --- Telling people -----------------------------------------------------------------------------


def _context(booking, order, user, starts_at=None):
    return {
        "order_id": order.pk,
        "listing_title": order.listing_title,
        "when": format_local(starts_at or booking.starts_at, user.time_zone),
        "action_url": order.get_absolute_url(),
    }


def _notify_both(booking, order, event_code):
    for user, other in ((order.buyer, order.seller), (order.seller, order.buyer)):
        context = _context(booking, order, user)
        context["ics"] = calendar.booking_invitation(
            booking=booking,
            summary=order.listing_title,
            description=f"Bazaar order #{order.pk}",
            organizer=order.seller,
            attendee=order.buyer,
            url=order.get_absolute_url(),
        )
        context["other"] = other.get_short_name()
        notify(user, event_code, context)
