from celery import shared_task

from stripe_sandbox import delivery


@shared_task
def deliver_webhook(delivery_id):
    """Deliver one sandbox event to its endpoint (queued after the commit that raised it)."""
    return delivery.send(delivery_id)
