"""Card chargebacks: a buyer's bank disputes the payment at the card network (Stripe's Dispute,
the charge.dispute.* events).

Every event leads to chargeback_sync, which reads the dispute from Stripe (never the event's
body) and brings Bazaar in line with it, in any order and any number of times:

- first sight: the order is frozen (DISPUTED, nothing is released); after release the seller's
  share of the disputed amount is taken back from their transfer, or owed as a debt when their
  balance cannot cover it (the refund rule); seller and staff are told, with the deadline;
- each of the dispute's balance transactions (the funds withdrawn with the dispute fee, the
  funds reinstated when won) is booked once, under the dispute's id;
- closed: won, the order continues where it was and the seller gets back what was taken; lost,
  the money is the buyer's again and the order ends refunded.

Staff answer it from the admin: Bazaar drafts the evidence from the order (and the order's
conversation as a PDF uploaded to Stripe's Files API), staff edit the draft and submit it.
"""

import io
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.urls import reverse
from django.utils import timezone

from core import stripe_client
from core.audit import audit_record
from core.errors import InvalidTransition, NotAllowed, StripeUnavailable, ValidationFailed
from core.logs import money_fields
from core.money import format_money
from core.pdf import text_pdf
from core.stripe_client import idempotency_key
from escrow import ledger
from escrow.commission import refund_shares
from escrow.models import (
    CHARGEBACK_EVIDENCE_TEXT_FIELDS,
    Chargeback,
    ChargebackStatus,
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    Order,
    OrderStatus,
    ReleaseStatus,
)
from escrow.services.orders import (
    order_mark_disputed,
    order_mark_refunded,
    order_mark_undisputed,
)
from escrow.services.reversals import release_reverse_share, reversal_book
from escrow.signals import chargeback_evidence_wanted
from notifications.services import notify

logger = logging.getLogger(__name__)


def _stripe():
    return stripe_client.client().v1


def _id(value):
    return getattr(value, "id", value)


def _timestamp(value):
    return datetime.fromtimestamp(value, tz=UTC) if value else None


# --- Following Stripe's dispute -----------------------------------------------------------------


def chargeback_sync(*, dispute_id):
    """charge.dispute.created / updated / funds_withdrawn / funds_reinstated / closed: bring the
    chargeback in line with Stripe's dispute. Returns the Chargeback (None: not our charge)."""
    dispute = stripe_client.call(_stripe().disputes.retrieve, dispute_id)
    payment = EscrowPayment.objects.filter(stripe_charge_id=_id(dispute.charge)).first()
    if payment is None or payment.succeeded_at is None:
        logger.warning("Dispute %s is on a charge Bazaar did not book", dispute.id)
        return None
    chargeback = _record(dispute=dispute, payment_id=payment.pk)
    if chargeback.seller_share_cents > chargeback.reversed_cents + chargeback.debt_cents:
        _take_back_seller_share(chargeback)
    chargeback = _settle(dispute=dispute, chargeback_id=chargeback.pk)
    if chargeback.returned_cents and not chargeback.stripe_return_transfer_id:
        _return_to_seller(chargeback)
    return Chargeback.objects.get(pk=chargeback.pk)


def _seller_share(order, payment, amount):
    """After release: the seller's part of `amount` taken back, as a refund of it would take.
    A milestone order's released milestones count first, oldest first (their money left
    escrow; the rest of the chargeback comes out of what escrow still holds)."""
    releases = list(
        EscrowRelease.objects.filter(order=order, status=ReleaseStatus.TRANSFERRED).order_by(
            "transferred_at", "id"
        )
    )
    if not releases:
        return 0, False
    share = 0
    for release in releases:
        if amount <= 0:
            break
        refunded = EscrowRefund.objects.holding().filter(payment=payment, after_release=True)
        if release.milestone_id is not None:
            refunded = refunded.filter(milestone_id=release.milestone_id)
        refunded_after = refunded.aggregate(total=Sum("amount_cents"))["total"] or 0
        part = min(amount, release.gross_cents - refunded_after)
        if part <= 0:
            continue
        amount -= part
        share += refund_shares(
            part,
            refunded_before=refunded_after,
            gross=release.gross_cents,
            commission=release.commission_cents,
            fee_passed_on=release.fee_passed_on_cents,
            return_commission=settings.ESCROW_REFUND_RETURNS_COMMISSION,
        ).seller_cents
    return share, True


