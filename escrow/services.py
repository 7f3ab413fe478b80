"""Escrow: the buyer pays the platform, the money is held, then released to the seller minus the
platform's commission ("separate charges and transfers").

Money-moving calls to Stripe happen outside database transactions, each with an idempotency key
made from our own row: the row is written first, the Stripe call follows, and its result is
recorded in a second transaction. A crash or retry in between repeats the same call with the same
key, so Stripe never moves the money twice. Webhooks call the same functions a person's action
does, and every function returns quietly when its change already happened.
"""

import logging

from django.db import transaction
from django.utils import timezone

from escrow import ledger
from escrow.models import (
    EscrowPayment,
    EscrowRelease,
    LedgerAccount,
    PaymentStatus,
    ReleaseStatus,
    ReleaseTrigger,
    StripeCustomer,
    TransferReversal,
)
from marketplace import clock, orders, stripe_client
from marketplace.errors import DomainError, InvalidTransition, NotAllowed, ValidationFailed
from marketplace.models import Order, OrderStatus
from marketplace.stripe_client import StripeUnavailable, idempotency_key
from notifications.services import notify

logger = logging.getLogger(__name__)


class PaymentUnavailable(DomainError):
    status_code = 503
    code = "payment_unavailable"


def _stripe():
    return stripe_client.client().v1


# --- Buyers as Stripe customers -----------------------------------------------------------------


def stripe_customer_for(user):
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
        return stripe_customer_for(user)
    except StripeUnavailable as exc:
        raise PaymentUnavailable(exc.message) from exc


# --- Paying -------------------------------------------------------------------------------------


def _payable_order(order, buyer):
    order = Order.objects.select_related("seller").get(pk=order.pk)
    if buyer.pk != order.buyer_id:
        raise NotAllowed("Only the buyer can pay for this order.")
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise InvalidTransition(
            f"This order is {order.get_status_display().lower()}; it cannot be paid."
        )
    if order.expires_at and order.expires_at <= clock.now():
        raise InvalidTransition("This order expired before it was paid. Please order again.")
    from accounts.selectors import seller_can_accept_payments

    if not seller_can_accept_payments(order.seller):
        raise InvalidTransition("This seller cannot take payments right now. Try again later.")
    return order


def _payment_metadata(order, payment):
    return {"bazaar_order_id": str(order.pk), "bazaar_payment_id": str(payment.pk)}


def checkout_start(*, order, buyer, success_url, cancel_url):
    """Web checkout: a Stripe Checkout Session for the order. Returns (payment, session url)."""
    order = _payable_order(order, buyer)
    customer = _customer_or_unavailable(buyer)
    payment = EscrowPayment.objects.create(
        order=order,
        kind=EscrowPayment.Kind.CHECKOUT,
        amount_cents=order.total_cents,
        currency=order.currency,
    )
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
                },
                "metadata": metadata,
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options={"idempotency_key": idempotency_key(payment, "checkout-session")},
        )
    except StripeUnavailable as exc:
        _payment_failed_locally(payment, exc.message)
        raise PaymentUnavailable(exc.message) from exc
    EscrowPayment.objects.filter(pk=payment.pk).update(stripe_checkout_session_id=session.id)
    payment.stripe_checkout_session_id = session.id
    return payment, session.url


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
    payment = EscrowPayment.objects.create(
        order=order,
        kind=EscrowPayment.Kind.PAYMENT_INTENT,
        amount_cents=order.total_cents,
        currency=order.currency,
        client_key=client_key or "",
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
            },
            options={"idempotency_key": idempotency_key(payment, "payment-intent")},
        )
    except StripeUnavailable as exc:
        _payment_failed_locally(payment, exc.message)
        raise PaymentUnavailable(exc.message) from exc
    EscrowPayment.objects.filter(pk=payment.pk).update(
        stripe_payment_intent_id=intent.id, client_secret=intent.client_secret
    )
    payment.refresh_from_db()
    return payment


