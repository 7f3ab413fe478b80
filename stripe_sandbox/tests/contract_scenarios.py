"""The two Stripes the contract scenarios run against, and the setup that differs between them.

- "sandbox": the real stripe SDK with the offline sandbox as its HTTP layer
  (stripe_sandbox.testing.client()).
- "stripe": a StripeClient with STRIPE_TEST_SECRET_KEY, talking to Stripe's test mode.

Only setup may differ by backend (how time passes, how long Stripe takes to verify an account);
every assertion in test_contract.py is shared, and asserts only what Stripe guarantees.
"""

import os
import time
import uuid
from dataclasses import dataclass, field

import pytest
import stripe

from stripe_sandbox import control, testing
from stripe_sandbox.core import API_VERSION

STRIPE_KEY_VARIABLE = "STRIPE_TEST_SECRET_KEY"
NO_KEY_REASON = "STRIPE_TEST_SECRET_KEY is not set: contract scenarios ran against the sandbox only"
NO_CLOCK_REASON = (
    "needs time to pass: Stripe test mode has no clock to advance (card funds settle after "
    "about two days), so this step runs on the sandbox only"
)
# How long Stripe test mode may take to verify a freshly created account's test details.
VERIFICATION_TIMEOUT_SECONDS = 90

SANDBOX = "sandbox"
STRIPE = "stripe"
# The sandbox keeps its state in the test database; Stripe needs none.
BACKENDS = (pytest.param(SANDBOX, marks=pytest.mark.django_db), STRIPE)


@dataclass
class Backend:
    name: str
    client: stripe.StripeClient
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def v1(self):
        return self.client.v1

    def key(self, label):
        """An idempotency key unique to this run (Stripe keeps keys for 24 hours)."""
        return f"contract-{self.run_id}-{label}"

    def email(self, label):
        return f"contract-{self.run_id}-{label}@example.com"

    def advance_clock(self, *, days):
        """Let `days` pass: the sandbox's clock moves; on Stripe the test is skipped here."""
        if self.name != SANDBOX:
            pytest.skip(NO_CLOCK_REASON)
        control.advance_clock(days=days)

    def wait_until(self, fetch, done, *, what):
        """Retrieve with `fetch()` until `done(obj)`: Stripe verifies some things a few seconds
        later; the sandbox answers at once (one look)."""
        deadline = time.monotonic() + (VERIFICATION_TIMEOUT_SECONDS if self.name == STRIPE else 0)
        while True:
            obj = fetch()
            if done(obj):
                return obj
            if time.monotonic() >= deadline:
                pytest.fail(f"{self.name}: {what} did not happen (last seen: {obj})")
            time.sleep(2)


def make_backend(name):
    if name == STRIPE:
        key = os.environ.get(STRIPE_KEY_VARIABLE)
        if not key:
            pytest.skip(NO_KEY_REASON)
        # Stripe is asked for the API version the sandbox speaks: like is compared with like.
        return Backend(name=STRIPE, client=stripe.StripeClient(key, stripe_version=API_VERSION))
    return Backend(name=SANDBOX, client=testing.client())


# --- Parameters both Stripes accept -------------------------------------------------------------


def card_payment(amount=2000, *, card="pm_card_visa", **extra):
    """A card-only PaymentIntent confirmed at once (no redirect-based methods, so no
    return_url is needed)."""
    return {
        "amount": amount,
        "currency": "usd",
        "payment_method_types": ["card"],
        "payment_method": card,
        "confirm": True,
        **extra,
    }


def express_account(backend, label):
    return {
        "type": "express",
        "country": "US",
        "email": backend.email(label),
        "capabilities": {
            "card_payments": {"requested": True},
            "transfers": {"requested": True},
        },
    }


def verified_custom_account(backend, label):
    """A US Custom account with Stripe's test details that always verify
    (stripe.com/docs/connect/testing): the platform accepts the terms on its behalf, so it can
    receive transfers and be paid out as soon as Stripe has checked the details."""
    return {
        "type": "custom",
        "country": "US",
        "email": backend.email(label),
        "business_type": "individual",
        "capabilities": {
            "card_payments": {"requested": True},
            "transfers": {"requested": True},
        },
        "business_profile": {"mcc": "5734", "url": "https://accessible.stripe.com"},
        "individual": {
            "first_name": "Jenny",
            "last_name": "Rosen",
            "email": backend.email(label),
            "phone": "000-000-0000",
            "dob": {"day": 1, "month": 1, "year": 1901},
            "address": {
                "line1": "address_full_match",
                "city": "San Francisco",
                "state": "CA",
                "postal_code": "94111",
                "country": "US",
            },
            "ssn_last_4": "0000",
            "id_number": "000000000",
        },
        "external_account": "btok_us_verified",
        "tos_acceptance": {"date": int(time.time()), "ip": "8.8.8.8"},
        # Payouts are made by the API (as Bazaar does), not on Stripe's daily schedule.
        "settings": {"payouts": {"schedule": {"interval": "manual"}}},
    }


def transfer_ready_account(backend, label):
    """A connected account whose `transfers` capability is active.

    Backend-specific setup only: the same Custom account is created on both; Stripe test mode
    verifies it within seconds (poll), the sandbox at once.
    """
    account = backend.v1.accounts.create(
        params=verified_custom_account(backend, label),
        options={"idempotency_key": backend.key(f"account-{label}")},
    )
    return backend.wait_until(
        lambda: backend.v1.accounts.retrieve(account.id),
        lambda a: a.capabilities.get("transfers") == "active" and a.payouts_enabled,
        what=f"account {account.id} getting an active transfers capability and payouts",
    )
