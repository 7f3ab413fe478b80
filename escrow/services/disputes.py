"""Disputes: a buyer reports a problem with a paid order before its money is released, the
seller answers, and finance staff decide where the held money goes (release, refund or split).

Opening one freezes the order (DISPUTED): the auto-release job and the release reminder look
for delivered orders only, so neither touches it. Withdrawing it sends the order back where it
was (a delivered order gets a fresh review window). Resolving it decides the refund and the
release together, in one transaction under the order's row lock (refund first: the release takes
what the refunds left), and Stripe is asked after commit; the retry jobs finish what a failed
call left pending. A seller's full refund meanwhile ends the dispute (orders.order_mark_refunded).

Evidence is not stored here: the order's conversation holds it. `dispute_opened` lets messaging
(above escrow) write a note there when a dispute opens.
"""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from core import clock
from core.audit import audit_record
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.money import format_money
from escrow import selectors
from escrow.models import (
    OPEN_DISPUTE_STATUSES,
    OPEN_MILESTONE_STATUSES,
    Dispute,
    DisputeReason,
    DisputeResolution,
    DisputeStatus,
    EscrowRelease,
    Order,
    OrderStatus,
    RefundInitiator,
    ReleaseTrigger,
)
from escrow.services import dispute_notices
from escrow.services.orders import order_mark_disputed, order_mark_undisputed
from escrow.services.refunds import refund_decide, refund_execute
from escrow.services.releases import (
    escrow_release_decide,
    milestone_release_decide,
    release_transfer,
)
from escrow.services.transitions import dispute_move
from escrow.signals import dispute_opened

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 5000
# A problem can be reported while the money is held: paid, and not released yet.
DISPUTABLE_STATUSES = (OrderStatus.FUNDED, OrderStatus.DELIVERED)
RESOLVE_PERMISSION = "escrow.resolve_dispute"


def _lock_order(order_id):
    return Order.objects.select_for_update().get(pk=order_id)


def _lock(dispute):
    """The order's row first, then the dispute's: every writer of either takes them so."""
    order = _lock_order(dispute.order_id)
    return order, Dispute.objects.select_for_update().get(pk=dispute.pk)


def _text(value, field, *, empty):
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationFailed({field: empty})
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationFailed(
            {field: f"Write at most {MAX_TEXT_CHARS} characters ({len(text)} now)."}
        )
    return text


# --- The buyer opens one ------------------------------------------------------------------------


@transaction.atomic
def dispute_open(*, order, actor, reason, description, client_key=""):
    """The buyer reports a problem: the order freezes and the seller is asked to answer.

    Returns (dispute, created). With a client_key (the API's Idempotency-Key) a retry returns
    the dispute the first request opened.
    """
    order = _lock_order(order.pk)
    if actor is None or actor.pk != order.buyer_id:
        raise NotAllowed("Only the buyer can report a problem with this order.")
    if client_key:
        existing = Dispute.objects.filter(order=order, client_key=client_key).first()
        if existing is not None:
            return existing, False
    if Dispute.objects.filter(order=order, status__in=OPEN_DISPUTE_STATUSES).exists():
        raise InvalidTransition(
            "You have already reported a problem with this order; Bazaar's team is on it."
        )
    if order.has_milestone_plan:
        # The milestones not released yet are what the dispute freezes.
        released_all = not order.milestones.filter(status__in=OPEN_MILESTONE_STATUSES).exists()
    else:
        released_all = EscrowRelease.objects.filter(order=order).exists()
    if order.status not in DISPUTABLE_STATUSES or released_all:
        raise InvalidTransition(
            "You can report a problem while Bazaar holds your payment: once you have paid and "
            "before it is released to the seller."
        )
    errors = {}
    if reason not in DisputeReason.values:
        errors["reason"] = "Choose what is wrong."
    elif reason == DisputeReason.NO_SHOW:
        refused = selectors.no_show_refusal(order)
        if refused:
            errors["reason"] = refused
    try:
        description = _text(
            description,
            "description",
            empty="Describe the problem: what you expected and what you got.",
        )
    except ValidationFailed as exc:
        errors |= exc.errors
    if errors:
        raise ValidationFailed(errors)
    now = clock.now()
    try:
        with transaction.atomic():
            dispute = Dispute.objects.create(
                order=order,
                reason=reason,
                description=description,
                opened_by=actor,
                client_key=client_key or "",
                response_due_at=now + timedelta(days=settings.BAZAAR_DISPUTE_RESPONSE_DAYS),
                resolve_by=now + timedelta(days=settings.BAZAAR_DISPUTE_RESOLUTION_DAYS),
            )
    except IntegrityError:
        # The same Idempotency-Key (or a second tab) raced in: the first request's dispute stands.
        if client_key:
            existing = Dispute.objects.filter(order=order, client_key=client_key).first()
            if existing is not None:
                return existing, False
        raise InvalidTransition(
            "You have already reported a problem with this order; Bazaar's team is on it."
        ) from None
    order_status = order.status
    order, _ = order_mark_disputed(order=order, actor=actor)
    audit_record(
        action="escrow.dispute.opened",
        actor=actor,
        target=dispute,
        after={
            "status": dispute.status,
            "order_id": order.pk,
            "order_status": order_status,
            "reason": reason,
            "description": description,
            "response_due_at": dispute.response_due_at,
            "resolve_by": dispute.resolve_by,
        },
    )
    dispute_opened.send(sender=Dispute, dispute=dispute)
    dispute_notices.notify_opened(dispute, order)
    return dispute, True


