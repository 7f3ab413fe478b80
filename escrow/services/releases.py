"""Releasing an order's escrow to the seller: gross minus the platform's commission, as one Stripe
Transfer made with an idempotency key from the release row (see payments.py for the pattern);
and what Stripe later says about that transfer (created, reversed).

A release's status moves only through transitions.release_move (RELEASE_TRANSITIONS, an audit
entry `escrow.release.<what happened>`) under the release's row lock; making the release and
each reversal booked write theirs too.
"""

import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.selectors import connected_account_id_for
from core import clock, rows, stripe_client
from core.audit import audit_batch, audit_record
from core.errors import DomainError, InvalidTransition, NotAllowed, StripeUnavailable
from core.logs import money_fields
from core.stripe_client import idempotency_key
from escrow import ledger, selectors
from escrow.commission import milestone_fee_shares, release_split
from escrow.models import (
    Booking,
    BookingStatus,
    EscrowPayment,
    EscrowRelease,
    LedgerAccount,
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    ReleaseStatus,
    ReleaseTrigger,
    TransferReversal,
)
from escrow.services.orders import (
    milestone_move,
    order_close_if_milestones_done,
    order_mark_released,
)
from escrow.services.reversals import reversal_book
from escrow.services.transitions import RELEASE_ACTIONS, failure_reason_record, release_move
from notifications.services import notify

logger = logging.getLogger(__name__)


def _stripe():
    return stripe_client.client().v1


# --- Releasing ----------------------------------------------------------------------------------


def escrow_release(*, order, trigger, actor=None, reason=""):
    """Release an order's escrow to the seller: decide once, then make the one Transfer.

    Buyer approval, the auto-release job, staff and refunds can race: the order row lock and the
    one release per order make exactly one of them decide; the Transfer's idempotency key (from
    the release row) makes retries of the Stripe call harmless. `reason` (why staff release it)
    is kept in the release's audit entry.
    """
    decided, created = escrow_release_decide(
        order=order, trigger=trigger, actor=actor, reason=reason, claim_transfer=True
    )
    # Only the caller that decided makes the transfer (it claimed the request as it decided);
    # the others leave an interrupted one to that caller and the retry job, so racing callers
    # never send Stripe parallel requests.
    if created and decided.status == ReleaseStatus.PENDING:
        return _transfer_send(decided)
    return decided


def _check_release_allowed(order, trigger, actor):
    if trigger == ReleaseTrigger.BUYER:
        if actor is None or actor.pk != order.buyer_id:
            raise NotAllowed("Only the buyer can approve this order.")
        if order.status != OrderStatus.DELIVERED:
            raise InvalidTransition("You can approve the order once the seller has delivered it.")
    elif trigger == ReleaseTrigger.AUTO:
        booked = (
            order.status == OrderStatus.FUNDED
            and Booking.objects.filter(order=order, status=BookingStatus.CONFIRMED).exists()
        )
        if order.status != OrderStatus.DELIVERED and not booked:
            raise InvalidTransition(
                "Only a delivered order, or a paid booking whose time is over, is released "
                "automatically."
            )
        if order.review_deadline is None or order.review_deadline > clock.now():
            raise InvalidTransition("The buyer's review window is still open.")
    elif trigger == ReleaseTrigger.STAFF:
        if actor is None or not actor.is_staff:
            raise NotAllowed("Only staff can release escrow directly.")
        # Staff release what the buyer received; money for an order that was not delivered
        # (or is disputed) leaves escrow only through a dispute resolution.
        if order.status != OrderStatus.DELIVERED:
            if order.status in selectors.HELD_STATUSES:
                raise InvalidTransition(
                    f"This order is {order.get_status_display().lower()}, not delivered: staff "
                    "release only delivered orders. Settle it through a dispute resolution."
                )
            raise InvalidTransition(
                f"An order that is {order.get_status_display().lower()} holds no money to release."
            )
    elif trigger == ReleaseTrigger.CANCELLATION:
        # The cancellation (orders.order_cancel_paid) decided it, in this transaction.
        if order.status != OrderStatus.CANCELLED:
            raise InvalidTransition("Only a cancelled order releases a compensation.")
    elif trigger == ReleaseTrigger.DISPUTE:
        # The dispute's resolution decided it, in this transaction.
        if order.status != OrderStatus.DISPUTED:
            raise InvalidTransition("Only a disputed order is released by its resolution.")
    else:
        raise ValueError(f"Unknown release trigger {trigger!r}")


