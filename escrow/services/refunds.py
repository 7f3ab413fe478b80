"""Money going back to the buyer: one service, refund_create, for every way a refund starts (the
seller, staff, a cancellation, a dispute's resolution, a payment made twice or too late), and
the Stripe events about refunds made outside Bazaar.

The pattern is the release's (releases.py): decide once under the order's row lock (the amount
is reserved by the pending EscrowRefund row, so two refunds, or a refund and a release, can
never take the same money twice), then ask Stripe outside the transaction with idempotency keys
from the refund row, then record Stripe's answer under the lock again.

After release the seller's share is taken back first, as a reversal of their transfer. When
their Stripe balance cannot cover it the buyer is refunded anyway and the share is booked as
the seller's debt (LedgerAccount.seller_debt), which their next releases pay off
(releases._release_decide).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from core import clock, stripe_client
from core.audit import audit_record, audited_transition
from core.errors import InvalidTransition, NotAllowed, StripeUnavailable, ValidationFailed
from core.logs import money_fields
from core.money import format_money
from core.stripe_client import idempotency_key
from escrow import ledger, selectors
from escrow.commission import refund_shares
from escrow.models import (
    REFUND_TRANSITIONS,
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    TransferReversal,
)
from escrow.services.orders import (
    milestone_move,
    order_close_if_milestones_done,
    order_mark_refunded,
)
from escrow.services.reversals import release_reverse_share, reversal_book
from notifications.services import notify

logger = logging.getLogger(__name__)

REFUND_ACTIONS = {
    RefundStatus.SUCCEEDED: "escrow.refund.succeeded",
    RefundStatus.FAILED: "escrow.refund.failed",
    RefundStatus.CANCELED: "escrow.refund.canceled",
}

# Who may start a refund of a paid order, and in which statuses.
_REFUNDABLE_BY_PARTICIPANTS = (
    OrderStatus.FUNDED,
    OrderStatus.DELIVERED,
    OrderStatus.RELEASED,
    OrderStatus.DISPUTED,
)
# Started by Bazaar itself: the caller (a cancellation, a dispute resolution, a payment that
# arrived twice or late, Stripe's own records) has already decided it is due.
_SYSTEM_INITIATORS = (
    RefundInitiator.CANCELLATION,
    RefundInitiator.DISPUTE,
    RefundInitiator.DUPLICATE_PAYMENT,
    RefundInitiator.LATE_PAYMENT,
    RefundInitiator.EXTERNAL,
)


def _stripe():
    return stripe_client.client().v1


def refund_move(*, refund, to, actor=None, **changes):
    """Move a locked EscrowRefund to `to` (REFUND_TRANSITIONS, audited). (refund, moved)."""
    return audited_transition(
        refund,
        to=to,
        allowed=REFUND_TRANSITIONS,
        actor=actor,
        action=REFUND_ACTIONS[to],
        **changes,
    )


# --- What is left to refund ---------------------------------------------------------------------


def _held_by_refunds(payment, *, after_release=None, milestone=None):
    refunds = EscrowRefund.objects.holding().filter(payment=payment)
    if after_release is not None:
        refunds = refunds.filter(after_release=after_release)
    if milestone is not None:
        refunds = refunds.filter(milestone=milestone)
    return refunds.aggregate(total=Sum("amount_cents"))["total"] or 0


def refundable_cents(payment):
    """What of this payment can still be refunded: paid minus refunds pending or made."""
    return payment.amount_cents - _held_by_refunds(payment)


def order_refunded_cents(order):
    """Refunded (or being refunded) of the order's payment; 0 when it is not paid."""
    return (
        EscrowRefund.objects.holding()
        .filter(order=order, payment__status=PaymentStatus.SUCCEEDED)
        .aggregate(total=Sum("amount_cents"))["total"]
        or 0
    )


# --- Starting a refund --------------------------------------------------------------------------


