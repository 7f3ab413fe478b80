"""Payouts' periodic jobs (listed in settings.CELERY_BEAT_SCHEDULE). Thin: payouts.services acts."""

import time
from datetime import date

from celery import shared_task
from django.conf import settings

from payouts import services


@shared_task
def send_requested_payouts():
    """Payouts Stripe could not be reached for, sent again with their own idempotency keys."""
    return services.payouts_send_requested()


@shared_task
def run_scheduled_payouts(after=0, today=None):
    """Sellers' daily, weekly and monthly payouts that are due, each period paid once: for at
    most PAYOUT_JOB_SECONDS, then the task queues itself again for the sellers after the last
    one it did (on the same day's periods), so one beat tick never runs for ever nor meets
    Celery's time limit. A beat tick meanwhile is harmless: a period is paid once."""
    until = time.monotonic() + settings.PAYOUT_JOB_SECONDS
    day = date.fromisoformat(today) if today else services.scheduled_payouts_today()
    run = services.payouts_run_scheduled(today=day, after=after, until=until)
    if run.resume_after is not None:
        run_scheduled_payouts.delay(after=run.resume_after, today=day.isoformat())
    return run.made