def _payment_failed_locally(payment, message):
    EscrowPayment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
        status=PaymentStatus.FAILED, failure_message=message[:300]
    )


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
        logger.warning("Payment intent %s matches no Bazaar payment", intent.id)
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
        )
        raise ValidationFailed({"amount": "Stripe's amount does not match the order."})
    return _record_success(
        payment_id=payment.pk,
        intent_id=intent.id,
        charge_id=charge.id,
        fee=txn.fee if txn else 0,
        receipt_url=charge.receipt_url or "",
    )


@transaction.atomic
def _record_success(*, payment_id, intent_id, charge_id, fee, receipt_url):
    # Lock order then payment, the order every escrow path takes.
    order_id = EscrowPayment.objects.values_list("order_id", flat=True).get(pk=payment_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    payment = EscrowPayment.objects.select_for_update().get(pk=payment_id)
    if payment.succeeded_at is not None:
        return payment  # booked already: as the payment, or as a second one to refund
    already_paid = order.payments.filter(status=PaymentStatus.SUCCEEDED).exists()
    payment.stripe_payment_intent_id = intent_id
    payment.stripe_charge_id = charge_id
    payment.stripe_fee_cents = fee
    payment.receipt_url = receipt_url
    payment.succeeded_at = timezone.now()
    if already_paid:
        # The buyer paid twice (two checkout tabs). Keep the money booked and visible to staff.
        payment.status = PaymentStatus.CANCELED
        payment.failure_message = "Second payment for an order already paid: refund it."
    else:
        payment.status = PaymentStatus.SUCCEEDED
        payment.failure_message = ""
    payment.save()
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
    if not already_paid:
        orders.order_mark_funded(order=order)
    return payment


def payment_failed(*, payment_intent_id, message, metadata=None):
    """A payment attempt was declined (payment_intent.payment_failed): say why, stay payable."""
    payment = _find_payment(payment_intent_id=payment_intent_id, metadata=metadata)
    if payment is None:
        return None
    with transaction.atomic():
        Order.objects.select_for_update().get(pk=payment.order_id)
        payment = EscrowPayment.objects.select_for_update().get(pk=payment.pk)
        if payment.status == PaymentStatus.SUCCEEDED or payment.succeeded_at is not None:
            return payment  # an older failure arriving after the success changes nothing
        payment.status = PaymentStatus.FAILED
        payment.failure_message = (message or "The payment was declined.")[:300]
        if not payment.stripe_payment_intent_id:
            payment.stripe_payment_intent_id = payment_intent_id
        payment.save()
        orders.order_payment_failed(order_id=payment.order_id, message=payment.failure_message)
    return payment


def checkout_completed(*, session_id, payment_intent_id, metadata=None):
    """checkout.session.completed: tie the session to its payment intent, then confirm it."""
    payment = _find_payment(checkout_session_id=session_id, metadata=metadata)
    if payment is None or not payment_intent_id:
        return None
    EscrowPayment.objects.filter(pk=payment.pk, stripe_payment_intent_id__isnull=True).update(
        stripe_payment_intent_id=payment_intent_id
    )
    return payment_confirm(payment_intent_id=payment_intent_id)


# --- Releasing ----------------------------------------------------------------------------------


def release(*, order, trigger, actor=None):
    """Release an order's escrow to the seller: decide once, then make the one Transfer.

    Buyer approval, the auto-release job and staff can race: the order row lock and the one
    release per order make exactly one of them decide; the Transfer's idempotency key (from the
    release row) makes retries of the Stripe call harmless.
    """
    decided, created = _release_decide(order_id=order.pk, trigger=trigger, actor=actor)
    # Only the caller that decided makes the transfer; the others leave an interrupted one to
    # that caller and the retry job, so racing callers never send Stripe parallel requests.
    if created and decided.status == ReleaseStatus.PENDING:
        release_transfer(release_id=decided.pk)
        decided.refresh_from_db()
    return decided


def _check_release_allowed(order, trigger, actor):
    if trigger == ReleaseTrigger.BUYER:
        if actor is None or actor.pk != order.buyer_id:
            raise NotAllowed("Only the buyer can approve this order.")
        if order.status != OrderStatus.DELIVERED:
            raise InvalidTransition("You can approve the order once the seller has delivered it.")
    elif trigger == ReleaseTrigger.AUTO:
        if order.status != OrderStatus.DELIVERED:
            raise InvalidTransition("Only a delivered order is released automatically.")
        if order.review_deadline is None or order.review_deadline > clock.now():
            raise InvalidTransition("The buyer's review window is still open.")
    elif trigger == ReleaseTrigger.STAFF:
        if actor is None or not actor.is_staff:
            raise NotAllowed("Only staff can release escrow directly.")
        if order.status not in (OrderStatus.FUNDED, OrderStatus.DELIVERED):
            raise InvalidTransition(
                f"An order that is {order.get_status_display().lower()} holds no money to release."
            )
    else:
        raise ValueError(f"Unknown release trigger {trigger!r}")


@transaction.atomic
def _release_decide(*, order_id, trigger, actor):
    order = Order.objects.select_for_update().get(pk=order_id)
    existing = EscrowRelease.objects.filter(order=order).first()
    if existing:
        # Already released (by whoever won the race): quiet, but only for someone allowed to ask.
        if trigger == ReleaseTrigger.BUYER and (actor is None or actor.pk != order.buyer_id):
            raise NotAllowed("Only the buyer can approve this order.")
        if trigger == ReleaseTrigger.STAFF and (actor is None or not actor.is_staff):
            raise NotAllowed("Only staff can release escrow directly.")
        return existing, False
    _check_release_allowed(order, trigger, actor)
    payment = order.payments.get(status=PaymentStatus.SUCCEEDED)
    from accounts.selectors import connected_account_id_for

    destination = connected_account_id_for(order.seller)
    if not destination:
        raise InvalidTransition("The seller has no Stripe account to pay into.")
    gross = order.total_cents
    commission = order.commission_cents
    fee_passed_on = 0
    if order.stripe_fee_payer == "seller":
        fee_passed_on = min(payment.stripe_fee_cents or 0, gross - commission)
    transfer = gross - commission - fee_passed_on
    decided = EscrowRelease.objects.create(
        order=order,
        trigger=trigger,
        actor=actor if getattr(actor, "pk", None) else None,
        gross_cents=gross,
        commission_cents=commission,
        fee_passed_on_cents=fee_passed_on,
        transfer_cents=transfer,
        currency=order.currency,
        destination_account=destination,
        source_charge=payment.stripe_charge_id,
    )
    ledger.post(
        order=order,
        currency=order.currency,
        memo=f"Escrow of order #{order.pk} released ({ReleaseTrigger(trigger).label.lower()})",
        lines=[
            (LedgerAccount.BUYER_FUNDS_HELD, gross),
            (LedgerAccount.PLATFORM_COMMISSION, -commission),
            (LedgerAccount.STRIPE_FEES_RECOVERED, -fee_passed_on),
            (LedgerAccount.seller_payable(order.seller_id), -transfer),
        ],
    )
    action = {
        ReleaseTrigger.BUYER: "order.approved",
        ReleaseTrigger.AUTO: "order.auto_released",
        ReleaseTrigger.STAFF: "order.released_by_staff",
    }[ReleaseTrigger(trigger)]
    orders.order_mark_released(order=order, actor=actor, action=action)
    from accounts.selectors import seller_can_withdraw

    notify(
        order.seller,
        "order.released",
        {
            "order_id": order.pk,
            "listing_title": order.listing_title,
            "amount": decided.transfer_display,
            "payouts_note": ""
            if seller_can_withdraw(order.seller)
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


def release_transfer(*, release_id):
    """Make (or retry) the release's Transfer to the seller. Idempotent."""
    decided = EscrowRelease.objects.select_related("order").get(pk=release_id)
    if decided.status == ReleaseStatus.TRANSFERRED:
        return decided
    if decided.transfer_cents == 0:
        return _record_transfer(release_id=decided.pk, transfer_id=None)
    order = decided.order
    try:
        transfer = stripe_client.call(
            _stripe().transfers.create,
            params={
                "amount": decided.transfer_cents,
                "currency": decided.currency,
                "destination": decided.destination_account,
                "source_transaction": decided.source_charge,
                "transfer_group": order.transfer_group,
                "description": f"Bazaar order #{order.pk}: {order.listing_title}",
                "metadata": {
                    "bazaar_order_id": str(order.pk),
                    "bazaar_release_id": str(decided.pk),
                },
            },
            options={"idempotency_key": idempotency_key(decided, "transfer")},
        )
    except StripeUnavailable as exc:
        EscrowRelease.objects.filter(
            pk=decided.pk, status__in=[ReleaseStatus.PENDING, ReleaseStatus.FAILED]
        ).update(status=ReleaseStatus.FAILED, failure_message=exc.message[:300])
        logger.warning("Transfer for release %s failed: %s", decided.pk, exc.message)
        decided.refresh_from_db()
        return decided
    return _record_transfer(release_id=decided.pk, transfer_id=transfer.id)


@transaction.atomic
def _record_transfer(*, release_id, transfer_id):
    decided = EscrowRelease.objects.select_for_update().get(pk=release_id)
    if decided.status == ReleaseStatus.TRANSFERRED:
        return decided
    decided.stripe_transfer_id = transfer_id
    decided.status = ReleaseStatus.TRANSFERRED
    decided.failure_message = ""
    decided.transferred_at = timezone.now()
    decided.save()
    ledger.post(
        order=decided.order,
        currency=decided.currency,
        memo=f"Transfer to the seller for order #{decided.order_id}",
        stripe_object_id=transfer_id or "",
        lines=[
            (LedgerAccount.seller_payable(decided.order.seller_id), decided.transfer_cents),
            (LedgerAccount.STRIPE_BALANCE, -decided.transfer_cents),
        ],
    )
    return decided


def transfer_created(*, transfer_id, metadata):
    """transfer.created: a transfer we asked for exists; record it if the request's answer was
    lost (crash between the Stripe call and our write)."""
    release_id = (metadata or {}).get("bazaar_release_id", "")
    decided = EscrowRelease.objects.filter(stripe_transfer_id=transfer_id).first()
    if decided is None and release_id.isdigit():
        decided = EscrowRelease.objects.filter(pk=int(release_id)).first()
    if decided is None:
        return None
    return _record_transfer(release_id=decided.pk, transfer_id=transfer_id)


@transaction.atomic
def transfer_reversed(*, transfer_id, reversals):
    """transfer.reversed: book each reversal once. `reversals`: [(id, amount, currency)]."""
    decided = (
        EscrowRelease.objects.select_for_update().filter(stripe_transfer_id=transfer_id).first()
    )
    if decided is None:
        return None
    for reversal_id, amount, currency in reversals:
        _, created = TransferReversal.objects.get_or_create(
            stripe_reversal_id=reversal_id,
            defaults={"release": decided, "amount_cents": amount, "currency": currency},
        )
        if not created:
            continue
        decided.amount_reversed_cents += amount
        ledger.post(
            order=decided.order,
            currency=currency,
            memo=f"Transfer for order #{decided.order_id} reversed",
            stripe_object_id=reversal_id,
            lines=[
                (LedgerAccount.STRIPE_BALANCE, amount),
                (LedgerAccount.TRANSFER_REVERSALS, -amount),
            ],
        )
    decided.save(update_fields=["amount_reversed_cents"])
    return decided


# --- Jobs ---------------------------------------------------------------------------------------


def auto_release_due():
    """Release every delivered order whose review window has ended. Returns the count."""
    due = Order.objects.filter(
        status=OrderStatus.DELIVERED, review_deadline__lte=clock.now()
    ).values_list("pk", flat=True)
    released = 0
    for order_id in list(due):
        try:
            release(order=Order(pk=order_id), trigger=ReleaseTrigger.AUTO)
            released += 1
        except DomainError as exc:
            logger.info("Order %s not auto-released: %s", order_id, exc.message)
    return released


def retry_failed_transfers():
    """Try again the transfers Stripe refused or that were interrupted (same idempotency key)."""
    stuck = EscrowRelease.objects.filter(
        status__in=[ReleaseStatus.FAILED, ReleaseStatus.PENDING]
    ).values_list("pk", flat=True)
    return [release_transfer(release_id=pk).status for pk in list(stuck)]