def refund_create(
    *,
    order,
    amount_cents,
    reason,
    initiator,
    actor=None,
    payment=None,
    client_key="",
    milestone=None,
):
    """Refund `amount_cents` of an order's payment (or of `payment`, a duplicate or late one) to
    the buyer. Returns the EscrowRefund (pending, succeeded or failed, as Stripe answered).

    Every refund, whoever starts it, comes through here. With a client_key (the API's
    Idempotency-Key) a retry returns the refund made the first time. An order moving milestone
    by milestone is refunded one `milestone` at a time: all of a milestone not released yet,
    or part of a released one (after release, from that milestone's transfer).
    """
    refund, created = refund_decide(
        order=order,
        amount_cents=amount_cents,
        reason=reason,
        initiator=initiator,
        actor=actor,
        payment=payment,
        client_key=client_key,
        milestone=milestone,
    )
    if created:
        refund = refund_execute(refund_id=refund.pk)
    return refund


def refund_decide(
    *,
    order,
    amount_cents,
    reason,
    initiator,
    actor=None,
    payment=None,
    client_key="",
    milestone=None,
):
    """Decide a refund under the order's lock, in the caller's transaction when there is one (a
    cancellation or a dispute's resolution deciding a refund and a release together): the
    pending row that reserves the amount. Returns (refund, created); Stripe is asked by
    refund_execute, after commit."""
    return _refund_decide(
        order_id=order.pk,
        amount_cents=amount_cents,
        reason=reason,
        initiator=initiator,
        actor=actor,
        payment_id=getattr(payment, "pk", None),
        client_key=client_key or "",
        milestone_id=getattr(milestone, "pk", None),
    )


def _check_allowed(order, initiator, actor):
    if initiator == RefundInitiator.SELLER:
        if actor is None or actor.pk != order.seller_id:
            raise NotAllowed("Only the seller can refund this order.")
    elif initiator == RefundInitiator.STAFF:
        if actor is None or not actor.is_staff or not actor.has_perm("escrow.add_escrowrefund"):
            raise NotAllowed("Only finance staff can refund orders.")
    elif initiator not in _SYSTEM_INITIATORS:
        raise ValueError(f"Unknown refund initiator {initiator!r}")


def _validated_amount(amount_cents):
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents < 1:
        raise ValidationFailed({"amount_cents": "Refund at least 1 cent."})
    return amount_cents


