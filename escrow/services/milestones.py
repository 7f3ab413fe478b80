"""Milestone orders: a service order paid once, delivered and released in parts.

The seller proposes a plan (titles, amounts in cents, due dates) that adds up to the order's
total, before anything is delivered; they may replace it until the buyer accepts it; once
accepted it is fixed (Order.milestones_accepted_at). Each milestone's share of the order's
commission is fixed with the plan (escrow.commission.split_in_proportion, largest remainder),
so the shares add up to the order's commission exactly.

Each milestone is then delivered by the seller and released on its own (buyer approval, the
auto-release job after its review window, staff, a dispute's resolution): releases.py
milestone_release, one EscrowRelease and one Transfer each, in the order's transfer_group.
A milestone not released is refunded whole through refunds.refund_create (naming the
milestone); after release, part of it, from that milestone's transfer. The order is released
when its last milestone is settled (orders.order_close_if_milestones_done), refunded when
every milestone was refunded.

Every writer locks the order's row, then the milestones': the order is the one lock that
orders everything done to its money.
"""

from datetime import date, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction

from core import clock
from core.audit import audit_record
from core.datetimes import OUT_OF_BOUNDS, date_in_bounds
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.money import format_money
from escrow.commission import split_in_proportion
from escrow.models import (
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
    RefundInitiator,
    ReleaseTrigger,
)
from escrow.services.orders import milestone_move
from escrow.services.refunds import (
    order_refunded_cents,
    refund_create,
    refund_decide,
    refund_execute,
)
from escrow.services.releases import milestone_release
from marketplace.models import ListingKind
from notifications.services import notify

MAX_MILESTONES = 20
MIN_MILESTONES = 2
TITLE_MAX_CHARS = 140
NOTE_MAX_CHARS = 5000
# A plan is agreed before anything is delivered: while the order waits for payment or is paid.
PLANNABLE_STATUSES = (OrderStatus.PENDING_PAYMENT, OrderStatus.FUNDED)


def _lock_order(order):
    return Order.objects.select_for_update().get(pk=order.pk)


def _parsed_date(value):
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _validated_plan(items, *, total, currency, today):
    """[(title, amount_cents, due_date)] from the proposal, or ValidationFailed with a message
    per field: `milestones` for the plan as a whole, `milestones.<n>.<field>` (n from 0) for
    one of them."""
    if not isinstance(items, list | tuple) or not items:
        raise ValidationFailed({"milestones": "Add the milestones: at least two."})
    if len(items) < MIN_MILESTONES:
        raise ValidationFailed(
            {"milestones": f"Split the order into at least {MIN_MILESTONES} milestones."}
        )
    if len(items) > MAX_MILESTONES:
        raise ValidationFailed(
            {"milestones": f"Split the order into at most {MAX_MILESTONES} milestones."}
        )
    errors, plan = {}, []
    for n, item in enumerate(items):
        item = item if isinstance(item, dict) else {}
        title = item.get("title")
        title = title.strip() if isinstance(title, str) else ""
        amount = item.get("amount_cents")
        due = _parsed_date(item.get("due_date"))
        if not title:
            errors[f"milestones.{n}.title"] = "Give the milestone a title."
        elif len(title) > TITLE_MAX_CHARS:
            errors[f"milestones.{n}.title"] = f"Keep the title to {TITLE_MAX_CHARS} characters."
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            errors[f"milestones.{n}.amount_cents"] = "Enter an amount of at least 1 cent."
        elif amount > total:
            # Also keeps a typo of 10**30 from reaching the sum's message (Decimal's precision).
            errors[f"milestones.{n}.amount_cents"] = (
                f"Enter at most the order's total, {format_money(total, currency)}."
            )
        if due is None:
            errors[f"milestones.{n}.due_date"] = "Enter a date as YYYY-MM-DD."
        elif not date_in_bounds(due):
            errors[f"milestones.{n}.due_date"] = OUT_OF_BOUNDS
        elif due < today:
            errors[f"milestones.{n}.due_date"] = "Choose today or a later date."
        elif plan and plan[-1][2] is not None and due < plan[-1][2]:
            errors[f"milestones.{n}.due_date"] = "Due no earlier than the milestone before it."
        plan.append((title, amount, due))
    if errors:
        raise ValidationFailed(errors)
    planned = sum(amount for _, amount, _ in plan)
    if planned != total:
        raise ValidationFailed(
            {
                "milestones": f"The milestones must add up to the order's total, "
                f"{format_money(total, currency)}; they add up to "
                f"{format_money(planned, currency)}."
            }
        )
    return plan


