"""Payments: customers, payment methods, PaymentIntents, charges, refunds, disputes and Checkout
Sessions (mode=payment), with Stripe's API 2024-04-10 shapes and state rules.

Cards behave as Stripe's test cards do (https://stripe.com/docs/testing): `pm_card_visa` succeeds,
`pm_card_chargeDeclined` is declined, `pm_card_authenticationRequired` needs 3D Secure,
`pm_card_createDispute` is disputed right after it succeeds... The hosted checkout page
(stripe_sandbox/checkout_views.py) takes the matching card numbers.

Functions other code may call: dispute_create_for_charge(req, charge),
dispute_decide(dispute_id, won=...), disputes_open(), payment_intent_authenticate(req, pi_id,
succeed=...), checkout_session_pay(...), checkout_session_authenticate(...),
checkout_page_state(session_id), request_for(object_id).
"""

import copy
import functools
import hashlib
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from stripe_sandbox import core
from stripe_sandbox.currencies import format_amount
from stripe_sandbox.errors import CardError, InvalidRequest, ResourceMissing, StripeSandboxError
from stripe_sandbox.models import SandboxObject
from stripe_sandbox.params import (
    LIST_PARAMS,
    AnyObj,
    Bool,
    Int,
    List,
    Metadata,
    Obj,
    Param,
    Str,
)
from stripe_sandbox.resources import files, transfers
from stripe_sandbox.resources.accounts import platform_account
from stripe_sandbox.router import Respond, route

DAY = 86400
# Stripe cancels a PaymentIntent whose card authorisation was not captured within 7 days.
UNCAPTURED_EXPIRY_SECONDS = 7 * DAY
CHECKOUT_DEFAULT_TTL = DAY
CHECKOUT_MIN_TTL = 30 * 60
DISPUTE_FEE = 1500  # Stripe withdraws a dispute fee (US$15) with the disputed amount
DISPUTE_RESPONSE_DAYS = 7
MAX_AMOUNT = 99999999
# Stripe's minimum charge amounts (stripe.com/docs/currencies#minimum-and-maximum-charge-amounts).
MIN_AMOUNTS = {
    "usd": 50,
    "aed": 200,
    "bgn": 100,
    "huf": 17500,
    "myr": 200,
    "ron": 200,
    "thb": 1000,
    "eur": 50,
    "gbp": 30,
    "cad": 50,
    "aud": 50,
    "chf": 50,
    "jpy": 50,
    "inr": 50,
    "sek": 300,
    "nok": 300,
    "dkk": 250,
    "mxn": 1000,
    "brl": 50,
    "hkd": 400,
    "sgd": 50,
    "nzd": 50,
    "pln": 200,
    "czk": 1500,
}
PLATFORM_DESCRIPTOR = "BAZAAR"
PI_CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
PI_CONFIRMABLE = ("requires_confirmation", "requires_payment_method", "requires_action")
PI_MODIFIABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_SECRET_ALPHABET = string.ascii_letters + string.digits


# --- Test cards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCard:
    """How one of Stripe's test cards behaves."""

    number: str
    brand: str = "visa"
    funding: str = "credit"
    country: str = "US"
    decline: str | None = None  # a key of DECLINES: the issuer (or Radar) refuses the charge
    three_d_secure: bool = False  # a one-time payment needs authentication first
    dispute: str | None = None  # the charge is disputed with this reason right after success
    risk_level: str = "normal"
    bypass_pending: bool = False  # funds are available at once (for testing payouts)
    tokens: tuple = field(default=(), compare=False)