@transaction.atomic
def escrow_release_decide(*, order, trigger, actor=None, reason="", claim_transfer=False):
    """Decide the release under the order's lock (in the caller's transaction when there is
    one): the release row and its ledger lines. Returns (release, created); the transfer is
    release_transfer's, after commit. With `claim_transfer` the new release is made already
    claimed for the caller's transfer request (transfer_in_flight_since, as _transfer_claim
    sets it): the caller then sends it with _transfer_send, after commit, without locking the
    row again. Only for a caller that sends it at once: anyone else finds it in flight until
    ESCROW_TRANSFER_TIMEOUT_SECONDS have passed."""
    # The seller is read with the order (the notification and the account need them); only the
    # order's row is locked. By a statement built once (core.rows): building it per release cost
    # more CPU than the database's work for it.
    order = rows.locked(Order, order.pk, related=("seller",))
    # The payment is read with the order's release, if one was decided already (a query less);
    # an order not paid has no payment to read it with, and is looked up apart.
    try:
        payment = selectors.payment_for_release(order=order)
        existing_id = payment.release_id
        if not payment.has_booking:
            # Known without joining the booking to the lock (building that join cost more than
            # the rest of the statement): completing the booking on release looks for none.
            Order.booking.related.set_cached_value(order, None)
    except EscrowPayment.DoesNotExist:
        payment = None
        existing_id = (
            EscrowRelease.objects.filter(order=order, milestone__isnull=True)
            .values_list("pk", flat=True)
            .first()
        )
    existing = EscrowRelease.objects.get(pk=existing_id) if existing_id else None
    if existing is None and order.has_milestone_plan:
        # The buyer accepted a milestone plan: each milestone is released on its own.
        raise InvalidTransition(
            "This order is released milestone by milestone: release its milestones."
        )
    if existing:
        # Already released (by whoever won the race): quiet, but only for someone allowed to ask.
        if trigger == ReleaseTrigger.BUYER and (actor is None or actor.pk != order.buyer_id):
            raise NotAllowed("Only the buyer can approve this order.")
        if trigger == ReleaseTrigger.STAFF and (actor is None or not actor.is_staff):
            raise NotAllowed("Only staff can release escrow directly.")
        return existing, False
    _check_release_allowed(order, trigger, actor)
    if payment is None:
        raise EscrowPayment.DoesNotExist("The order has no succeeded payment to release.")
    account = payment.seller_account
    destination = account.stripe_account_id
    if not destination:
        raise InvalidTransition("The seller has no Stripe account to pay into.")
    # What refunds before release left in escrow (a pending refund holds its amount too).
    split = release_split(
        paid=payment.amount_cents,
        refunded=payment.refunds_held_cents,
        commission=order.commission_cents,
        stripe_fee=payment.stripe_fee_cents,
        fee_payer=order.stripe_fee_payer,
        return_commission=settings.ESCROW_REFUND_RETURNS_COMMISSION,
    )
    if split.gross_cents <= 0:
        raise InvalidTransition("This order was refunded in full: nothing is left to release.")
    gross, commission = split.gross_cents, split.commission_cents
    fee_passed_on, net = split.fee_passed_on_cents, split.net_cents
    debt_recovered = _debt_to_recover(order, net, debt=payment.seller_debt_cents)
    transfer = net - debt_recovered
    decided = EscrowRelease(
        order=order,
        trigger=trigger,
        actor=actor if getattr(actor, "pk", None) else None,
        gross_cents=gross,
        commission_cents=commission,
        fee_passed_on_cents=fee_passed_on,
        debt_recovered_cents=debt_recovered,
        transfer_cents=transfer,
        currency=order.currency,
        destination_account=destination,
        source_charge=payment.stripe_charge_id,
        transfer_in_flight_since=clock.now() if claim_transfer and transfer else None,
    )
    if rows.saves_plainly(EscrowRelease):  # by an INSERT built once: one per order in a job
        rows.insert(decided)
    else:  # a save signal's receiver connected: it sees the save
        decided.save(force_insert=True)
    with audit_batch():
        _release_book(decided, order=order, trigger=trigger, actor=actor, reason=reason, net=net)
    notify(
        order.seller,
        "order.released",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "amount": decided.transfer_display,
            "payouts_note": ""
            if account.payouts_enabled
            else " Payouts are paused on your Stripe account: finish the steps Stripe asks for "
            "to withdraw it.",
            "action_url": order.get_absolute_url(),
        },
    )
    if trigger == ReleaseTrigger.BUYER:
        notify(
            order.seller,
            "order.approved",
            {
                "order_id": order.pk,
                "listing_title": order.listing_title,
                "action_url": order.get_absolute_url(),
            },
        )
    return decided, True


