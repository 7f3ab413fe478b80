"""Bazaar's share of Stripe's rate limit, one budget for every process.

Stripe allows about 100 write requests a second in live mode and 25 in test mode, per account,
whatever process sends them; beyond that it answers 429. The jobs that write in bulk (the
auto-release's Transfers, the scheduled Payouts) take a slot here before each write, so that all
web processes and Celery workers together stay under STRIPE_WRITES_PER_SECOND.

Chosen over Celery's task rate_limit, which counts per worker (two workers would send twice
the rate) and per task (one auto-release task makes thousands of writes): a slot is reserved
per write, in Redis (the broker, REDIS_URL) when there is one, so the budget is global. Each
caller reserves the next free slot, one `1 / rate` seconds after the last one reserved, and
sleeps until it (a GCRA meter, no polling): writes are spaced evenly, never bunched into a burst
at the start of each second. Without Redis (local development, the test suite on SQLite) the
slots are kept in the process, which is all there is then.
"""

import threading
import time

from django.conf import settings

# One reservation, atomic in Redis: the next free slot is max(now, the last slot + gap).
# Returns how long the caller waits for its slot (a string: Lua would cut a float to an integer).
_RESERVE = """
local now = tonumber(ARGV[1])
local gap = tonumber(ARGV[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
redis.call('SET', KEYS[1], string.format('%.6f', slot + gap), 'PX', math.ceil(gap * 1000) + 60000)
return string.format('%.6f', slot - now)
"""

REDIS_KEY = "bazaar:stripe:next-write-slot"


class ProcessSlots:
    """The slots of one process (no Redis): threads share them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._free = 0.0

    def reserve(self, now, gap):
        with self._lock:
            slot = max(now, self._free)
            self._free = slot + gap
            return slot - now

    def reset(self):
        self._free = 0.0


class RedisSlots:
    """The slots of every process using this Redis. Time is each caller's own wall clock
    (time.time(), kept in step by NTP on the hosts): a skew only shifts a slot by as much."""

    def __init__(self, url, key=REDIS_KEY):
        import redis

        self._redis = redis.Redis.from_url(url)
        self._reserve = self._redis.register_script(_RESERVE)
        self.key = key

    def reserve(self, now, gap):
        return float(self._reserve(keys=[self.key], args=[f"{now:.6f}", f"{gap:.6f}"]))

    def reset(self):
        self._redis.delete(self.key)


class WriteLimiter:
    """take() returns once this caller's write may go: at most `per_second` writes a second
    across everyone sharing `slots`. `per_second` 0 means no limit. `clock` and `sleep` are
    time.time and time.sleep, or a test's fake ones."""

    def __init__(self, *, per_second, slots, clock=time.time, sleep=time.sleep):
        self.per_second = per_second
        self.slots = slots
        self.clock = clock
        self.sleep = sleep

    def take(self):
        """Wait for the next write slot; returns the seconds waited."""
        if not self.per_second:
            return 0.0
        wait = self.slots.reserve(self.clock(), 1.0 / self.per_second)
        if wait > 0:
            self.sleep(wait)
        return wait


_slots = None


def _shared_slots():
    global _slots
    if _slots is None:
        _slots = RedisSlots(settings.REDIS_URL) if settings.REDIS_URL else ProcessSlots()
    return _slots


def limiter(*, clock=time.time, sleep=time.sleep):
    """The shared write budget, at the rate settings give now (tests and the bench change it)."""
    return WriteLimiter(
        per_second=settings.STRIPE_WRITES_PER_SECOND,
        slots=_shared_slots(),
        clock=clock,
        sleep=sleep,
    )
