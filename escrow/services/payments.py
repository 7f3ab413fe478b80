"""Paying for an order: the buyer pays the platform (Checkout on the web, a PaymentIntent on
mobile) and the money is held in escrow ("separate charges and transfers").

Money-moving calls to Stripe happen outside database transactions, each with an idempotency key
made from our own row: the row is written first, the Stripe call follows, and its result is
recorded in a second transaction. A crash or retry in between repeats the same call with the same
key, so Stripe never moves the money twice. Webhooks call the same functions a person's action
does, and every function returns quietly when its change already happened.

A payment's status moves only through transitions.payment_move (PAYMENT_TRANSITIONS, an audit
entry `escrow.payment.<what happened>`), under the order's and then the payment's row lock.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.selectors import seller_can_accept_payments
from accounts.services import email_verified_require
from core import clock, stripe_client
from core.audit import audit_record
from core.errors import (
    DomainError,
    InvalidTransition,
    NotAllowed,
    StripeUnavailable,
    ValidationFailed,
)
from core.logs import money_fields
from core.stripe_client import idempotency_key
from escrow import ledger
from escrow.models import (
    EscrowPayment,
    LedgerAccount,
    Order,
    OrderStatus,
    PaymentStatus,
    StripeCustomer,
)
from escrow.services.orders import (
    CHECKOUT_OPEN_STATUSES,
    checkout_sessions_expire_later,
    order_mark_funded,
    order_payment_failed,
)
from escrow.services.refunds import refund_unwanted_payment
from escrow.services.transitions import PAYMENT_ACTIONS, failure_reason_record, payment_move

logger = logging.getLogger(__name__)


class PaymentUnavailable(DomainError):
    status_code = 503
    code = "payment_unavailable"


def _stripe():
    return stripe_client.client().v1


# --- Buyers as Stripe customers -----------------------------------------------------------------


def stripe_customer_get_or_create(*, user):
    """The buyer's Stripe Customer id, created once (the key makes a retried create harmless)."""
    existing = StripeCustomer.objects.filter(user=user).first()
    if existing:
        return existing.stripe_customer_id
    customer = stripe_client.call(
        _stripe().customers.create,
        params={
            "email": user.email,
            "name": user.get_full_name(),
            "metadata": {"bazaar_user_id": str(user.pk)},
        },
        options={"idempotency_key": idempotency_key(user, "stripe-customer")},
    )
    record, _ = StripeCustomer.objects.get_or_create(
        user=user, defaults={"stripe_customer_id": customer.id}
    )
    return record.stripe_customer_id


def _customer_or_unavailable(user):
    try:
        return stripe_customer_get_or_create(user=user)
    except StripeUnavailable as exc:
        raise PaymentUnavailable(exc.message) from exc


# --- Paying -------------------------------------------------------------------------------------


def _payable_order(order, buyer):
    order = Order.objects.select_related("seller").get(pk=order.pk)
    if buyer.pk != order.buyer_id:
        raise NotAllowed("Only the buyer can pay for this order.")
    email_verified_require(user=buyer)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise InvalidTransition(
            f"This order is {order.get_status_display().lower()}; it cannot be paid."
        )
    if order.expires_at and order.expires_at <= clock.now():
        raise InvalidTransition("This order expired before it was paid. Please order again.")
    if not seller_can_accept_payments(order.seller):
        raise InvalidTransition("This seller cannot take payments right now. Try again later.")
    return order


def _payment_metadata(order, payment):
    return {"bazaar_order_id": str(order.pk), "bazaar_payment_id": str(payment.pk)}


def _shipping_param(order):
    """A product order's address as the PaymentIntent's `shipping` (Radar weighs it); the buyer
    gave it in Bazaar at checkout. {} for a service."""
    address = order.shipping_address
    if not address:
        return {}
    return {
        "shipping": {
            "name": address["name"],
            "address": {
                "line1": address["line1"],
                "line2": address["line2"],
                "city": address["city"],
                "postal_code": address["postal_code"],
                "state": address["region"],
                "country": address["country"],
            },
        }
    }


# Stripe takes a Checkout Session's expires_at only between 30 minutes and 24 hours after it
# creates the session; a minute's margin each side absorbs the clocks' difference.
CHECKOUT_SHORTEST_LIFE = timedelta(minutes=31)
CHECKOUT_LONGEST_LIFE = timedelta(hours=23, minutes=59)


