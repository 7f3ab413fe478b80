"""Escrow's periodic jobs (listed in settings.CELERY_BEAT_SCHEDULE). Thin: escrow.selectors says
which rows are due, escrow.services acts on each (idempotently, in its own transaction)."""

import logging
import time

from celery import shared_task
from django.conf import settings

from core.errors import StripeUnavailable
from core.logs import money_fields
from escrow import selectors, services
from escrow.models import OrderStatus
from escrow.reconcile import reconcile

logger = logging.getLogger(__name__)


@shared_task
def auto_release_due_orders():
    """Delivered orders whose review window ended are released to their sellers: for at most
    ESCROW_RELEASE_JOB_SECONDS, then the task queues itself again for the rest (a beat tick
    meanwhile is harmless: each order is decided once under its row lock). A run that released
    nothing hands nothing on: what is left cannot be released now, and the beat retries it."""
    until = time.monotonic() + settings.ESCROW_RELEASE_JOB_SECONDS
    released = services.escrow_release_due(until=until)
    if released and time.monotonic() >= until:
        auto_release_due_orders.delay()
    return released


@shared_task
def send_release_reminders():
    """Remind buyers that a delivered order releases itself soon, once per order."""
    due = list(selectors.orders_due_for_release_reminder())
    return sum(1 for pk in due if services.order_remind(order_id=pk)[1])


@shared_task
def expire_unpaid_orders():
    """Unpaid orders past their payment window expire and give their stock back."""
    due = list(selectors.orders_due_for_expiry())
    return sum(1 for pk in due if services.order_expire(order_id=pk).status == OrderStatus.EXPIRED)


# Up to about 40 minutes of retries (5 s doubling to 5 min between them).
CHECKOUT_EXPIRY_MAX_RETRIES = 12


@shared_task(bind=True, max_retries=CHECKOUT_EXPIRY_MAX_RETRIES, acks_late=True)
def expire_checkout_sessions(self, order_id):
    """An order closed: expire its open Checkout Sessions at Stripe (queued after commit by
    order_cancel and order_expire). Retried while Stripe cannot be reached."""
    try:
        return services.payment_checkout_sessions_expire(order_id=order_id)
    except StripeUnavailable as exc:
        if self.request.retries >= self.max_retries:
            # The sessions still end at their own expires_at; a payment made on one meanwhile
            # is a late payment, refunded.
            logger.error(
                "Gave up expiring the Checkout Sessions of order %s: %s",
                order_id,
                exc.message,
                extra=money_fields(order_id=order_id, stripe=exc),
            )
            raise
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc


@shared_task
def retry_failed_transfers():
    """Releases whose transfer failed or was never answered, transferred again (same key)."""
    return services.release_transfers_retry()


@shared_task
def retry_pending_refunds():
    """Refunds Stripe has not answered yet, and payments made twice or too late, refunded."""
    return services.refunds_retry()


@shared_task
def retry_chargebacks():
    """Chargebacks' transfers Stripe could not make yet (seller shares, won ones) made again."""
    return services.chargebacks_retry()


@shared_task
def reconcile_with_stripe():
    """The ledger checked against Stripe; differences listed in the admin's reconciliation runs."""
    return reconcile().difference_count


@shared_task
def escalate_overdue_disputes():
    """Disputes past their deadlines are highlighted and the staff who resolve them emailed.
    First, a seller's unanswered no-show is refunded to the buyer in full: nothing is left for
    staff to decide there (the refunds are logged; the task returns how many were escalated)."""
    refunded = services.dispute_refund_no_shows_due()
    if refunded:
        logger.info("Refunded %s unanswered no-show dispute(s) in full", refunded)
    return services.dispute_escalate_due()