def _release_book(decided, *, order, trigger, actor, reason, net):
    """The decided release's audit entries, ledger lines and the order's move (escrow_release_
    decide's transaction, order locked)."""
    gross, commission = decided.gross_cents, decided.commission_cents
    fee_passed_on, debt_recovered = decided.fee_passed_on_cents, decided.debt_recovered_cents
    audit_record(
        action="escrow.release.created",
        actor=actor,
        target=decided,
        after={
            "status": decided.status,
            "trigger": trigger,
            "gross_cents": gross,
            "commission_cents": commission,
            "fee_passed_on_cents": fee_passed_on,
            "debt_recovered_cents": debt_recovered,
            "transfer_cents": decided.transfer_cents,
            "currency": decided.currency,
            "destination_account": decided.destination_account,
        }
        | ({"reason": reason} if reason else {}),
    )
    ledger.post(
        order=order,
        currency=order.currency,
        memo=f"Escrow of order #{order.pk} released ({ReleaseTrigger(trigger).label.lower()})",
        lines=[
            (LedgerAccount.BUYER_FUNDS_HELD, gross),
            (LedgerAccount.PLATFORM_COMMISSION, -commission),
            (LedgerAccount.STRIPE_FEES_RECOVERED, -fee_passed_on),
            (LedgerAccount.seller_payable(order.seller_id), -net),
        ],
    )
    if debt_recovered:
        ledger.post(
            order=order,
            currency=order.currency,
            memo=f"Seller's debt paid from the release of order #{order.pk}",
            lines=[
                (LedgerAccount.seller_payable(order.seller_id), debt_recovered),
                (LedgerAccount.seller_debt(order.seller_id), -debt_recovered),
            ],
        )
    action = {
        ReleaseTrigger.BUYER: "escrow.order.approved",
        ReleaseTrigger.AUTO: "escrow.order.auto_released",
        ReleaseTrigger.STAFF: "escrow.order.released_by_staff",
        ReleaseTrigger.CANCELLATION: "escrow.order.compensation_released",
        ReleaseTrigger.DISPUTE: "escrow.order.released_by_dispute",
    }[ReleaseTrigger(trigger)]
    if trigger == ReleaseTrigger.CANCELLATION:
        audit_record(action=action, actor=actor, target=order, after={"gross_cents": gross})
    else:
        order_mark_released(order=order, actor=actor, action=action, as_locked=True)


# --- Releasing one milestone ---------------------------------------------------------------------


def milestone_release(*, milestone, trigger, actor=None, reason=""):
    """Release one milestone of an order to the seller: decide once, then make its own Transfer
    (in the order's transfer_group, with its release row's idempotency key), as escrow_release
    does for a whole order."""
    decided, created = milestone_release_decide(
        milestone=milestone, trigger=trigger, actor=actor, reason=reason
    )
    if created and decided.status == ReleaseStatus.PENDING:
        release_transfer(release_id=decided.pk)
        decided.refresh_from_db()
    return decided


def _check_milestone_release_allowed(order, milestone, trigger, actor):
    if trigger == ReleaseTrigger.DISPUTE:
        # The dispute's resolution decided it, in this transaction.
        if order.status != OrderStatus.DISPUTED:
            raise InvalidTransition("Only a disputed order is released by its resolution.")
        if not milestone.is_open:
            raise InvalidTransition("This milestone holds no money to release.")
        return
    if trigger == ReleaseTrigger.BUYER:
        if actor is None or actor.pk != order.buyer_id:
            raise NotAllowed("Only the buyer can approve this milestone.")
    elif trigger == ReleaseTrigger.STAFF:
        if actor is None or not actor.is_staff:
            raise NotAllowed("Only staff can release escrow directly.")
    elif trigger != ReleaseTrigger.AUTO:
        raise ValueError(f"A milestone is not released by {trigger!r}")
    if order.status == OrderStatus.DISPUTED:
        raise InvalidTransition(
            "The buyer reported a problem with this order: its milestones are frozen until "
            "Bazaar's team resolves it."
        )
    if order.status != OrderStatus.FUNDED:
        raise InvalidTransition(
            f"An order that is {order.get_status_display().lower()} holds no money to release."
        )
    if milestone.status == MilestoneStatus.REFUNDED:
        raise InvalidTransition("This milestone was refunded to the buyer.")
    if milestone.status != MilestoneStatus.DELIVERED:
        raise InvalidTransition("A milestone is released once the seller has delivered it.")
    if trigger == ReleaseTrigger.AUTO and (
        milestone.review_deadline is None or milestone.review_deadline > clock.now()
    ):
        raise InvalidTransition("The buyer's review window is still open.")


