"""The one place that configures Stripe.

With STRIPE_SECRET_KEY set, Bazaar talks to Stripe (or to STRIPE_API_BASE, any Stripe-compatible
server). Without it, settings name the offline sandbox's HTTP client (STRIPE_HTTP_CLIENT), so
every call still goes through the real stripe SDK and the production code path is the one that
runs. dj-stripe uses the global `stripe` module, so configure() sets that up too.
"""

import logging
import random
import time

import stripe
from django.conf import settings
from django.utils.module_loading import import_string

from core import stripe_rate
from core.errors import StripeUnavailable
from core.payment_errors import buyer_payment_message

logger = logging.getLogger(__name__)


def secret_key():
    return settings.STRIPE_SECRET_KEY


def publishable_key():
    return settings.STRIPE_PUBLISHABLE_KEY


def _http_client():
    """An instance of settings.STRIPE_HTTP_CLIENT, or None for the SDK's default (requests)."""
    if not settings.STRIPE_HTTP_CLIENT:
        return None
    return import_string(settings.STRIPE_HTTP_CLIENT)()


def configure():
    """Point the global stripe module (used by dj-stripe) at Stripe or the sandbox."""
    stripe.api_key = secret_key()
    stripe.api_version = settings.STRIPE_API_VERSION
    stripe.max_network_retries = settings.STRIPE_MAX_NETWORK_RETRIES
    stripe.api_base = settings.STRIPE_API_BASE
    client = _http_client()
    if client is not None:
        stripe.default_http_client = client


_client = None


def client():
    """The configured StripeClient. Writes through it pass an idempotency key."""
    global _client
    if _client is None:
        _client = stripe.StripeClient(
            api_key=secret_key(),
            stripe_version=settings.STRIPE_API_VERSION,
            max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
            base_addresses={"api": settings.STRIPE_API_BASE},
            http_client=_http_client(),
        )
    return _client


def idempotency_key(record, action):
    """'escrow-release-42-transfer': made from our own row, so a retry never moves money twice."""
    label = record._meta.label_lower.replace(".", "-")
    return f"{label}-{record.pk}-{action}"


def call(fn, *args, **kwargs):
    """Run a Stripe call; turn Stripe's errors into StripeUnavailable with a usable message (and
    Stripe's request id, for the logs)."""
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as exc:
        error = exc.error
        raise StripeUnavailable(
            buyer_payment_message(
                getattr(error, "code", None), getattr(error, "decline_code", None)
            ),
            code=getattr(error, "code", None),
            decline_code=getattr(error, "decline_code", None),
            request_id=exc.request_id,
            retryable=False,
            detail=getattr(error, "message", None) or str(exc),
        ) from exc
    except stripe.InvalidRequestError as exc:
        raise StripeUnavailable(
            f"Stripe refused the request: {exc.user_message or exc}",
            code=getattr(exc, "code", None),
            param=getattr(exc, "param", None),
            request_id=exc.request_id,
            retryable=False,
        ) from exc
    except stripe.AuthenticationError as exc:
        raise StripeUnavailable(
            "Stripe rejected our API key. Check STRIPE_SECRET_KEY.",
            code="authentication",
            request_id=exc.request_id,
        ) from exc
    except stripe.RateLimitError as exc:
        raise StripeUnavailable(
            "Stripe is receiving too many requests from Bazaar. Nothing was done; it will be "
            "tried again shortly.",
            code=RATE_LIMITED,
            request_id=exc.request_id,
        ) from exc
    except stripe.APIConnectionError as exc:
        raise StripeUnavailable(
            "Stripe could not be reached. Nothing was charged; please try again in a minute.",
            code="connection",
        ) from exc
    except stripe.StripeError as exc:
        raise StripeUnavailable(
            f"Stripe had a problem ({exc.user_message or exc}). Please try again.",
            code=getattr(exc, "code", None),
            request_id=exc.request_id,
        ) from exc


# --- Writes in bulk: Stripe's rate limit ---------------------------------------------------------

RATE_LIMITED = "rate_limit"  # StripeUnavailable.code when Stripe answered 429

# time.time and time.sleep: what the pacing and the backoff read and wait with (a test's fake
# clock replaces them).
_clock = time.time
_sleep = time.sleep


def backoff_seconds(attempt):
    """The wait before retry number `attempt` (0, 1, ...) after a 429: doubling from
    STRIPE_RATE_LIMIT_BACKOFF_SECONDS up to 16 times that, the second half of each wait random
    (jitter: workers throttled together do not all come back in the same instant)."""
    ceiling = settings.STRIPE_RATE_LIMIT_BACKOFF_SECONDS * 2 ** min(attempt, 4)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def paced_call(fn, *args, **kwargs):
    """call(), for a request of a job that makes many (a release's Transfer, a Payout): it first
    takes a slot of the shared budget (core.stripe_rate, STRIPE_WRITES_PER_SECOND across every
    process), and when Stripe answers 429 all the same it is sent again after a growing wait, at
    most STRIPE_RATE_LIMIT_RETRIES times, then raises StripeUnavailable with code RATE_LIMITED.

    Sending a write again never moves money twice: a 429 means Stripe did not run the request,
    and the retry carries the same idempotency key (the caller's `options`), so had the first
    answer been lost on the way, Stripe would replay it rather than run the write again.
    """
    pace = stripe_rate.limiter(clock=lambda: _clock(), sleep=lambda seconds: _sleep(seconds))
    retries = settings.STRIPE_RATE_LIMIT_RETRIES
    attempt = 0
    while True:
        pace.take()
        try:
            return call(fn, *args, **kwargs)
        except StripeUnavailable as exc:
            if exc.code != RATE_LIMITED or attempt == retries:
                raise
            wait = backoff_seconds(attempt)
            logger.info(
                "Stripe answered 429 (request %s): retry %s of %s in %.2f s",
                exc.request_id,
                attempt + 1,
                retries,
                wait,
            )
        _sleep(wait)
        attempt += 1
