from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from notifications import services


@shared_task(bind=True, max_retries=None, acks_late=True)
def send_email_delivery(self, delivery_id):
    """Send one queued email; retry with backoff, then record the failure for staff."""
    try:
        services.email_delivery_send(delivery_id=delivery_id)
    except (services.EmailSendFailed, OperationalError) as exc:
        if self.request.retries >= settings.NOTIFICATIONS_EMAIL_MAX_RETRIES:
            services.email_delivery_fail(delivery_id=delivery_id, error=str(exc))
            return "failed"
        countdown = settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS * (2**self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return "sent"


@shared_task
def send_email_digests():
    """The daily email digest of unread notifications, to people who chose it."""
    return services.email_digests_send()
