from celery import shared_task

from core import drains
from notifications import services


@shared_task(acks_late=True)
def drain_emails():
    """Send the queued emails due (see the drains, notifications.services)."""
    drains.started(services.DRAIN_FLAG)
    return services.email_deliveries_drain()


@shared_task
def requeue_emails():
    """Emails due again after a failed attempt, or whose drain was lost, queued for sending."""
    return services.email_deliveries_requeue()


@shared_task
def send_email_digests():
    """The daily email digest of unread notifications, to people who chose it."""
    return services.email_digests_send()