@transaction.atomic
def milestone_plan_propose(*, order, actor, milestones):
    """The seller proposes (or replaces their proposal of) the order's milestone plan.

    `milestones`: [{"title", "amount_cents", "due_date"}], at least 2 and at most 20, adding
    up to the order's total. Allowed on a service order before anything is delivered (waiting
    for payment, or paid), and not once the buyer accepted a plan. Returns the milestones."""
    order = _lock_order(order)
    if actor is None or actor.pk != order.seller_id:
        raise NotAllowed("Only the seller can propose milestones for this order.")
    if order.listing_kind != ListingKind.SERVICE:
        raise InvalidTransition("Only a service is delivered in milestones.")
    if order.has_milestone_plan:
        raise InvalidTransition("The buyer accepted the milestones: the plan is fixed.")
    if order.status not in PLANNABLE_STATUSES:
        raise InvalidTransition(
            "Milestones are agreed before anything is delivered, while the order is "
            f"{OrderStatus.PENDING_PAYMENT.label.lower()} or {OrderStatus.FUNDED.label.lower()}."
        )
    if order_refunded_cents(order):
        raise InvalidTransition("Part of this order was refunded: it can no longer be split.")
    plan = _validated_plan(
        milestones, total=order.total_cents, currency=order.currency, today=clock.now().date()
    )
    replaced = list(order.milestones.values("position", "title", "amount_cents", "due_date"))
    order.milestones.all().delete()  # a proposal, never accepted: nothing refers to it
    commissions = split_in_proportion(order.commission_cents, [amount for _, amount, _ in plan])
    created = Milestone.objects.bulk_create(
        Milestone(
            order=order,
            position=n,
            title=title,
            amount_cents=amount,
            commission_cents=commission,
            currency=order.currency,
            due_date=due,
        )
        for n, ((title, amount, due), commission) in enumerate(
            zip(plan, commissions, strict=True), start=1
        )
    )
    audit_record(
        action="escrow.order.milestones_proposed",
        actor=actor,
        target=order,
        before={"milestones": replaced} if replaced else None,
        after={
            "milestones": [
                {
                    "position": m.position,
                    "title": m.title,
                    "amount_cents": m.amount_cents,
                    "commission_cents": m.commission_cents,
                    "due_date": m.due_date,
                }
                for m in created
            ]
        },
    )
    notify(
        order.buyer,
        "milestones.proposed",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "count": len(created),
            "action_url": order.get_absolute_url(),
        },
    )
    return list(order.milestones.order_by("position"))


@transaction.atomic
def milestone_plan_accept(*, order, actor):
    """The buyer accepts the seller's proposal: from now on the order is delivered, released
    and refunded milestone by milestone. Accepting twice is quiet."""
    order = _lock_order(order)
    if actor is None or actor.pk != order.buyer_id:
        raise NotAllowed("Only the buyer can accept the milestones of this order.")
    if order.has_milestone_plan:
        return order
    milestones = list(order.milestones.select_for_update().order_by("position"))
    if not milestones:
        raise InvalidTransition("The seller has not proposed milestones for this order.")
    if order.status not in PLANNABLE_STATUSES:
        raise InvalidTransition(
            f"The order is {order.get_status_display().lower()}: milestones can no longer "
            "be agreed."
        )
    if sum(m.amount_cents for m in milestones) != order.total_cents or order_refunded_cents(order):
        raise InvalidTransition("The plan no longer matches the order: ask for a new one.")
    for milestone in milestones:
        milestone_move(
            milestone=milestone,
            to=MilestoneStatus.PENDING,
            actor=actor,
            action="escrow.milestone.accepted",
        )
    order.milestones_accepted_at = clock.now()
    order.save(update_fields=["milestones_accepted_at", "updated_at"])
    audit_record(
        action="escrow.order.milestones_accepted",
        actor=actor,
        target=order,
        after={"milestones": [m.pk for m in milestones]},
    )
    notify(
        order.seller,
        "milestones.accepted",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "action_url": order.get_absolute_url(),
        },
    )
    return order


