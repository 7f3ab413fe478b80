"""Rate limits: one mechanism for the API and the pages.

Every budget is a scope with a rate in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] ("20/min",
"5/hour"; config/settings.py reads them from the environment). A budget is counted per signed-in
person, else per client address (core.http.client_ip: X-Forwarded-For only as far as
BAZAAR_TRUSTED_PROXIES allows), or per any other key a page chooses (an email address). The API
and the pages share the counts: someone sending messages from the app and the website has one
budget.

The API answers 429 with Retry-After (DRF's Throttled). A page calls `rate_limit_wait()` and,
when it returns a number of seconds, says so instead of acting.
"""

import hashlib
import math

from drf_spectacular.utils import OpenApiResponse
from rest_framework import throttling
from rest_framework.settings import api_settings

from core.http import client_ip

# The API's answer over a budget, for the schema of every throttled operation.
THROTTLED = OpenApiResponse(
    description="Too many requests: try again after the number of seconds in Retry-After"
)


def _rate(scope):
    # Read when asked, not at import as DRF's class attribute is: settings may change (tests).
    return api_settings.DEFAULT_THROTTLE_RATES.get(scope)


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle: the view's `throttle_scope` (None: no limit), per person or
    address. A view whose actions have different budgets makes `throttle_scope` a property of
    `self.action`."""

    def get_rate(self):
        return _rate(self.scope)

    def get_ident(self, request):
        return client_ip(request)


class _Budget(ScopedRateThrottle):
    """The same budget for a page: the scope is given, not read from a DRF view."""

    def __init__(self, scope, key=None):
        self.scope = scope
        self.explicit_key = key
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_cache_key(self, request, view):
        if self.explicit_key is not None:
            return self.cache_format % {"scope": self.scope, "ident": self.explicit_key}
        return super().get_cache_key(request, view)

    def allow_request(self, request, view):
        # Skip ScopedRateThrottle's, which reads the scope from the view.
        return throttling.SimpleRateThrottle.allow_request(self, request, view)


def rate_limit_key(value):
    """A cache key part for a value a person typed (an email address): fixed length, and the
    address itself is not written into the cache."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def rate_limit_wait(request, scope, *, key=None):
    """Count this request against `scope`. None when it may go ahead; else the whole seconds to
    wait (at least 1). `key` overrides who is counted (default: the person, else the address)."""
    budget = _Budget(scope, key)
    if budget.allow_request(request, None):
        return None
    return max(1, math.ceil(budget.wait() or 1))


def wait_text(seconds):
    """'30 seconds', '1 minute', '15 minutes': how long to wait, for a message on a page."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