CARDS = [
    TestCard("4242424242424242", tokens=("visa",)),
    TestCard("4000056655665556", funding="debit", tokens=("visa_debit",)),
    TestCard("4000000000000077", bypass_pending=True, tokens=("bypassPending",)),
    TestCard("5555555555554444", brand="mastercard", tokens=("mastercard",)),
    TestCard("5200828282828210", brand="mastercard", funding="debit", tokens=("mastercard_debit",)),
    TestCard(
        "5105105105105100", brand="mastercard", funding="prepaid", tokens=("mastercard_prepaid",)
    ),
    TestCard("378282246310005", brand="amex", tokens=("amex",)),
    TestCard("6011111111111117", brand="discover", tokens=("discover",)),
    TestCard("3056930009020004", brand="diners", tokens=("diners",)),
    TestCard("3566002020360505", brand="jcb", country="JP", tokens=("jcb",)),
    TestCard("6200000000000005", brand="unionpay", country="CN", tokens=("unionpay",)),
    TestCard(
        "4000000000000002",
        decline="generic_decline",
        tokens=("chargeDeclined", "visa_chargeDeclined"),
    ),
    TestCard(
        "4000000000009995",
        decline="insufficient_funds",
        tokens=(
            "chargeDeclinedInsufficientFunds",
            "visa_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
    ),
    TestCard(
        "4000000000009987",
        decline="lost_card",
        tokens=("chargeDeclinedLostCard", "visa_chargeDeclinedLostCard"),
    ),
    TestCard(
        "4000000000009979",
        decline="stolen_card",
        tokens=("chargeDeclinedStolenCard", "visa_chargeDeclinedStolenCard"),
    ),
    TestCard(
        "4000000000000069",
        decline="expired_card",
        tokens=("chargeDeclinedExpiredCard", "visa_chargeDeclinedExpiredCard"),
    ),
    TestCard(
        "4000000000000127",
        decline="incorrect_cvc",
        tokens=("chargeDeclinedIncorrectCvc", "visa_chargeDeclinedIncorrectCvc"),
    ),
    TestCard(
        "4000000000000119",
        decline="processing_error",
        tokens=("chargeDeclinedProcessingError", "visa_chargeDeclinedProcessingError"),
    ),
    TestCard(
        "4000000000006975",
        decline="card_velocity_exceeded",
        tokens=("chargeDeclinedVelocityLimitExceeded", "visa_chargeDeclinedVelocityLimitExceeded"),
    ),
    TestCard("4000000000000341", decline="generic_decline", tokens=("chargeCustomerFail",)),
    TestCard(
        "4100000000000019", decline="radar_block", risk_level="highest", tokens=("radarBlock",)
    ),
    TestCard(
        "4000000000004954",
        decline="radar_block",
        risk_level="highest",
        tokens=("riskLevelHighest",),
    ),
    TestCard("4000000000009235", risk_level="elevated", tokens=("riskLevelElevated",)),
    TestCard("4000000000000259", dispute="fraudulent", tokens=("createDispute",)),
    TestCard(
        "4000000000002685",
        dispute="product_not_received",
        tokens=("createDisputeProductNotReceived",),
    ),
    TestCard("4000000000001976", dispute="inquiry", tokens=("createDisputeInquiry",)),
    TestCard("4000002500003155", three_d_secure=True, tokens=("authenticationRequiredOnSetup",)),
    TestCard("4000002760003184", three_d_secure=True, tokens=("authenticationRequired",)),
    TestCard("4000000000003220", three_d_secure=True, tokens=("threeDSecure2Required",)),
    TestCard(
        "4000008260003178",
        three_d_secure=True,
        decline="insufficient_funds",
        tokens=("authenticationRequiredChargeDeclinedInsufficientFunds",),
    ),
]
CARDS_BY_NUMBER = {card.number: card for card in CARDS}
CARDS_BY_TOKEN = {}
for _card in CARDS:
    for _token in _card.tokens:
        CARDS_BY_TOKEN[f"pm_card_{_token}"] = _card
        CARDS_BY_TOKEN[f"tok_{_token}"] = _card

NETWORKS = {
    "amex": "amex",
    "diners": "diners",
    "discover": "discover",
    "jcb": "jcb",
    "mastercard": "mastercard",
    "unionpay": "unionpay",
    "visa": "visa",
}
DISPLAY_BRANDS = {"amex": "american_express", "diners": "diners_club"}


@dataclass(frozen=True)
class Decline:
    """A refusal: by the card's issuer, or by Radar before the network is asked (blocked)."""

    code: str  # the error's `code`
    message: str  # what the customer is told
    blocked: bool = False


DECLINES = {
    "generic_decline": Decline("card_declined", "Your card was declined."),
    "insufficient_funds": Decline("card_declined", "Your card has insufficient funds."),
    "lost_card": Decline("card_declined", "Your card was declined."),
    "stolen_card": Decline("card_declined", "Your card was declined."),
    "expired_card": Decline("expired_card", "Your card has expired."),
    "incorrect_cvc": Decline("incorrect_cvc", "Your card's security code is incorrect."),
    "processing_error": Decline(
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "card_velocity_exceeded": Decline(
        "card_declined",
        "Your card was declined for making repeated attempts too frequently or exceeding its "
        "amount limit.",
    ),
    "radar_block": Decline("card_declined", "Your card was declined.", blocked=True),
    "authentication_required": Decline(
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}
# The decline_code Stripe puts in the error, when it differs from the decline's key.
DECLINE_CODES = {"radar_block": "fraudulent"}
RISK_SCORES = {"normal": 20, "elevated": 72, "highest": 91}
AUTHENTICATION_FAILURE_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def card_fingerprint(number):
    """Stable per card number, as Stripe's fingerprint is (and how the sandbox knows a card)."""
    return hashlib.sha256(f"bazaar-sandbox-card:{number}".encode()).hexdigest()[:16]


CARDS_BY_FINGERPRINT = {card_fingerprint(card.number): card for card in CARDS}


def card_for_number(number):
    """The test card for a number typed on the hosted page (spaces allowed), or None."""
    return CARDS_BY_NUMBER.get("".join(number.split()))


def luhn_valid(number):
    digits = [int(d) for d in number if d.isdigit()]
    if len(digits) != len(number) or not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _card_of(payment_method):
    return CARDS_BY_FINGERPRINT.get((payment_method.get("card") or {}).get("fingerprint"))


# --- Small helpers ------------------------------------------------------------------------------


def _snapshot(obj):
    return copy.deepcopy(obj)


def _secret(length=25):
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(length))


def _site_url(name, *args):
    return settings.SITE_URL + reverse(f"stripe_sandbox:{name}", args=args)


def _account_of(stripe_id):
    account = core.account_of(stripe_id)
    return account if account is not None else core.PLATFORM


def request_for(object_id, path="/stripe-sandbox/"):
    """A Req for work the sandbox does itself (hosted pages, the clock) on an object's account.

    No request id: Stripe's events for what happens on its own pages or by itself carry
    "request": {"id": null}."""
    return core.Req(
        method="POST", path=path, params={}, account=_account_of(object_id), request_id=None
    )


def _empty_address():
    return {
        "city": None,
        "country": None,
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    }


def _billing_details(values=None):
    values = values or {}
    address = _empty_address()
    address.update(values.get("address") or {})
    return {
        "address": address,
        "email": values.get("email") or None,
        "name": values.get("name") or None,
        "phone": values.get("phone") or None,
    }


def _currency(value, param="currency"):
    currency = (value or "").lower()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidRequest(
            f"Invalid currency: {value}. Stripe currently supports these currencies: usd, eur, "
            "gbp, cad, aud, jpy, chf, inr, sek, nok, dkk and many more.",
            param=param,
        )
    return currency


def _check_amount(amount, currency, param="amount"):
    minimum = MIN_AMOUNTS.get(currency, 50)
    if amount < minimum:
        raise InvalidRequest(
            f"Amount must be at least {format_amount(minimum, currency)} {currency}",
            param=param,
            code="amount_too_small",
        )
    if amount > MAX_AMOUNT:
        raise InvalidRequest(
            f"Amount must be no more than {format_amount(MAX_AMOUNT, currency)}",
            param=param,
            code="amount_too_large",
        )


def _connected_account(account_id, param):
    try:
        return core.get(account_id, kind="account", account=core.PLATFORM, param=param)
    except ResourceMissing:
        name = "destination" if "destination" in param else "account"
        raise ResourceMissing(name, account_id, param=param) from None


def _check_destination(account_id, param):
    account = _connected_account(account_id, param)
    capabilities = account.get("capabilities") or {}
    if not any(capabilities.get(name) == "active" for name in transfers.TRANSFER_CAPABILITIES):
        raise InvalidRequest(
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            param=param,
            code="insufficient_capabilities_for_transfer",
        )


def _statement_descriptor(values):
    if values.get("statement_descriptor"):
        return values["statement_descriptor"].upper()
    suffix = values.get("statement_descriptor_suffix")
    if suffix:
        return f"{PLATFORM_DESCRIPTOR}* {suffix}".upper()[:22]
    return PLATFORM_DESCRIPTOR


class Descriptor(Str):
    """statement_descriptor(_suffix): 1-22 characters, at least one letter, none of <>\\'"*."""

    def __init__(self):
        super().__init__(max_length=22)

    def check(self, value, name):
        value = super().check(value, name)
        if not any(c.isalpha() for c in value) or any(c in "<>\\'\"*" for c in value):
            raise InvalidRequest(
                f"Invalid {name}: it must contain at least one letter and none of < > \\ ' \" *",
                param=name,
            )
        return value


class OffSession(Param):
    def check(self, value, name):
        if value in (True, "true"):
            return True
        if value in (False, "false"):
            return False
        if value in ("one_off", "recurring"):
            return True
        raise InvalidRequest(f"Invalid boolean: {value}", param=name)


class Nullable(Param):
    """A parameter that can also be sent empty ("") to clear it."""

    def __init__(self, inner):
        super().__init__(inner.required)
        self.inner = inner

    def check(self, value, name):
        if value == "":
            return None
        return self.inner.check(value, name)


ADDRESS = Obj(
    {
        "city": Str(),
        "country": Str(),
        "line1": Str(),
        "line2": Str(),
        "postal_code": Str(),
        "state": Str(),
    }
)
BILLING_DETAILS = Obj(
    {
        "address": Nullable(ADDRESS),
        "email": Nullable(Str()),
        "name": Nullable(Str()),
        "phone": Nullable(Str()),
    }
)
SHIPPING = Obj(
    {
        "address": Obj(
            {
                "city": Str(),
                "country": Str(),
                "line1": Str(required=True),
                "line2": Str(),
                "postal_code": Str(),
                "state": Str(),
            },
            required=True,
        ),
        "carrier": Str(),
        "name": Str(required=True),
        "phone": Str(),
        "tracking_number": Str(),
    }
)


def _shipping(values):
    if not values:
        return None
    address = _empty_address()
    address.update(values["address"])
    return {
        "address": address,
        "carrier": values.get("carrier"),
        "name": values["name"],
        "phone": values.get("phone"),
        "tracking_number": values.get("tracking_number"),
    }


def _paginate(req, items, url):
    """Stripe's list object over an in-memory list kept in its natural order."""
    limit = int(req.params.get("limit", 10))
    ids = [item["id"] for item in items]
    if req.params.get("starting_after"):
        cursor = req.params["starting_after"]
        if cursor not in ids:
            raise ResourceMissing("item", cursor, param="starting_after")
        rest = items[ids.index(cursor) + 1 :]
        return {"object": "list", "data": rest[:limit], "has_more": len(rest) > limit, "url": url}
    if req.params.get("ending_before"):
        cursor = req.params["ending_before"]
        if cursor not in ids:
            raise ResourceMissing("item", cursor, param="ending_before")
        before = items[: ids.index(cursor)]
        return {
            "object": "list",
            "data": before[-limit:],
            "has_more": len(before) > limit,
            "url": url,
        }
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit, "url": url}


def _expandable(req, obj, fields):
    """Add the fields Stripe leaves out unless expanded (sources, line_items...) to a copy of
    obj when expand[] asks for them, so the router can expand them further."""
    wanted = {path.split(".")[0] for path in req.params.get("expand") or []}
    missing = [name for name in fields if name in wanted and name not in obj]
    if not missing:
        return obj
    obj = _snapshot(obj)
    for name in missing:
        obj[name] = fields[name]()
    return obj


# The sandbox's own bookkeeping that Stripe does not show (a session's line items and
# payment_intent_data, whether a PaymentIntent passed 3D Secure). Kept apart from the objects
# so that what the API returns is exactly Stripe's shape.
STATE_KIND = "sandbox.state"


def _state_get(stripe_id):
    row = SandboxObject.objects.filter(stripe_id=f"sbxstate_{stripe_id}").first()
    return row.data["state"] if row else {}


def _state_put(stripe_id, state, account):
    core.save(
        {"id": f"sbxstate_{stripe_id}", "object": STATE_KIND, "state": state}, account=account
    )


# --- Customers ----------------------------------------------------------------------------------

CUSTOMER_FIELDS = {
    "address": Nullable(ADDRESS),
    "balance": Int(),
    "description": Nullable(Str()),
    "email": Nullable(Str(max_length=512)),
    "invoice_prefix": Str(),
    "invoice_settings": Obj(
        {
            "default_payment_method": Nullable(Str()),
            "footer": Nullable(Str()),
            "custom_fields": Nullable(AnyObj()),
        }
    ),
    "metadata": Metadata(),
    "name": Nullable(Str(max_length=256)),
    "next_invoice_sequence": Int(min=1),
    "phone": Nullable(Str(max_length=20)),
    "preferred_locales": List(Str()),
    "shipping": Nullable(SHIPPING),
    "tax_exempt": Str(choices=["", "exempt", "none", "reverse"]),
}


def _customer(req, customer_id, param="customer"):
    customer = core.get(customer_id, kind="customer", account=req.account, param=param)
    if customer.get("deleted"):
        raise ResourceMissing("customer", customer_id, param=param)
    return customer


def _customer_apply(customer, values):
    for key in (
        "balance",
        "description",
        "email",
        "name",
        "next_invoice_sequence",
        "phone",
        "preferred_locales",
        "invoice_prefix",
    ):
        if key in values:
            customer[key] = values[key]
    if "address" in values:
        customer["address"] = (
            {**_empty_address(), **values["address"]} if values["address"] else None
        )
    if "shipping" in values:
        customer["shipping"] = _shipping(values["shipping"])
    if "tax_exempt" in values:
        customer["tax_exempt"] = values["tax_exempt"] or "none"
    if "metadata" in values:
        customer["metadata"] = _merge_metadata(customer.get("metadata", {}), values["metadata"])


def _merge_metadata(current, update):
    """Stripe merges metadata keys; an empty value deletes a key; metadata="" clears all."""
    if update == {}:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@route("POST", "/v1/customers")
def customer_create(req):
    values = req.validate(CUSTOMER_FIELDS | {"payment_method": Str()})
    customer = {
        "id": core.new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": core.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": "".join(
            secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8)
        ),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    _customer_apply(customer, values)
    core.save(customer, account=req.account)
    core.emit(req, "customer.created", _snapshot(customer), account=req.account)
    if values.get("payment_method"):
        pm = _payment_method_resolve(req, values["payment_method"], param="payment_method")
        _attach(req, pm, customer)
    if "invoice_settings" in values:
        _customer_invoice_settings(req, customer, values["invoice_settings"])
        core.save(customer, account=req.account)
    return customer


def _customer_invoice_settings(req, customer, settings_values):
    if "default_payment_method" in settings_values:
        pm_id = settings_values["default_payment_method"]
        if pm_id:
            pm = core.find("payment_method", account=req.account, id=pm_id)
            if not pm or pm[0].get("customer") != customer["id"]:
                raise InvalidRequest(
                    f"No such PaymentMethod: '{pm_id}'; the payment method must be attached to "
                    f"customer {customer['id']} to be its default.",
                    param="invoice_settings[default_payment_method]",
                    code="resource_missing",
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id
    for key in ("footer", "custom_fields"):
        if key in settings_values:
            customer["invoice_settings"][key] = settings_values[key]


@route("GET", "/v1/customers/{id}")
def customer_retrieve(req, id):
    req.validate({})
    # A deleted customer is still retrievable: Stripe answers {"id", "object", "deleted": true}.
    customer = core.get(id, kind="customer", account=req.account)
    if customer.get("deleted"):
        return customer
    return _expandable(
        req,
        customer,
        {
            # No cards as sources, subscriptions or tax ids in the sandbox: empty lists.
            "sources": lambda: core.embedded_list(f"/v1/customers/{id}/sources"),
            "subscriptions": lambda: core.embedded_list(f"/v1/customers/{id}/subscriptions"),
            "tax_ids": lambda: core.embedded_list(f"/v1/customers/{id}/tax_ids"),
        },
    )


@route("POST", "/v1/customers/{id}")
def customer_update(req, id):
    values = req.validate(CUSTOMER_FIELDS)
    customer = _customer(req, id, param="id")
    before = _snapshot(customer)
    _customer_apply(customer, values)
    if "invoice_settings" in values:
        _customer_invoice_settings(req, customer, values["invoice_settings"])
    core.save(customer, account=req.account)
    changed = {k: before[k] for k in customer if before.get(k) != customer[k]}
    if changed:
        core.emit(
            req,
            "customer.updated",
            _snapshot(customer),
            account=req.account,
            previous_attributes=changed,
        )
    return customer


@route("DELETE", "/v1/customers/{id}")
def customer_delete(req, id):
    req.validate({})
    customer = _customer(req, id, param="id")
    deleted = {"id": id, "object": "customer", "deleted": True}
    core.save(dict(deleted), account=req.account)
    core.emit(req, "customer.deleted", _snapshot(customer), account=req.account)
    return deleted


@route("GET", "/v1/customers")
def customer_list(req):
    values = req.validate(LIST_PARAMS | {"email": Str(max_length=512), "test_clock": Str()})
    return core.list_response(
        req,
        "customer",
        url="/v1/customers",
        account=req.account,
        filters={"email": values.get("email")},
        predicate=lambda c: not c.get("deleted"),
    )


# --- Payment methods ----------------------------------------------------------------------------


def _payment_method_from_card(
    req, card, *, exp_month=None, exp_year=None, billing=None, cvc_given=False, metadata=None
):
    today = datetime.fromtimestamp(core.now(), UTC)
    pm = {
        "id": core.new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": _billing_details(billing),
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "unchecked" if cvc_given else None,
            },
            "country": card.country,
            "display_brand": DISPLAY_BRANDS.get(card.brand, card.brand),
            "exp_month": exp_month or today.month,
            "exp_year": exp_year or today.year + 1,
            "fingerprint": card_fingerprint(card.number),
            "funding": card.funding,
            "generated_from": None,
            "last4": card.number[-4:],
            "networks": {"available": [NETWORKS[card.brand]], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": core.now(),
        "customer": None,
        "livemode": False,
        "metadata": metadata or {},
        "type": "card",
    }
    return core.save(pm, account=req.account)


def _payment_method_resolve(req, ref, *, param="payment_method"):
    """A stored PaymentMethod for an id, or a new one for a test token (pm_card_visa...)."""
    card = CARDS_BY_TOKEN.get(ref)
    if card is not None:
        return _payment_method_from_card(req, card)
    try:
        return core.get(ref, kind="payment_method", account=req.account, param=param)
    except ResourceMissing:
        raise ResourceMissing("PaymentMethod", ref, param=param) from None


def _attach(req, pm, customer):
    if pm.get("customer"):
        if pm["customer"] == customer["id"]:
            return pm
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    if _used_without_customer(pm):
        raise InvalidRequest(_REUSE_MESSAGE, param="payment_method")
    pm["customer"] = customer["id"]
    core.save(pm, account=req.account)
    core.emit(req, "payment_method.attached", _snapshot(pm), account=req.account)
    return pm


_REUSE_MESSAGE = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was detached "
    "from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must "
    "attach it to a Customer first."
)


def _used_without_customer(pm, *, except_intent=None):
    """Stripe lets an unattached PaymentMethod pay once; after that it cannot be reused."""
    if pm.get("customer"):
        return False
    return any(
        charge.get("payment_intent") != except_intent
        for charge in core.find("charge", payment_method=pm["id"])
    )


@route("POST", "/v1/payment_methods", publishable=True)
def payment_method_create(req):
    values = req.validate(
        {
            "type": Str(required=True, choices=["card"]),
            "card": Obj(
                {
                    "token": Str(),
                    "number": Str(),
                    "exp_month": Int(),
                    "exp_year": Int(),
                    "cvc": Str(),
                    "networks": AnyObj(),
                }
            ),
            "billing_details": BILLING_DETAILS,
            "metadata": Metadata(),
            "allow_redisplay": Str(choices=["always", "limited", "unspecified"]),
        }
    )
    card_values = values.get("card") or {}
    if "number" in card_values and req.publishable:
        # What Stripe.js and the mobile SDKs send: the card as typed, with a publishable key.
        return _payment_method_from_number(req, card_values, values)
    if "number" in card_values:
        raise InvalidRequest(
            "Sending credit card numbers directly to the Stripe API is generally unsafe. We "
            "suggest you use test tokens that map to the test card you are using, see "
            "https://stripe.com/docs/testing.",
            param="card[number]",
        )
    token = card_values.get("token")
    if not token:
        raise InvalidRequest(
            "Missing required param: card[token].", param="card[token]", code="parameter_missing"
        )
    card = CARDS_BY_TOKEN.get(token)
    if card is None:
        raise InvalidRequest(
            f"No such token: '{token}'", param="card[token]", code="resource_missing"
        )
    pm = _payment_method_from_card(
        req, card, billing=values.get("billing_details"), metadata=values.get("metadata")
    )
    if values.get("allow_redisplay"):
        pm["allow_redisplay"] = values["allow_redisplay"]
        core.save(pm, account=req.account)
    return pm


def _payment_method_from_number(req, card_values, values):
    number = "".join(str(card_values["number"]).split())
    if not luhn_valid(number):
        raise CardError(
            "Your card number is incorrect.", param="card[number]", code="incorrect_number"
        )
    for key in ("exp_month", "exp_year"):
        if key not in card_values:
            raise InvalidRequest(
                f"Missing required param: card[{key}].",
                param=f"card[{key}]",
                code="parameter_missing",
            )
    card = card_for_number(number)
    if card is None:
        raise CardError(
            "Your card was declined. Your request was in test mode, but used a non test (live) "
            "card. For a list of valid test cards, visit: https://stripe.com/docs/testing.",
            code="card_declined",
            decline_code="test_mode_live_card",
        )
    return _payment_method_from_card(
        req,
        card,
        exp_month=card_values["exp_month"],
        exp_year=card_values["exp_year"],
        cvc_given=bool(card_values.get("cvc")),
        billing=values.get("billing_details"),
        metadata=values.get("metadata"),
    )


@route("GET", "/v1/payment_methods/{id}")
def payment_method_retrieve(req, id):
    req.validate({})
    try:
        return core.get(id, kind="payment_method", account=req.account)
    except ResourceMissing:
        raise ResourceMissing("PaymentMethod", id) from None


@route("POST", "/v1/payment_methods/{id}")
def payment_method_update(req, id):
    values = req.validate(
        {
            "billing_details": BILLING_DETAILS,
            "card": Obj({"exp_month": Int(min=1, max=12), "exp_year": Int()}),
            "metadata": Metadata(),
            "allow_redisplay": Str(choices=["always", "limited", "unspecified"]),
        }
    )
    pm = _payment_method_get(req, id)
    if not pm.get("customer"):
        raise InvalidRequest(
            "You must save this PaymentMethod to a customer before you can update it."
        )
    before = _snapshot(pm)
    if "billing_details" in values:
        details = values["billing_details"]
        current = pm["billing_details"]
        for key in ("email", "name", "phone"):
            if key in details:
                current[key] = details[key]
        if "address" in details:
            current["address"] = {**_empty_address(), **(details["address"] or {})}
    if "card" in values:
        pm["card"].update(values["card"])
    if "metadata" in values:
        pm["metadata"] = _merge_metadata(pm.get("metadata") or {}, values["metadata"])
    if "allow_redisplay" in values:
        pm["allow_redisplay"] = values["allow_redisplay"]
    core.save(pm, account=req.account)
    changed = {k: before[k] for k in pm if before.get(k) != pm[k]}
    core.emit(
        req,
        "payment_method.updated",
        _snapshot(pm),
        account=req.account,
        previous_attributes=changed,
    )
    return pm


def _payment_method_get(req, pm_id, param="id"):
    try:
        return core.get(pm_id, kind="payment_method", account=req.account, param=param)
    except ResourceMissing:
        raise ResourceMissing("PaymentMethod", pm_id, param=param) from None


@route("POST", "/v1/payment_methods/{id}/attach")
def payment_method_attach(req, id):
    values = req.validate({"customer": Str(required=True)})
    customer = _customer(req, values["customer"])
    pm = _payment_method_resolve(req, id, param="payment_method")
    return _attach(req, pm, customer)


@route("POST", "/v1/payment_methods/{id}/detach")
def payment_method_detach(req, id):
    req.validate({})
    pm = _payment_method_get(req, id)
    if not pm.get("customer"):
        raise InvalidRequest(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible."
        )
    previous = pm["customer"]
    pm["customer"] = None
    core.save(pm, account=req.account)
    for customer in core.find("customer", account=req.account, id=previous):
        if customer.get("invoice_settings", {}).get("default_payment_method") == id:
            customer["invoice_settings"]["default_payment_method"] = None
            core.save(customer, account=req.account)
    core.emit(
        req,
        "payment_method.detached",
        _snapshot(pm),
        account=req.account,
        previous_attributes={"customer": previous},
    )
    return pm


def _payment_method_list(req, customer_id, values):
    filters = {"type": values.get("type")}
    if customer_id:
        _customer(req, customer_id)
        filters["customer"] = customer_id
    url = f"/v1/customers/{customer_id}/payment_methods" if customer_id else "/v1/payment_methods"
    return core.list_response(req, "payment_method", url=url, account=req.account, filters=filters)


@route("GET", "/v1/payment_methods")
def payment_method_list(req):
    values = req.validate(LIST_PARAMS | {"customer": Str(), "type": Str()})
    return _payment_method_list(req, values.get("customer"), values)


@route("GET", "/v1/customers/{id}/payment_methods")
def customer_payment_method_list(req, id):
    values = req.validate(LIST_PARAMS | {"type": Str(), "allow_redisplay": Str()})
    return _payment_method_list(req, id, values)


# --- PaymentIntents -----------------------------------------------------------------------------

TRANSFER_DATA = Obj({"destination": Str(required=True), "amount": Int(min=0)})
CONFIRM_FIELDS = {
    "payment_method": Str(),
    "return_url": Str(),
    "off_session": OffSession(),
    "error_on_requires_action": Bool(),
    "receipt_email": Nullable(Str()),
    "setup_future_usage": Nullable(Str(choices=["off_session", "on_session"])),
    "shipping": Nullable(SHIPPING),
    "payment_method_options": AnyObj(),
    "use_stripe_sdk": Bool(),
}
PI_CREATE = CONFIRM_FIELDS | {
    "amount": Int(required=True, min=0),
    "currency": Str(required=True),
    "application_fee_amount": Int(min=0),
    "automatic_payment_methods": Obj(
        {"enabled": Bool(required=True), "allow_redirects": Str(choices=["always", "never"])}
    ),
    "capture_method": Str(choices=["automatic", "automatic_async", "manual"]),
    "confirm": Bool(),
    "confirmation_method": Str(choices=["automatic", "manual"]),
    "customer": Str(),
    "description": Str(max_length=1000),
    "metadata": Metadata(),
    "on_behalf_of": Str(),
    "payment_method_types": List(Str()),
    "statement_descriptor": Descriptor(),
    "statement_descriptor_suffix": Descriptor(),
    "transfer_data": TRANSFER_DATA,
    "transfer_group": Str(),
}


def _intent_get(req, pi_id, *, lock=False, param="intent"):
    return core.get(pi_id, kind="payment_intent", account=req.account, lock=lock, param=param)


def _unexpected_state(message):
    return InvalidRequest(message, code="payment_intent_unexpected_state")


def _param_name(prefix, name):
    """A nested param's name: payment_intent_data[transfer_data][amount]."""
    if not prefix:
        return name
    head, _, rest = name.partition("[")
    return f"{prefix}[{head}]" + (f"[{rest}" if rest else "")


def _check_connect(req, amount, values, prefix=""):
    """application_fee_amount / transfer_data / on_behalf_of rules of Connect charges."""
    transfer = values.get("transfer_data")
    fee = values.get("application_fee_amount")
    if transfer:
        _check_destination(
            transfer["destination"], _param_name(prefix, "transfer_data[destination]")
        )
        if transfer.get("amount") is not None and transfer["amount"] > amount:
            raise InvalidRequest(
                "The transfer amount cannot be greater than the amount of the payment.",
                param=_param_name(prefix, "transfer_data[amount]"),
            )
        if transfer.get("amount") is not None and fee is not None:
            raise InvalidRequest(
                "You may only specify one of these parameters: application_fee_amount, "
                "transfer_data[amount].",
                param=_param_name(prefix, "application_fee_amount"),
            )
    if fee is not None:
        if not transfer and not req.account:
            raise InvalidRequest(
                "Can only apply an application_fee_amount when the PaymentIntent is attempting "
                "a direct payment (using an OAuth key or Stripe-Account header) or destination "
                "payment (using `transfer_data[destination]`).",
                param=_param_name(prefix, "application_fee_amount"),
            )
        if fee > amount:
            raise InvalidRequest(
                "The application fee amount cannot be greater than the amount of the payment.",
                param=_param_name(prefix, "application_fee_amount"),
            )
    if values.get("on_behalf_of"):
        _connected_account(values["on_behalf_of"], _param_name(prefix, "on_behalf_of"))
        if transfer and values["on_behalf_of"] != transfer["destination"]:
            raise InvalidRequest(
                "The on_behalf_of account must be the same as transfer_data[destination].",
                param=_param_name(prefix, "on_behalf_of"),
            )


def _transfer_data(values):
    transfer = values.get("transfer_data")
    if not transfer:
        return None
    data = {"destination": transfer["destination"]}
    if transfer.get("amount") is not None:
        data["amount"] = transfer["amount"]
    return data


def payment_intent_build(req, values):
    """A new PaymentIntent (not saved) from create parameters already validated."""
    currency = _currency(values["currency"])
    amount = values["amount"]
    _check_amount(amount, currency)
    _check_connect(req, amount, values)
    if values.get("payment_method_types") and values.get("automatic_payment_methods"):
        raise InvalidRequest(
            "You may only specify one of these parameters: automatic_payment_methods, "
            "payment_method_types.",
            param="automatic_payment_methods",
        )
    types = values.get("payment_method_types")
    if types is not None and any(t != "card" for t in types):
        bad = next(t for t in types if t != "card")
        raise InvalidRequest(
            f'The payment method type "{bad}" is invalid or not available in the Stripe '
            "sandbox (it supports cards).",
            param="payment_method_types",
        )
    automatic = values.get("automatic_payment_methods")
    if automatic is None and types is None:
        # Since 2023-08-16 a PaymentIntent without payment_method_types uses dynamic payment
        # methods (automatic_payment_methods enabled, redirects allowed).
        automatic = {"enabled": True}
    if automatic is not None and automatic["enabled"]:
        automatic = {"allow_redirects": automatic.get("allow_redirects", "always"), "enabled": True}
    elif automatic is not None:
        automatic = None
    customer = _customer(req, values["customer"]) if values.get("customer") else None
    for key in ("return_url", "off_session", "error_on_requires_action"):
        if key in values and not values.get("confirm"):
            raise InvalidRequest(
                f"The parameter {key} can only be used with confirm=true.", param=key
            )
    pi_id = core.new_id("pi")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": values.get("application_fee_amount"),
        "automatic_payment_methods": automatic,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": values.get("capture_method", "automatic"),
        "client_secret": f"{pi_id}_secret_{_secret()}",
        "confirmation_method": values.get("confirmation_method", "automatic"),
        "created": core.now(),
        "currency": currency,
        "customer": customer["id"] if customer else None,
        "description": values.get("description"),
        "invoice": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": _merge_metadata({}, values.get("metadata", {})),
        "next_action": None,
        "on_behalf_of": values.get("on_behalf_of"),
        "payment_method": None,
        "payment_method_configuration_details": (
            {"id": "pmc_BazaarSandboxDefault00", "parent": None} if automatic else None
        ),
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": values.get("receipt_email"),
        "review": None,
        "setup_future_usage": values.get("setup_future_usage"),
        "shipping": _shipping(values.get("shipping")),
        "source": None,
        "statement_descriptor": values.get("statement_descriptor"),
        "statement_descriptor_suffix": values.get("statement_descriptor_suffix"),
        "status": "requires_payment_method",
        "transfer_data": _transfer_data(values),
        "transfer_group": values.get("transfer_group"),
    }