@transaction.atomic
def milestone_release_decide(*, milestone, trigger, actor=None, reason=""):
    """Decide one milestone's release under the order's row lock, then the milestone's (the
    order first, as every writer of the order's money takes them): its release row, its
    commission (the milestone's part of the order's), its ledger lines. Returns
    (release, created); the transfer is release_transfer's."""
    order = Order.objects.select_for_update().get(pk=milestone.order_id)
    milestone = Milestone.objects.select_for_update().get(pk=milestone.pk)
    existing = EscrowRelease.objects.filter(milestone=milestone).first()
    if existing:
        # Released already (a racing approval, the job, staff): quiet for whoever may ask.
        if trigger == ReleaseTrigger.BUYER and (actor is None or actor.pk != order.buyer_id):
            raise NotAllowed("Only the buyer can approve this milestone.")
        if trigger == ReleaseTrigger.STAFF and (actor is None or not actor.is_staff):
            raise NotAllowed("Only staff can release escrow directly.")
        return existing, False
    if not order.has_milestone_plan:
        raise InvalidTransition("This order has no accepted milestone plan.")
    _check_milestone_release_allowed(order, milestone, trigger, actor)
    payment = order.payments.get(status=PaymentStatus.SUCCEEDED)
    destination = connected_account_id_for(order.seller)
    if not destination:
        raise InvalidTransition("The seller has no Stripe account to pay into.")
    plan = list(order.milestones.order_by("position").values_list("pk", "amount_cents"))
    commissions = list(
        order.milestones.order_by("position").values_list("commission_cents", flat=True)
    )
    fees = milestone_fee_shares(
        [amount for _, amount in plan],
        commissions=commissions,
        stripe_fee=payment.stripe_fee_cents,
        fee_payer=order.stripe_fee_payer,
    )
    fee_passed_on = fees[[pk for pk, _ in plan].index(milestone.pk)]
    gross, commission = milestone.amount_cents, milestone.commission_cents
    net = gross - commission - fee_passed_on
    debt_recovered = _debt_to_recover(order, net)
    transfer = net - debt_recovered
    decided = EscrowRelease.objects.create(
        order=order,
        milestone=milestone,
        trigger=trigger,
        actor=actor if getattr(actor, "pk", None) else None,
        gross_cents=gross,
        commission_cents=commission,
        fee_passed_on_cents=fee_passed_on,
        debt_recovered_cents=debt_recovered,
        transfer_cents=transfer,
        currency=order.currency,
        destination_account=destination,
        source_charge=payment.stripe_charge_id,
    )
    audit_record(
        action="escrow.release.created",
        actor=actor,
        target=decided,
        after={
            "status": decided.status,
            "trigger": trigger,
            "milestone_id": milestone.pk,
            "gross_cents": gross,
            "commission_cents": commission,
            "fee_passed_on_cents": fee_passed_on,
            "debt_recovered_cents": debt_recovered,
            "transfer_cents": transfer,
            "currency": decided.currency,
            "destination_account": destination,
        }
        | ({"reason": reason} if reason else {}),
    )
    what = f"milestone {milestone.position} of order #{order.pk}"
    ledger.post(
        order=order,
        currency=order.currency,
        memo=f"Escrow of {what} released ({ReleaseTrigger(trigger).label.lower()})",
        lines=[
            (LedgerAccount.BUYER_FUNDS_HELD, gross),
            (LedgerAccount.PLATFORM_COMMISSION, -commission),
            (LedgerAccount.STRIPE_FEES_RECOVERED, -fee_passed_on),
            (LedgerAccount.seller_payable(order.seller_id), -net),
        ],
    )
    if debt_recovered:
        ledger.post(
            order=order,
            currency=order.currency,
            memo=f"Seller's debt paid from the release of {what}",
            lines=[
                (LedgerAccount.seller_payable(order.seller_id), debt_recovered),
                (LedgerAccount.seller_debt(order.seller_id), -debt_recovered),
            ],
        )
    milestone_move(
        milestone=milestone,
        to=MilestoneStatus.RELEASED,
        actor=actor,
        action={
            ReleaseTrigger.BUYER: "escrow.milestone.approved",
            ReleaseTrigger.AUTO: "escrow.milestone.auto_released",
            ReleaseTrigger.STAFF: "escrow.milestone.released_by_staff",
            ReleaseTrigger.DISPUTE: "escrow.milestone.released_by_dispute",
        }[ReleaseTrigger(trigger)],
        released_at=clock.now(),
    )
    order_close_if_milestones_done(order=order, actor=actor)
    notify(
        order.seller,
        "milestone.released",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "milestone_title": milestone.title,
            "amount": decided.transfer_display,
            "action_url": order.get_absolute_url(),
        },
    )
    return decided, True


