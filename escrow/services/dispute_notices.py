"""What the buyer, the seller and staff are told as a dispute moves (events in
notifications/events.py, `dispute.*`). Used by disputes.py and by orders.py (an order refunded
in full ends its dispute), so it imports neither."""

from core.money import format_money
from escrow.models import DisputeReason, DisputeResolution
from notifications.services import notify

DEADLINE_FORMAT = "%d %b %Y %H:%M UTC"


def when_text(value):
    return value.strftime(DEADLINE_FORMAT) if value else ""


def _context(dispute, order):
    return {
        "order_id": order.pk,
        "dispute_id": dispute.pk,
        "listing_title": order.listing_title,
        "reason": dispute.get_reason_display(),
        "deadline": when_text(dispute.response_due_at),
        "resolve_by": when_text(dispute.resolve_by),
        "action_url": dispute.get_absolute_url(),
        # "The seller did not show up", unanswered by the deadline, is refunded in full.
        "refunded_if_unanswered": dispute.reason == DisputeReason.NO_SHOW,
        # A product's evidence may be a tracking number; a service's never is.
        "is_product": order.is_product,
    }


def notify_opened(dispute, order):
    context = _context(dispute, order)
    notify(order.seller, "dispute.opened", context)
    notify(order.buyer, "dispute.received", context)


def notify_answered(dispute, order):
    context = _context(dispute, order)
    notify(order.buyer, "dispute.answered", context)
    notify(order.seller, "dispute.answer_sent", context)


def notify_withdrawn(dispute, order):
    notify(order.seller, "dispute.withdrawn", _context(dispute, order))


def outcome_text(dispute, order, *, for_buyer):
    """The decision in a sentence, as the buyer or the seller reads it."""
    refund = format_money(dispute.refund_cents, order.currency)
    release = format_money(dispute.release_cents, order.currency)
    if dispute.resolution == DisputeResolution.RELEASE:
        text = (
            f"The {release} held was released to the seller."
            if for_buyer
            else f"The {release} held is released to you, minus Bazaar's commission."
        )
    elif dispute.resolution == DisputeResolution.REFUND:
        text = (
            f"{refund} is refunded to you." if for_buyer else f"{refund} is refunded to the buyer."
        )
    else:
        text = (
            f"{refund} is refunded to you and {release} released to the seller."
            if for_buyer
            else f"{refund} is refunded to the buyer and {release} released to you, minus "
            "Bazaar's commission."
        )
    if dispute.resolution_note:
        text += f" {dispute.resolution_note}"
    return text


def outcome_for_staff(dispute, order):
    """The decision in a sentence for the back office."""
    parts = []
    if dispute.refund_cents:
        parts.append(f"{format_money(dispute.refund_cents, order.currency)} refunded to the buyer")
    if dispute.release_cents:
        parts.append(
            f"{format_money(dispute.release_cents, order.currency)} released to the seller"
        )
    return " and ".join(parts) + "."


def notify_resolved(dispute, order):
    context = _context(dispute, order)
    notify(
        order.buyer,
        "dispute.resolved",
        context | {"outcome": outcome_text(dispute, order, for_buyer=True)},
    )
    notify(
        order.seller,
        "dispute.resolved",
        context | {"outcome": outcome_text(dispute, order, for_buyer=False)},
    )


def notify_escalated(dispute, order, *, staff, why, admin_url):
    context = _context(dispute, order) | {"why": why, "action_url": admin_url}
    for user in staff:
        notify(user, "dispute.escalated", context)