def _payment_method_for_intent(req, pi, ref, param="payment_method"):
    pm = _payment_method_resolve(req, ref, param=param)
    if pm.get("customer") and pm["customer"] != pi.get("customer"):
        if pi.get("customer"):
            raise InvalidRequest(
                f"The provided PaymentMethod {pm['id']} does not belong to the Customer "
                f"{pi['customer']}. Please provide a PaymentMethod that belongs to this Customer.",
                param=param,
            )
        raise InvalidRequest(
            f"The provided PaymentMethod {pm['id']} belongs to a Customer. Please provide the "
            "customer parameter with the ID of that Customer.",
            param=param,
        )
    if _used_without_customer(pm, except_intent=pi["id"]):
        raise InvalidRequest(_REUSE_MESSAGE, param=param)
    return pm


@route("POST", "/v1/payment_intents")
def payment_intent_create(req):
    values = req.validate(PI_CREATE)
    pi = payment_intent_build(req, values)
    pm = None
    if values.get("payment_method"):
        pm = _payment_method_for_intent(req, pi, values["payment_method"])
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
    core.save(pi, account=req.account)
    core.emit(req, "payment_intent.created", _snapshot(pi), account=req.account)
    if values.get("confirm"):
        return _confirm(req, pi, pm, values)
    return pi


@route("GET", "/v1/payment_intents/{id}", publishable=True)
def payment_intent_retrieve(req, id):
    values = req.validate({"client_secret": Str()})
    pi = _intent_get(req, id)
    _check_client_secret(req, pi, values)
    return pi


def _check_client_secret(req, pi, values):
    """A publishable key reaches a PaymentIntent only with its client_secret; a client_secret
    given with any key must be the intent's."""
    if req.publishable and not values.get("client_secret"):
        raise InvalidRequest(
            "Missing required param: client_secret.",
            param="client_secret",
            code="parameter_missing",
        )
    if "client_secret" in values and values["client_secret"] != pi["client_secret"]:
        raise InvalidRequest(
            "The client_secret provided does not match the client_secret associated with the "
            "PaymentIntent.",
            param="client_secret",
        )


