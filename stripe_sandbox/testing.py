"""What tests use to talk to the sandbox and to make Stripe misbehave: the sandbox's own tests and
a host project's. With stripe_sandbox.control (clock, held and repeated webhook deliveries) this
is the sandbox's public test surface; the rest of the package may change.

    from stripe_sandbox import testing
    account = testing.client().v1.accounts.create(params={"type": "express", "country": "US"})

    testing.unreachable(monkeypatch)        # every Stripe call fails to connect
    header = testing.webhook_signature(body, "whsec_...")   # sign a forged or stale delivery
"""

from urllib.parse import urlsplit

import stripe

from stripe_sandbox import delivery, params, transport
from stripe_sandbox.core import API_VERSION
from stripe_sandbox.transport import SandboxHTTPClient

# The sandbox takes any test-mode secret key.
SECRET_KEY = "sk_test_StripeSandboxTesting0000"


def client():
    """A StripeClient answered in-process by the sandbox, pinned to the version it speaks."""
    return stripe.StripeClient(
        api_key=SECRET_KEY,
        stripe_version=API_VERSION,
        max_network_retries=0,
        http_client=SandboxHTTPClient(),
    )


def webhook_signature(payload, secret, timestamp=None):
    """The Stripe-Signature header Stripe sends with `payload` (the body, a str) to an endpoint
    whose signing secret is `secret`, signed now or at `timestamp` (Unix seconds)."""
    return delivery.sign(payload, secret, timestamp)


def intercept(monkeypatch, answer):
    """Until the test ends, every request the stripe SDK sends to the sandbox goes to
    `answer(method, url, headers, body, handle)` instead. It returns what Stripe's server would,
    (body, status, headers): usually `handle(method, url, headers, body)`, the sandbox's own
    answer, or a fault of its own; or it raises stripe.APIConnectionError as a lost connection
    would. Interceptors stack: `handle` is whatever answered before.

    `monkeypatch` is pytest's fixture, which puts things back after the test.
    """
    answered_before = transport.handle

    def answer_instead(method, url, headers, body):
        return answer(method, url, headers, body, answered_before)

    monkeypatch.setattr(transport, "handle", answer_instead)


def unreachable(monkeypatch):
    """Until the test ends, Stripe cannot be reached: every request fails to connect, and the
    stripe SDK's network retries do not wait between attempts."""

    def refuse(method, url, headers, body, handle):
        raise stripe.APIConnectionError(f"Network is unreachable ({method.upper()} {url})")

    intercept(monkeypatch, refuse)
    monkeypatch.setattr(SandboxHTTPClient, "_sleep_time_seconds", lambda self, *args: 0)


def decode_params(text):
    """A form-encoded Stripe request body or query string as the nested dicts and lists it means
    ("metadata[order]=7&expand[0]=customer" -> {"metadata": {"order": "7"}, "expand": [...]})."""
    return params.decode(text)


# --- The hosted Checkout page -------------------------------------------------------------------

VISA = "4242 4242 4242 4242"


def checkout_session_create(api, **params):
    """A mode=payment Checkout Session for a two-line basket (2 x 12.50 + 5.00 USD), through
    `api` (a StripeClient's v1); `params` add to or replace Stripe's parameters."""
    return api.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.test/thanks?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.test/basket",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 1250,
                        "product_data": {"name": "Stoneware mug", "description": "350 ml"},
                    },
                    "quantity": 2,
                },
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 500,
                        "product_data": {"name": "Gift wrap"},
                    },
                    "quantity": 1,
                },
            ],
            **params,
        }
    )


def checkout_page_path(session):
    return urlsplit(session.url).path


def checkout_page_pay(client, session, number=VISA, **fields):
    """Type a card on the session's hosted Checkout page, as a buyer would (a Django test
    client); `fields` add to or replace the form's other fields."""
    data = {"card_number": number, "expiry": "12 / 34", "cvc": "123", "email": "ann@shop.test"}
    return client.post(checkout_page_path(session), data | fields)


def external_accounts_take_instant(account_id):
    """The connected account's bank accounts take instant payouts (as an RTP-capable bank does
    at Stripe; the sandbox's test bank accounts take standard payouts only)."""
    from stripe_sandbox.models import SandboxObject

    row = SandboxObject.objects.get(stripe_id=account_id)
    for bank in row.data["external_accounts"]["data"]:
        bank["available_payout_methods"] = ["standard", "instant"]
        SandboxObject.objects.filter(stripe_id=bank["id"]).update(data=bank)
    row.save(update_fields=["data"])
