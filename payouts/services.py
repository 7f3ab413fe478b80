"""Payouts: a seller's money from their Stripe balance to their bank.

payout_request_create is the one way a payout starts. It decides under the seller's row lock
(so two requests never both count the same balance), writes the Payout row, then asks Stripe
outside the transaction with an idempotency key from the row, and records Stripe's answer under
the lock again (payout_apply). Stripe's payout.* events, in any order and any number of times,
go through payout_sync, which asks Stripe for the payout itself and applies its current state:
the event's body never moves a status or books money.

What a seller may pay out is their Stripe balance (available; for instant payouts what Stripe
can pay instantly) less what they owe Bazaar (refunds after release their balance could not
cover, instant payout fees), less payouts requested and not yet taken by Stripe.
"""

import calendar
import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core import clock, rows, stripe_client
from core.audit import audit_record, audited_transition
from core.errors import DomainError, NotAllowed, StripeUnavailable, ValidationFailed
from core.logs import money_fields
from core.money import format_money
from core.stripe_client import idempotency_key
from escrow import services as escrow_services
from notifications.services import notify
from payouts.models import (
    PAYOUT_TRANSITIONS,
    Payout,
    PayoutInterval,
    PayoutMethod,
    PayoutSchedule,
    PayoutStatus,
)
from payouts.selectors import payout_standing

logger = logging.getLogger(__name__)

# Stripe's payout failure codes in plain words (stripe.com/docs/api/payouts/failures).
FAILURE_WORDS = {
    "account_closed": "Your bank account has been closed.",
    "account_frozen": "Your bank account is frozen.",
    "bank_account_restricted": "Your bank account does not accept this kind of payment.",
    "bank_ownership_changed": "Your bank account has moved to another bank or owner.",
    "could_not_process": "Your bank could not process the payout.",
    "debit_not_authorized": "Your bank account does not allow this payout.",
    "declined": "Your bank declined the payout.",
    "incorrect_account_holder_address": "The account holder's address does not match the bank's.",
    "incorrect_account_holder_name": "The account holder's name does not match the bank's.",
    "incorrect_account_holder_tax_id": "The account holder's tax id does not match the bank's.",
    "insufficient_funds": "Your Stripe balance did not cover the payout.",
    "invalid_account_number": "The bank account number is not valid.",
    "invalid_currency": "Your bank account cannot receive money in this currency.",
    "no_account": "No bank account could be found with the details you gave.",
    "unsupported_card": "Your debit card does not accept payouts.",
}
FAILURE_FALLBACK = "Your bank returned the payout."
FIX_IT = "Check your bank details in your Stripe dashboard, then request the payout again."

PAYOUT_ACTIONS = {status: f"payouts.payout.{status}" for status in PayoutStatus.values}


@dataclass(frozen=True)
class PayoutQuote:
    """What a payout of `amount_cents` costs: the fee (instant payouts) and what reaches the
    bank, against what the seller may pay out now."""

    currency: str
    amount_cents: int
    fee_cents: int
    bank_cents: int
    method: str
    payable_cents: int
    minimum_cents: int


def _v1():
    return stripe_client.client().v1