PI_UPDATE = {
    "amount": Int(min=0),
    "application_fee_amount": Nullable(Int(min=0)),
    "capture_method": Str(choices=["automatic", "automatic_async", "manual"]),
    "currency": Str(),
    "customer": Str(),
    "description": Nullable(Str(max_length=1000)),
    "metadata": Metadata(),
    "payment_method": Str(),
    "payment_method_options": AnyObj(),
    "payment_method_types": List(Str()),
    "receipt_email": Nullable(Str()),
    "setup_future_usage": Nullable(Str(choices=["off_session", "on_session"])),
    "shipping": Nullable(SHIPPING),
    "statement_descriptor": Descriptor(),
    "statement_descriptor_suffix": Descriptor(),
    "transfer_data": Obj({"amount": Int(min=0)}),
    "transfer_group": Str(),
}
# What can change on a PaymentIntent whatever its status (the rest only before it is paid).
PI_ALWAYS_UPDATABLE = ("description", "metadata", "receipt_email", "shipping")


@route("POST", "/v1/payment_intents/{id}")
def payment_intent_update(req, id):
    values = req.validate(PI_UPDATE)
    pi = _intent_get(req, id, lock=True)
    for key in values:
        if key not in PI_ALWAYS_UPDATABLE and pi["status"] not in PI_MODIFIABLE:
            raise _unexpected_state(
                f"This PaymentIntent's {key} could not be updated because it has a status of "
                f"{pi['status']}. You may only update the {key} of a PaymentIntent with one of "
                f"the following statuses: {', '.join(PI_MODIFIABLE)}."
            )
    if "transfer_data" in values and not pi.get("transfer_data"):
        raise InvalidRequest(
            "transfer_data can only be updated on a PaymentIntent created with "
            "transfer_data[destination].",
            param="transfer_data",
        )
    currency = _currency(values["currency"]) if "currency" in values else pi["currency"]
    amount = values.get("amount", pi["amount"])
    if "amount" in values or "currency" in values:
        _check_amount(amount, currency)
    if "payment_method_types" in values and any(
        t != "card" for t in values["payment_method_types"]
    ):
        raise InvalidRequest(
            "The Stripe sandbox supports the card payment method type only.",
            param="payment_method_types",
        )
    if "customer" in values:
        pi["customer"] = _customer(req, values["customer"])["id"]
    if "payment_method" in values:
        pm = _payment_method_for_intent(req, pi, values["payment_method"])
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
        pi["next_action"] = None
    for key in (
        "amount",
        "application_fee_amount",
        "capture_method",
        "description",
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "transfer_group",
    ):
        if key in values:
            pi[key] = values[key]
    pi["currency"] = currency
    if "payment_method_types" in values:
        pi["payment_method_types"] = ["card"]
        pi["automatic_payment_methods"] = None
        pi["payment_method_configuration_details"] = None
    if "shipping" in values:
        pi["shipping"] = _shipping(values["shipping"])
    if "metadata" in values:
        pi["metadata"] = _merge_metadata(pi.get("metadata", {}), values["metadata"])
    if "transfer_data" in values:
        pi["transfer_data"]["amount"] = values["transfer_data"]["amount"]
    if pi.get("application_fee_amount") is not None and pi["application_fee_amount"] > amount:
        raise InvalidRequest(
            "The application fee amount cannot be greater than the amount of the payment.",
            param="application_fee_amount",
        )
    core.save(pi, account=req.account)
    return pi


@route("POST", "/v1/payment_intents/{id}/confirm", publishable=True)
def payment_intent_confirm(req, id):
    values = req.validate(
        CONFIRM_FIELDS
        | {
            "client_secret": Str(),
            "capture_method": Str(choices=["automatic", "automatic_async", "manual"]),
        }
    )
    pi = _intent_get(req, id, lock=True)
    _check_client_secret(req, pi, values)
    if values.get("capture_method"):
        pi["capture_method"] = values["capture_method"]
    pm = None
    if values.get("payment_method"):
        pm = _payment_method_for_intent(req, pi, values["payment_method"])
    elif pi.get("payment_method"):
        pm = _payment_method_get(req, pi["payment_method"], param="payment_method")
    return _confirm(req, pi, pm, values)


def _confirm(req, pi, pm, values):
    """Confirm a PaymentIntent: authenticate if the card asks for it, then charge it."""
    if pi["status"] == "succeeded":
        raise _unexpected_state(
            "You cannot confirm this PaymentIntent because it has already succeeded after being "
            "previously confirmed."
        )
    if pi["status"] not in PI_CONFIRMABLE:
        raise _unexpected_state(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be confirmed: "
            f"{', '.join(PI_CONFIRMABLE)}."
        )
    if pm is None:
        raise InvalidRequest(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You "
            "can either update the PaymentIntent with a payment method and then confirm it "
            "again, or confirm it again directly with a payment method.",
        )
    automatic = pi.get("automatic_payment_methods")
    if automatic and automatic.get("allow_redirects") != "never" and not values.get("return_url"):
        raise InvalidRequest(
            "This PaymentIntent is configured to accept payment methods enabled in your "
            "Dashboard. Because some of these payment methods might redirect your customer off "
            "of your page, you must provide a `return_url`. If you don't want to accept "
            "redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` "
            "and `automatic_payment_methods[allow_redirects]` to `never` when creating Setup "
            "Intents and Payment Intents.",
        )
    for key in ("receipt_email", "setup_future_usage"):
        if key in values:
            pi[key] = values[key]
    if "shipping" in values:
        pi["shipping"] = _shipping(values["shipping"])
    pi["payment_method"] = pm["id"]
    pi["last_payment_error"] = None
    pi["next_action"] = None
    card = _card_of(pm)
    state = _state_get(pi["id"])
    authenticated = state.get("authenticated_pm") == pm["id"]
    if card is not None and card.three_d_secure and not authenticated:
        if values.get("off_session") or values.get("error_on_requires_action"):
            return _attempt_charge(req, pi, pm, decline="authentication_required")
        url = _site_url("authenticate", pi["id"])
        if values.get("return_url"):
            pi["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {"return_url": values["return_url"], "url": url},
            }
        else:
            pi["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {
                    "type": "three_d_secure_redirect",
                    "stripe_js": url,
                    "source": core.new_id("src"),
                },
            }
        pi["status"] = "requires_action"
        core.save(pi, account=req.account)
        core.emit(req, "payment_intent.requires_action", _snapshot(pi), account=req.account)
        return pi
    return _attempt_charge(req, pi, pm, authenticated=authenticated)


def payment_intent_authenticate(req, pi_id, *, succeed):
    """The customer completes (or fails) the 3D Secure step of a PaymentIntent.

    Returns the PaymentIntent; a decline after authentication raises Respond(CardError).
    """
    pi = _intent_get(req, pi_id, lock=True, param="id")
    if pi["status"] != "requires_action":
        raise _unexpected_state(
            f"This PaymentIntent has a status of {pi['status']}; only a PaymentIntent that "
            "requires_action can be authenticated."
        )
    pm = _payment_method_get(req, pi["payment_method"], param="payment_method")
    pi["next_action"] = None
    if not succeed:
        pi["status"] = "requires_payment_method"
        pi["payment_method"] = None
        pi["last_payment_error"] = {
            "code": "payment_intent_authentication_failure",
            "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
            "message": AUTHENTICATION_FAILURE_MESSAGE,
            "payment_method": _snapshot(pm),
            "type": "invalid_request_error",
        }
        core.save(pi, account=req.account)
        core.emit(req, "payment_intent.payment_failed", _snapshot(pi), account=req.account)
        return pi
    _state_put(pi["id"], {**_state_get(pi["id"]), "authenticated_pm": pm["id"]}, req.account)
    if pi["confirmation_method"] == "manual":
        # The server confirms again to create the payment (manual confirmation).
        pi["status"] = "requires_confirmation"
        core.save(pi, account=req.account)
        return pi
    return _attempt_charge(req, pi, pm, authenticated=True)


def _outcome(card, decline=None):
    risk_level = card.risk_level if card else "normal"
    outcome = {
        "network_status": "approved_by_network",
        "reason": None,
        "risk_level": risk_level,
        "risk_score": RISK_SCORES[risk_level],
        "seller_message": "Payment complete.",
        "type": "authorized",
    }
    if decline and DECLINES[decline].blocked:
        outcome.update(
            network_status="not_sent_to_network",
            reason="highest_risk_level",
            seller_message="Stripe blocked this payment as too risky.",
            type="blocked",
        )
    elif decline:
        outcome.update(
            network_status="declined_by_network",
            reason=decline,
            seller_message="The bank did not return any further details with this decline."
            if decline == "generic_decline"
            else f"The bank returned the decline code `{decline}`.",
            type="issuer_declined",
        )
    return outcome


def _charge_build(req, pi, pm, *, authenticated):
    charge_id = core.new_id("ch")
    card = pm["card"]
    manual = pi["capture_method"] == "manual"
    details = {
        "amount_authorized": pi["amount"],
        "brand": card["brand"],
        "checks": dict(card["checks"]),
        "country": card["country"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "extended_authorization": {"status": "disabled"},
        "fingerprint": card["fingerprint"],
        "funding": card["funding"],
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": card["last4"],
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": NETWORKS.get(card["brand"], card["brand"]),
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
        "three_d_secure": None,
        "wallet": None,
    }
    if details["checks"].get("cvc_check") == "unchecked":
        details["checks"]["cvc_check"] = "pass"
    if manual:
        details["capture_before"] = core.now() + UNCAPTURED_EXPIRY_SECONDS
    if authenticated:
        details["three_d_secure"] = {
            "authentication_flow": "challenge",
            "electronic_commerce_indicator": "05",
            "exemption_indicator": None,
            "result": "authenticated",
            "result_reason": None,
            "transaction_id": core.new_id("3ds", 24)[4:],
            "version": "2.2.0",
        }
    transfer_data = pi.get("transfer_data")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": pi.get("application_fee_amount"),
        "balance_transaction": None,
        "billing_details": _snapshot(pm["billing_details"]),
        "calculated_statement_descriptor": _statement_descriptor(pi),
        "captured": False,
        "created": core.now(),
        "currency": pi["currency"],
        "customer": pi.get("customer"),
        "description": pi.get("description"),
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "invoice": None,
        "livemode": False,
        "metadata": dict(pi.get("metadata") or {}),
        "on_behalf_of": pi.get("on_behalf_of"),
        "outcome": None,
        "paid": False,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {"card": details, "type": "card"},
        "radar_options": {},
        "receipt_email": pi.get("receipt_email"),
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": _snapshot(pi.get("shipping")),
        "source": None,
        "source_transfer": None,
        "statement_descriptor": pi.get("statement_descriptor"),
        "statement_descriptor_suffix": pi.get("statement_descriptor_suffix"),
        "status": "pending",
        "transfer_data": (
            {"amount": transfer_data.get("amount"), "destination": transfer_data["destination"]}
            if transfer_data
            else None
        ),
        "transfer_group": pi.get("transfer_group"),
    }


def _decline_error(decline, *, charge_id, pi, pm):
    code, message = DECLINES[decline].code, DECLINES[decline].message
    return {
        "charge": charge_id,
        "code": code,
        "decline_code": DECLINE_CODES.get(decline, decline),
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": message,
        "payment_method": _snapshot(pm),
        "type": "card_error",
    }


def _attempt_charge(req, pi, pm, *, authenticated=False, decline=None):
    """Send the payment to the card network: a charge that succeeds or is declined."""
    card = _card_of(pm)
    decline = decline or (card.decline if card else None)
    charge = _charge_build(req, pi, pm, authenticated=authenticated)
    charge["outcome"] = _outcome(card, decline)
    pi["latest_charge"] = charge["id"]
    if decline:
        code, message = DECLINES[decline].code, DECLINES[decline].message
        charge.update(status="failed", failure_code=code, failure_message=message)
        charge["payment_method_details"]["card"]["amount_authorized"] = None
        core.save(charge, account=req.account)
        error = _decline_error(decline, charge_id=charge["id"], pi=pi, pm=pm)
        pi["status"] = "requires_payment_method"
        pi["payment_method"] = None
        pi["last_payment_error"] = error
        core.save(pi, account=req.account)
        core.emit(req, "charge.failed", _snapshot(charge), account=req.account)
        core.emit(req, "payment_intent.payment_failed", _snapshot(pi), account=req.account)
        extra = {k: v for k, v in error.items() if k not in ("message", "code", "type")}
        raise Respond(CardError(message, code=code, payment_intent=_snapshot(pi), **extra))
    charge.update(status="succeeded", paid=True, receipt_url=_site_url("receipt", charge["id"]))
    manual = pi["capture_method"] == "manual"
    if not manual:
        _capture_charge(
            req, charge, pi["amount"], bypass_pending=bool(card and card.bypass_pending)
        )
        _connect_after_capture(req, charge)
    core.save(charge, account=req.account)
    pi["payment_method"] = pm["id"]
    if manual:
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
    else:
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
    if pi.get("setup_future_usage") and pi.get("customer") and not pm.get("customer"):
        customer = core.get(pi["customer"], kind="customer", account=req.account)
        _attach(req, pm, customer)
    core.save(pi, account=req.account)
    core.emit(req, "charge.succeeded", _snapshot(charge), account=req.account)
    if manual:
        core.emit(
            req, "payment_intent.amount_capturable_updated", _snapshot(pi), account=req.account
        )
    else:
        core.emit(req, "payment_intent.succeeded", _snapshot(pi), account=req.account)
        _dispute_after_capture(req, charge, card)
    return pi