@transaction.atomic
def _record(*, dispute, payment_id):
    order_id = EscrowPayment.objects.values_list("order_id", flat=True).get(pk=payment_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    payment = EscrowPayment.objects.get(pk=payment_id)
    chargeback = Chargeback.objects.select_for_update().filter(stripe_dispute_id=dispute.id).first()
    if chargeback is None:
        chargeback = _open(order, payment, dispute)
    elif chargeback.status != dispute.status:
        audit_record(
            action="escrow.chargeback.updated",
            actor=None,
            target=chargeback,
            before={"status": chargeback.status},
            after={"status": dispute.status},
        )
        chargeback.status = dispute.status
    details = dispute.evidence_details
    chargeback.evidence_due_by = _timestamp(getattr(details, "due_by", None))
    chargeback.save()
    _book_balance_transactions(order, chargeback, dispute)
    return chargeback


def _open(order, payment, dispute):
    seller_share, after_release = _seller_share(order, payment, dispute.amount)
    try:
        with transaction.atomic():
            chargeback = Chargeback.objects.create(
                order=order,
                payment=payment,
                stripe_dispute_id=dispute.id,
                amount_cents=dispute.amount,
                currency=dispute.currency,
                reason=dispute.reason or "general",
                status=dispute.status,
                seller_share_cents=seller_share,
            )
    except IntegrityError:  # another delivery of the same event made it first
        return Chargeback.objects.select_for_update().get(stripe_dispute_id=dispute.id)
    audit_record(
        action="escrow.chargeback.created",
        actor=None,
        target=chargeback,
        after={
            "status": chargeback.status,
            "amount_cents": chargeback.amount_cents,
            "currency": chargeback.currency,
            "reason": chargeback.reason,
            "seller_share_cents": seller_share,
        },
    )
    if order.status in (OrderStatus.FUNDED, OrderStatus.DELIVERED, OrderStatus.RELEASED):
        order_mark_disputed(order=order, action="escrow.order.charged_back")
    due = _timestamp(getattr(dispute.evidence_details, "due_by", None))
    context = {
        "order_id": order.pk,
        "listing_title": order.listing_title,
        "amount": chargeback.amount_display,
        "deadline": due.strftime("%d %b %Y") if due else "the deadline",
        "action_url": order.get_absolute_url(),
    }
    notify(order.seller, "order.charged_back", context)
    for person in _staff_to_tell():
        notify(person, "order.charged_back_staff", context | {"action_url": _admin_url(chargeback)})
    return chargeback


def _admin_url(chargeback):
    return reverse("admin:escrow_chargeback_change", args=[chargeback.pk])


def _staff_to_tell():
    """Staff who can act on chargebacks: superusers and holders of the change permission."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True)
    return users.filter(
        Q(is_superuser=True)
        | Q(user_permissions__codename="change_chargeback")
        | Q(groups__permissions__codename="change_chargeback")
    ).distinct()


def _book_balance_transactions(order, chargeback, dispute):
    """Each of the dispute's balance transactions once: the withdrawal (the disputed amount and
    Stripe's dispute fee) and any reinstatement. Before release the money came out of escrow;
    after release out of the platform's pocket (chargeback losses), until the seller's share is
    taken back from them."""
    booked = set(chargeback.booked_balance_transactions)
    counterpart = (
        LedgerAccount.CHARGEBACK_LOSSES
        if EscrowRelease.objects.filter(order=order).exists()
        else LedgerAccount.BUYER_FUNDS_HELD
    )
    for txn in dispute.balance_transactions or []:
        if isinstance(txn, str):
            txn = stripe_client.call(_stripe().balance_transactions.retrieve, txn)
        if txn.id in booked:
            continue
        withdrawn = txn.amount < 0
        ledger.post(
            order=order,
            currency=txn.currency,
            memo=(
                f"Chargeback {dispute.id}: funds "
                f"{'withdrawn with the dispute fee' if withdrawn else 'reinstated'}"
            ),
            stripe_object_id=dispute.id,
            lines=[
                (LedgerAccount.STRIPE_BALANCE, txn.net),
                (LedgerAccount.STRIPE_FEES, txn.fee),
                (counterpart, -txn.amount),
            ],
        )
        booked.add(txn.id)
        audit_record(
            action="escrow.chargeback.funds_withdrawn"
            if withdrawn
            else "escrow.chargeback.funds_reinstated",
            actor=None,
            target=chargeback,
            after={"balance_transaction": txn.id, "amount_cents": txn.amount, "fee_cents": txn.fee},
        )
    chargeback.booked_balance_transactions = sorted(booked)
    chargeback.save(update_fields=["booked_balance_transactions"])


# --- The seller's share -------------------------------------------------------------------------


def _take_back_seller_share(chargeback):
    """Reverse the seller's share from their transfer (idempotent: the key is the chargeback's;
    a milestone order's transfers one after the other, a key each); what Stripe refuses becomes
    their debt, recovered from their next releases. Stripe unreachable: the next event about
    the dispute (or the retry job) tries again."""
    releases = EscrowRelease.objects.filter(
        order_id=chargeback.order_id, status=ReleaseStatus.TRANSFERRED
    ).order_by("transferred_at", "id")
    taken, left = [], chargeback.seller_share_cents
    for release in releases:
        if left <= 0:
            break
        milestone = release.milestone_id is not None
        try:
            release, reversal, _ = release_reverse_share(
                order_id=chargeback.order_id,
                share_cents=left,
                row=chargeback,
                what="chargeback",
                release_id=release.pk if milestone else None,
                key=f"reversal-{release.pk}" if milestone else "reversal",
            )
        except StripeUnavailable:
            return
        if reversal is not None:
            taken.append((release.pk, reversal))
            left -= reversal.amount
    _record_take_back(chargeback_id=chargeback.pk, taken=taken)


def _record_take_back(*, chargeback_id, taken):
    """Book the reversals `taken` ([(release id, Stripe's reversal)]) and the rest of the
    seller's share as their debt, once."""
    chargeback = Chargeback.objects.select_for_update().get(pk=chargeback_id)
    if chargeback.reversed_cents + chargeback.debt_cents >= chargeback.seller_share_cents:
        return chargeback
    order = chargeback.order
    reversed_cents = 0
    for release_id, reversal in taken:
        reversed_cents += reversal.amount
        reversal_book(
            release=EscrowRelease.objects.select_for_update().get(pk=release_id),
            reversal=reversal,
            memo=f"Transfer for order #{order.pk} reversed (chargeback)",
        )
        chargeback.stripe_reversal_id = reversal.id
    debt = chargeback.seller_share_cents - reversed_cents
    ledger.post(
        order=order,
        currency=chargeback.currency,
        memo=f"Seller's share of chargeback {chargeback.stripe_dispute_id}",
        lines=[
            (LedgerAccount.TRANSFER_REVERSALS, reversed_cents),
            (LedgerAccount.seller_debt(order.seller_id), debt),
            (LedgerAccount.CHARGEBACK_LOSSES, -(reversed_cents + debt)),
        ],
    )
    chargeback.reversed_cents, chargeback.debt_cents = reversed_cents, debt
    chargeback.save(update_fields=["reversed_cents", "debt_cents", "stripe_reversal_id"])
    audit_record(
        action="escrow.chargeback.seller_share_taken",
        actor=None,
        target=chargeback,
        after={"reversed_cents": reversed_cents, "debt_cents": debt},
    )
    return chargeback


# --- Closed -------------------------------------------------------------------------------------


@transaction.atomic
def _settle(*, dispute, chargeback_id):
    """Stripe closed the dispute: the order goes on (won) or ends refunded (lost), once."""
    chargeback = Chargeback.objects.select_related("order").get(pk=chargeback_id)
    order = Order.objects.select_for_update().get(pk=chargeback.order_id)
    chargeback = Chargeback.objects.select_for_update().get(pk=chargeback_id)
    if chargeback.is_open or chargeback.closed_at is not None:
        return chargeback
    if chargeback.seller_share_cents > chargeback.reversed_cents + chargeback.debt_cents:
        return chargeback  # the seller's share is still being taken: settled by the next event
    won = chargeback.status in (ChargebackStatus.WON, ChargebackStatus.WARNING_CLOSED)
    chargeback.closed_at = timezone.now()
    others_open = (
        Chargeback.objects.filter(order=order)
        .exclude(pk=chargeback.pk)
        .exclude(status__in=[s for s in ChargebackStatus if not _is_open(s)])
        .exists()
    )
    if won:
        if order.status == OrderStatus.DISPUTED and not others_open:
            order_mark_undisputed(order=order, action="escrow.order.chargeback_won")
        _give_back_to_seller(order, chargeback)
    elif order.status == OrderStatus.DISPUTED:
        order_mark_refunded(order=order)
    chargeback.save()
    audit_record(
        action="escrow.chargeback.won" if won else "escrow.chargeback.lost",
        actor=None,
        target=chargeback,
        after={"status": chargeback.status, "returned_cents": chargeback.returned_cents},
    )
    context = {
        "order_id": order.pk,
        "listing_title": order.listing_title,
        "amount": chargeback.amount_display,
        "outcome": "won: the payment stands" if won else "lost: the buyer's bank kept the money",
        "action_url": order.get_absolute_url(),
    }
    notify(order.seller, "order.chargeback_closed", context)
    return chargeback


def _is_open(status):
    return status not in (
        ChargebackStatus.WARNING_CLOSED,
        ChargebackStatus.WON,
        ChargebackStatus.LOST,
    )


def _give_back_to_seller(order, chargeback):
    """Won after the seller's share was taken: the part still owed as debt is forgiven, what
    they paid (reversed, or recovered from later releases) goes back to them by transfer."""
    if not chargeback.seller_share_cents:
        return
    debt_account = LedgerAccount.seller_debt(order.seller_id)
    outstanding = max(ledger.balance(debt_account, currency=chargeback.currency), 0)
    forgiven = min(chargeback.debt_cents, outstanding)
    if forgiven:
        ledger.post(
            order=order,
            currency=chargeback.currency,
            memo=f"Chargeback {chargeback.stripe_dispute_id} won: the seller's debt forgiven",
            lines=[(debt_account, -forgiven), (LedgerAccount.CHARGEBACK_LOSSES, forgiven)],
        )
    chargeback.returned_cents = chargeback.reversed_cents + chargeback.debt_cents - forgiven


def _return_to_seller(chargeback):
    """The transfer giving a seller back what a won chargeback had taken (key from the row)."""
    order = chargeback.order
    # A milestone order has a release per milestone, all to the seller's one account.
    release = EscrowRelease.objects.filter(order=order).first()
    try:
        transfer = stripe_client.call(
            _stripe().transfers.create,
            params={
                "amount": chargeback.returned_cents,
                "currency": chargeback.currency,
                "destination": release.destination_account,
                "transfer_group": order.transfer_group,
                "description": f"Bazaar order #{order.pk}: chargeback won",
                "metadata": {
                    "bazaar_order_id": str(order.pk),
                    "bazaar_chargeback_id": str(chargeback.pk),
                },
            },
            options={
                "idempotency_key": idempotency_key(
                    chargeback, f"return-{chargeback.return_refusals}"
                )
            },
        )
    except StripeUnavailable as exc:
        logger.warning(
            "Returning chargeback %s to the seller failed: %s",
            chargeback.pk,
            exc.message,
            extra=money_fields(order_id=order.pk, stripe=exc),
        )
        if not exc.retryable:
            # Refused (no transfer was made): the next try is a new request. An unanswered
            # one is tried again with the same key, so it can never be made twice.
            Chargeback.objects.filter(pk=chargeback.pk).update(
                return_refusals=F("return_refusals") + 1
            )
        return  # the next event or the retry job tries again
    with transaction.atomic():
        locked = Chargeback.objects.select_for_update().get(pk=chargeback.pk)
        if locked.stripe_return_transfer_id:
            return
        locked.stripe_return_transfer_id = transfer.id
        locked.save(update_fields=["stripe_return_transfer_id"])
        ledger.post(
            order=order,
            currency=locked.currency,
            memo=f"Chargeback {locked.stripe_dispute_id} won: the seller's share given back",
            stripe_object_id=transfer.id,
            lines=[
                (LedgerAccount.CHARGEBACK_LOSSES, locked.returned_cents),
                (LedgerAccount.STRIPE_BALANCE, -locked.returned_cents),
            ],
        )
        audit_record(
            action="escrow.chargeback.returned_to_seller",
            actor=None,
            target=locked,
            after={"transfer_id": transfer.id, "amount_cents": locked.returned_cents},
        )


def chargebacks_retry():
    """Finish what Stripe could not do yet (unreachable, or the platform's funds still
    pending): seller shares not taken back, won chargebacks not given back. Same keys."""
    due = Chargeback.objects.filter(
        Q(closed_at__isnull=True, seller_share_cents__gt=F("reversed_cents") + F("debt_cents"))
        | Q(returned_cents__gt=0, stripe_return_transfer_id="")
    ).values_list("stripe_dispute_id", flat=True)
    done = 0
    for dispute_id in list(due):
        chargeback_sync(dispute_id=dispute_id)
        done += 1
    return done


# --- Evidence -----------------------------------------------------------------------------------


def chargeback_evidence_draft(*, chargeback, actor):
    """Draft the evidence from the order: what was bought, by whom, when it was delivered and
    approved, the policy; the order's conversation as a PDF uploaded to Stripe (purpose
    dispute_evidence). Staff edit the draft before submitting it. Idempotent per chargeback."""
    _check_staff(actor)
    chargeback = Chargeback.objects.select_related("order", "order__buyer").get(pk=chargeback.pk)
    if not chargeback.is_open:
        raise InvalidTransition("This chargeback is closed: its evidence can no longer change.")
    order = chargeback.order
    draft = _evidence_from_order(order)
    file_id = chargeback.evidence_file_id
    if not file_id:
        transcript = _conversation_transcript(order)
        if transcript:
            file_id = _upload_evidence_file(chargeback, order, transcript)
    with transaction.atomic():
        locked = Chargeback.objects.select_for_update().get(pk=chargeback.pk)
        locked.evidence = draft | {k: v for k, v in locked.evidence.items() if v}
        locked.evidence_file_id = file_id or ""
        locked.save(update_fields=["evidence", "evidence_file_id"])
        audit_record(
            action="escrow.chargeback.evidence_drafted",
            actor=actor,
            target=locked,
            after={"fields": sorted(k for k, v in locked.evidence.items() if v), "file": file_id},
        )
    return locked


def _check_staff(actor):
    if actor is None or not actor.is_staff or not actor.has_perm("escrow.change_chargeback"):
        raise NotAllowed("Only finance staff can answer chargebacks.")


def _evidence_from_order(order):
    lines = [
        f"Bazaar order #{order.pk}: {order.quantity} × “{order.listing_title}”, "
        f"{format_money(order.total_cents, order.currency)}.",
        f"Paid on {order.funded_at:%d %b %Y %H:%M} UTC." if order.funded_at else "",
    ]
    if order.delivered_at:
        lines.append(f"Delivered by the seller on {order.delivered_at:%d %b %Y %H:%M} UTC.")
        if order.delivery_note:
            lines.append(f"Delivery note: {order.delivery_note}")
    approval = _buyer_approval(order)
    if approval:
        lines.append(f"The buyer approved the delivery on {approval:%d %b %Y %H:%M} UTC.")
    lines.append("The buyer's messages with the seller are attached (the order's conversation).")
    delivered = order.delivered_at.strftime("%Y-%m-%d") if order.delivered_at else ""
    return {
        "product_description": f"{order.listing_title} (sold by {order.store.name} on Bazaar)",
        "customer_name": order.buyer.get_full_name() or order.buyer.email,
        "customer_email_address": order.buyer.email,
        "service_date": delivered if order.listing_kind == "service" else "",
        "shipping_date": delivered if order.listing_kind != "service" else "",
        "uncategorized_text": "\n".join(line for line in lines if line),
    }


def _buyer_approval(order):
    from core.models import AuditEntry  # core's model; escrow's audit trail

    entry = (
        AuditEntry.objects.filter(
            action="escrow.order.approved", target_id=str(order.pk), actor_id=order.buyer_id
        )
        .order_by("created_at")
        .first()
    )
    return entry.created_at if entry else None


def _conversation_transcript(order):
    """The order's conversation as lines of text, from whichever app keeps it (a signal: the
    conversation lives above escrow)."""
    lines = []
    for _receiver, answer in chargeback_evidence_wanted.send(sender=Order, order=order):
        lines.extend(answer or [])
    return lines


def _upload_evidence_file(chargeback, order, transcript):
    pdf = text_pdf(
        title=f"Bazaar order #{order.pk}: messages between buyer and seller",
        lines=transcript,
    )
    upload = io.BytesIO(pdf)
    upload.name = f"bazaar-order-{order.pk}-conversation.pdf"
    try:
        uploaded = stripe_client.call(
            _stripe().files.create,
            params={"purpose": "dispute_evidence", "file": upload},
            options={"idempotency_key": idempotency_key(chargeback, "evidence-file")},
        )
    except StripeUnavailable as exc:
        raise ValidationFailed({"evidence": exc.message}) from exc
    return uploaded.id


def chargeback_evidence_update(*, chargeback, actor, evidence):
    """Staff edit the draft (Stripe's evidence field names; empty clears a field)."""
    _check_staff(actor)
    unknown = set(evidence) - set(CHARGEBACK_EVIDENCE_TEXT_FIELDS)
    if unknown:
        raise ValidationFailed(dict.fromkeys(sorted(unknown), "Not an evidence field."))
    too_long = [k for k, v in evidence.items() if len(v or "") > 20000]
    if too_long:
        raise ValidationFailed(dict.fromkeys(too_long, "At most 20,000 characters."))
    with transaction.atomic():
        locked = Chargeback.objects.select_for_update().get(pk=chargeback.pk)
        if not locked.is_open or locked.evidence_submitted_at:
            raise InvalidTransition("The evidence was submitted: it can no longer change.")
        before = dict(locked.evidence)
        locked.evidence = before | {k: (v or "").strip() for k, v in evidence.items()}
        locked.save(update_fields=["evidence"])
        audit_record(
            action="escrow.chargeback.evidence_edited",
            actor=actor,
            target=locked,
            before={k: before.get(k, "") for k in evidence},
            after={k: locked.evidence[k] for k in evidence},
        )
    return locked


def chargeback_evidence_submit(*, chargeback, actor):
    """Send the draft to Stripe and submit it (disputes.update(evidence=..., submit=true))."""
    _check_staff(actor)
    chargeback = Chargeback.objects.get(pk=chargeback.pk)
    if chargeback.evidence_submitted_at:
        return chargeback
    if chargeback.status not in (
        ChargebackStatus.NEEDS_RESPONSE,
        ChargebackStatus.WARNING_NEEDS_RESPONSE,
    ):
        raise InvalidTransition(
            f"Stripe no longer takes evidence for this chargeback "
            f"({chargeback.get_status_display().lower()})."
        )
    evidence = {k: v for k, v in chargeback.evidence.items() if v}
    if not evidence:
        raise ValidationFailed({"evidence": "Draft the evidence before submitting it."})
    if chargeback.evidence_file_id:
        evidence["customer_communication"] = chargeback.evidence_file_id
    try:
        dispute = stripe_client.call(
            _stripe().disputes.update,
            chargeback.stripe_dispute_id,
            params={"evidence": evidence, "submit": True},
            options={"idempotency_key": idempotency_key(chargeback, "evidence-submit")},
        )
    except StripeUnavailable as exc:
        raise ValidationFailed({"evidence": exc.message}) from exc
    with transaction.atomic():
        locked = Chargeback.objects.select_for_update().get(pk=chargeback.pk)
        if not locked.evidence_submitted_at:
            locked.evidence_submitted_at = timezone.now()
            locked.evidence_submitted_by = actor
            locked.save(update_fields=["evidence_submitted_at", "evidence_submitted_by"])
            audit_record(
                action="escrow.chargeback.evidence_submitted",
                actor=actor,
                target=locked,
                after={"fields": sorted(evidence), "status": dispute.status},
            )
    # The dispute's new status (and, in test mode, its outcome) as Stripe has it now.
    return chargeback_sync(dispute_id=chargeback.stripe_dispute_id)