@transaction.atomic
def _refund_decide(
    *, order_id, amount_cents, reason, initiator, actor, payment_id, client_key, milestone_id=None
):
    order = Order.objects.select_for_update().get(pk=order_id)
    if client_key:
        existing = EscrowRefund.objects.filter(order=order, client_key=client_key).first()
        if existing:
            return existing, False
    _check_allowed(order, initiator, actor)
    amount = _validated_amount(amount_cents)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Say why the buyer is refunded."})
    if payment_id is None:
        if order.status not in _REFUNDABLE_BY_PARTICIPANTS and initiator not in (
            RefundInitiator.CANCELLATION,
            RefundInitiator.EXTERNAL,
        ):
            raise InvalidTransition(
                f"An order that is {order.get_status_display().lower()} has nothing to refund."
            )
        payment = order.payments.filter(status=PaymentStatus.SUCCEEDED).first()
        if payment is None:
            raise InvalidTransition("This order has not been paid: there is nothing to refund.")
    else:
        payment = EscrowPayment.objects.select_for_update().get(pk=payment_id, order=order)
        if payment.succeeded_at is None:
            raise InvalidTransition(
                "Stripe has not taken this payment: there is nothing to refund."
            )
    payment = EscrowPayment.objects.select_for_update().get(pk=payment.pk)
    left = refundable_cents(payment)
    if amount > left:
        raise ValidationFailed(
            {
                "amount_cents": f"At most {format_money(left, payment.currency)} can still be "
                "refunded."
                if left
                else "This payment has been refunded in full already."
            }
        )
    shares = {}
    release = None
    milestone = None
    # A payment the order did not need (paid twice, or after it closed) is the buyer's, whole:
    # it funded no milestone.
    unwanted = initiator in (RefundInitiator.DUPLICATE_PAYMENT, RefundInitiator.LATE_PAYMENT)
    if payment.status == PaymentStatus.SUCCEEDED and order.has_milestone_plan and not unwanted:
        milestone, release = _milestone_to_refund(order, milestone_id, amount, initiator, actor)
    elif milestone_id is not None:
        raise ValidationFailed({"milestone": "This order has no accepted milestone plan."})
    elif payment.status == PaymentStatus.SUCCEEDED:
        release = EscrowRelease.objects.filter(order=order, milestone__isnull=True).first()
    if release is not None:
        if release.status != ReleaseStatus.TRANSFERRED:
            raise InvalidTransition(
                "The seller's transfer for this order is still being made. Try again in a few "
                "minutes."
            )
        refunded_after = _held_by_refunds(payment, after_release=True, milestone=milestone)
        if milestone is not None and amount > release.gross_cents - refunded_after:
            left = release.gross_cents - refunded_after
            raise ValidationFailed(
                {
                    "amount_cents": f"At most {format_money(left, payment.currency)} of this "
                    "milestone can still be refunded."
                    if left
                    else "This milestone has been refunded in full already."
                }
            )
        split = refund_shares(
            amount,
            refunded_before=refunded_after,
            gross=release.gross_cents,
            commission=release.commission_cents,
            fee_passed_on=release.fee_passed_on_cents,
            return_commission=settings.ESCROW_REFUND_RETURNS_COMMISSION,
        )
        shares = {
            "after_release": True,
            "seller_share_cents": split.seller_cents,
            "commission_share_cents": split.commission_cents,
            "fee_share_cents": split.fee_cents,
        }
    try:
        with transaction.atomic():
            refund = EscrowRefund.objects.create(
                order=order,
                payment=payment,
                initiator=initiator,
                actor=actor if getattr(actor, "pk", None) else None,
                reason=reason[:500],
                amount_cents=amount,
                currency=payment.currency,
                client_key=client_key,
                milestone=milestone,
                **shares,
            )
    except IntegrityError:
        # The same Idempotency-Key raced in twice: the other request's refund stands.
        return EscrowRefund.objects.get(order=order, client_key=client_key), False
    audit_record(
        action="escrow.refund.created",
        actor=actor,
        target=refund,
        after={
            "status": refund.status,
            "initiator": initiator,
            "reason": refund.reason,
            "amount_cents": amount,
            "currency": refund.currency,
            "payment_id": payment.pk,
            **shares,
        }
        | ({"milestone_id": milestone.pk} if milestone is not None else {}),
    )
    if milestone is not None and not refund.after_release:
        milestone_move(
            milestone=milestone,
            to=MilestoneStatus.REFUNDED,
            actor=actor,
            action="escrow.milestone.refunded",
        )
    return refund, True


def _milestone_to_refund(order, milestone_id, amount, initiator, actor):
    """The locked milestone a refund of a milestone order gives back, and its release (None
    before release). Refused: no milestone named, another order's, or all of one not released
    but not its whole amount."""
    if milestone_id is None:
        if initiator in (RefundInitiator.SELLER, RefundInitiator.STAFF):
            raise ValidationFailed(
                {"milestone": "This order is refunded milestone by milestone: choose one."}
            )
        # Money Stripe refunded outside Bazaar cannot be told apart by milestone: staff book it.
        raise InvalidTransition(
            "This order is refunded milestone by milestone; a refund of the order as a whole "
            "cannot be booked."
        )
    milestone = Milestone.objects.select_for_update().filter(pk=milestone_id, order=order).first()
    if milestone is None:
        raise ValidationFailed({"milestone": "Choose a milestone of this order."})
    if milestone.status == MilestoneStatus.REFUNDED:
        raise ValidationFailed({"milestone": "This milestone has been refunded already."})
    if milestone.status == MilestoneStatus.RELEASED:
        release = EscrowRelease.objects.filter(milestone=milestone).first()
        if release is None:
            raise InvalidTransition("This milestone's release is not recorded yet.")
        return milestone, release
    if not milestone.is_open:
        raise InvalidTransition("This milestone is not part of an accepted plan.")
    if amount != milestone.amount_cents:
        # Its commission is the milestone's whole part of the order's: a milestone is refunded
        # whole or released whole, never a mix that would leave a part of its commission.
        raise ValidationFailed(
            {
                "amount_cents": "A milestone not released yet is refunded in full: "
                f"{milestone.amount_display}."
            }
        )
    return milestone, None