def _capture_charge(req, charge, amount, *, bypass_pending=False):
    """Mark `amount` of an authorised charge captured and book it on the account's balance
    (available SETTLEMENT_DAYS later, or at once for the 4000000000000077 test card)."""
    fee = core.card_fee(amount, charge["currency"])
    txn = core.balance_transaction(
        account=req.account,
        amount=amount,
        currency=charge["currency"],
        type="charge",
        source=charge["id"],
        fee=fee,
        fee_details=[
            {
                "amount": fee,
                "application": None,
                "currency": charge["currency"],
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ],
        settles_in=0 if bypass_pending else core.SETTLEMENT_DAYS * DAY,
        description=charge.get("description"),
        reporting_category="charge",
    )
    charge["captured"] = True
    charge["amount_captured"] = amount
    charge["balance_transaction"] = txn["id"]
    if amount < charge["amount"]:
        # Stripe releases (refunds) the part of an authorisation that was not captured.
        charge["amount_refunded"] = charge["amount"] - amount
    details = charge["payment_method_details"]["card"]
    details.pop("capture_before", None)


def _connect_after_capture(req, charge):
    """Connect money that follows captured funds, before the charge's events go out: a
    destination charge transfers to its connected account (and raises its application fee); a
    direct charge on a connected account pays its application fee to the platform. Sets
    charge["transfer"] / charge["application_fee"]; the caller saves the charge."""
    if charge.get("transfer_data"):
        transfers.create_transfer_for_destination_charge(req, charge)
    elif req.account and charge.get("application_fee_amount"):
        fee = transfers.create_application_fee_for_direct_charge(req, charge, req.account)
        if fee is not None:
            # The connected account pays the fee out of the charge's own balance transaction.
            txn = core.get(
                charge["balance_transaction"], kind="balance_transaction", account=req.account
            )
            txn["fee"] += fee["amount"]
            txn["net"] = txn["amount"] - txn["fee"]
            txn["fee_details"].append(
                {
                    "amount": fee["amount"],
                    "application": fee["application"],
                    "currency": fee["currency"],
                    "description": "Application fee",
                    "type": "application_fee",
                }
            )
            core.save(txn, account=req.account)


def _dispute_after_capture(req, charge, card):
    """Stripe's dispute test cards are disputed right after the funds are captured."""
    if card is not None and card.dispute:
        dispute_create_for_charge(req, charge, reason=card.dispute)


@route("POST", "/v1/payment_intents/{id}/capture")
def payment_intent_capture(req, id):
    values = req.validate(
        {
            "amount_to_capture": Int(min=1),
            "application_fee_amount": Int(min=0),
            "final_capture": Bool(),
            "metadata": Metadata(),
            "statement_descriptor": Descriptor(),
            "statement_descriptor_suffix": Descriptor(),
            "transfer_data": Obj({"amount": Int(min=0)}),
        }
    )
    pi = _intent_get(req, id, lock=True)
    if pi["status"] != "requires_capture":
        raise _unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            "captured: requires_capture."
        )
    amount = values.get("amount_to_capture", pi["amount_capturable"])
    if amount > pi["amount_capturable"]:
        raise InvalidRequest(
            f"The amount_to_capture ({amount}) must be less than or equal to the "
            f"PaymentIntent's amount_capturable ({pi['amount_capturable']}).",
            param="amount_to_capture",
            code="amount_too_large",
        )
    if "application_fee_amount" in values:
        if not pi.get("transfer_data") and not req.account:
            raise InvalidRequest(
                "Can only apply an application_fee_amount when the PaymentIntent is attempting a "
                "direct payment or destination payment.",
                param="application_fee_amount",
            )
        if values["application_fee_amount"] > amount:
            raise InvalidRequest(
                "The application fee amount cannot be greater than the captured amount.",
                param="application_fee_amount",
            )
        pi["application_fee_amount"] = values["application_fee_amount"]
    if "transfer_data" in values:
        if not pi.get("transfer_data"):
            raise InvalidRequest(
                "This PaymentIntent has no transfer_data[destination].", param="transfer_data"
            )
        pi["transfer_data"]["amount"] = values["transfer_data"]["amount"]
    for key in ("statement_descriptor", "statement_descriptor_suffix"):
        if key in values:
            pi[key] = values[key]
    if "metadata" in values:
        pi["metadata"] = _merge_metadata(pi.get("metadata", {}), values["metadata"])
    charge = core.get(pi["latest_charge"], kind="charge", account=req.account, lock=True)
    charge["application_fee_amount"] = pi.get("application_fee_amount")
    if pi.get("transfer_data"):
        charge["transfer_data"] = {
            "amount": pi["transfer_data"].get("amount"),
            "destination": pi["transfer_data"]["destination"],
        }
    charge["calculated_statement_descriptor"] = _statement_descriptor(pi)
    card = _card_of(_payment_method_get(req, charge["payment_method"], param="payment_method"))
    _capture_charge(req, charge, amount, bypass_pending=bool(card and card.bypass_pending))
    _connect_after_capture(req, charge)
    core.save(charge, account=req.account)
    pi["status"] = "succeeded"
    pi["amount_received"] = amount
    pi["amount_capturable"] = 0
    core.save(pi, account=req.account)
    core.emit(req, "charge.captured", _snapshot(charge), account=req.account)
    core.emit(req, "payment_intent.succeeded", _snapshot(pi), account=req.account)
    _dispute_after_capture(req, charge, card)
    return _intent_get(req, id)


@route("POST", "/v1/payment_intents/{id}/cancel")
def payment_intent_cancel(req, id):
    values = req.validate(
        {
            "cancellation_reason": Str(
                choices=["abandoned", "duplicate", "fraudulent", "requested_by_customer"]
            )
        }
    )
    pi = _intent_get(req, id, lock=True)
    if pi["status"] not in PI_CANCELABLE:
        raise _unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
            "Only a PaymentIntent with one of the following statuses may be canceled: "
            f"{', '.join(PI_CANCELABLE)}."
        )
    return payment_intent_cancel_now(req, pi, reason=values.get("cancellation_reason"))


def payment_intent_cancel_now(req, pi, *, reason, expired=False):
    """Cancel a PaymentIntent; an uncaptured authorisation is released (refunded)."""
    charge = None
    if pi["status"] == "requires_capture":
        charge = core.get(pi["latest_charge"], kind="charge", account=req.account, lock=True)
        _release_authorisation(
            req,
            charge,
            pi["amount_capturable"],
            reason="expired_uncaptured_charge" if expired else None,
        )
    pi["status"] = "canceled"
    pi["canceled_at"] = core.now()
    pi["cancellation_reason"] = reason
    pi["amount_capturable"] = 0
    pi["next_action"] = None
    core.save(pi, account=req.account)
    if charge is not None:
        event = "charge.expired" if expired else "charge.refunded"
        core.emit(
            req,
            event,
            _snapshot(charge),
            account=req.account,
            previous_attributes={"amount_refunded": 0, "refunded": False} if not expired else None,
        )
    core.emit(req, "payment_intent.canceled", _snapshot(pi), account=req.account)
    return pi


def _release_authorisation(req, charge, amount, *, reason):
    refund = _refund_build(charge, amount, reason=reason, metadata={})
    refund["destination_details"] = {"card": {"type": "reversal"}, "type": "card"}
    core.save(refund, account=req.account)
    charge["amount_refunded"] = charge["amount"]
    charge["refunded"] = True
    core.save(charge, account=req.account)
    return refund


@route("GET", "/v1/payment_intents")
def payment_intent_list(req):
    values = req.validate(LIST_PARAMS | {"customer": Str()})
    return core.list_response(
        req,
        "payment_intent",
        url="/v1/payment_intents",
        account=req.account,
        filters={"customer": values.get("customer")},
    )


@core.due_rule("payment_intent")
def _uncaptured_expiry_due(pi, account):
    if pi["status"] != "requires_capture":
        return None
    # The authorisation's charge is saved before its PaymentIntent; its own creation is the
    # PaymentIntent's at the earliest.
    charged = (
        SandboxObject.objects.filter(stripe_id=pi.get("latest_charge"))
        .values_list("created", flat=True)
        .first()
    )
    return (charged or pi["created"]) + UNCAPTURED_EXPIRY_SECONDS


@core.on_tick("payment_intent")
def _expire_uncaptured_payment_intents(current):
    """An authorisation not captured within 7 days is released and its PaymentIntent canceled."""
    for pi in core.find("payment_intent", status="requires_capture"):
        charge = core.get_any(pi["latest_charge"])
        if charge["created"] + UNCAPTURED_EXPIRY_SECONDS > current:
            continue
        req = request_for(pi["id"], path="/stripe-sandbox/clock")
        locked = _intent_get(req, pi["id"], lock=True, param="id")
        if locked["status"] == "requires_capture":
            payment_intent_cancel_now(req, locked, reason="automatic", expired=True)


# --- Charges ------------------------------------------------------------------------------------


@route("GET", "/v1/charges/{id}")
def charge_retrieve(req, id):
    req.validate({})
    charge = core.get(id, kind="charge", account=req.account)

    def refunds():
        found = core.find("refund", account=req.account, charge=id)
        return {
            "object": "list",
            "data": found,
            "has_more": False,
            "url": f"/v1/charges/{id}/refunds",
        }

    # Since API 2022-11-15 a charge lists its refunds only when expand[]=refunds asks.
    return _expandable(req, charge, {"refunds": refunds})


@route("POST", "/v1/charges/{id}")
def charge_update(req, id):
    values = req.validate(
        {
            "customer": Str(),
            "description": Nullable(Str()),
            "fraud_details": Obj({"user_report": Str(choices=["", "fraudulent", "safe"])}),
            "metadata": Metadata(),
            "receipt_email": Nullable(Str()),
            "shipping": Nullable(SHIPPING),
            "transfer_group": Str(),
        }
    )
    charge = core.get(id, kind="charge", account=req.account, lock=True)
    before = _snapshot(charge)
    if "customer" in values:
        if charge.get("customer") and charge["customer"] != values["customer"]:
            raise InvalidRequest(
                "This charge already has a customer; it cannot be changed.", param="customer"
            )
        charge["customer"] = _customer(req, values["customer"])["id"]
    if "transfer_group" in values:
        if charge.get("transfer_group") and charge["transfer_group"] != values["transfer_group"]:
            raise InvalidRequest(
                "The transfer_group of a charge can only be set once.", param="transfer_group"
            )
        charge["transfer_group"] = values["transfer_group"]
    for key in ("description", "receipt_email"):
        if key in values:
            charge[key] = values[key]
    if "shipping" in values:
        charge["shipping"] = _shipping(values["shipping"])
    if "fraud_details" in values and values["fraud_details"].get("user_report"):
        charge["fraud_details"] = {"user_report": values["fraud_details"]["user_report"]}
    if "metadata" in values:
        charge["metadata"] = _merge_metadata(charge.get("metadata", {}), values["metadata"])
    core.save(charge, account=req.account)
    changed = {k: before[k] for k in charge if before.get(k) != charge[k]}
    if changed:
        core.emit(
            req,
            "charge.updated",
            _snapshot(charge),
            account=req.account,
            previous_attributes=changed,
        )
    return charge


@route("GET", "/v1/charges")
def charge_list(req):
    values = req.validate(
        LIST_PARAMS | {"customer": Str(), "payment_intent": Str(), "transfer_group": Str()}
    )
    return core.list_response(
        req,
        "charge",
        url="/v1/charges",
        account=req.account,
        filters={k: values.get(k) for k in ("customer", "payment_intent", "transfer_group")},
    )


@route("GET", "/v1/charges/{id}/refunds")
def charge_refund_list(req, id):
    req.validate(LIST_PARAMS)
    core.get(id, kind="charge", account=req.account)
    return core.list_response(
        req, "refund", url=f"/v1/charges/{id}/refunds", account=req.account, filters={"charge": id}
    )


@route("GET", "/v1/charges/{charge_id}/refunds/{id}")
def charge_refund_retrieve(req, charge_id, id):
    req.validate({})
    refund = core.get(id, kind="refund", account=req.account)
    if refund.get("charge") != charge_id:
        raise ResourceMissing("refund", id)
    return refund


# --- Refunds ------------------------------------------------------------------------------------