def release_transfer(*, release_id):
    """Make (or retry) the release's Transfer to the seller. Idempotent.

    Never two requests at once: the caller first claims the release under its row lock
    (transfer_in_flight_since), and a caller that finds another's request in flight returns
    the release as it is. The idempotency key makes a retry after a lost answer harmless, but
    Stripe runs two concurrent requests with one key as they come, and a charge with room for
    two transfers would pay the seller twice.
    """
    decided = EscrowRelease.objects.select_related("order", "milestone").get(pk=release_id)
    if decided.status == ReleaseStatus.TRANSFERRED:
        return decided
    if decided.transfer_cents == 0:
        return _record_transfer(release_id=decided.pk, transfer_id=None)
    if not _transfer_claim(release_id=decided.pk):
        decided.refresh_from_db()
        return decided  # transferred meanwhile, or another caller's request is in flight
    return _transfer_send(decided)


def _transfer_send(decided):
    """Send the release's Transfer request, claimed by this caller (_transfer_claim, or
    escrow_release_decide's claim_transfer), and record Stripe's answer. Returns the release
    as recorded."""
    order = decided.order
    if decided.transfer_cents == 0:
        return _record_transfer(release_id=decided.pk, transfer_id=None, seller_id=order.seller_id)
    try:
        transfer = stripe_client.paced_call(
            _stripe().transfers.create,
            params={
                "amount": decided.transfer_cents,
                "currency": decided.currency,
                "destination": decided.destination_account,
                "source_transaction": decided.source_charge,
                "transfer_group": order.transfer_group,
                "description": f"Bazaar order #{order.pk}: {order.listing_title}"
                + (f" (milestone {decided.milestone.position})" if decided.milestone_id else ""),
                "metadata": {
                    "bazaar_order_id": str(order.pk),
                    "bazaar_release_id": str(decided.pk),
                }
                | (
                    {"bazaar_milestone_id": str(decided.milestone_id)}
                    if decided.milestone_id
                    else {}
                ),
            },
            options={"idempotency_key": idempotency_key(decided, "transfer")},
        )
    except StripeUnavailable as exc:
        logger.warning(
            "Transfer for release %s failed: %s",
            decided.pk,
            exc.message,
            extra=money_fields(order_id=order.pk, stripe=exc, release_id=decided.pk),
        )
        return _record_transfer_failure(release_id=decided.pk, message=exc.message)
    logger.info(
        "Transfer made to the seller",
        extra=money_fields(
            order_id=order.pk,
            stripe=transfer,
            release_id=decided.pk,
            transfer_id=transfer.id,
            amount_cents=decided.transfer_cents,
            currency=decided.currency,
        ),
    )
    return _record_transfer(
        release_id=decided.pk, transfer_id=transfer.id, seller_id=order.seller_id
    )


@transaction.atomic
def _transfer_claim(*, release_id):
    """Claim the release's transfer request for this caller; False if it is not to be sent."""
    decided = EscrowRelease.objects.select_for_update().get(pk=release_id)
    now = clock.now()
    if decided.status == ReleaseStatus.TRANSFERRED:
        return False
    if selectors.release_transfer_in_flight(decided, now=now):
        return False
    decided.transfer_in_flight_since = now
    decided.save(update_fields=["transfer_in_flight_since"])
    return True