# --- Asking Stripe ------------------------------------------------------------------------------


def refund_execute(*, refund_id):
    """Make (or retry) the refund at Stripe: first the reversal of the seller's share (after
    release), then the refund. Idempotent, and never two callers' requests at once."""
    refund = EscrowRefund.objects.get(pk=refund_id)
    if refund.status != RefundStatus.PENDING or refund.stripe_refund_id:
        return refund
    if not _claim(refund_id=refund.pk):
        return EscrowRefund.objects.get(pk=refund_id)
    try:
        if _reversal_due(refund):
            try:
                _reverse_seller_share(refund)
            except StripeUnavailable as exc:  # Stripe may take it later: the retry job asks
                EscrowRefund.objects.filter(pk=refund_id).update(failure_message=exc.message[:300])
                return EscrowRefund.objects.get(pk=refund_id)
        return _refund_at_stripe(EscrowRefund.objects.get(pk=refund_id))
    finally:
        EscrowRefund.objects.filter(pk=refund_id).update(in_flight_since=None)


@transaction.atomic
def _claim(*, refund_id, refunded_at_stripe=False):
    """Claim the refund's Stripe requests for this caller; False if they are not to be sent.
    `refunded_at_stripe`: the refund exists at Stripe already (made in its dashboard), only the
    reversal of the seller's share is to be made."""
    refund = EscrowRefund.objects.select_for_update().get(pk=refund_id)
    now = clock.now()
    if refund.status != RefundStatus.PENDING:
        return False
    if refund.stripe_refund_id and not refunded_at_stripe:
        return False
    timeout = timedelta(seconds=settings.ESCROW_TRANSFER_TIMEOUT_SECONDS)
    if refund.in_flight_since and refund.in_flight_since > now - timeout:
        return False
    refund.in_flight_since = now
    refund.save(update_fields=["in_flight_since"])
    return True


def _reversal_due(refund):
    return (
        refund.after_release
        and refund.seller_share_cents > refund.debt_cents
        and not TransferReversal.objects.filter(refund=refund).exists()
    )


def _reverse_seller_share(refund):
    """Take the seller's share back from their transfer; what their balance cannot cover (or
    what the transfer no longer holds) becomes their debt: the buyer is refunded anyway."""
    release_id = None
    if refund.milestone_id:
        release_id = EscrowRelease.objects.values_list("pk", flat=True).get(
            milestone_id=refund.milestone_id
        )
    release, reversal, why = release_reverse_share(
        order_id=refund.order_id,
        share_cents=refund.seller_share_cents,
        row=refund,
        what="refund",
        release_id=release_id,
    )
    reversed_cents = 0
    if reversal is not None:
        _record_reversal(refund_id=refund.pk, release_id=release.pk, reversal=reversal)
        reversed_cents = reversal.amount
        why = "the transfer was partly reversed already"
    if reversed_cents < refund.seller_share_cents:
        _record_debt(refund_id=refund.pk, debt=refund.seller_share_cents - reversed_cents, why=why)


@transaction.atomic
def _record_reversal(*, refund_id, release_id, reversal):
    refund = EscrowRefund.objects.select_for_update().get(pk=refund_id)
    release = EscrowRelease.objects.select_for_update().get(pk=release_id)
    reversal_book(
        release=release,
        reversal=reversal,
        refund=refund,
        memo=f"Seller's share of refund #{refund.pk} taken back from their transfer",
    )


@transaction.atomic
def _record_debt(*, refund_id, debt, why):
    refund = EscrowRefund.objects.select_for_update().get(pk=refund_id)
    if refund.debt_cents == debt:
        return
    refund.debt_cents = debt
    refund.save(update_fields=["debt_cents"])
    audit_record(
        action="escrow.refund.seller_debt",
        actor=None,
        target=refund,
        after={"debt_cents": debt, "currency": refund.currency, "why": why[:300]},
    )