def _refund_build(charge, amount, *, reason, metadata):
    return {
        "id": core.new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": core.now(),
        "currency": charge["currency"],
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": metadata,
        "payment_intent": charge.get("payment_intent"),
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def _refunded_so_far(charge):
    """Money already given back on the captured part (not the released authorisation)."""
    return sum(
        refund["amount"]
        for refund in core.find("refund", charge=charge["id"])
        if refund["status"] in ("succeeded", "pending") and refund["balance_transaction"]
    )


@route("POST", "/v1/refunds")
def refund_create(req):
    values = req.validate(
        {
            "amount": Int(min=1),
            "charge": Str(),
            "currency": Str(),
            "customer": Str(),
            "instructions_email": Str(),
            "metadata": Metadata(),
            "origin": Str(choices=["customer_balance"]),
            "payment_intent": Str(),
            "reason": Str(choices=["duplicate", "fraudulent", "requested_by_customer"]),
            "refund_application_fee": Bool(),
            "reverse_transfer": Bool(),
        }
    )
    return refund_charge(req, values)


@route("POST", "/v1/charges/{id}/refunds")
def charge_refund_create(req, id):
    values = req.validate(
        {
            "amount": Int(min=1),
            "metadata": Metadata(),
            "reason": Str(choices=["duplicate", "fraudulent", "requested_by_customer"]),
            "refund_application_fee": Bool(),
            "reverse_transfer": Bool(),
        }
    )
    return refund_charge(req, values | {"charge": id})


def refund_charge(req, values):
    """Refund all or part of a captured charge (by charge or PaymentIntent)."""
    if values.get("origin"):
        raise InvalidRequest(
            "Customer balance refunds are not available in the Stripe sandbox.", param="origin"
        )
    if not values.get("charge") and not values.get("payment_intent"):
        raise InvalidRequest(
            "One of the following params should be provided for this request: payment_intent or "
            "charge."
        )
    if values.get("payment_intent"):
        pi = _intent_get(req, values["payment_intent"], param="payment_intent")
        if pi["status"] != "succeeded" or not pi.get("latest_charge"):
            raise InvalidRequest(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund."
                + (
                    " Cancel the PaymentIntent to release an uncaptured payment."
                    if pi["status"] == "requires_capture"
                    else ""
                ),
                param="payment_intent",
            )
        if values.get("charge") and values["charge"] != pi["latest_charge"]:
            raise InvalidRequest(
                f"The charge {values['charge']} does not belong to PaymentIntent {pi['id']}.",
                param="charge",
            )
        charge_id = pi["latest_charge"]
    else:
        charge_id = values["charge"]
    charge = core.get(charge_id, kind="charge", account=req.account, lock=True, param="charge")
    if charge["status"] != "succeeded" or not charge["captured"]:
        raise InvalidRequest(
            f"Charge {charge_id} has not been captured and cannot be refunded."
            if charge["status"] == "succeeded"
            else f"Charge {charge_id} did not succeed and cannot be refunded.",
            param="charge",
        )
    for dispute in core.find("dispute", account=req.account, charge=charge_id):
        if not dispute["is_charge_refundable"]:
            raise InvalidRequest(
                f"Charge {charge_id} has been charged back; cannot issue a refund.",
                code="charge_disputed",
                param="charge",
            )
    remaining = charge["amount_captured"] - _refunded_so_far(charge)
    if remaining <= 0:
        raise InvalidRequest(
            f"Charge {charge_id} has already been refunded.",
            code="charge_already_refunded",
            param="charge",
        )
    amount = values.get("amount", remaining)
    if amount > remaining:
        raise InvalidRequest(
            f"Refund amount ({format_amount(amount, charge['currency'])}) is greater than "
            f"unrefunded amount on charge ({format_amount(remaining, charge['currency'])})",
            param="amount",
        )
    if values.get("currency") and values["currency"].lower() != charge["currency"]:
        raise InvalidRequest("The refund currency must be the charge's currency.", param="currency")
    if values.get("reverse_transfer") and not charge.get("transfer_data"):
        raise InvalidRequest(
            "reverse_transfer can only be used when refunding a destination charge "
            "(a charge with transfer_data[destination]).",
            param="reverse_transfer",
        )
    if values.get("refund_application_fee") and not charge.get("application_fee"):
        raise InvalidRequest(
            "refund_application_fee can only be used when refunding a charge that has an "
            "application fee.",
            param="refund_application_fee",
        )
    refund = _refund_build(
        charge,
        amount,
        reason=values.get("reason"),
        metadata=_merge_metadata({}, values.get("metadata", {})),
    )
    txn = core.balance_transaction(
        account=req.account,
        amount=-amount,
        currency=charge["currency"],
        type="refund",
        source=refund["id"],
        description=f"REFUND FOR CHARGE ({charge.get('description') or charge_id})",
        reporting_category="refund",
    )
    refund["balance_transaction"] = txn["id"]
    core.save(refund, account=req.account)
    previous = {"amount_refunded": charge["amount_refunded"]}
    charge["amount_refunded"] += amount
    fully = _refunded_so_far(charge) >= charge["amount_captured"]
    if fully != charge["refunded"]:
        previous["refunded"] = charge["refunded"]
        charge["refunded"] = fully
    core.save(charge, account=req.account)
    if values.get("reverse_transfer"):
        reversal = transfers.reverse_for_refund(req, charge, amount, refund_id=refund["id"])
        if reversal is not None:
            refund["transfer_reversal"] = reversal["id"]
            core.save(refund, account=req.account)
    if values.get("refund_application_fee"):
        transfers.refund_application_fee_for_refund(req, charge, amount)
    core.emit(
        req, "charge.refunded", _snapshot(charge), account=req.account, previous_attributes=previous
    )
    core.emit(req, "refund.created", _snapshot(refund), account=req.account)
    return core.get(refund["id"], kind="refund", account=req.account)


@route("GET", "/v1/refunds/{id}")
def refund_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="refund", account=req.account)


@route("POST", "/v1/refunds/{id}")
def refund_update(req, id):
    values = req.validate({"metadata": Metadata()})
    refund = core.get(id, kind="refund", account=req.account, lock=True)
    if "metadata" in values:
        previous = {"metadata": dict(refund.get("metadata") or {})}
        refund["metadata"] = _merge_metadata(refund.get("metadata") or {}, values["metadata"])
        core.save(refund, account=req.account)
        if previous["metadata"] != refund["metadata"]:
            core.emit(
                req,
                "charge.refund.updated",
                _snapshot(refund),
                account=req.account,
                previous_attributes=previous,
            )
            core.emit(
                req,
                "refund.updated",
                _snapshot(refund),
                account=req.account,
                previous_attributes=previous,
            )
    return refund


@route("POST", "/v1/refunds/{id}/cancel")
def refund_cancel(req, id):
    req.validate({})
    refund = core.get(id, kind="refund", account=req.account)
    if refund["status"] != "requires_action":
        raise InvalidRequest(
            f"You can only cancel refunds with a status of `requires_action`. This refund has a "
            f"status of `{refund['status']}`; card refunds succeed immediately.",
        )
    return refund


@route("GET", "/v1/refunds")
def refund_list(req):
    values = req.validate(LIST_PARAMS | {"charge": Str(), "payment_intent": Str()})
    return core.list_response(
        req,
        "refund",
        url="/v1/refunds",
        account=req.account,
        filters={"charge": values.get("charge"), "payment_intent": values.get("payment_intent")},
    )


# --- Disputes -----------------------------------------------------------------------------------

# Each evidence field and the most characters it takes (Stripe's API reference). The file fields
# take the id of a file uploaded with purpose dispute_evidence (resources/files.py).
EVIDENCE_FILE_FIELDS = (
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
)
EVIDENCE_LONG_TEXT_FIELDS = (
    "access_activity_log",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "duplicate_charge_explanation",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "uncategorized_text",
)
EVIDENCE_SHORT_TEXT_FIELDS = (
    "billing_address",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_id",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
)
EVIDENCE_FIELDS = tuple(
    sorted(EVIDENCE_FILE_FIELDS + EVIDENCE_LONG_TEXT_FIELDS + EVIDENCE_SHORT_TEXT_FIELDS)
)
EVIDENCE_PARAMS = {
    **{name: Str(max_length=5000) for name in EVIDENCE_FILE_FIELDS + EVIDENCE_SHORT_TEXT_FIELDS},
    **{name: Str(max_length=20000) for name in EVIDENCE_LONG_TEXT_FIELDS},
}
# "The combined character count of all fields is limited to 150,000."
EVIDENCE_MAX_CHARACTERS = 150000
NETWORK_REASON_CODES = {
    "fraudulent": "10.4",
    "product_not_received": "13.1",
    "general": "4853",
    "inquiry": None,
}
DISPUTE_OPEN = ("needs_response", "warning_needs_response")
DISPUTE_UNDER_REVIEW = ("under_review", "warning_under_review")
DISPUTE_CLOSED = ("won", "lost", "warning_closed")


def dispute_create_for_charge(req, charge, *, reason="fraudulent"):
    """The cardholder disputes a captured charge (reason "inquiry" opens an inquiry instead).

    For a real dispute the disputed amount and a dispute fee leave the balance at once
    (charge.dispute.funds_withdrawn). Returns the dispute.
    """
    inquiry = reason == "inquiry"
    amount = charge["amount_captured"] or charge["amount"]
    dispute_id = core.new_id("dp")
    balance_transactions = []
    if not inquiry:
        txn = core.balance_transaction(
            account=req.account,
            amount=-amount,
            currency=charge["currency"],
            type="adjustment",
            source=dispute_id,
            fee=DISPUTE_FEE,
            fee_details=[
                {
                    "amount": DISPUTE_FEE,
                    "application": None,
                    "currency": charge["currency"],
                    "description": "Dispute fee",
                    "type": "stripe_fee",
                }
            ],
            description=f"Chargeback withdrawal for {charge['id']}",
            reporting_category="dispute",
        )
        balance_transactions.append(txn)
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": balance_transactions,
        "charge": charge["id"],
        "created": core.now(),
        "currency": charge["currency"],
        "evidence": dict.fromkeys(EVIDENCE_FIELDS),
        "evidence_details": {
            "due_by": core.now() + DISPUTE_RESPONSE_DAYS * DAY,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": inquiry,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge.get("payment_intent"),
        "payment_method_details": {
            "card": {
                "brand": charge["payment_method_details"]["card"]["brand"],
                "network_reason_code": NETWORK_REASON_CODES.get(reason),
            },
            "type": "card",
        },
        "reason": "general" if inquiry else reason,
        "status": "warning_needs_response" if inquiry else "needs_response",
    }
    core.save(dispute, account=req.account)
    charge["disputed"] = True
    core.save(charge, account=req.account)
    core.emit(req, "charge.dispute.created", _snapshot(dispute), account=req.account)
    if not inquiry:
        core.emit(req, "charge.dispute.funds_withdrawn", _snapshot(dispute), account=req.account)
    return dispute


@route("GET", "/v1/disputes/{id}")
def dispute_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="dispute", account=req.account)


@route("GET", "/v1/disputes")
def dispute_list(req):
    values = req.validate(LIST_PARAMS | {"charge": Str(), "payment_intent": Str()})
    return core.list_response(
        req,
        "dispute",
        url="/v1/disputes",
        account=req.account,
        filters={"charge": values.get("charge"), "payment_intent": values.get("payment_intent")},
    )


@route("POST", "/v1/disputes/{id}")
def dispute_update(req, id):
    values = req.validate(
        {"evidence": Obj(EVIDENCE_PARAMS), "metadata": Metadata(), "submit": Bool()}
    )
    dispute = core.get(id, kind="dispute", account=req.account, lock=True)
    before = _snapshot(dispute)
    touches_evidence = "evidence" in values or values.get("submit", "evidence" in values)
    if touches_evidence and dispute["status"] not in DISPUTE_OPEN:
        raise InvalidRequest(
            f"This dispute has a status of {dispute['status']}: evidence can no longer be "
            "changed or submitted.",
        )
    if "evidence" in values:
        for key, value in values["evidence"].items():
            if value and key in EVIDENCE_FILE_FIELDS:
                files.file_for_evidence(req, value, param=f"evidence[{key}]")
            dispute["evidence"][key] = value or None
        _check_evidence_size(dispute["evidence"])
        dispute["evidence_details"]["has_evidence"] = any(dispute["evidence"].values())
    if "metadata" in values:
        dispute["metadata"] = _merge_metadata(dispute["metadata"], values["metadata"])
    # Stripe submits the evidence unless submit=false stages it.
    if dispute["status"] in DISPUTE_OPEN and values.get("submit", True) and touches_evidence:
        dispute["status"] = (
            "warning_under_review" if dispute["status"].startswith("warning") else "under_review"
        )
        dispute["evidence_details"]["submission_count"] += 1
        dispute["evidence_details"]["has_evidence"] = True
    core.save(dispute, account=req.account)
    changed = core.previous_attributes(before, dispute)
    if changed:
        core.emit(
            req,
            "charge.dispute.updated",
            _snapshot(dispute),
            account=req.account,
            previous_attributes=changed,
        )
    if dispute["status"] in DISPUTE_UNDER_REVIEW:
        # Test mode: "winning_evidence" / "losing_evidence" decide the dispute at once.
        text = dispute["evidence"].get("uncategorized_text") or ""
        if "winning_evidence" in text:
            _dispute_close(req, dispute, won=True)
        elif "losing_evidence" in text:
            _dispute_close(req, dispute, won=False)
    return dispute


