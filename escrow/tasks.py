"""Escrow's periodic jobs (listed in settings.CELERY_BEAT_SCHEDULE). Thin: escrow.selectors says
which rows are due, escrow.services acts on each (idempotently, in its own transaction)."""

from celery import shared_task

from escrow import selectors, services
from escrow.models import OrderStatus
from escrow.reconcile import reconcile


@shared_task
def auto_release_due_orders():
    return services.escrow_release_due()


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


@shared_task
def retry_failed_transfers():
    return services.release_transfers_retry()


@shared_task
def retry_pending_refunds():
    return services.refunds_retry()


@shared_task
def reconcile_with_stripe():
    return reconcile().difference_count


@shared_task
def escalate_overdue_disputes():
    """Disputes past their deadlines are highlighted and the staff who resolve them emailed."""
    return services.dispute_escalate_due()