def _refund_at_stripe(refund):
    payment = refund.payment
    try:
        stripe_refund = stripe_client.call(
            _stripe().refunds.create,
            params={
                "payment_intent": payment.stripe_payment_intent_id,
                "amount": refund.amount_cents,
                "reason": "duplicate"
                if refund.initiator == RefundInitiator.DUPLICATE_PAYMENT
                else "requested_by_customer",
                "metadata": {
                    "bazaar_order_id": str(refund.order_id),
                    "bazaar_refund_id": str(refund.pk),
                },
            },
            options={"idempotency_key": idempotency_key(refund, "refund")},
        )
    except StripeUnavailable as exc:
        logger.warning(
            "Refund %s refused by Stripe: %s",
            refund.pk,
            exc.message,
            extra=money_fields(order_id=refund.order_id, stripe=exc, refund_id=refund.pk),
        )
        if exc.retryable:
            EscrowRefund.objects.filter(pk=refund.pk).update(failure_message=exc.message[:300])
            refund.refresh_from_db()
            return refund  # still pending: the retry job asks again with the same key
        return _record_refund(refund_id=refund.pk, stripe_refund=None, message=exc.message)
    logger.info(
        "Refund made at Stripe: %s",
        stripe_refund.status,
        extra=money_fields(
            order_id=refund.order_id,
            stripe=stripe_refund,
            refund_id=refund.pk,
            amount_cents=refund.amount_cents,
            currency=refund.currency,
        ),
    )
    return _record_refund(refund_id=refund.pk, stripe_refund=stripe_refund)


# --- Recording Stripe's answer ------------------------------------------------------------------


@transaction.atomic
def _record_refund(*, refund_id, stripe_refund, message=""):
    """Stripe's refund (or its refusal, with `message`) decides the row: succeeded books the
    ledger and tells both sides; failed frees the amount again. Locks order, then refund."""
    order_id = EscrowRefund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    refund = EscrowRefund.objects.select_for_update().get(pk=refund_id)
    if stripe_refund is None:
        if refund.status == RefundStatus.PENDING:
            refund, _ = refund_move(
                refund=refund, to=RefundStatus.FAILED, failure_message=message[:300]
            )
            _milestone_back(refund)
        return refund
    if refund.stripe_refund_id is None:
        refund.stripe_refund_id = stripe_refund.id
        refund.save(update_fields=["stripe_refund_id"])
    status = stripe_refund.status
    if status == "succeeded" and refund.status == RefundStatus.PENDING:
        refund, _ = refund_move(
            refund=refund, to=RefundStatus.SUCCEEDED, succeeded_at=timezone.now()
        )
        _book(order, refund)
        _after_success(order, refund)
    elif status in ("failed", "canceled") and refund.status != RefundStatus.FAILED:
        to = RefundStatus.CANCELED if status == "canceled" else RefundStatus.FAILED
        if refund.status == RefundStatus.SUCCEEDED:
            to = RefundStatus.FAILED
        if to in REFUND_TRANSITIONS[refund.status]:
            reason = getattr(stripe_refund, "failure_reason", None) or status
            was_booked = refund.booked_at is not None
            refund, _ = refund_move(refund=refund, to=to, failure_message=str(reason)[:300])
            if was_booked:
                _book(order, refund, undo=True)
            _milestone_back(refund)
    return refund


def _milestone_back(refund):
    """A milestone's refund before release failed: the milestone holds its money again, back
    where it was (delivered, or in progress)."""
    if not refund.milestone_id or refund.after_release:
        return
    milestone = Milestone.objects.select_for_update().get(pk=refund.milestone_id)
    if milestone.status != MilestoneStatus.REFUNDED:
        return
    milestone_move(
        milestone=milestone,
        to=MilestoneStatus.DELIVERED if milestone.delivered_at else MilestoneStatus.PENDING,
        actor=None,
        action="escrow.milestone.refund_failed",
    )