def _order_milestone(order, milestone_id):
    """The locked milestone of the (locked) order, or a field message."""
    milestone = (
        Milestone.objects.select_for_update().filter(pk=milestone_id, order_id=order.pk).first()
    )
    if milestone is None:
        raise ValidationFailed({"milestone": "Choose a milestone of this order."})
    return milestone


@transaction.atomic
def milestone_deliver(*, milestone, actor, note=""):
    """The seller delivers one milestone: the buyer's review window for it starts. Delivering
    twice is quiet."""
    order = Order.objects.select_for_update().get(pk=milestone.order_id)
    milestone = _order_milestone(order, milestone.pk)
    if actor is None or actor.pk != order.seller_id:
        raise NotAllowed("Only the seller can deliver this milestone.")
    if milestone.status == MilestoneStatus.DELIVERED:
        return milestone
    if not order.has_milestone_plan:
        raise InvalidTransition("The buyer has not accepted the milestones yet.")
    if order.status == OrderStatus.DISPUTED:
        raise InvalidTransition(
            "The buyer reported a problem with this order: its milestones are frozen until "
            "Bazaar's team resolves it."
        )
    if order.status != OrderStatus.FUNDED:
        raise InvalidTransition(
            "A milestone is delivered once the order is paid and before it is closed."
        )
    if milestone.status != MilestoneStatus.PENDING:
        raise InvalidTransition(
            f"This milestone is {milestone.get_status_display().lower()}: there is nothing "
            "to deliver."
        )
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise ValidationFailed({"note": f"Write at most {NOTE_MAX_CHARS} characters."})
    now = clock.now()
    milestone, _ = milestone_move(
        milestone=milestone,
        to=MilestoneStatus.DELIVERED,
        actor=actor,
        action="escrow.milestone.delivered",
        delivered_at=now,
        delivery_note=note,
        review_deadline=now + timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS),
    )
    notify(
        order.buyer,
        "milestone.delivered",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "milestone_title": milestone.title,
            "deadline": milestone.review_deadline.strftime("%d %b %Y %H:%M UTC"),
            "action_url": order.get_absolute_url(),
        },
    )
    return milestone


def milestone_approve(*, milestone, actor):
    """The buyer approves a delivered milestone: its money is released to the seller."""
    return milestone_release(milestone=milestone, trigger=ReleaseTrigger.BUYER, actor=actor)


def milestone_release_by_staff(*, milestone, actor, reason):
    """Staff release a delivered milestone, saying why (kept in the release's audit entry)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Say why you release it: it is kept in the audit log."})
    return milestone_release(
        milestone=milestone, trigger=ReleaseTrigger.STAFF, actor=actor, reason=reason
    )


def milestone_refund(*, milestone, actor, initiator, reason, client_key=""):
    """The seller or staff refund one milestone not released yet, in full (refund_create)."""
    return refund_create(
        order=Order(pk=milestone.order_id),
        amount_cents=milestone.amount_cents,
        reason=reason,
        initiator=initiator,
        actor=actor,
        client_key=client_key,
        milestone=milestone,
    )


def milestones_refund_rest(*, order, actor, initiator, reason):
    """Refund every milestone not released yet (the rest of the order), each in full, decided
    together under the order's lock; Stripe is asked for each after commit. Returns the
    refunds."""
    if initiator not in (RefundInitiator.SELLER, RefundInitiator.STAFF):
        raise ValueError(f"The rest of an order is refunded by the seller or staff: {initiator}")
    with transaction.atomic():
        order = _lock_order(order)
        if not order.has_milestone_plan:
            raise InvalidTransition("This order has no accepted milestone plan.")
        open_ones = list(
            order.milestones.filter(
                status__in=(MilestoneStatus.PENDING, MilestoneStatus.DELIVERED)
            ).order_by("position")
        )
        if not open_ones:
            raise InvalidTransition("Every milestone was released or refunded already.")
        refunds = [
            refund_decide(
                order=order,
                amount_cents=milestone.amount_cents,
                reason=reason,
                initiator=initiator,
                actor=actor,
                milestone=milestone,
            )[0]
            for milestone in open_ones
        ]
        for refund in refunds:
            transaction.on_commit(partial(refund_execute, refund_id=refund.pk), robust=True)
    return refunds
