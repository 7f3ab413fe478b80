"""The sandbox's HTTP client, timed: each Stripe request's seconds and count are added to two
Redis counters (the bench's REDIS_URL), which the benches read before and after a run to tell
the sandbox's (Stripe's) time from Bazaar's own. Adding to them costs one Redis round trip per
Stripe request (about 0.1 ms), counted as Bazaar's time."""

import time

import redis
from django.conf import settings

from bench.webhooks_stack import CALLS, SECONDS  # the drivers read them too
from stripe_sandbox.transport import SandboxHTTPClient

_redis = None


def counters():
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL)
    return _redis


class TimedSandboxClient(SandboxHTTPClient):
    name = "bazaar-stripe-sandbox-timed"

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        started = time.perf_counter()
        try:
            return super().request(method, url, headers, post_data, _usage=_usage)
        finally:
            spent = time.perf_counter() - started
            pipe = counters().pipeline(transaction=False)
            pipe.incrbyfloat(SECONDS, spent)
            pipe.incr(CALLS)
            pipe.execute()


def read():
    """(seconds, calls) so far."""
    seconds, calls = counters().mget(SECONDS, CALLS)
    return float(seconds or 0), int(calls or 0)