def _book(order, refund, *, undo=False):
    """The refund's ledger lines (or, `undo`, their mirror when Stripe fails a refund it had
    reported made: the money is back on the platform's balance)."""
    amount = refund.amount_cents
    if refund.after_release:
        reversed_cents = refund.seller_share_cents - refund.debt_cents
        lines = [
            (LedgerAccount.STRIPE_BALANCE, -amount),
            (LedgerAccount.TRANSFER_REVERSALS, reversed_cents),
            (LedgerAccount.seller_debt(order.seller_id), refund.debt_cents),
            (LedgerAccount.PLATFORM_COMMISSION, refund.commission_share_cents),
            (LedgerAccount.STRIPE_FEES_RECOVERED, refund.fee_share_cents),
        ]
    else:
        lines = [
            (LedgerAccount.STRIPE_BALANCE, -amount),
            (LedgerAccount.BUYER_FUNDS_HELD, amount),
        ]
    if undo:
        lines = [(account, -value) for account, value in lines]
    ledger.post(
        order=order,
        currency=refund.currency,
        memo=f"Refund #{refund.pk} of order #{order.pk} {'failed at Stripe' if undo else 'made'}",
        stripe_object_id=refund.stripe_refund_id or "",
        lines=lines,
    )
    if not undo:
        refund.booked_at = timezone.now()
        refund.save(update_fields=["booked_at"])


def _after_success(order, refund):
    """The order's status and both sides told (order and refund locked by the caller)."""
    payment = refund.payment
    fully = payment.status == PaymentStatus.SUCCEEDED and refundable_cents(payment) == 0
    if fully and order.status in (
        OrderStatus.FUNDED,
        OrderStatus.DELIVERED,
        OrderStatus.RELEASED,
        OrderStatus.DISPUTED,
    ):
        order, _ = order_mark_refunded(order=order, actor=refund.actor)
    elif refund.milestone_id:
        order, _ = order_close_if_milestones_done(order=order, actor=refund.actor)
    reason_text = _reason_text(refund)
    context = {
        "order_id": order.pk,
        "listing_title": order.listing_title,
        "amount": refund.amount_display,
        "reason_text": reason_text,
        "action_url": order.get_absolute_url(),
    }
    notify(order.buyer, "order.refunded", context)
    if refund.initiator in (RefundInitiator.DUPLICATE_PAYMENT, RefundInitiator.LATE_PAYMENT):
        return  # the seller never had this money
    seller_note = ""
    if refund.after_release and refund.debt_cents:
        seller_note = (
            f" Your Stripe balance could not cover your share: "
            f"{format_money(refund.debt_cents, refund.currency)} will be taken from your next "
            "payments."
        )
    elif refund.after_release and refund.seller_share_cents:
        seller_note = (
            f" {format_money(refund.seller_share_cents, refund.currency)} was taken back from "
            "your Stripe balance."
        )
    notify(order.seller, "order.refund_made", context | {"seller_note": seller_note})


def _reason_text(refund):
    return {
        RefundInitiator.SELLER: "The seller refunded it.",
        RefundInitiator.STAFF: "Bazaar's team refunded it.",
        RefundInitiator.CANCELLATION: "The order was cancelled.",
        RefundInitiator.DISPUTE: "The dispute was resolved.",
        RefundInitiator.DUPLICATE_PAYMENT: "You paid for the order twice; this is the second "
        "payment.",
        RefundInitiator.LATE_PAYMENT: "The payment arrived after the order had closed.",
        RefundInitiator.EXTERNAL: "It was refunded at Stripe.",
    }[RefundInitiator(refund.initiator)]


# --- Stripe's events ----------------------------------------------------------------------------