def _answer_recorded(decided, *, save=True):
    """Stripe answered: the request is no longer in flight (saved here, or with `save=False` by
    the caller's own save of the row)."""
    if decided.transfer_in_flight_since is not None:
        decided.transfer_in_flight_since = None
        if save:
            decided.save(update_fields=["transfer_in_flight_since"])


@transaction.atomic
def _record_transfer_failure(*, release_id, message):
    decided = EscrowRelease.objects.select_for_update().get(pk=release_id)
    message = message[:300]
    _answer_recorded(decided)
    if decided.status == ReleaseStatus.TRANSFERRED:
        return decided  # a racing caller's transfer went through: its outcome stands
    if decided.status == ReleaseStatus.FAILED:
        failure_reason_record(
            row=decided, message=message, action=RELEASE_ACTIONS[ReleaseStatus.FAILED]
        )
        return decided
    decided, _ = release_move(release=decided, to=ReleaseStatus.FAILED, failure_message=message)
    return decided


@transaction.atomic
def _record_transfer(*, release_id, transfer_id, seller_id=None):
    """`seller_id`: the order's seller (for the ledger lines), when the caller has the order
    (an order's seller never changes); else it is read with the release, not the whole order.
    Only the release is locked.

    Committed without waiting for the disk (rows.asynchronous_commit): a crash that lost this
    record leaves the release pending with its request in flight, as a crash before Stripe
    answered would, and the retry job sends the same request again (same idempotency key: Stripe
    answers with the same transfer, made once) and records it; transfer.created records it too.
    The release itself was decided, durably, before the request was sent."""
    rows.asynchronous_commit()
    if seller_id is None:
        decided = (
            EscrowRelease.objects.select_for_update(of=("self",))
            .annotate(order_seller_id=F("order__seller_id"))
            .get(pk=release_id)
        )
    else:
        # Without the join, by a statement built once (core.rows): the auto-release job records
        # thousands of these, and building the statement cost more than running it.
        decided = rows.locked(EscrowRelease, release_id)
        decided.order_seller_id = seller_id
    if decided.status == ReleaseStatus.TRANSFERRED:
        _answer_recorded(decided)
        return decided
    _answer_recorded(decided, save=False)  # saved by the move, in its one UPDATE
    decided, _ = release_move(
        release=decided,
        to=ReleaseStatus.TRANSFERRED,
        save_also=["transfer_in_flight_since"],
        stripe_transfer_id=transfer_id,
        failure_message="",
        transferred_at=timezone.now(),
    )
    ledger.post(
        order=decided.order_id,
        currency=decided.currency,
        memo=f"Transfer to the seller for order #{decided.order_id}",
        stripe_object_id=transfer_id or "",
        lines=[
            (LedgerAccount.seller_payable(decided.order_seller_id), decided.transfer_cents),
            (LedgerAccount.STRIPE_BALANCE, -decided.transfer_cents),
        ],
    )
    return decided


def _transfer_retrieve(transfer_id):
    """The transfer as Stripe has it, or None when Stripe has no such transfer (the id came from
    an event's body). Stripe unreachable raises: the webhook task retries."""
    try:
        return stripe_client.call(_stripe().transfers.retrieve, transfer_id)
    except StripeUnavailable as exc:
        if exc.code == "resource_missing":
            logger.warning("Stripe has no transfer %s: %s", transfer_id, exc.message)
            return None
        raise


def _transfer_is_for(transfer, decided):
    """Stripe's transfer is the one this release asked for: made for it (our metadata), to its
    seller's account, for its amount."""
    return (
        (transfer.metadata or {}).get("bazaar_release_id") == str(decided.pk)
        and transfer.destination == decided.destination_account
        and transfer.amount == decided.transfer_cents
        and transfer.currency == decided.currency
    )


def release_transfer_record(*, transfer_id):
    """transfer.created: a transfer we asked for exists; record it if the request's answer was
    lost (crash between the Stripe call and our write).

    Stripe is asked for the transfer: a failed release is marked transferred only with a
    transfer Stripe confirms is the release's own."""
    transfer = _transfer_retrieve(transfer_id)
    if transfer is None:
        return None
    release_id = (transfer.metadata or {}).get("bazaar_release_id", "")
    decided = EscrowRelease.objects.filter(stripe_transfer_id=transfer.id).first()
    if decided is None and release_id.isdigit():
        decided = EscrowRelease.objects.filter(pk=int(release_id)).first()
    if decided is None:
        return None
    if not _transfer_is_for(transfer, decided):
        logger.error(
            "Transfer %s (%s %s to %s) is not release %s's; not recorded",
            transfer.id,
            transfer.amount,
            transfer.currency,
            transfer.destination,
            decided.pk,
            extra=money_fields(order_id=decided.order_id, stripe=transfer, release_id=decided.pk),
        )
        return decided
    return _record_transfer(release_id=decided.pk, transfer_id=transfer.id)


