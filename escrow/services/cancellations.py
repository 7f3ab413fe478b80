"""Cancelling a paid order: the buyer (before delivery) under the order's cancellation policy
(what they get back is marketplace.policies' answer, shown to them before they confirm), the
seller always with a full refund.

One decision under the order's lock: the order is cancelled, the refund is decided
(refund_decide) and the part the buyer does not get back is released to the seller as their
compensation, minus commission on that part, by the release path (escrow_release_decide with
the cancellation trigger). Stripe is asked once the decision is committed, so a cancelled order
always ends with escrow at zero. (So call it outside a transaction, as a view or task does.)
"""

from dataclasses import dataclass

from django.db import transaction

from core import clock
from core.audit import audit_record
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.money import format_money
from escrow.models import (
    Booking,
    BookingStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundInitiator,
    ReleaseTrigger,
)
from escrow.services.orders import order_cancel_unpaid, order_mark_cancelled
from escrow.services.refunds import refund_decide, refund_execute, refundable_cents
from escrow.services.releases import escrow_release_decide, release_transfer
from marketplace.policies import cancellation_quote, describe
from notifications.services import notify

CANCELLABLE_WHEN_PAID = (OrderStatus.FUNDED, OrderStatus.DELIVERED)


@dataclass(frozen=True)
class CancellationPreview:
    """What cancelling now would do, in cents of the order's currency."""

    held_cents: int  # what escrow holds for the order now
    refund_cents: int  # back to the buyer
    compensation_cents: int  # to the seller (minus commission on it)
    percent: int
    currency: str
    explanation: str  # the tier that applies, in words
    policy: str
    policy_text: str

    @property
    def refund_display(self):
        return format_money(self.refund_cents, self.currency)

    @property
    def compensation_display(self):
        return format_money(self.compensation_cents, self.currency)


def _held(order):
    payment = order.payments.filter(status=PaymentStatus.SUCCEEDED).first()
    return payment, (refundable_cents(payment) if payment else 0)


def _role(order, actor):
    if actor is not None and actor.pk == order.buyer_id:
        return "buyer"
    if actor is not None and actor.pk == order.seller_id:
        return "seller"
    raise NotAllowed("Only the buyer or the seller can cancel this order.")


def order_cancel_preview(*, order, actor, now=None):
    """What the actor's cancellation would refund now. The buyer's follows the policy; the
    seller's is always everything held."""
    role = _role(order, actor)
    if order.status not in CANCELLABLE_WHEN_PAID:
        raise InvalidTransition(
            f"An order that is {order.get_status_display().lower()} cannot be cancelled."
        )
    if order.has_milestone_plan:
        # Its money is settled milestone by milestone (escrow.services.milestones): the seller
        # refunds the milestones not released, the buyer reports a problem.
        raise InvalidTransition(
            "This order is settled milestone by milestone: the seller can refund the "
            "milestones not released yet, and the buyer can report a problem."
        )
    if role == "buyer" and order.status != OrderStatus.FUNDED:
        raise InvalidTransition(
            "The seller has delivered this order: approve it, or report a problem if something "
            "is wrong."
        )
    _, held = _held(order)
    policy_text = describe(order.cancellation_policy, order.listing_kind)
    if role == "seller":
        return CancellationPreview(
            held_cents=held,
            refund_cents=held,
            compensation_cents=0,
            percent=100,
            currency=order.currency,
            explanation="A seller's cancellation always refunds the buyer in full.",
            policy=order.cancellation_policy,
            policy_text=policy_text,
        )
    booking = Booking.objects.filter(order=order, status=BookingStatus.CONFIRMED).first()
    quote = cancellation_quote(
        order.cancellation_policy,
        total_cents=held,
        # A booked service is measured from its booked start; anything else from delivery.
        starts_at=booking.starts_at if booking is not None else None,
        now=now or clock.now(),
        delivered=order.status == OrderStatus.DELIVERED,
        kind=order.listing_kind,
    )
    return CancellationPreview(
        held_cents=held,
        refund_cents=quote.refund_cents,
        compensation_cents=quote.compensation_cents,
        percent=quote.percent,
        currency=order.currency,
        explanation=quote.tier_text,
        policy=order.cancellation_policy,
        policy_text=policy_text,
    )


def order_cancel(*, order, actor, expected_refund_cents=None, reason=""):
    """Call off an order: before payment (the buyer or staff; stock returns, nothing was
    charged) or after it (see order_cancel_paid)."""
    status = Order.objects.values_list("status", flat=True).get(pk=order.pk)
    if status in CANCELLABLE_WHEN_PAID:
        return order_cancel_paid(
            order=order, actor=actor, expected_refund_cents=expected_refund_cents, reason=reason
        )
    return order_cancel_unpaid(order=order, actor=actor)


def order_cancel_paid(*, order, actor, expected_refund_cents=None, reason=""):
    """Cancel a paid order (see the module). `expected_refund_cents`: the refund the person was
    shown; when time moved the order into another tier since, nothing happens and they are
    asked to look again."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        role = _role(order, actor)
        preview = order_cancel_preview(order=order, actor=actor)
        if expected_refund_cents is not None and expected_refund_cents != preview.refund_cents:
            raise ValidationFailed(
                {
                    "expected_refund_cents": "The refund for cancelling changed to "
                    f"{preview.refund_display} since you looked. Check it and confirm again."
                }
            )
        order = order_mark_cancelled(
            order=order, actor=actor, action=f"escrow.order.cancelled_by_{role}"
        )
        audit_record(
            action="escrow.order.cancellation_terms",
            actor=actor,
            target=order,
            after={
                "policy": preview.policy,
                "percent": preview.percent,
                "refund_cents": preview.refund_cents,
                "compensation_cents": preview.compensation_cents,
                "reason": (reason or "")[:300],
            },
        )
        refund = release = None
        if preview.refund_cents:
            refund, _ = refund_decide(
                order=order,
                amount_cents=preview.refund_cents,
                reason=f"Cancelled by the {role}. {preview.explanation}",
                initiator=RefundInitiator.CANCELLATION,
                actor=actor,
            )
        if preview.compensation_cents:
            release, _ = escrow_release_decide(
                order=order, trigger=ReleaseTrigger.CANCELLATION, actor=actor
            )
        context = {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "who": "the buyer" if role == "buyer" else "the seller",
            "refund": preview.refund_display,
            "compensation": preview.compensation_display,
            "action_url": order.get_absolute_url(),
        }
        notify(order.seller if role == "buyer" else order.buyer, "order.cancelled_paid", context)
    # Decided and committed: now Stripe (a failure leaves the rows to the retry jobs).
    if refund is not None:
        refund_execute(refund_id=refund.pk)
    if release is not None:
        release_transfer(release_id=release.pk)
    order.refresh_from_db()
    return order
