"""Test helpers for the sandbox's money movement: connected accounts made directly in the sandbox
(so these tests do not wait for onboarding), platform charges, and a check of objects against
Stripe's published OpenAPI schemas."""

import copy
import functools
import json
from pathlib import Path

import pytest

from stripe_sandbox import core
from stripe_sandbox.resources.accounts import CONTROLLERS, account_template
from stripe_sandbox.testing import client

OPENAPI_DIR = Path(__file__).resolve().parents[3] / "shared" / "stripe-openapi"
DAY = 24 * 60 * 60


def sdk():
    """A StripeClient answered by the sandbox."""
    return client()


def as_account(account, **options):
    return {"stripe_account": account, **options}


# --- Connected accounts -------------------------------------------------------------------------


def bank_account(account_id, *, last4="6789", currency="usd", default=True):
    """A US test bank account (routing 110000000). Stripe's failing test accounts end in 1116
    (no_account), 1113 (account_closed), 2227, 3335, 4440."""
    return {
        "id": core.new_id("ba"),
        "object": "bank_account",
        "account": account_id,
        "account_holder_name": "Jenny Rosen",
        "account_holder_type": "individual",
        "account_type": None,
        "available_payout_methods": ["standard", "instant"],
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": currency,
        "default_for_currency": default,
        "fingerprint": core.new_id("fp", 16)[3:],
        "last4": last4,
        "metadata": {},
        "routing_number": "110000000",
        "status": "new",
    }


def connected_account(
    *,
    transfers=True,
    payouts_enabled=True,
    bank=True,
    failing_bank=False,
    bank_last4=None,
    currency="usd",
    country="US",
):
    """An onboarded Express account saved straight into the sandbox; returns its id."""
    account_id = core.new_id("acct", 16)
    account = account_template(
        id=account_id,
        type="express",
        country=country,
        email=f"{account_id}@sellers.example",
        default_currency=currency,
    )
    account.update(
        # As POST /v1/accounts gives an Express account: its dashboard is the Express dashboard.
        controller=copy.deepcopy(CONTROLLERS["express"]),
        charges_enabled=True,
        details_submitted=True,
        payouts_enabled=payouts_enabled,
        capabilities={
            "card_payments": "active",
            "transfers": "active" if transfers else "inactive",
        },
    )
    if bank:
        last4 = bank_last4 or ("1116" if failing_bank else "6789")
        external = bank_account(account_id, last4=last4, currency=currency)
        account["external_accounts"]["data"] = [external]
        account["external_accounts"]["total_count"] = 1
    core.save(account)
    return account_id


# --- Platform funds -----------------------------------------------------------------------------


def platform_charge(amount, *, currency="usd", available_now=False):
    """A succeeded card charge on the platform, booked as the payments resource books it: its
    funds settle SETTLEMENT_DAYS later (or at once, like Stripe's 4000000000000077 test card)."""
    charge_id = core.new_id("ch")
    fee = core.card_fee(amount, currency)
    available_on = core.now() if available_now else core.now() + core.SETTLEMENT_DAYS * DAY
    txn = core.balance_transaction(
        account=core.PLATFORM,
        amount=amount,
        currency=currency,
        type="charge",
        source=charge_id,
        fee=fee,
        fee_details=[
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ],
        available_on=available_on,
    )
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": txn["id"],
        "captured": True,
        "created": core.now(),
        "currency": currency,
        "metadata": {},
        "paid": True,
        "refunded": False,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    return core.save(charge)


def fund_platform(amount, currency="usd"):
    """Put `amount` (net of fees) into the platform's available balance now."""
    gross = amount
    while gross - core.card_fee(gross, currency) < amount:
        gross += 1
    return platform_charge(gross, currency=currency, available_now=True)


def funded_account(amount, **account_options):
    """A connected account holding `amount` available, transferred from the platform."""
    account = connected_account(**account_options)
    fund_platform(amount)
    sdk().v1.transfers.create(
        params={"amount": amount, "currency": "usd", "destination": account},
        options={"idempotency_key": core.new_id("fund")},
    )
    return account


def balance(account=None):
    """{'available': {cur: n}, 'pending': {...}, 'instant_available': {...}} via the API."""
    options = as_account(account) if account else {}
    found = sdk().v1.balance.retrieve(options=options)
    out = {
        "available": {a.currency: a.amount for a in found.available},
        "pending": {a.currency: a.amount for a in found.pending},
    }
    if "instant_available" in found:
        out["instant_available"] = {a.currency: a.amount for a in found.instant_available}
    return out


# --- Stripe's OpenAPI schemas -------------------------------------------------------------------


@functools.cache
def _schemas():
    spec = json.loads((OPENAPI_DIR / "spec3.json").read_text())
    return spec["components"]["schemas"]


def require_openapi():
    if not (OPENAPI_DIR / "spec3.json").exists():
        pytest.skip(f"Stripe's OpenAPI spec is not at {OPENAPI_DIR} (shared/stripe-openapi).")


def _type_ok(value, kind):
    return {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }.get(kind, True)


def schema_problems(value, schema, path="", depth=0):
    """Where `value` breaks `schema` (required fields, types, nullability, enums)."""
    if "$ref" in schema:
        schema = _schemas()[schema["$ref"].rsplit("/", 1)[-1]]
    if value is None:
        return [] if schema.get("nullable") else [f"{path or '.'}: null but not nullable"]
    if depth > 12:
        return []
    if "anyOf" in schema:
        branches = [schema_problems(value, s, path, depth + 1) for s in schema["anyOf"]]
        if any(not found for found in branches):
            return []
        return [f"{path}: matches no anyOf branch ({min(branches, key=len)[0]})"]
    kind = schema.get("type")
    if kind and not _type_ok(value, kind):
        return [f"{path}: {value!r} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not in {schema['enum']}"]
    problems = []
    if kind == "object" or "properties" in schema:
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{path}.{name}: missing")
        for name, item in value.items():
            if name in schema.get("properties", {}):
                problems += schema_problems(
                    item, schema["properties"][name], f"{path}.{name}", depth + 1
                )
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{path}[{i}]", depth + 1)
    return problems


def assert_stripe_shape(obj, schema_name):
    """Fail with every difference between `obj` (a dict or StripeObject) and Stripe's schema."""
    require_openapi()
    data = obj if isinstance(obj, dict) else obj.to_dict()
    problems = schema_problems(data, {"$ref": f"#/components/schemas/{schema_name}"})
    assert not problems, f"{schema_name} differs from Stripe's schema: {problems}"
