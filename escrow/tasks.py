"""Escrow's periodic jobs (listed in settings.CELERY_BEAT_SCHEDULE). Thin: they call services."""

from celery import shared_task
from django.conf import settings

from core import clock
from escrow import services
from escrow.models import Order, OrderStatus


@shared_task
def auto_release_due_orders():
    return services.escrow_release_due()


@shared_task
def send_release_reminders():
    """Remind buyers that a delivered order releases itself soon, once per order."""
    from datetime import timedelta

    soon = clock.now() + timedelta(hours=settings.BAZAAR_RELEASE_REMINDER_HOURS)
    due = Order.objects.filter(
        status=OrderStatus.DELIVERED,
        reminder_sent_at__isnull=True,
        review_deadline__lte=soon,
        review_deadline__gt=clock.now(),
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due) if services.order_remind(order_id=pk)[1])


@shared_task
def expire_unpaid_orders():
    """Unpaid orders past their payment window expire and give their stock back."""
    due = Order.objects.filter(
        status=OrderStatus.PENDING_PAYMENT, expires_at__lte=clock.now()
    ).values_list("pk", flat=True)
    return sum(
        1 for pk in list(due) if services.order_expire(order_id=pk).status == OrderStatus.EXPIRED
    )


@shared_task
def retry_failed_transfers():
    return services.release_transfers_retry()


@shared_task
def reconcile_with_stripe():
    from escrow.reconcile import reconcile

    return reconcile().difference_count
