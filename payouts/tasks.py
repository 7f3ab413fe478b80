"""Payouts' periodic jobs (listed in settings.CELERY_BEAT_SCHEDULE). Thin: payouts.services acts."""

from celery import shared_task

from payouts import services


@shared_task
def send_requested_payouts():
    """Payouts Stripe could not be reached for, sent again with their own idempotency keys."""
    return services.payouts_send_requested()


@shared_task
def run_scheduled_payouts():
    """Sellers' daily, weekly and monthly payouts that are due, each period paid once."""
    return services.payouts_run_scheduled()