def _check_evidence_size(evidence):
    """Stripe's limits on a dispute's evidence as a whole: its text, and the files it names."""
    characters = sum(
        len(value) for key, value in evidence.items() if value and key not in EVIDENCE_FILE_FIELDS
    )
    if characters > EVIDENCE_MAX_CHARACTERS:
        raise InvalidRequest(
            f"The combined character count of all evidence fields is limited to "
            f"{EVIDENCE_MAX_CHARACTERS:,} ({characters:,} given).",
            param="evidence",
        )
    file_ids = {evidence[key] for key in EVIDENCE_FILE_FIELDS if evidence.get(key)}
    total = sum(core.get_any(file_id)["size"] for file_id in file_ids)
    if total > files.DISPUTE_EVIDENCE_TOTAL_SIZE:
        raise InvalidRequest(
            "The files you've attached to this dispute as evidence will exceed the limit for a "
            "dispute's total size. Try using smaller files as evidence. Hint: if you've attached "
            "images, you might want to try providing them in lower resolutions.",
            param="evidence",
        )


def _dispute_close(req, dispute, *, won):
    inquiry = dispute["status"].startswith("warning")
    if inquiry:
        dispute["status"] = "warning_closed"
    elif won:
        dispute["status"] = "won"
        withdrawn = -sum(t["amount"] for t in dispute["balance_transactions"])
        if withdrawn:
            txn = core.balance_transaction(
                account=req.account,
                amount=withdrawn,
                currency=dispute["currency"],
                type="adjustment",
                source=dispute["id"],
                description=f"Chargeback reversal for {dispute['charge']}",
                reporting_category="dispute_reversal",
            )
            dispute["balance_transactions"].append(txn)
    else:
        dispute["status"] = "lost"
    dispute["is_charge_refundable"] = False
    core.save(dispute, account=req.account)
    if dispute["status"] == "won":
        core.emit(req, "charge.dispute.funds_reinstated", _snapshot(dispute), account=req.account)
    core.emit(req, "charge.dispute.closed", _snapshot(dispute), account=req.account)
    return dispute


@route("POST", "/v1/disputes/{id}/close")
def dispute_close(req, id):
    req.validate({})
    dispute = core.get(id, kind="dispute", account=req.account, lock=True)
    if dispute["status"] in DISPUTE_CLOSED:
        raise InvalidRequest(f"This dispute is already closed (status {dispute['status']}).")
    if dispute["status"] in DISPUTE_UNDER_REVIEW:
        raise InvalidRequest(
            "This dispute's evidence has been submitted and is under review; it can no longer "
            "be closed (accepted)."
        )
    return _dispute_close(req, dispute, won=False)


def dispute_decide(dispute_id, *, won):
    """The card network decides a dispute now, as won or lost, whether or not evidence was
    submitted: what the control page and `manage.py stripe_sandbox dispute-close` do, with the
    balance transactions and events Stripe makes (an inquiry closes as warning_closed either
    way). Raises ResourceMissing for an unknown dispute, InvalidRequest for a closed one."""
    with transaction.atomic():
        req = request_for(dispute_id, path=f"/v1/disputes/{dispute_id}")
        dispute = core.get(dispute_id, kind="dispute", account=req.account, lock=True)
        if dispute["status"] in DISPUTE_CLOSED:
            raise InvalidRequest(f"This dispute is already closed (status {dispute['status']}).")
        return _dispute_close(req, dispute, won=won)


def dispute_open_on(charge_id, *, reason="fraudulent"):
    """The cardholder disputes an existing captured charge now (a test card disputes at
    capture; this is for a charge paid with another card). Raises ResourceMissing for an
    unknown charge, InvalidRequest when it is not captured or already disputed."""
    with transaction.atomic():
        req = request_for(charge_id, path=f"/v1/charges/{charge_id}")
        charge = core.get(charge_id, kind="charge", account=req.account, lock=True)
        if charge["status"] != "succeeded" or not charge["captured"]:
            raise InvalidRequest(f"Charge {charge_id} is not captured: it cannot be disputed.")
        if charge.get("disputed"):
            raise InvalidRequest(f"Charge {charge_id} is already disputed.")
        return dispute_create_for_charge(req, charge, reason=reason)


def disputes_open():
    """Disputes not yet decided (any account), the oldest response deadline first."""
    rows = SandboxObject.objects.filter(
        object_type="dispute", data__status__in=DISPUTE_OPEN + DISPUTE_UNDER_REVIEW
    )
    return rows.order_by("data__evidence_details__due_by", "id")


# --- Checkout Sessions (mode=payment) -----------------------------------------------------------

LINE_ITEM = Obj(
    {
        "price": Str(),
        "price_data": Obj(
            {
                "currency": Str(required=True),
                "product": Str(),
                "product_data": Obj(
                    {
                        "name": Str(required=True),
                        "description": Str(max_length=40000),
                        "images": List(Str()),
                        "metadata": Metadata(),
                        "tax_code": Str(),
                    }
                ),
                "unit_amount": Int(min=0),
                "unit_amount_decimal": Str(),
                "tax_behavior": Str(choices=["exclusive", "inclusive", "unspecified"]),
                "recurring": AnyObj(),
            }
        ),
        "quantity": Int(min=1),
        "adjustable_quantity": AnyObj(),
        "tax_rates": List(Str()),
        "dynamic_tax_rates": List(Str()),
    }
)
PAYMENT_INTENT_DATA = Obj(
    {
        "application_fee_amount": Int(min=0),
        "capture_method": Str(choices=["automatic", "automatic_async", "manual"]),
        "description": Str(max_length=1000),
        "metadata": Metadata(),
        "on_behalf_of": Str(),
        "receipt_email": Str(),
        "setup_future_usage": Str(choices=["off_session", "on_session"]),
        "shipping": SHIPPING,
        "statement_descriptor": Descriptor(),
        "statement_descriptor_suffix": Descriptor(),
        "transfer_data": TRANSFER_DATA,
        "transfer_group": Str(),
    }
)
CHECKOUT_CREATE = {
    "mode": Str(choices=["payment", "setup", "subscription"]),
    "line_items": List(LINE_ITEM),
    "success_url": Str(),
    "cancel_url": Str(),
    "customer": Str(),
    "customer_email": Str(),
    "customer_creation": Str(choices=["always", "if_required"]),
    "client_reference_id": Str(max_length=200),
    "metadata": Metadata(),
    "payment_intent_data": PAYMENT_INTENT_DATA,
    "expires_at": Int(),
    "payment_method_types": List(Str()),
    "currency": Str(),
    "locale": Str(),
    "submit_type": Str(choices=["auto", "book", "donate", "pay"]),
    "billing_address_collection": Str(choices=["auto", "required"]),
    "ui_mode": Str(choices=["embedded", "hosted"]),
}


