"""Balance and balance transactions: what an account holds, derived from its balance transactions.

Every money movement in the sandbox writes balance transactions (core.balance_transaction); the
balance is their sum per currency, split by whether `available_on` has passed on the sandbox
clock. Stripe-Account scopes both endpoints to that connected account.
"""

import re

from stripe_sandbox import core
from stripe_sandbox.errors import InvalidRequest
from stripe_sandbox.models import SandboxObject
from stripe_sandbox.params import LIST_PARAMS, Param, Str
from stripe_sandbox.resources.accounts import PLATFORM_ACCOUNT_ID, platform_account
from stripe_sandbox.router import route

_CURRENCY = re.compile(r"^[a-z]{3}$")


def currency_param(value, param="currency"):
    """Stripe takes currencies in any case and answers in lower case; junk is a 400."""
    currency = (value or "").lower()
    if not _CURRENCY.match(currency):
        raise InvalidRequest(f"Invalid currency: {value}", param=param)
    return currency


def account_object(account):
    """The account object behind a balance: the platform's own, or the connected account."""
    if account == core.PLATFORM:
        return platform_account()
    return core.get(account, kind="account")


def lock_balance(account):
    """Serialise money leaving `account` (transfers, payouts): lock its account row first, so two
    concurrent requests cannot both spend the same available funds."""
    account_object(account)  # the platform's row is made on first use
    stripe_id = account or PLATFORM_ACCOUNT_ID
    SandboxObject.objects.select_for_update().filter(stripe_id=stripe_id).first()


def available_amount(account, currency):
    return core.balance_of(account)["available"].get(currency, 0)


def pending_amount(account, currency):
    return core.balance_of(account)["pending"].get(currency, 0)


def instant_available_amount(account, currency):
    """What Instant Payouts can send now: the available balance plus card funds still settling
    (Stripe advances those for instant payouts), never below zero."""
    amounts = core.balance_of(account)
    total = amounts["available"].get(currency, 0) + amounts["pending"].get(currency, 0)
    return max(total, 0)


def _amounts(by_currency, currencies):
    return [
        {
            "amount": by_currency.get(c, 0),
            "currency": c,
            "source_types": {"card": by_currency.get(c, 0)},
        }
        for c in currencies
    ]


def balance_object(account):
    """Stripe's balance object for `account` (core.PLATFORM for the platform)."""
    amounts = core.balance_of(account)
    default = (account_object(account).get("default_currency") or "usd").lower()
    others = sorted((set(amounts["available"]) | set(amounts["pending"])) - {default})
    currencies = [default, *others]
    balance = {
        "object": "balance",
        "available": _amounts(amounts["available"], currencies),
        "livemode": False,
        "pending": _amounts(amounts["pending"], currencies),
    }
    if account == core.PLATFORM:
        # Funds held back for connected accounts' negative balances: the sandbox keeps none.
        balance["connect_reserved"] = [{"amount": 0, "currency": c} for c in currencies]
    else:
        instant = {c: instant_available_amount(account, c) for c in currencies}
        balance["instant_available"] = _amounts(instant, currencies)
    return balance


@route("GET", "/v1/balance")
def balance_retrieve(req):
    req.validate({})
    return balance_object(req.account)


# --- Balance transactions -----------------------------------------------------------------------

BALANCE_TRANSACTION_FILTERS = LIST_PARAMS | {
    "type": Str(),
    "source": Str(),
    "payout": Str(),
    "currency": Str(),
    "created": Param(),
}


def _balance_transaction_list(req, url):
    values = req.validate(BALANCE_TRANSACTION_FILTERS)
    filters = {"type": values.get("type"), "source": values.get("source")}
    if values.get("currency"):
        filters["currency"] = currency_param(values["currency"])
    if values.get("payout"):
        # Manual payouts: the transactions the payout itself made (payout, failure, cancel).
        core.get(values["payout"], kind="payout", account=req.account, param="payout")
        filters["source"] = values["payout"]
    return core.list_response(
        req, "balance_transaction", url=url, account=req.account, filters=filters
    )


@route("GET", "/v1/balance_transactions")
def balance_transaction_list(req):
    return _balance_transaction_list(req, "/v1/balance_transactions")


@route("GET", "/v1/balance_transactions/{id}")
def balance_transaction_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="balance_transaction", account=req.account)


# The older names of the same endpoints, still served by Stripe.
@route("GET", "/v1/balance/history")
def balance_history_list(req):
    return _balance_transaction_list(req, "/v1/balance/history")


@route("GET", "/v1/balance/history/{id}")
def balance_history_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="balance_transaction", account=req.account)