# --- The seller answers, the buyer withdraws ----------------------------------------------------


@transaction.atomic
def dispute_respond(*, dispute, actor, response):
    """The seller gives their side. Once: anything more goes into the order's conversation."""
    order, dispute = _lock(dispute)
    if actor is None or actor.pk != order.seller_id:
        raise NotAllowed("Only the seller can answer this dispute.")
    if dispute.status == DisputeStatus.ANSWERED:
        raise InvalidTransition(
            "You have answered already. Add anything else in the order's conversation."
        )
    if dispute.status != DisputeStatus.OPEN:
        raise InvalidTransition("This dispute is closed: there is nothing left to answer.")
    text = _text(response, "response", empty="Say what happened from your side.")
    dispute, _ = dispute_move(
        dispute=dispute,
        to=DisputeStatus.ANSWERED,
        actor=actor,
        response=text,
        responded_at=clock.now(),
    )
    dispute_notices.notify_answered(dispute, order)
    return dispute


@transaction.atomic
def dispute_withdraw(*, dispute, actor):
    """The buyer takes the report back: the order goes back to where it was, and a delivered
    order's review window starts again in full. Withdrawing twice is quiet."""
    order, dispute = _lock(dispute)
    if actor is None or actor.pk != order.buyer_id:
        raise NotAllowed("Only the buyer can withdraw this dispute.")
    if dispute.status == DisputeStatus.WITHDRAWN:
        return dispute
    if dispute.status not in OPEN_DISPUTE_STATUSES:
        raise InvalidTransition("This dispute is resolved: it can no longer be withdrawn.")
    dispute, _ = dispute_move(
        dispute=dispute, to=DisputeStatus.WITHDRAWN, actor=actor, closed_at=clock.now()
    )
    order_mark_undisputed(order=order, actor=actor, action="escrow.order.dispute_withdrawn")
    dispute_notices.notify_withdrawn(dispute, order)
    return dispute


# --- Staff decide -------------------------------------------------------------------------------


def may_resolve(user):
    """Finance staff (the escrow.resolve_dispute permission) and superusers."""
    return bool(
        user is not None and user.is_active and user.is_staff and user.has_perm(RESOLVE_PERMISSION)
    )


def _amount(value, field):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed({field: "Enter an amount of 0 or more."})
    return value


def _check_amounts(*, resolution, refund_cents, release_cents, held, currency):
    """The decision must hand out exactly what is held: field messages otherwise."""
    if resolution not in DisputeResolution.values:
        raise ValidationFailed({"resolution": "Choose release, refund or split."})
    errors = {}
    refund = _amount(refund_cents, "refund_cents")
    release = _amount(release_cents, "release_cents")
    money = partial(format_money, currency=currency)
    if resolution == DisputeResolution.RELEASE and refund:
        errors["refund_cents"] = "Releasing to the seller refunds nothing: leave it at 0, or split."
    elif resolution == DisputeResolution.REFUND and release:
        errors["release_cents"] = "Refunding the buyer releases nothing: leave it at 0, or split."
    elif resolution == DisputeResolution.SPLIT:
        if not refund:
            errors["refund_cents"] = "A split refunds part to the buyer: enter more than 0."
        if not release:
            errors["release_cents"] = "A split releases part to the seller: enter more than 0."
    if not errors and refund + release != held:
        message = (
            f"Refund and release must add up to exactly the {money(held)} held "
            f"(they add up to {money(refund + release)})."
        )
        if resolution == DisputeResolution.RELEASE:
            errors["release_cents"] = message
        elif resolution == DisputeResolution.REFUND:
            errors["refund_cents"] = message
        else:
            errors["refund_cents"] = errors["release_cents"] = message
    if errors:
        raise ValidationFailed(errors)
    return refund, release


