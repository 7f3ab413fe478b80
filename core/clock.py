"""Bazaar's sense of time for deadlines (payment expiry, review windows, reminders).

`now()` asks the source named by settings.BAZAAR_CLOCK: the current time in production. With the
offline Stripe sandbox, settings point it at the sandbox's clock, so advancing that clock (its
control page, `manage.py stripe_sandbox advance`, or a test) moves review windows and payment
expiry along with Stripe's settlement. Core never imports the sandbox; settings choose.
"""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string


@cache
def _source(path):
    return import_string(path)


def now():
    return _source(settings.BAZAAR_CLOCK)()
