"""Bazaar's sense of time for deadlines (payment expiry, review windows).

In production this is simply the current time. With the offline Stripe sandbox, it runs as far
ahead as the sandbox's clock, so advancing that clock (its control page, `manage.py stripe_sandbox
advance`, or a test) moves review windows and payment expiry along with Stripe's settlement.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone


def now():
    current = timezone.now()
    if settings.STRIPE_SANDBOX:
        from stripe_sandbox.core import clock_offset

        current += timedelta(seconds=clock_offset())
    return current
