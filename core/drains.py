"""Drains: one Celery task that works through stored rows waiting, in place of a task per row.

A Celery task costs its worker about 3.5 ms of CPU (the message, its acknowledgement, the result,
the signals) and its publisher about 1 ms: as much as the work of a Stripe event or an email. So
the row is stored, and a drain queued only when none is waiting to start (queue_once: one SET NX
of a flag in the cache). The drain clears the flag as it starts (started), before it looks, so a
row stored after that queues the next drain and one stored before is found by this one. It takes
the rows one by one, each in a transaction of its own with its row locked (SKIP LOCKED, so two
drains share the work), and hands over to a new drain after some seconds, so none meets Celery's
time limit (run). If a flag's drain is lost (the broker down between the two), the flag expires
after FLAG_SECONDS and the caller's re-queue job (beat) takes what waits.

Used by core.stripe_webhooks (Stripe's events) and notifications.services (emails).
"""

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

FLAG_SECONDS = 30


def queue_once(flag, send, *, force=False):
    """Queue a drain by calling `send()` unless the cache holds `flag` (a drain is waiting to
    start); with `force`, whatever the flag says. Returns whether it queued one. Raises what the
    cache or `send` raise; the flag is cleared then, so the next row tries again."""
    if not cache.add(flag, 1, FLAG_SECONDS) and not force:
        return False
    try:
        send()
    except Exception:
        cache.delete(flag)
        raise
    return True


def started(flag):
    """A drain starts: rows stored from now on queue the next one."""
    try:
        cache.delete(flag)
    except Exception as exc:  # the cache down: the flag expires by itself
        logger.warning("Drain flag %s not cleared: %s", flag, exc)


def run(step, outcomes, *, seconds, hand_over, limit=None):
    """Call `step()` until it returns None (nothing waits), `limit` rows are done, or `seconds`
    have passed: then `hand_over()` queues a new drain for the rest. Each call does one row and
    returns one of `outcomes`, or does several at once and returns a list of theirs. Returns how
    many rows had each outcome."""
    deadline = time.monotonic() + seconds
    done = dict.fromkeys(outcomes, 0)
    while limit is None or sum(done.values()) < limit:
        outcome = step()
        if outcome is None:
            break
        for each in [outcome] if isinstance(outcome, str) else outcome:
            done[each] += 1
        if time.monotonic() > deadline:
            try:
                hand_over()
            except Exception as exc:  # the caller's re-queue job takes what is left
                logger.warning("Drain not handed over: %s", exc)
            break
    return done