@transaction.atomic
def dispute_resolve(*, dispute, actor, resolution, refund_cents, release_cents, note):
    """Finance staff decide: refund the buyer, release to the seller, or split what is held.

    The refund and the release are decided here, in one transaction with the dispute's
    resolution (the refund first: the release takes what is left); Stripe makes them after
    commit (refund_execute, release_transfer), and the retry jobs finish what a failed call
    left pending.
    """
    if not may_resolve(actor):
        raise NotAllowed("Only finance staff can resolve disputes.")
    order, dispute = _lock(dispute)
    if dispute.status == DisputeStatus.RESOLVED:
        raise InvalidTransition("This dispute was resolved already.")
    if dispute.status == DisputeStatus.WITHDRAWN:
        raise InvalidTransition("The buyer withdrew this dispute: there is nothing to resolve.")
    if order.status != OrderStatus.DISPUTED:
        raise InvalidTransition(
            f"The order is {order.get_status_display().lower()}, not frozen by this dispute."
        )
    if any(c.is_open for c in order.chargebacks.all()):
        # The card network decides that money now; a refund of the charge would be refused.
        raise InvalidTransition(
            "The buyer's bank is disputing this payment (a chargeback): wait for the bank's "
            "decision before resolving."
        )
    held = selectors.order_held_cents(order)
    if held == 0:
        raise InvalidTransition(
            "Nothing is held for this order any more (a refund is under way): look again in a "
            "few minutes."
        )
    refund_cents, release_cents = _check_amounts(
        resolution=resolution,
        refund_cents=refund_cents,
        release_cents=release_cents,
        held=held,
        currency=order.currency,
    )
    note = _text(note, "note", empty="Say how you decided: the buyer and the seller read it.")
    return _settle(
        order=order,
        dispute=dispute,
        actor=actor,
        resolution=resolution,
        refund_cents=refund_cents,
        release_cents=release_cents,
        note=note,
    )


def _settle(*, order, dispute, actor, resolution, refund_cents, release_cents, note):
    """Resolve a locked dispute with amounts already checked: the refund and the release are
    decided here, Stripe makes them after commit. `actor` None is Bazaar itself (the automatic
    refund of a seller's no-show)."""
    if order.has_milestone_plan:
        return _resolve_by_milestone(
            order=order,
            dispute=dispute,
            actor=actor,
            resolution=resolution,
            refund_cents=refund_cents,
            release_cents=release_cents,
            note=note,
        )
    refund = release = None
    if refund_cents:
        refund, _ = refund_decide(
            order=order,
            amount_cents=refund_cents,
            reason=f"Dispute #{dispute.pk}: {note}"[:500],
            initiator=RefundInitiator.DISPUTE,
            actor=actor,
            client_key=f"dispute-{dispute.pk}",
        )
    if release_cents:
        release, _ = escrow_release_decide(order=order, trigger=ReleaseTrigger.DISPUTE, actor=actor)
        if release.gross_cents != release_cents:
            # Not reachable while the order is locked; if it ever is, nothing may move.
            raise InvalidTransition(
                "What is held changed while you decided: nothing was done. Look again."
            )
    now = clock.now()
    dispute, _ = dispute_move(
        dispute=dispute,
        to=DisputeStatus.RESOLVED,
        actor=actor,
        resolution=resolution,
        refund_cents=refund_cents,
        release_cents=release_cents,
        refund=refund,
        resolved_by=actor if getattr(actor, "pk", None) else None,
        resolved_at=now,
        closed_at=now,
        resolution_note=note,
    )
    dispute_notices.notify_resolved(dispute, order)
    # After commit, each on its own: a refund Stripe refuses must not keep the seller's
    # transfer from being made, nor the other way round.
    if refund is not None:
        transaction.on_commit(partial(refund_execute, refund_id=refund.pk), robust=True)
    if release is not None:
        transaction.on_commit(partial(release_transfer, release_id=release.pk), robust=True)
    return dispute


