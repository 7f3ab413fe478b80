"""Taking a seller's share back from their transfer (a Stripe transfer reversal), for a refund
after release or a card chargeback: the one request both make, with the idempotency key of the
row it is made for; and the one booking of a reversal, whoever learns of it first (the refund,
the chargeback, or Stripe's transfer.reversed event in releases.py).
"""

import logging

from core import stripe_client
from core.audit import audit_record
from core.errors import StripeUnavailable
from core.logs import money_fields
from core.stripe_client import idempotency_key
from escrow import ledger
from escrow.models import EscrowRelease, LedgerAccount, TransferReversal

logger = logging.getLogger(__name__)


def _stripe():
    return stripe_client.client().v1


def release_reverse_share(*, order_id, share_cents, row, what, release_id=None, key="reversal"):
    """Ask Stripe to reverse up to `share_cents` of the order's transfer to the seller, for `row`
    (a refund or a chargeback: its row makes the idempotency key, `what` names it in Stripe's
    metadata and description).

    Returns (release, reversal, why): the reversal Stripe made, or None with why not (nothing of
    the transfer left to reverse, or Stripe refused it for good: the seller's balance cannot
    cover it). A refusal that may pass later (Stripe unreachable) raises StripeUnavailable, for
    the caller to try again with the same key. The caller books what it gets. `release_id`
    names one of the order's releases (a milestone's); without it, the order's one release.
    `key` makes the idempotency key with `row` (one per release when a row reverses several).
    """
    releases = EscrowRelease.objects.with_amount_reversed()
    if release_id is not None:  # a milestone's release (the order has one per milestone)
        release = releases.get(pk=release_id, order_id=order_id)
    else:
        release = releases.get(order_id=order_id, milestone__isnull=True)
    amount = min(share_cents, max(release.transfer_cents - release.amount_reversed_cents, 0))
    if amount <= 0:
        return release, None, "nothing of the transfer is left to reverse"
    try:
        reversal = stripe_client.call(
            _stripe().transfers.reversals.create,
            release.stripe_transfer_id,
            params={
                "amount": amount,
                "description": f"{what.capitalize()} on Bazaar order #{order_id}",
                "metadata": {"bazaar_order_id": str(order_id), f"bazaar_{what}_id": str(row.pk)},
            },
            options={"idempotency_key": idempotency_key(row, key)},
        )
    except StripeUnavailable as exc:
        logger.warning(
            "Reversal for %s %s refused: %s",
            what,
            row.pk,
            exc.message,
            extra=money_fields(order_id=order_id, stripe=exc, release_id=release.pk),
        )
        if exc.retryable:
            raise
        return release, None, exc.message
    return release, reversal, ""


def reversal_book(*, release, reversal, amount=None, refund=None, memo=""):
    """Book one of Stripe's reversals of the release's transfer, once: the TransferReversal row,
    its audit entry and its ledger lines (the money is back on the platform's balance). In the
    caller's transaction, the release locked. `amount` caps what is booked (never more than the
    transfer held); `refund` ties it to the refund it was made for. Returns the row, None when
    it was booked already (a refund's reversal found booked by the transfer.reversed event is
    tied to the refund then)."""
    existing = TransferReversal.objects.filter(stripe_reversal_id=reversal.id).first()
    if existing is not None:
        if refund is not None and existing.refund_id is None:
            TransferReversal.objects.filter(pk=existing.pk).update(refund=refund)
        return None
    amount = reversal.amount if amount is None else amount
    booked = TransferReversal.objects.create(
        release=release,
        refund=refund,
        stripe_reversal_id=reversal.id,
        amount_cents=amount,
        currency=reversal.currency,
    )
    logger.info(
        "Transfer reversal booked",
        extra=money_fields(
            order_id=release.order_id,
            release_id=release.pk,
            reversal_id=reversal.id,
            amount_cents=amount,
            currency=reversal.currency,
        ),
    )
    audit_record(
        action="escrow.release.reversed",
        actor=None,
        target=release,
        after={
            "stripe_reversal_id": reversal.id,
            "amount_cents": amount,
            "currency": reversal.currency,
        }
        | ({"refund_id": refund.pk} if refund is not None else {}),
    )
    ledger.post(
        order=release.order,
        currency=reversal.currency,
        memo=memo or f"Transfer for order #{release.order_id} reversed",
        stripe_object_id=reversal.id,
        lines=[
            (LedgerAccount.STRIPE_BALANCE, amount),
            (LedgerAccount.TRANSFER_REVERSALS, -amount),
        ],
    )
    return booked