def _line_items(req, values):
    if not values.get("line_items"):
        raise InvalidRequest(
            "Missing required param: line_items.", param="line_items", code="parameter_missing"
        )
    items, products = [], []
    for i, entry in enumerate(values["line_items"]):
        param = f"line_items[{i}]"
        if entry.get("price"):
            raise ResourceMissing("price", entry["price"], param=f"{param}[price]")
        data = entry.get("price_data")
        if not data:
            raise InvalidRequest(
                f"You must specify either `price` or `price_data` in {param}.", param=param
            )
        if data.get("recurring"):
            raise InvalidRequest(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param=f"{param}[price_data][recurring]",
            )
        if data.get("product"):
            raise ResourceMissing("product", data["product"], param=f"{param}[price_data][product]")
        if not data.get("product_data"):
            raise InvalidRequest(
                f"You must specify either `product` or `product_data` in {param}[price_data].",
                param=f"{param}[price_data]",
            )
        if "unit_amount" not in data:
            raise InvalidRequest(
                f"Missing required param: {param}[price_data][unit_amount].",
                param=f"{param}[price_data][unit_amount]",
                code="parameter_missing",
            )
        quantity = entry.get("quantity")
        if quantity is None:
            raise InvalidRequest(
                f"Missing required param: {param}[quantity].",
                param=f"{param}[quantity]",
                code="parameter_missing",
            )
        currency = _currency(data["currency"], param=f"{param}[price_data][currency]")
        product_data = data["product_data"]
        now = core.now()
        product = {
            "id": core.new_id("prod", 14),
            "object": "product",
            "active": False,
            "created": now,
            "default_price": None,
            "description": product_data.get("description"),
            "images": product_data.get("images", []),
            "livemode": False,
            "marketing_features": [],
            "metadata": _merge_metadata({}, product_data.get("metadata", {})),
            "name": product_data["name"],
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": product_data.get("tax_code"),
            "type": "service",
            "unit_label": None,
            "updated": now,
            "url": None,
        }
        price = {
            "id": core.new_id("price"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product["id"],
            "recurring": None,
            "tax_behavior": data.get("tax_behavior", "unspecified"),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": data["unit_amount"],
            "unit_amount_decimal": str(data["unit_amount"]),
        }
        subtotal = data["unit_amount"] * quantity
        items.append(
            {
                "id": core.new_id("li"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": subtotal,
                "amount_tax": 0,
                "amount_total": subtotal,
                "currency": currency,
                "description": product["name"],
                "price": price,
                "quantity": quantity,
            }
        )
        products.append(product)
    currencies = {item["currency"] for item in items}
    if len(currencies) > 1:
        raise InvalidRequest(
            "Line items must all use the same currency; found " + ", ".join(sorted(currencies)),
            param="line_items",
        )
    return items, products


def _checkout_state(session_id):
    state = _state_get(session_id)
    if not state:
        raise ResourceMissing("checkout.session", session_id)
    return state


@route("POST", "/v1/checkout/sessions")
def checkout_session_create(req):
    values = req.validate(CHECKOUT_CREATE)
    if not values.get("mode"):
        raise InvalidRequest(
            "Missing required param: mode.", param="mode", code="parameter_missing"
        )
    if values["mode"] != "payment":
        raise InvalidRequest(
            f"The Stripe sandbox supports Checkout in `payment` mode only, not `{values['mode']}`.",
            param="mode",
        )
    if values.get("ui_mode", "hosted") != "hosted":
        raise InvalidRequest(
            "The Stripe sandbox hosts Checkout pages only (ui_mode=hosted).", param="ui_mode"
        )
    if not values.get("success_url"):
        raise InvalidRequest(
            "Missing required param: success_url.", param="success_url", code="parameter_missing"
        )
    for key in ("success_url", "cancel_url"):
        if values.get(key) and not values[key].startswith(("http://", "https://")):
            raise InvalidRequest(
                f"Not a valid URL: {key} must be an http(s) URL.", param=key, code="url_invalid"
            )
    if values.get("customer") and values.get("customer_email"):
        raise InvalidRequest(
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer_email",
        )
    types = values.get("payment_method_types")
    if types is not None and any(t != "card" for t in types):
        raise InvalidRequest(
            "The Stripe sandbox's Checkout accepts cards only.", param="payment_method_types"
        )
    customer = _customer(req, values["customer"]) if values.get("customer") else None
    items, products = _line_items(req, values)
    currency = items[0]["currency"]
    if values.get("currency") and values["currency"].lower() != currency:
        raise InvalidRequest("The currency must match the line items' currency.", param="currency")
    total = sum(item["amount_total"] for item in items)
    _check_amount(total, currency, param="line_items")
    payment_intent_data = values.get("payment_intent_data", {})
    _check_connect(req, total, payment_intent_data, prefix="payment_intent_data")
    created = core.now()
    expires_at = values.get("expires_at", created + CHECKOUT_DEFAULT_TTL)
    if expires_at < created + CHECKOUT_MIN_TTL:
        raise InvalidRequest(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
            "creation.",
            param="expires_at",
        )
    if expires_at > created + CHECKOUT_DEFAULT_TTL:
        raise InvalidRequest(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    session_id = core.new_id("cs_test", 58)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": sum(item["amount_subtotal"] for item in items),
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": values.get("billing_address_collection"),
        "cancel_url": values.get("cancel_url"),
        "client_reference_id": values.get("client_reference_id"),
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer["id"] if customer else None,
        "customer_creation": None if customer else values.get("customer_creation", "if_required"),
        "customer_details": None,  # filled in when the customer completes the session
        "customer_email": values.get("customer_email"),
        "expires_at": expires_at,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": values.get("locale"),
        "metadata": _merge_metadata({}, values.get("metadata", {})),
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_details": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": values.get("submit_type"),
        "subscription": None,
        "success_url": values["success_url"],
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": _site_url("checkout", session_id),
    }
    for product in products:
        core.save(product, account=req.account)
    core.save(session, account=req.account)
    _state_put(
        session_id, {"line_items": items, "payment_intent_data": payment_intent_data}, req.account
    )
    return session


def _session_get(req, session_id, *, lock=False):
    return core.get(
        session_id, kind="checkout.session", account=req.account, lock=lock, param="session"
    )


@route("GET", "/v1/checkout/sessions/{id}")
def checkout_session_retrieve(req, id):
    req.validate({})
    expand = req.params.get("expand") or []

    def line_items():
        items = _snapshot(_checkout_state(id)["line_items"])
        if "line_items.data.discounts" in expand or "line_items.data.taxes" in expand:
            for item in items:
                item.update(discounts=[], taxes=[])
        return {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{id}/line_items",
        }

    session = _expandable(req, _session_get(req, id), {"line_items": line_items})
    if "total_details.breakdown" in expand and session.get("total_details"):
        session = _snapshot(session)
        session["total_details"]["breakdown"] = {"discounts": [], "taxes": []}
    return session


@route("GET", "/v1/checkout/sessions")
def checkout_session_list(req):
    values = req.validate(
        LIST_PARAMS
        | {
            "customer": Str(),
            "payment_intent": Str(),
            "payment_link": Str(),
            "status": Str(choices=["complete", "expired", "open"]),
            "subscription": Str(),
            "customer_details": Obj({"email": Str(required=True)}),
        }
    )
    email = (values.get("customer_details") or {}).get("email")
    return core.list_response(
        req,
        "checkout.session",
        url="/v1/checkout/sessions",
        account=req.account,
        filters={k: values.get(k) for k in ("customer", "payment_intent", "status")},
        predicate=(lambda s: (s.get("customer_details") or {}).get("email") == email)
        if email
        else None,
    )


@route("GET", "/v1/checkout/sessions/{id}/line_items")
def checkout_session_line_items(req, id):
    req.validate(LIST_PARAMS)
    _session_get(req, id)
    return _paginate(
        req, _checkout_state(id)["line_items"], f"/v1/checkout/sessions/{id}/line_items"
    )


@route("POST", "/v1/checkout/sessions/{id}/expire")
def checkout_session_expire(req, id):
    req.validate({})
    session = _session_get(req, id, lock=True)
    if session["status"] != "open":
        raise InvalidRequest(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
        )
    return checkout_session_expire_now(req, session)


def checkout_session_expire_now(req, session):
    if session.get("payment_intent"):
        pi = _intent_get(req, session["payment_intent"], lock=True, param="payment_intent")
        if pi["status"] in PI_CANCELABLE:
            payment_intent_cancel_now(req, pi, reason="abandoned")
    session["status"] = "expired"
    session["url"] = None
    core.save(session, account=req.account)
    core.emit(req, "checkout.session.expired", _snapshot(session), account=req.account)
    return session


@core.due_rule("checkout.session")
def _checkout_session_due(session, account):
    return session["expires_at"] if session["status"] == "open" else None


@core.on_tick("checkout.session")
def _expire_checkout_sessions(current):
    """Open sessions past their expires_at expire (checkout.session.expired)."""
    for session in core.find("checkout.session", status="open"):
        if session["expires_at"] > current:
            continue
        req = request_for(session["id"], path="/stripe-sandbox/clock")
        locked = _session_get(req, session["id"], lock=True)
        if locked["status"] == "open":
            checkout_session_expire_now(req, locked)


# --- The hosted checkout page's actions ---------------------------------------------------------


@dataclass
class CheckoutPage:
    """What the hosted page shows for a session."""

    session: dict
    line_items: list
    payment_intent: dict | None
    payment_method: dict | None
    account: str

    @property
    def needs_authentication(self):
        return bool(self.payment_intent) and self.payment_intent["status"] == "requires_action"

    @property
    def last_error(self):
        if self.payment_intent and self.payment_intent.get("last_payment_error"):
            return self.payment_intent["last_payment_error"]["message"]
        return None

    @property
    def last_error_code(self):
        if self.payment_intent and self.payment_intent.get("last_payment_error"):
            return self.payment_intent["last_payment_error"].get("code")
        return None


@dataclass
class CheckoutOutcome:
    """The result of paying on the hosted page: where to go next or what to tell the customer."""

    status: str  # "paid", "requires_action", "declined", "closed"
    redirect_url: str | None = None
    message: str | None = None
    payment_intent: dict | None = None
    code: str | None = None  # Stripe's error code with `message` (payment_intent_authentication_…)


def checkout_page_state(session_id):
    """The session, its line items and its PaymentIntent, for the hosted page (404 if unknown)."""
    core.tick()
    account = _account_of(session_id)
    session = core.get(session_id, kind="checkout.session", account=account)
    pi = pm = None
    if session.get("payment_intent"):
        pi = core.get(session["payment_intent"], kind="payment_intent", account=account)
    if pi and pi.get("payment_method"):
        pm = core.get(pi["payment_method"], kind="payment_method", account=account)
    return CheckoutPage(
        session=session,
        line_items=_checkout_state(session_id)["line_items"],
        payment_intent=pi,
        payment_method=pm,
        account=account,
    )


def checkout_prefilled_email(session):
    """The email the session already knows (customer_email, or its customer's), if any."""
    if session.get("customer_email"):
        return session["customer_email"]
    if session.get("customer"):
        customer = core.find("customer", id=session["customer"])
        if customer and not customer[0].get("deleted"):
            return customer[0].get("email")
    return None


def _success_url(session):
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


def checkout_success_url(session):
    """Where Checkout sends the customer after paying ({CHECKOUT_SESSION_ID} filled in)."""
    return _success_url(session)


def merchant_name(account):
    """The business the hosted pages name: the platform's, or the connected account's."""
    try:
        owner = core.get(account, kind="account") if account else platform_account()
    except ResourceMissing:
        return "Stripe sandbox"
    profile = owner.get("business_profile") or {}
    dashboard = (owner.get("settings") or {}).get("dashboard") or {}
    return profile.get("name") or dashboard.get("display_name") or owner.get("email") or owner["id"]


def _checkout_intent(req, session):
    """The session's PaymentIntent: made at the first payment attempt, reused on retries."""
    if session.get("payment_intent"):
        return _intent_get(req, session["payment_intent"], lock=True, param="payment_intent")
    data = _checkout_state(session["id"]).get("payment_intent_data", {})
    values = {
        "amount": session["amount_total"],
        "currency": session["currency"],
        "payment_method_types": ["card"],
        "confirm": True,
        **data,
    }
    if session.get("customer"):
        values["customer"] = session["customer"]
    pi = payment_intent_build(req, values)
    core.save(pi, account=req.account)
    core.emit(req, "payment_intent.created", _snapshot(pi), account=req.account)
    session["payment_intent"] = pi["id"]
    core.save(session, account=req.account)
    return pi


def _checkout_complete(req, session, pi, *, email=None, name=None):
    session["status"] = "complete"
    # An authorisation waiting for capture is not money received yet.
    session["payment_status"] = "paid" if pi["status"] == "succeeded" else "unpaid"
    session["url"] = None
    session["customer_details"] = {
        "address": None,
        "email": checkout_prefilled_email(session) or email,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    core.save(session, account=req.account)
    core.emit(req, "checkout.session.completed", _snapshot(session), account=req.account)
    return CheckoutOutcome("paid", redirect_url=_success_url(session), payment_intent=pi)


def _page_action(fn):
    """A hosted-page action never fails with a 500: a refusal other than a card decline (which
    keeps its state) rolls the attempt back and is shown to the customer."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StripeSandboxError as exc:
            return CheckoutOutcome("declined", message=exc.message)

    return run


@_page_action
def checkout_session_pay(
    session_id, *, card_number, exp_month, exp_year, cvc="", email=None, name=None
):
    """Pay an open session with a test card typed on the hosted page.

    A decline keeps what happened (the PaymentIntent, the failed charge, the events) and leaves
    the session open for another card.
    """
    core.tick()
    req = request_for(session_id, path=f"/stripe-sandbox/checkout/{session_id}/")
    with transaction.atomic():
        session = _session_get(req, session_id, lock=True)
        if session["status"] != "open":
            return CheckoutOutcome("closed", message=f"This session is {session['status']}.")
        card = card_for_number(card_number)
        if card is None:
            return CheckoutOutcome(
                "declined",
                message="Your card was declined. Your request was in test mode, but used a non "
                "test card. For a list of valid test cards, visit: "
                "https://stripe.com/docs/testing.",
            )
        pi = _checkout_intent(req, session)
        if pi["status"] == "requires_action":
            return CheckoutOutcome("requires_action", payment_intent=pi)
        billing = {
            "email": checkout_prefilled_email(session) or email,
            "name": name,
        }
        pm = _payment_method_from_card(
            req, card, exp_month=exp_month, exp_year=exp_year, billing=billing, cvc_given=bool(cvc)
        )
        try:
            pi = _confirm(req, pi, pm, {"return_url": _success_url(session)})
        except Respond as declined:
            return CheckoutOutcome(
                "declined",
                message=declined.error.message,
                code=declined.error.code,
                payment_intent=_intent_get(req, pi["id"]),
            )
        if pi["status"] == "requires_action":
            _state_put(session_id, {**_checkout_state(session_id), "payer": billing}, req.account)
            return CheckoutOutcome("requires_action", payment_intent=pi)
        return _checkout_complete(req, session, pi, email=billing["email"], name=name)


@_page_action
def checkout_session_authenticate(session_id, *, succeed):
    """The customer completes or fails the 3D Secure step shown on the hosted page."""
    core.tick()
    req = request_for(session_id, path=f"/stripe-sandbox/checkout/{session_id}/authenticate/")
    with transaction.atomic():
        session = _session_get(req, session_id, lock=True)
        if session["status"] != "open":
            return CheckoutOutcome("closed", message=f"This session is {session['status']}.")
        if not session.get("payment_intent"):
            return CheckoutOutcome("declined", message="There is no payment to authenticate.")
        pi = _intent_get(req, session["payment_intent"], param="payment_intent")
        if pi["status"] != "requires_action":
            return CheckoutOutcome(
                "declined", message="There is no payment to authenticate.", payment_intent=pi
            )
        try:
            pi = payment_intent_authenticate(req, pi["id"], succeed=succeed)
        except Respond as declined:
            return CheckoutOutcome(
                "declined",
                message=declined.error.message,
                code=declined.error.code,
                payment_intent=_intent_get(req, pi["id"]),
            )
        if pi["status"] == "requires_payment_method":
            return CheckoutOutcome(
                "declined",
                message=pi["last_payment_error"]["message"],
                code=pi["last_payment_error"].get("code"),
                payment_intent=pi,
            )
        payer = _checkout_state(session_id).get("payer") or {}
        return _checkout_complete(
            req, session, pi, email=payer.get("email"), name=payer.get("name")
        )


def hosted_authentication(pi_id, *, succeed):
    """The 3D Secure page of a PaymentIntent confirmed through the API.

    Returns (payment_intent, redirect_url or None): Stripe sends the customer back to the
    return_url with payment_intent, payment_intent_client_secret and redirect_status.
    """
    core.tick()
    req = request_for(pi_id, path=f"/stripe-sandbox/authenticate/{pi_id}/")
    with transaction.atomic():
        pi = _intent_get(req, pi_id, param="id")
        action = pi.get("next_action") or {}
        return_url = (action.get("redirect_to_url") or {}).get("return_url")
        if pi["status"] == "requires_action":
            try:
                with transaction.atomic():
                    try:
                        pi = payment_intent_authenticate(req, pi_id, succeed=succeed)
                    except Respond:  # declined after authentication: keep the failed charge
                        pi = _intent_get(req, pi_id, param="id")
            except StripeSandboxError:
                pi = _intent_get(req, pi_id, param="id")  # rolled back: still requires_action
    if not return_url:
        return pi, None
    status = "failed" if pi["status"] == "requires_payment_method" else "succeeded"
    query = urlencode(
        {
            "payment_intent": pi["id"],
            "payment_intent_client_secret": pi["client_secret"],
            "redirect_status": status,
        }
    )
    return pi, f"{return_url}{'&' if '?' in return_url else '?'}{query}"


def payment_intent_for_page(pi_id):
    """A PaymentIntent and its PaymentMethod for the sandbox's authentication page (or 404)."""
    core.tick()
    account = _account_of(pi_id)
    pi = core.get(pi_id, kind="payment_intent", account=account)
    pm = (
        (core.find("payment_method", id=pi["payment_method"]) or [None])[0]
        if pi.get("payment_method")
        else None
    )
    return pi, pm


def receipt_for_page(charge_id):
    """A charge and its refunds, for the sandbox's receipt page (404 if unknown)."""
    account = _account_of(charge_id)
    charge = core.get(charge_id, kind="charge", account=account)
    refunds = list(reversed(core.find("refund", account=account, charge=charge_id)))
    return charge, refunds