def _resolve_by_milestone(*, order, dispute, actor, resolution, refund_cents, release_cents, note):
    """A milestone order's dispute froze the milestones not released: staff refund them all
    or release them all, each milestone whole (its own refund or release, as when settled one
    by one). A split of one milestone's money would leave part of its commission undecided:
    staff settle milestones one by one (refund some, then release the rest) instead."""
    if resolution == DisputeResolution.SPLIT:
        raise ValidationFailed(
            {
                "resolution": "A milestone order is split milestone by milestone: refund the "
                "milestones the buyer gets back first, then release or refund the rest."
            }
        )
    open_ones = list(
        order.milestones.select_for_update()
        .filter(status__in=OPEN_MILESTONE_STATUSES)
        .order_by("position")
    )
    refunds, releases = [], []
    for milestone in open_ones:
        if resolution == DisputeResolution.REFUND:
            refund, _ = refund_decide(
                order=order,
                amount_cents=milestone.amount_cents,
                reason=f"Dispute #{dispute.pk}: {note}"[:500],
                initiator=RefundInitiator.DISPUTE,
                actor=actor,
                client_key=f"dispute-{dispute.pk}-milestone-{milestone.pk}",
                milestone=milestone,
            )
            refunds.append(refund)
        else:
            release, _ = milestone_release_decide(
                milestone=milestone, trigger=ReleaseTrigger.DISPUTE, actor=actor
            )
            releases.append(release)
    now = clock.now()
    dispute, _ = dispute_move(
        dispute=dispute,
        to=DisputeStatus.RESOLVED,
        actor=actor,
        resolution=resolution,
        refund_cents=refund_cents,
        release_cents=release_cents,
        refund=refunds[0] if len(refunds) == 1 else None,
        resolved_by=actor if getattr(actor, "pk", None) else None,
        resolved_at=now,
        closed_at=now,
        resolution_note=note,
    )
    dispute_notices.notify_resolved(dispute, order)
    for refund in refunds:
        transaction.on_commit(partial(refund_execute, refund_id=refund.pk), robust=True)
    for release in releases:
        transaction.on_commit(partial(release_transfer, release_id=release.pk), robust=True)
    return dispute


# --- Deadlines (the beat job) -------------------------------------------------------------------


def dispute_escalate_due():
    """Escalate every dispute past its deadline. Returns how many were escalated now."""
    return sum(
        1 for pk in selectors.disputes_due_for_escalation() if dispute_escalate(dispute_id=pk)
    )


@transaction.atomic
def dispute_escalate(*, dispute_id):
    """One dispute past a deadline (the seller's answer, or staff's decision) is escalated once:
    highlighted in the admin, and the staff who may resolve it are emailed. True if it was."""
    dispute = Dispute.objects.select_for_update().select_related("order").get(pk=dispute_id)
    now = clock.now()
    if dispute.escalated_at is not None or not dispute.is_open:
        return False
    if dispute.status == DisputeStatus.OPEN and dispute.response_due_at <= now:
        why = (
            "The seller has not answered; their deadline was "
            f"{dispute_notices.when_text(dispute.response_due_at)}."
        )
    elif dispute.resolve_by <= now:
        why = f"It was to be resolved by {dispute_notices.when_text(dispute.resolve_by)}."
    else:
        return False
    dispute.escalated_at = now
    dispute.save(update_fields=["escalated_at", "updated_at"])
    audit_record(
        action="escrow.dispute.escalated",
        actor=None,
        target=dispute,
        after={"escalated_at": now, "why": why},
    )
    dispute_notices.notify_escalated(
        dispute,
        dispute.order,
        staff=selectors.dispute_deciders(),
        why=why,
        admin_url=reverse("admin:escrow_dispute_change", args=[dispute.pk]),
    )
    return True


# --- A seller's no-show (the same beat job, before escalating) ---------------------------------


def dispute_refund_no_shows_due():
    """Refund in full every no-show dispute the seller left unanswered past their deadline.
    Returns how many were refunded now."""
    return sum(
        1
        for pk in selectors.no_show_disputes_due_for_refund()
        if dispute_refund_no_show(dispute_id=pk)
    )


@transaction.atomic
def dispute_refund_no_show(*, dispute_id):
    """The buyer said the seller did not show up and the seller has not answered by their
    deadline: Bazaar resolves the dispute as a full refund of what is held, as staff's refund
    decision would (the refund, the freed booking, both told, audited with actor None and the
    why in the resolution note). Once: True if it was refunded now. A dispute the seller answered,
    one a chargeback holds, or one with nothing held is left to staff (escalation)."""
    order_id = Dispute.objects.filter(pk=dispute_id).values_list("order_id", flat=True).first()
    if order_id is None:
        return False
    order = _lock_order(order_id)
    dispute = Dispute.objects.select_for_update().get(pk=dispute_id)
    now = clock.now()
    if (
        dispute.status != DisputeStatus.OPEN
        or dispute.reason != DisputeReason.NO_SHOW
        or dispute.response_due_at > now
        or order.status != OrderStatus.DISPUTED
        or any(c.is_open for c in order.chargebacks.all())
    ):
        return False
    held = selectors.order_held_cents(order)
    if held == 0:
        return False
    note = (
        "The buyer reported that the seller did not show up, and the seller did not answer by "
        f"their deadline ({dispute_notices.when_text(dispute.response_due_at)}): Bazaar "
        "refunded the buyer in full."
    )
    _settle(
        order=order,
        dispute=dispute,
        actor=None,
        resolution=DisputeResolution.REFUND,
        refund_cents=held,
        release_cents=0,
        note=note,
    )
    return True