def refund_sync(*, charge_id):
    """charge.refunded / refund.created / refund.updated: book every refund of the charge as
    Stripe has it. Our own refunds are recorded (a lost answer, a pending refund that ended);
    refunds made in Stripe's dashboard become EscrowRefund rows, shared and booked as ours are.
    The refunds are Stripe's (the charge's list), never the event's."""
    payment = EscrowPayment.objects.filter(stripe_charge_id=charge_id).first()
    if payment is None:
        return []
    refunds = list(
        stripe_client.call(
            _stripe().refunds.list, params={"charge": charge_id, "limit": 100}
        ).auto_paging_iter()
    )
    recorded = []
    for stripe_refund in reversed(refunds):  # oldest first
        ours = EscrowRefund.objects.filter(stripe_refund_id=stripe_refund.id).first()
        refund_id = (stripe_refund.metadata or {}).get("bazaar_refund_id", "")
        if ours is None and refund_id.isdigit():
            ours = EscrowRefund.objects.filter(pk=int(refund_id), payment=payment).first()
        if ours is None:
            ours = _external_refund(payment, stripe_refund)
            if ours is None:
                continue
            if ours.status == RefundStatus.PENDING and _reversal_due(ours):
                ours = refund_execute_reversal_then_record(ours, stripe_refund)
                recorded.append(ours)
                continue
        if stripe_refund.amount != ours.amount_cents or stripe_refund.currency != ours.currency:
            logger.error(
                "Stripe refund %s is %s %s; ours #%s is %s %s: not recorded",
                stripe_refund.id,
                stripe_refund.amount,
                stripe_refund.currency,
                ours.pk,
                ours.amount_cents,
                ours.currency,
                extra=money_fields(order_id=ours.order_id, refund_id=ours.pk),
            )
            continue
        recorded.append(_record_refund(refund_id=ours.pk, stripe_refund=stripe_refund))
    return recorded


def refund_execute_reversal_then_record(refund, stripe_refund):
    """A refund made at Stripe after release: take the seller's share back as for ours, then
    record Stripe's refund."""
    if _claim(refund_id=refund.pk, refunded_at_stripe=True):
        try:
            _reverse_seller_share(refund)
        except StripeUnavailable as exc:  # retried with the next event or by staff
            logger.warning("Reversal for refund %s not made: %s", refund.pk, exc.message)
        finally:
            EscrowRefund.objects.filter(pk=refund.pk).update(in_flight_since=None)
    return _record_refund(refund_id=refund.pk, stripe_refund=stripe_refund)


def _external_refund(payment, stripe_refund):
    """A refund Bazaar did not make: a row for it, capped at what is left to refund."""
    if stripe_refund.status in ("failed", "canceled"):
        return None
    try:
        refund, _ = _refund_decide(
            order_id=payment.order_id,
            amount_cents=stripe_refund.amount,
            reason="Refunded in Stripe's dashboard.",
            initiator=RefundInitiator.EXTERNAL,
            actor=None,
            payment_id=payment.pk,
            client_key=f"stripe:{stripe_refund.id}",
        )
    except (ValidationFailed, InvalidTransition) as exc:
        logger.error(
            "Stripe refund %s of %s %s could not be booked on order %s: %s",
            stripe_refund.id,
            stripe_refund.amount,
            stripe_refund.currency,
            payment.order_id,
            exc.message,
            extra=money_fields(order_id=payment.order_id, payment_id=payment.pk),
        )
        return None
    EscrowRefund.objects.filter(pk=refund.pk, stripe_refund_id__isnull=True).update(
        stripe_refund_id=stripe_refund.id
    )
    refund.refresh_from_db()
    return refund


# --- Jobs ---------------------------------------------------------------------------------------


def refunds_retry():
    """Ask Stripe again for the refunds still pending without an answer (same keys), and
    refund the unwanted payments whose refund was never started (a crash in between)."""
    for payment_id in selectors.payments_unwanted_unrefunded():
        refund_unwanted_payment(payment_id=payment_id)
    due = selectors.refunds_due_for_retry(now=clock.now())
    return [refund_execute(refund_id=pk).status for pk in due]


def refund_unwanted_payment(*, payment_id):
    """A payment Stripe took that the order does not need (paid twice, or after the order
    closed unpaid) goes back to the buyer in full. Idempotent: a second call finds nothing
    left to refund."""
    payment = EscrowPayment.objects.select_related("order").get(pk=payment_id)
    if payment.succeeded_at is None or refundable_cents(payment) == 0:
        return None
    late = payment.status == PaymentStatus.SUCCEEDED
    if late and payment.order.funded_at is not None:
        return None  # the order's own payment
    return refund_create(
        order=payment.order,
        payment=payment,
        amount_cents=refundable_cents(payment),
        reason="Paid after the order had closed."
        if late
        else "Paid twice: the second payment is returned.",
        initiator=RefundInitiator.LATE_PAYMENT if late else RefundInitiator.DUPLICATE_PAYMENT,
        client_key=f"unwanted-payment:{payment.pk}",
    )