def release_reversals_record(*, transfer_id):
    """transfer.reversed: book each of the transfer's reversals once.

    The reversals and their amounts are Stripe's (the transfer is read again), never the
    event's; and whatever Stripe answers, no more than the transfer's amount is ever booked as
    reversed."""
    if not EscrowRelease.objects.filter(stripe_transfer_id=transfer_id).exists():
        return None
    transfer = _transfer_retrieve(transfer_id)
    if transfer is None:
        return None
    reversals = list(
        stripe_client.call(
            _stripe().transfers.reversals.list, transfer.id, params={"limit": 100}
        ).auto_paging_iter()
    )
    return _reversals_book(transfer=transfer, reversals=reversals)


@transaction.atomic
def _reversals_book(*, transfer, reversals):
    decided = EscrowRelease.objects.select_for_update().get(stripe_transfer_id=transfer.id)
    room = min(transfer.amount, decided.transfer_cents) - decided.amount_reversed_cents
    for reversal in reversed(reversals):  # Stripe lists newest first; book oldest first
        if TransferReversal.objects.filter(stripe_reversal_id=reversal.id).exists():
            continue
        if reversal.currency != decided.currency:
            logger.error(
                "Reversal %s is in %s, not %s",
                reversal.id,
                reversal.currency,
                decided.currency,
                extra=money_fields(order_id=decided.order_id, release_id=decided.pk),
            )
            continue
        amount = min(reversal.amount, room)
        if amount != reversal.amount:
            logger.error(
                "Reversal %s of %s would reverse more than transfer %s: %s booked",
                reversal.id,
                reversal.amount,
                transfer.id,
                amount,
                extra=money_fields(order_id=decided.order_id, release_id=decided.pk),
            )
        if amount <= 0:
            continue
        reversal_book(release=decided, reversal=reversal, amount=amount)
        room -= amount
    return decided


def _debt_to_recover(order, net, *, debt=None):
    """What of the seller's debt in the order's currency this release pays off (at most its
    net). `debt`: its balance as the caller read it already (payment_for_release), else read
    here. The seller's row is locked before it is read again and taken, so two releases of
    theirs never pay one debt twice."""
    if net <= 0:
        return 0
    account = LedgerAccount.seller_debt(order.seller_id)
    if debt is None:
        debt = ledger.balance(account, currency=order.currency)
    if debt <= 0:
        return 0
    get_user_model().objects.select_for_update().filter(pk=order.seller_id).first()
    return max(min(ledger.balance(account, currency=order.currency), net), 0)


# --- Jobs ---------------------------------------------------------------------------------------


def escrow_release_due(*, until=None):
    """Release every delivered order, and every delivered milestone, whose review window has
    ended. Returns the count. With `until` (a time.monotonic() value) it stops taking new ones
    once that moment has passed: the job's task then queues itself again for the rest, so one
    task never outlives Celery's time limit however many are due (at Stripe's 25 writes a second
    in test mode, 10,000 take 400 s)."""
    released = 0
    # Checked after each one, so every run gets at least one done.
    for order_id in list(selectors.orders_due_for_auto_release()):
        try:
            escrow_release(order=Order(pk=order_id), trigger=ReleaseTrigger.AUTO)
            released += 1
        except DomainError as exc:
            logger.info("Order %s not auto-released: %s", order_id, exc.message)
        if until is not None and time.monotonic() >= until:
            return released
    for milestone in list(selectors.milestones_due_for_auto_release()):
        try:
            milestone_release(milestone=milestone, trigger=ReleaseTrigger.AUTO)
            released += 1
        except DomainError as exc:
            logger.info("Milestone %s not auto-released: %s", milestone.pk, exc.message)
        if until is not None and time.monotonic() >= until:
            return released
    return released


def release_transfers_retry():
    """Try again the transfers Stripe refused or that were interrupted (same idempotency key);
    a transfer request still in flight is left to the caller that sent it."""
    due = list(selectors.releases_due_for_transfer_retry())
    return [release_transfer(release_id=pk).status for pk in due]