def _checkout_expires_at(order):
    """When the order's Checkout Session stops taking payments: when the order expires.

    Stripe refuses an expires_at less than 30 minutes away, so a session opened in the order's
    last half hour outlives the order by up to 30 minutes. That gap is closed by order_expire,
    which expires the order's open sessions at Stripe as it expires the order (the
    expire_unpaid_orders job, every ESCROW_JOB_INTERVAL_SECONDS); a payment that lands in the
    few minutes left between the two is a late payment, refunded."""
    now = clock.now()
    expires_at = order.expires_at or now + CHECKOUT_LONGEST_LIFE
    expires_at = min(max(expires_at, now + CHECKOUT_SHORTEST_LIFE), now + CHECKOUT_LONGEST_LIFE)
    return int(expires_at.timestamp())


def payment_checkout_start(*, order, buyer, success_url, cancel_url):
    """Web checkout: a Stripe Checkout Session for the order. Returns (payment, session url).

    One open session per order: a second tab or a second click gets the session already open
    (Stripe is asked whether it still is), so two pages cannot both take the buyer's money. The
    session expires with the order (_checkout_expires_at)."""
    order = _payable_order(order, buyer)
    already_open = _checkout_session_open(order)
    if already_open:
        return already_open
    customer = _customer_or_unavailable(buyer)
    payment = _payment_create(order=order, buyer=buyer, kind=EscrowPayment.Kind.CHECKOUT)
    metadata = _payment_metadata(order, payment)
    try:
        session = stripe_client.call(
            _stripe().checkout.sessions.create,
            params={
                "mode": "payment",
                "customer": customer,
                "client_reference_id": str(order.pk),
                "line_items": [
                    {
                        "price_data": {
                            "currency": order.currency,
                            "unit_amount": order.unit_price_cents,
                            "product_data": {"name": order.listing_title},
                        },
                        "quantity": order.quantity,
                    }
                ],
                "payment_intent_data": {
                    "transfer_group": order.transfer_group,
                    "metadata": metadata,
                    "description": f"Bazaar order #{order.pk}: {order.listing_title}",
                    **_shipping_param(order),
                },
                "metadata": metadata,
                "expires_at": _checkout_expires_at(order),
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options={"idempotency_key": idempotency_key(payment, "checkout-session")},
        )
    except StripeUnavailable as exc:
        _payment_failed_locally(payment, exc, actor=buyer)
        raise PaymentUnavailable(exc.message) from exc
    logger.info(
        "Checkout session created",
        extra=money_fields(order_id=order.pk, stripe=session, payment_id=payment.pk),
    )
    order = _checkout_session_record(payment, session)
    payment.stripe_checkout_session_id = session.id
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise InvalidTransition(
            f"This order is {order.get_status_display().lower()}; it cannot be paid."
        )
    return payment, session.url


@transaction.atomic
def _checkout_session_record(payment, session):
    """Keep the session's id under the order's lock. An order that closed while Stripe made the
    session did not see it (order_cancel and order_expire look under the same lock), so its
    expiry is queued here."""
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    EscrowPayment.objects.filter(pk=payment.pk).update(stripe_checkout_session_id=session.id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        checkout_sessions_expire_later(order=order)
    return order


def _checkout_session_retrieve(session_id):
    """The session as Stripe has it; None when Stripe has no such session."""
    try:
        return stripe_client.call(_stripe().checkout.sessions.retrieve, session_id)
    except StripeUnavailable as exc:
        if exc.code == "resource_missing":
            logger.warning("Stripe has no Checkout Session %s: %s", session_id, exc.message)
            return None
        raise


def _checkout_session_open(order):
    """The order's Checkout Session that Stripe says is still open, as (payment, url); None
    when there is none. A session found expired cancels its payment on the way."""
    candidates = EscrowPayment.objects.filter(
        order=order,
        kind=EscrowPayment.Kind.CHECKOUT,
        status__in=CHECKOUT_OPEN_STATUSES,
        stripe_checkout_session_id__isnull=False,
    ).order_by("-pk")
    for payment in candidates:
        try:
            session = _checkout_session_retrieve(payment.stripe_checkout_session_id)
        except StripeUnavailable as exc:
            raise PaymentUnavailable(exc.message) from exc
        if session is None:
            continue
        if session.status == "open":
            return payment, session.url
        if session.status == "complete":
            # Paid on the other page; Stripe's webhook has not been booked yet.
            raise InvalidTransition(
                "This order has just been paid on another page: Stripe is confirming it."
            )
        _checkout_payment_cancel(payment)
    return None


def payment_checkout_sessions_expire(*, order_id):
    """An order closed (cancelled, expired): its open Checkout Sessions stop taking payments.

    Run by the expire_checkout_sessions task after the order's transaction committed. Each open
    session is expired at Stripe (the idempotency key from its payment row) and its payment is
    cancelled; a session already expired is only recorded; one paid meanwhile is left to its
    webhook, which books it as a late payment. Stripe unreachable raises StripeUnavailable and
    the task retries. Returns how many payments were cancelled."""
    if Order.objects.filter(pk=order_id, status=OrderStatus.PENDING_PAYMENT).exists():
        return 0  # payable again: its session stays (the order closes it when it closes)
    cancelled = 0
    payments = EscrowPayment.objects.filter(
        order_id=order_id,
        kind=EscrowPayment.Kind.CHECKOUT,
        status__in=CHECKOUT_OPEN_STATUSES,
        stripe_checkout_session_id__isnull=False,
    ).order_by("pk")
    for payment in payments:
        session = _checkout_session_expire_at_stripe(payment)
        if session is not None and session.status == "expired":
            cancelled += _checkout_payment_cancel(payment)
    return cancelled


def _checkout_session_expire_at_stripe(payment):
    """Expire the payment's session at Stripe; returns the session as Stripe then has it."""
    session_id = payment.stripe_checkout_session_id
    try:
        session = stripe_client.call(
            _stripe().checkout.sessions.expire,
            session_id,
            options={"idempotency_key": idempotency_key(payment, "checkout-session-expire")},
        )
    except StripeUnavailable:
        # Stripe expires only open sessions: one that expired by itself or was paid is refused.
        # What it is now is Stripe's answer to a read, not the refusal's text.
        session = _checkout_session_retrieve(session_id)
        if session is not None and session.status == "open":
            raise  # still open: Stripe did not do it (an outage); the task retries
        return session
    logger.info(
        "Checkout session expired with its order",
        extra=money_fields(order_id=payment.order_id, stripe=session, payment_id=payment.pk),
    )
    return session


@transaction.atomic
def _checkout_payment_cancel(payment):
    """The payment's session expired unpaid: the attempt is over. True when it moved."""
    payment = _lock_order_and_payment(payment)
    if payment.status not in CHECKOUT_OPEN_STATUSES:
        return False  # paid meanwhile: its webhook books it
    _, moved = payment_move(payment=payment, to=PaymentStatus.CANCELLED)
    return moved


def payment_intent_start(*, order, buyer, client_key=""):
    """Mobile checkout: a PaymentIntent whose client_secret the app confirms with Stripe's SDK.

    A retry with the same client key, or while an unpaid intent is open, returns that intent.
    """
    if client_key:
        existing = EscrowPayment.objects.filter(order=order, client_key=client_key).first()
        if existing and existing.client_secret:
            return existing
    order = _payable_order(order, buyer)
    open_intent = (
        EscrowPayment.objects.filter(
            order=order,
            kind=EscrowPayment.Kind.PAYMENT_INTENT,
            status__in=[PaymentStatus.PENDING, PaymentStatus.FAILED],
        )
        .exclude(client_secret="")
        .first()
    )
    if open_intent:
        return open_intent  # a declined intent can be confirmed again with another card
    customer = _customer_or_unavailable(buyer)
    payment = _payment_create(
        order=order, buyer=buyer, kind=EscrowPayment.Kind.PAYMENT_INTENT, client_key=client_key
    )
    try:
        intent = stripe_client.call(
            _stripe().payment_intents.create,
            params={
                "amount": order.total_cents,
                "currency": order.currency,
                "customer": customer,
                "payment_method_types": ["card"],
                "transfer_group": order.transfer_group,
                "metadata": _payment_metadata(order, payment),
                "description": f"Bazaar order #{order.pk}: {order.listing_title}",
                **_shipping_param(order),
            },
            options={"idempotency_key": idempotency_key(payment, "payment-intent")},
        )
    except StripeUnavailable as exc:
        _payment_failed_locally(payment, exc, actor=buyer)
        raise PaymentUnavailable(exc.message) from exc
    logger.info(
        "Payment intent created",
        extra=money_fields(order_id=order.pk, stripe=intent, payment_id=payment.pk),
    )
    EscrowPayment.objects.filter(pk=payment.pk).update(
        stripe_payment_intent_id=intent.id, client_secret=intent.client_secret
    )
    payment.refresh_from_db()
    return payment


@transaction.atomic
def _payment_create(*, order, buyer, kind, client_key=""):
    """The payment row, written (and audited) before Stripe is asked: its id makes the key."""
    payment = EscrowPayment.objects.create(
        order=order,
        kind=kind,
        amount_cents=order.total_cents,
        currency=order.currency,
        client_key=client_key or "",
    )
    audit_record(
        action="escrow.payment.created",
        actor=buyer,
        target=payment,
        after={
            "status": payment.status,
            "kind": kind,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
        },
    )
    return payment


@transaction.atomic
def _payment_failed_locally(payment, exc, *, actor):
    """Stripe could not even start the payment: the attempt failed before the buyer paid."""
    logger.warning(
        "Stripe could not start a payment: %s",
        exc.message,
        extra=money_fields(order_id=payment.order_id, stripe=exc, payment_id=payment.pk),
    )
    payment = _lock_order_and_payment(payment)
    if payment.status == PaymentStatus.PENDING:
        payment_move(
            payment=payment,
            to=PaymentStatus.FAILED,
            actor=actor,
            failure_message=exc.detail[:300],
            failure_code=(exc.code or "")[:60],
            failure_decline_code=(exc.decline_code or "")[:60],
        )
    return payment


def _lock_order_and_payment(payment):
    """Lock the payment's order, then the payment: the order every escrow path takes."""
    Order.objects.select_for_update().get(pk=payment.order_id)
    return EscrowPayment.objects.select_for_update().get(pk=payment.pk)


def _find_payment(*, payment_intent_id=None, checkout_session_id=None, metadata=None):
    payment = None
    if payment_intent_id:
        payment = EscrowPayment.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if payment is None and checkout_session_id:
        payment = EscrowPayment.objects.filter(
            stripe_checkout_session_id=checkout_session_id
        ).first()
    if payment is None and metadata and metadata.get("bazaar_payment_id", "").isdigit():
        payment = EscrowPayment.objects.filter(pk=int(metadata["bazaar_payment_id"])).first()
    return payment


def payment_confirm(*, payment_intent_id):
    """Stripe says a payment intent succeeded: check it with Stripe, then hold the money.

    Called from checkout.session.completed, payment_intent.succeeded and charge.succeeded; any
    order, any number of times. The amounts booked are Stripe's, checked against our order.
    """
    intent = stripe_client.call(
        _stripe().payment_intents.retrieve,
        payment_intent_id,
        params={"expand": ["latest_charge.balance_transaction"]},
    )
    payment = _find_payment(payment_intent_id=intent.id, metadata=intent.metadata)
    if payment is None:
        logger.warning(
            "Payment intent %s matches no Bazaar payment",
            intent.id,
            extra=money_fields(stripe=intent, payment_intent_id=intent.id),
        )
        return None
    if intent.status != "succeeded":
        return payment
    charge = intent.latest_charge
    txn = charge.balance_transaction
    if intent.amount_received != payment.amount_cents or intent.currency != payment.currency:
        logger.error(
            "Payment intent %s received %s %s but order %s expected %s %s",
            intent.id,
            intent.amount_received,
            intent.currency,
            payment.order_id,
            payment.amount_cents,
            payment.currency,
            extra=money_fields(order_id=payment.order_id, stripe=intent, payment_id=payment.pk),
        )
        raise ValidationFailed({"amount": "Stripe's amount does not match the order."})
    payment = _record_success(
        payment_id=payment.pk,
        intent_id=intent.id,
        charge_id=charge.id,
        fee=txn.fee if txn else 0,
        receipt_url=charge.receipt_url or "",
    )
    # Paid twice or too late: straight back to the buyer (the retry job catches a crash here).
    refund_unwanted_payment(payment_id=payment.pk)
    logger.info(
        "Payment confirmed with Stripe: %s",
        payment.status,
        extra=money_fields(
            order_id=payment.order_id,
            stripe=intent,
            payment_id=payment.pk,
            payment_intent_id=intent.id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
        ),
    )
    return payment


@transaction.atomic
def _record_success(*, payment_id, intent_id, charge_id, fee, receipt_url):
    # Lock order then payment, the order every escrow path takes.
    order_id = EscrowPayment.objects.values_list("order_id", flat=True).get(pk=payment_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    payment = EscrowPayment.objects.select_for_update().get(pk=payment_id)
    if payment.succeeded_at is not None:
        return payment  # booked already: as the payment, or as a duplicate to refund
    already_paid = order.payments.filter(status=PaymentStatus.SUCCEEDED).exists()
    # The buyer paid twice (two checkout tabs), or paid an order that had closed unpaid: the
    # money is booked as received and refunded in full (refunds.refund_unwanted_payment).
    payment, _ = payment_move(
        payment=payment,
        to=PaymentStatus.DUPLICATE if already_paid else PaymentStatus.SUCCEEDED,
        stripe_payment_intent_id=intent_id,
        stripe_charge_id=charge_id,
        stripe_fee_cents=fee,
        receipt_url=receipt_url,
        succeeded_at=timezone.now(),
        failure_message="",
        failure_code="",
        failure_decline_code="",
    )
    amount = payment.amount_cents
    ledger.post(
        order=order,
        currency=payment.currency,
        memo=f"Buyer paid order #{order.pk} into escrow",
        stripe_object_id=charge_id,
        lines=[
            (LedgerAccount.STRIPE_BALANCE, amount - fee),
            (LedgerAccount.STRIPE_FEES, fee),
            (LedgerAccount.BUYER_FUNDS_HELD, -amount),
        ],
    )
    if not already_paid and order.status == OrderStatus.PENDING_PAYMENT:
        order_mark_funded(order=order)
    return payment


def payment_fail(*, payment_intent_id):
    """A payment attempt was declined (payment_intent.payment_failed): say why, stay payable.

    Why is Stripe's answer (the PaymentIntent's last_payment_error), never the event's text:
    its codes become the plain words the buyer reads in a notification and an email
    (core.payment_errors); its developer text is kept for staff. An intent Stripe no longer
    reports as declined (paid since, or never declined) changes nothing.
    """
    intent = stripe_client.call(_stripe().payment_intents.retrieve, payment_intent_id)
    payment = _find_payment(payment_intent_id=intent.id, metadata=intent.metadata)
    if payment is None:
        return None
    error = intent.last_payment_error
    if intent.status != "requires_payment_method" or not error:
        return payment
    message = (error.message or "The payment was declined.")[:300]
    codes = {
        "failure_code": (getattr(error, "code", None) or "")[:60],
        "failure_decline_code": (getattr(error, "decline_code", None) or "")[:60],
    }
    logger.info(
        "Payment declined: %s",
        getattr(error, "decline_code", None) or error.code,
        extra=money_fields(order_id=payment.order_id, stripe=intent, payment_id=payment.pk),
    )
    with transaction.atomic():
        payment = _lock_order_and_payment(payment)
        if payment.succeeded_at is not None or payment.status == PaymentStatus.CANCELLED:
            return payment  # an older failure arriving after the outcome changes nothing
        if payment.status == PaymentStatus.FAILED:
            # Declined before: the same reason is this event again; another is a new decline.
            changed = failure_reason_record(
                row=payment, message=message, action=PAYMENT_ACTIONS[PaymentStatus.FAILED], **codes
            )
        else:
            payment, changed = payment_move(
                payment=payment,
                to=PaymentStatus.FAILED,
                failure_message=message,
                stripe_payment_intent_id=payment.stripe_payment_intent_id or intent.id,
                **codes,
            )
        if changed:
            order_payment_failed(order_id=payment.order_id, message=payment.failure_reason)
    return payment


def payment_checkout_complete(*, session_id):
    """checkout.session.completed: tie the session to its payment intent, then confirm it.

    The session is read from Stripe (paid? which intent?), not from the event."""
    session = stripe_client.call(_stripe().checkout.sessions.retrieve, session_id)
    if session.mode != "payment" or session.payment_status != "paid" or not session.payment_intent:
        return None
    payment = _find_payment(checkout_session_id=session.id, metadata=session.metadata)
    if payment is None:
        return None
    intent_id = getattr(session.payment_intent, "id", session.payment_intent)
    EscrowPayment.objects.filter(pk=payment.pk, stripe_payment_intent_id__isnull=True).update(
        stripe_payment_intent_id=intent_id
    )
    return payment_confirm(payment_intent_id=intent_id)