def instant_fee_cents(amount_cents):
    """The instant payout fee: PAYOUT_INSTANT_FEE_BPS of the amount (rounded up), at least
    PAYOUT_INSTANT_FEE_MIN_CENTS."""
    proportional = -(-amount_cents * settings.PAYOUT_INSTANT_FEE_BPS // 10_000)
    return max(proportional, settings.PAYOUT_INSTANT_FEE_MIN_CENTS)


def _check_account(standing):
    if not standing.payouts_enabled:
        raise NotAllowed(
            "Your Stripe account cannot receive payouts yet: finish setting up payouts first."
        )


def _stripe_balance(account_id, *, paced=False):
    """The connected account's Stripe balance; `paced` for the scheduled job's many reads."""
    send = stripe_client.paced_call if paced else stripe_client.call
    return send(_v1().balance.retrieve, options={"stripe_account": account_id}).to_dict()


def _amount_in(items, currency):
    return sum(item["amount"] for item in items or () if item.get("currency") == currency)


def _payable_cents(*, standing, currency, method, balance):
    """What the seller may pay out now in `currency` by `method`, from Stripe's `balance`, less
    what they owe and the payouts Stripe has not taken yet (their money is still on it), as
    `standing` (payouts.selectors.payout_standing) has them."""
    key = "instant_available" if method == PayoutMethod.INSTANT else "available"
    on_stripe = _amount_in(balance.get(key), currency)
    if method == PayoutMethod.INSTANT:
        on_stripe = min(
            on_stripe,
            _amount_in(balance.get("available"), currency)
            + _amount_in(balance.get("pending"), currency),
        )
    owed = standing.owed.get(currency, 0)
    return max(on_stripe - owed - standing.not_taken.get(currency, 0), 0)


def _instant_supported(account_id, currency):
    """Whether the bank account (or card) Stripe pays `currency` out to takes instant payouts."""
    listed = stripe_client.call(
        _v1().accounts.external_accounts.list,
        account_id,
        params={"limit": 100},
    ).to_dict()
    same = [e for e in listed.get("data") or () if e.get("currency") == currency]
    default = next((e for e in same if e.get("default_for_currency")), same[0] if same else None)
    return default is not None and "instant" in (default.get("available_payout_methods") or ())


def payout_quote(*, seller, currency, method, amount_cents=None, standing=None, balance=None):
    """The quote shown before the seller confirms (amount None: all they may pay out).
    `standing` (payout_standing's) and `balance` (Stripe's, as _stripe_balance returns it) when
    the caller has read them already; each is read here otherwise."""
    if standing is None:
        standing = payout_standing(seller=seller)
    _check_account(standing)
    if method not in PayoutMethod.values:
        raise ValidationFailed({"method": "Choose standard or instant."})
    if method == PayoutMethod.INSTANT and not _instant_supported(
        standing.stripe_account_id, currency
    ):
        raise ValidationFailed(
            {
                "method": "Your bank account does not take instant payouts: choose a standard "
                "payout, or add a debit card or an instant-capable bank account in your Stripe "
                "dashboard."
            }
        )
    if balance is None:
        balance = _stripe_balance(standing.stripe_account_id)
    payable = _payable_cents(standing=standing, currency=currency, method=method, balance=balance)
    amount = payable if amount_cents is None else amount_cents
    fee = instant_fee_cents(amount) if method == PayoutMethod.INSTANT and amount > 0 else 0
    return PayoutQuote(
        currency=currency,
        amount_cents=amount,
        fee_cents=fee,
        bank_cents=max(amount - fee, 0),
        method=method,
        payable_cents=payable,
        minimum_cents=settings.PAYOUT_MINIMUM_CENTS,
    )


def _validate(quote):
    currency = quote.currency
    if quote.amount_cents < quote.minimum_cents:
        raise ValidationFailed(
            {
                "amount_cents": "The smallest payout is "
                f"{format_money(quote.minimum_cents, currency)}."
            }
        )
    if quote.amount_cents > quote.payable_cents:
        raise ValidationFailed(
            {
                "amount_cents": f"You can pay out at most "
                f"{format_money(quote.payable_cents, currency)} now"
                + (" instantly" if quote.method == PayoutMethod.INSTANT else "")
                + "."
            }
        )
    if quote.bank_cents <= 0:
        raise ValidationFailed(
            {
                "amount_cents": "The instant payout fee "
                f"({format_money(quote.fee_cents, currency)}) would take all of it."
            }
        )


def _lock_seller(seller):
    """Lock the seller's row: their payout decisions are made one at a time. By a statement built
    once (core.rows): the scheduled job takes this lock for every due seller."""
    try:
        rows.locked(get_user_model(), seller.pk)
    except get_user_model().DoesNotExist:
        raise NotAllowed("This seller's account no longer exists.") from None


def _save(payout, fields):
    """UPDATE the named fields of a locked payout: by a statement built once where the model
    saves plainly (core.rows), else by save() for its receivers."""
    if rows.saves_plainly(Payout):
        rows.update(payout, fields)
    else:
        payout.save(update_fields=fields)


def _check_may_pay_out(standing):
    """Refuse while staff hold the seller's payouts, or before a new seller's first payout.
    `standing` is read under the seller's lock, so a hold placed just now counts."""
    if standing.held:
        raise NotAllowed(
            f"Your payouts are on hold while Bazaar reviews your account: {standing.hold_reason}"
        )
    first = standing.first_transfer_at
    delay = timedelta(days=settings.PAYOUT_FIRST_DELAY_DAYS)
    if first is not None and clock.now() < first + delay:
        raise NotAllowed(
            "Your first payout can be made from "
            f"{timezone.localtime(first + delay):%-d %b %Y, %H:%M}: new sellers' first payouts "
            f"wait {settings.PAYOUT_FIRST_DELAY_DAYS} days after their first sale."
        )


def payout_request_create(
    *,
    seller,
    amount_cents,
    currency,
    method=PayoutMethod.STANDARD,
    client_key="",
    actor=None,
    period="",
):
    """The seller asks for `amount_cents` of their Stripe balance to reach their bank. Returns
    the Payout (pending at Stripe, or requested when Stripe could not be reached: sent again by
    payouts_send_requested). Raises ValidationFailed / NotAllowed with words for the seller.
    A `client_key` (the API's Idempotency-Key) already used by this seller returns that payout
    (ValidationFailed when the request differs). A schedule's `period`: None when that period
    has its payout already."""
    if not getattr(seller, "is_seller", False):
        raise NotAllowed("Only sellers have payouts.")
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise ValidationFailed({"amount_cents": "Give the amount in cents, as a whole number."})
    currency = (currency or "").lower()
    with transaction.atomic():
        _lock_seller(seller)
        standing = payout_standing(seller=seller, period=period)
        _check_account(standing)
        if currency in standing.paid_in_period:
            return None
        _check_may_pay_out(standing)
        if client_key:
            earlier = Payout.objects.filter(seller_id=seller.pk, client_key=client_key).first()
            if earlier is not None:
                same = (earlier.amount_cents, earlier.currency, earlier.method) == (
                    amount_cents,
                    currency,
                    method,
                )
                if not same:
                    raise ValidationFailed(
                        {
                            "Idempotency-Key": f"This key was already used for payout "
                            f"#{earlier.pk} of another amount. Use a new key for a new payout."
                        }
                    )
                return earlier
        quote = payout_quote(
            seller=seller,
            currency=currency,
            method=method,
            amount_cents=amount_cents,
            standing=standing,
        )
        payout = _payout_create(
            seller=seller,
            stripe_account_id=standing.stripe_account_id,
            quote=quote,
            actor=actor,
            client_key=client_key,
            period=period,
        )
    return payout_send(payout=payout)


def _payout_create(*, seller, stripe_account_id, quote, actor=None, client_key="", period=""):
    """The requested Payout row for a valid `quote`, audited, the seller told (the caller's
    transaction, with the seller's row locked). Raises ValidationFailed for an invalid one."""
    _validate(quote)
    payout = Payout(
        seller=seller,
        stripe_account_id=stripe_account_id,
        currency=quote.currency,
        amount_cents=quote.amount_cents,
        fee_cents=quote.fee_cents,
        method=quote.method,
        requested_by=actor or seller,
        client_key=client_key,
        period=period,
    )
    if rows.saves_plainly(Payout):  # by an INSERT built once: one per due seller in the job
        rows.insert(payout)
    else:  # a save signal's receiver connected: it sees the save
        payout.save(force_insert=True)
    audit_record(
        action="payouts.payout.requested",
        actor=actor or seller,
        target=payout,
        after={
            "amount_cents": payout.amount_cents,
            "fee_cents": payout.fee_cents,
            "currency": payout.currency,
            "method": payout.method,
        },
    )
    notify(seller, "payout.requested", _context(payout))
    return payout


def _context(payout):
    return {
        "amount": format_money(payout.bank_cents, payout.currency),
        "fee": format_money(payout.fee_cents, payout.currency),
        "payout_id": payout.pk,
        "action_url": reverse("seller-payouts"),
    }


def payout_send(*, payout):
    """Ask Stripe to make the requested payout (idempotent: the key is the row's). Returns the
    Payout as Stripe left it."""
    if payout.status != PayoutStatus.REQUESTED:
        return payout
    try:
        made = stripe_client.paced_call(
            _v1().payouts.create,
            params={
                "amount": payout.bank_cents,
                "currency": payout.currency,
                "method": payout.method,
                "description": f"Bazaar payout #{payout.pk}",
                "metadata": {"bazaar_payout_id": str(payout.pk)},
            },
            options={
                "stripe_account": payout.stripe_account_id,
                "idempotency_key": idempotency_key(payout, "create"),
            },
        )
    except StripeUnavailable as exc:
        logger.warning(
            "Payout %s not made by Stripe: %s",
            payout.pk,
            exc.message,
            extra=money_fields(stripe=exc, stripe_account=payout.stripe_account_id),
        )
        if exc.retryable:
            return payout
        with transaction.atomic():
            locked = rows.locked(Payout, payout.pk)
            locked, _ = audited_transition(
                locked,
                to=PayoutStatus.REFUSED,
                allowed=PAYOUT_TRANSITIONS,
                actor=None,
                action=PAYOUT_ACTIONS[PayoutStatus.REFUSED],
                failure_message=exc.message,
            )
        raise DomainError(f"Stripe did not make the payout: {exc.message}") from exc
    return payout_apply(payout_id=payout.pk, stripe_payout=made.to_dict())


def payout_sync(*, stripe_payout_id, stripe_account):
    """A payout.* event: ask Stripe for the payout and apply its state. Payouts Bazaar did not
    make are left alone. Returns the Payout or None."""
    payout = Payout.objects.filter(stripe_payout_id=stripe_payout_id).first()
    made = stripe_client.call(
        _v1().payouts.retrieve, stripe_payout_id, options={"stripe_account": stripe_account}
    ).to_dict()
    if payout is None:
        ours = str((made.get("metadata") or {}).get("bazaar_payout_id") or "")
        payout = (
            Payout.objects.filter(pk=int(ours), stripe_account_id=stripe_account).first()
            if ours.isdigit()
            else None
        )
    if payout is None:
        logger.info("Payout %s on %s is not one of Bazaar's", stripe_payout_id, stripe_account)
        return None
    return payout_apply(payout_id=payout.pk, stripe_payout=made)


def failure_words(code):
    return FAILURE_WORDS.get(code or "", FAILURE_FALLBACK)


def payout_apply(*, payout_id, stripe_payout):
    """Record Stripe's payout (a dict) on our row under its lock: its id, status, arrival date,
    failure; the ledger lines and the seller's notifications, each once.

    Committed without waiting for the disk (rows.asynchronous_commit): what it records is
    Stripe's, and a crash that lost it leaves the payout as it was: a requested one is sent
    again by payouts_send_requested under the same idempotency key (Stripe answers with the same
    payout, made once), and a later state comes again with Stripe's next event or read."""
    with transaction.atomic():
        rows.asynchronous_commit()
        payout = rows.locked(Payout, payout_id)
        changes = {}
        if not payout.stripe_payout_id:
            changes["stripe_payout_id"] = stripe_payout["id"]
        if stripe_payout.get("arrival_date"):
            changes["arrival_date"] = datetime.fromtimestamp(stripe_payout["arrival_date"], tz=UTC)
        status = stripe_payout.get("status")
        if status in (PayoutStatus.FAILED, PayoutStatus.CANCELED):
            changes["failure_code"] = stripe_payout.get("failure_code") or ""
            changes["failure_message"] = stripe_payout.get("failure_message") or ""
        moves = status in PAYOUT_TRANSITIONS.get(payout.status, ())
        # The ledger's flags are saved with the move (its one UPDATE, of what changed: the row is
        # as its lock read it) or with the changes.
        booked = _book(
            payout,
            status=status if moves else payout.status,
            stripe_payout_id=changes.get("stripe_payout_id", payout.stripe_payout_id),
        )
        moved = False
        if moves:
            payout, moved = audited_transition(
                payout,
                to=status,
                allowed=PAYOUT_TRANSITIONS,
                actor=None,
                action=PAYOUT_ACTIONS[status],
                save_also=booked,
                **changes,
            )
        elif changes or booked:
            for name, value in changes.items():
                setattr(payout, name, value)
            _save(payout, [*changes, *booked, "updated_at"])
        if moved:
            _tell(payout)
    return payout


def _book(payout, *, status, stripe_payout_id):
    """The ledger lines for what Stripe did (the payout now `status`), each once (the row is
    locked). Returns the flags it set on the row, for the caller to save."""
    fields = []
    stripe_id = stripe_payout_id or f"payout-{payout.pk}"
    book = {
        "seller_id": payout.seller_id,
        "currency": payout.currency,
        "bank_cents": payout.bank_cents,
        "fee_cents": payout.fee_cents,
        "stripe_payout_id": stripe_id,
    }
    left = status in (
        PayoutStatus.PENDING,
        PayoutStatus.IN_TRANSIT,
        PayoutStatus.PAID,
        PayoutStatus.FAILED,
        PayoutStatus.CANCELED,
    )
    if left and not payout.sent_booked:
        escrow_services.payout_sent_book(**book)
        payout.sent_booked = True
        fields.append("sent_booked")
    came_back = status in (PayoutStatus.FAILED, PayoutStatus.CANCELED)
    if came_back and not payout.returned_booked:
        why = "failed" if status == PayoutStatus.FAILED else "canceled"
        escrow_services.payout_returned_book(**book, why=why)
        payout.returned_booked = True
        fields.append("returned_booked")
    return fields


def _tell(payout):
    context = _context(payout)
    if payout.status == PayoutStatus.PAID:
        notify(payout.seller, "payout.paid", context)
    elif payout.status == PayoutStatus.FAILED:
        notify(
            payout.seller,
            "payout.failed",
            context
            | {
                "why": failure_words(payout.failure_code),
                "fix": FIX_IT,
                "action_url": reverse("connect-dashboard"),
            },
        )


def payout_retry(*, payout, actor):
    """Staff pay a failed payout's amount out again (once the seller's bank details are fixed):
    a new payout of the same amount and method, checked like any request. Returns it."""
    if payout.status != PayoutStatus.FAILED:
        raise DomainError(
            f"Payout #{payout.pk} is {payout.get_status_display().lower()}: only "
            "a failed payout can be tried again."
        )
    return payout_request_create(
        seller=payout.seller,
        amount_cents=payout.amount_cents,
        currency=payout.currency,
        method=payout.method,
        client_key=f"retry-of-{payout.pk}",
        actor=actor,
    )


def payouts_send_requested():
    """Send again the payouts Stripe could not be reached for (beat job). Returns the count."""
    sent = 0
    for payout in Payout.objects.filter(status=PayoutStatus.REQUESTED).order_by("pk")[:100]:
        try:
            if payout_send(payout=payout).status != PayoutStatus.REQUESTED:
                sent += 1
        except DomainError as exc:
            logger.info("Payout %s refused on retry: %s", payout.pk, exc.message)
    return sent


# --- Schedules ----------------------------------------------------------------------------------


def schedule_for(seller):
    """The seller's PayoutSchedule (unsaved defaults when they never set one)."""
    return PayoutSchedule.objects.filter(seller_id=seller.pk).first() or PayoutSchedule(
        seller=seller
    )


def payout_schedule_set(*, seller, interval, weekly_anchor=0, monthly_anchor=1):
    """The seller chooses when they are paid out. Returns the PayoutSchedule."""
    errors = {}
    if interval not in PayoutInterval.values:
        errors["interval"] = "Choose manual, daily, weekly or monthly."
    if not isinstance(weekly_anchor, int) or not 0 <= weekly_anchor <= 6:
        errors["weekly_anchor"] = "Choose a day of the week (0 = Monday ... 6 = Sunday)."
    if not isinstance(monthly_anchor, int) or not 1 <= monthly_anchor <= 31:
        errors["monthly_anchor"] = "Choose a day of the month from 1 to 31."
    if errors:
        raise ValidationFailed(errors)
    if not getattr(seller, "is_seller", False):
        raise NotAllowed("Only sellers have payouts.")
    with transaction.atomic():
        schedule, _ = PayoutSchedule.objects.select_for_update().get_or_create(seller=seller)
        before = {
            "interval": schedule.interval,
            "weekly_anchor": schedule.weekly_anchor,
            "monthly_anchor": schedule.monthly_anchor,
        }
        after = {
            "interval": interval,
            "weekly_anchor": weekly_anchor,
            "monthly_anchor": monthly_anchor,
        }
        if before == after and schedule.changed_at:
            return schedule
        for name, value in after.items():
            setattr(schedule, name, value)
        schedule.changed_at = clock.now()
        schedule.save()
        audit_record(
            action="payouts.schedule.changed",
            actor=seller,
            target=schedule,
            before=before,
            after=after,
        )
        notify(
            seller,
            "payout.schedule_changed",
            {"schedule": schedule_words(schedule), "action_url": reverse("seller-payouts")},
        )
    return schedule


def schedule_words(schedule):
    if schedule.interval == PayoutInterval.WEEKLY:
        return f"every {schedule.get_weekly_anchor_display()}"
    if schedule.interval == PayoutInterval.MONTHLY:
        day = schedule.monthly_anchor
        return (
            "on the last day of every month"
            if day >= 31
            else (f"on day {day} of every month (or its last day)")
        )
    if schedule.interval == PayoutInterval.DAILY:
        return "every day"
    return "only when you ask"


def _month_day(year, month, anchor):
    return date(year, month, min(anchor, calendar.monthrange(year, month)[1]))


def schedule_period(schedule, today):
    """(period key, due date) of the schedule's latest due date on or before `today`, or None
    (manual, or nothing due since the seller chose it)."""
    if schedule.interval == PayoutInterval.DAILY:
        due, key = today, f"d{today:%Y%m%d}"
    elif schedule.interval == PayoutInterval.WEEKLY:
        due = today - timedelta(days=(today.weekday() - schedule.weekly_anchor) % 7)
        key = f"w{due:%Y%m%d}"
    elif schedule.interval == PayoutInterval.MONTHLY:
        due = _month_day(today.year, today.month, schedule.monthly_anchor)
        if due > today:
            year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
            due = _month_day(year, month, schedule.monthly_anchor)
        key = f"m{due:%Y%m}"
    else:
        return None
    chosen = timezone.localtime(schedule.changed_at).date() if schedule.changed_at else None
    if chosen is not None and due < chosen:
        return None
    return key, due


def schedule_next_date(schedule, today=None, horizon_days=62):
    """The next day the scheduled job pays the seller out (today included, while today's period
    has no payout yet), or None: manual, or held."""
    if schedule.held or schedule.interval == PayoutInterval.MANUAL:
        return None
    today = today or timezone.localtime(clock.now()).date()
    made = set()
    if schedule.seller_id:
        made = set(
            Payout.objects.filter(seller_id=schedule.seller_id)
            .exclude(period="")
            .values_list("period", flat=True)
        )
    # Never saved: due dates count from now, as if chosen today.
    probe = schedule
    if schedule.changed_at is None:
        probe = PayoutSchedule(
            interval=schedule.interval,
            weekly_anchor=schedule.weekly_anchor,
            monthly_anchor=schedule.monthly_anchor,
            changed_at=clock.now(),
        )
    for offset in range(horizon_days):
        day = today + timedelta(days=offset)
        period = schedule_period(probe, day)
        if period is not None and period[1] == day and period[0] not in made:
            return day
    return None


# --- Holds --------------------------------------------------------------------------------------


def payouts_hold(*, seller, reason, actor):
    """Staff hold the seller's payouts (risk review): requests and schedules are refused until
    released. The seller reads `reason`."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"hold_reason": "Say why: the seller reads it."})
    with transaction.atomic():
        schedule, _ = PayoutSchedule.objects.select_for_update().get_or_create(seller=seller)
        before = {"held": schedule.held, "hold_reason": schedule.hold_reason}
        schedule.held, schedule.hold_reason = True, reason
        schedule.held_at, schedule.held_by = clock.now(), actor
        schedule.save()
        audit_record(
            action="payouts.hold.placed",
            actor=actor,
            target=schedule,
            before=before,
            after={"held": True, "hold_reason": reason},
        )
        notify(
            seller,
            "payout.held",
            {"reason": reason, "action_url": reverse("seller-payouts")},
        )
    return schedule


def payouts_unhold(*, seller, actor):
    """Staff release the hold on the seller's payouts."""
    with transaction.atomic():
        schedule, _ = PayoutSchedule.objects.select_for_update().get_or_create(seller=seller)
        if not schedule.held:
            return schedule
        before = {"held": True, "hold_reason": schedule.hold_reason}
        schedule.held, schedule.held_at, schedule.held_by = False, None, None
        schedule.save()
        audit_record(
            action="payouts.hold.released",
            actor=actor,
            target=schedule,
            before=before,
            after={"held": False},
        )
        notify(seller, "payout.unheld", {"action_url": reverse("seller-payouts")})
    return schedule


# --- The scheduled payouts job ------------------------------------------------------------------

SCHEDULE_BATCH = 100


def _pay_out_on_schedule(schedule, today):
    """The seller's due period paid, per currency with enough payable. Returns payouts made.
    Its Stripe requests are paced and retried on 429 by stripe_client.paced_call."""
    due = schedule_period(schedule, today)
    if due is None:
        return 0
    key, _ = due
    seller = schedule.seller
    requested = []
    with transaction.atomic():
        # As payout_request_create decides: under the seller's lock, checked like a request.
        _lock_seller(seller)
        standing = payout_standing(seller=seller, period=key)
        if not standing.payouts_enabled:
            return 0
        _check_may_pay_out(standing)
        # Stripe's balance is read once, under the lock and after our books (payout_standing):
        # a payout of theirs that Stripe took meanwhile is off it, and one still requested is
        # counted by _payable_cents.
        balance = _stripe_balance(standing.stripe_account_id, paced=True)
        for currency in sorted({item["currency"] for item in balance.get("available") or ()}):
            if currency in standing.paid_in_period:
                continue
            quote = payout_quote(
                seller=seller,
                currency=currency,
                method=PayoutMethod.STANDARD,
                standing=standing,
                balance=balance,
            )
            if quote.amount_cents < settings.PAYOUT_MINIMUM_CENTS:
                continue
            requested.append(
                _payout_create(
                    seller=seller,
                    stripe_account_id=standing.stripe_account_id,
                    quote=quote,
                    period=key,
                )
            )
    for payout in requested:
        payout_send(payout=payout)
    return len(requested)


def scheduled_payouts_today():
    """The day whose periods the scheduled job pays (Bazaar's time zone)."""
    return timezone.localtime(clock.now()).date()


@dataclass(frozen=True)
class ScheduledRun:
    """What one run of the scheduled payouts job did: payouts made, and the seller id to go on
    after when its time ran out with sellers left (None: it went through, or Stripe kept
    refusing and the next tick goes on)."""

    made: int
    resume_after: int | None = None


def payouts_run_scheduled(*, today=None, batch=SCHEDULE_BATCH, after=0, until=None):
    """Pay out every seller whose schedule is due (beat job), from the seller after id `after`.
    Sellers are read in batches of `batch` by id; one whose period already has its payout is
    skipped, so a run that stopped half-way (a crash, Stripe down) resumes where it stopped on
    the next tick, and two runs at once make one payout per period (the row lock and the
    period's unique constraint). With `until` (a time.monotonic() value) it stops once that
    moment has passed, after at least one seller, and says where to go on (the task hands the
    rest to a new task: at Stripe's pace, 10,000 sellers take minutes). Returns a ScheduledRun."""
    today = today or scheduled_payouts_today()
    made = 0
    while True:
        schedules = list(
            PayoutSchedule.objects.filter(held=False, seller_id__gt=after)
            .exclude(interval=PayoutInterval.MANUAL)
            .select_related("seller")
            .order_by("seller_id")[:batch]
        )
        if not schedules:
            return ScheduledRun(made)
        for schedule in schedules:
            try:
                made += _pay_out_on_schedule(schedule, today)
            except (DomainError, StripeUnavailable) as exc:
                logger.info(
                    "Scheduled payout of seller %s not made: %s", schedule.seller_id, exc.message
                )
                if isinstance(exc, StripeUnavailable) and exc.code == stripe_client.RATE_LIMITED:
                    # Stripe keeps refusing: the next tick goes on from here.
                    return ScheduledRun(made)
            after = schedule.seller_id
            if until is not None and time.monotonic() >= until:
                return ScheduledRun(made, resume_after=after)
