"""The one place that configures Stripe.

With STRIPE_SECRET_KEY set, Bazaar talks to Stripe (or to STRIPE_API_BASE, any Stripe-compatible
server). Without it, settings name the offline sandbox's HTTP client (STRIPE_HTTP_CLIENT), so
every call still goes through the real stripe SDK and the production code path is the one that
runs. dj-stripe uses the global `stripe` module, so configure() sets that up too.
"""

import stripe
from django.conf import settings
from django.utils.module_loading import import_string

from core.errors import StripeUnavailable
from core.payment_errors import buyer_payment_message


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
