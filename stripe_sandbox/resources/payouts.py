"""Payouts: money from an account's Stripe balance to its bank account (or debit card).

A payout is on the account that pays out: a connected account with Stripe-Account, or the
platform. It takes the money at once (balance transaction "payout"), then moves on the sandbox
clock: pending -> in_transit (an hour later; instant payouts straight away) -> paid at
arrival_date (standard: two days, instant: thirty minutes). Stripe's failing US test bank
accounts (routing 110000000, account 000111111116 and the like) make it fail at arrival with the
failure code Stripe documents for that number: the money comes back ("payout_failure") and the
bank account is marked errored.
"""

from stripe_sandbox import core
from stripe_sandbox.errors import InvalidRequest, ResourceMissing
from stripe_sandbox.models import SandboxObject
from stripe_sandbox.params import LIST_PARAMS, Int, Metadata, Param, Str
from stripe_sandbox.resources.accounts import PLATFORM_ACCOUNT_ID
from stripe_sandbox.resources.balance import (
    account_object,
    available_amount,
    currency_param,
    instant_available_amount,
    lock_balance,
)
from stripe_sandbox.resources.transfers import merge_metadata
from stripe_sandbox.router import route

MINUTE = 60
DAY = 24 * 60 * MINUTE
ARRIVAL_AFTER = {"standard": 2 * DAY, "instant": 30 * MINUTE}
IN_TRANSIT_AFTER = {"standard": 60 * MINUTE, "instant": 0}
# Stripe's US test bank accounts whose payouts fail, by last4 of 000111111116 etc.
# (stripe.com/docs/connect/testing#payouts), with the failure code and message Stripe gives.
TEST_ROUTING_NUMBER = "110000000"
FAILING_BANK_ACCOUNTS = {
    "1116": (
        "no_account",
        "The bank account details on file are probably incorrect. No bank account could be "
        "located with those details.",
    ),
    "1113": ("account_closed", "The bank account has been closed."),
    "2227": (
        "insufficient_funds",
        "Your Stripe account has insufficient funds to cover the payout.",
    ),
    "3335": (
        "debit_not_authorized",
        "Debit transactions are not approved on the bank account. (Stripe requires bank accounts "
        "to be set up for both credit and debit payouts.)",
    ),
    "4440": (
        "invalid_currency",
        "The bank was unable to process this payout because of its currency. This is probably "
        "because the bank account cannot accept payments in that currency.",
    ),
}

INSUFFICIENT_FUNDS = (
    "You have insufficient funds in your Stripe account for this transfer. Your card balance is "
    "too low. You can use the /v1/balance endpoint to view your Stripe balance (for more "
    "details, see stripe.com/docs/api#balance)."
)


# --- Where the money goes -----------------------------------------------------------------------


def _external_accounts(account):
    """The account's bank accounts and cards: its embedded list, or the stored objects."""
    embedded = (account.get("external_accounts") or {}).get("data") or []
    if embedded:
        return embedded
    stored = core.find("bank_account", account=account["id"]) + core.find(
        "card", account=account["id"]
    )
    return [external for external in stored if external.get("account") == account["id"]]


def _platform_bank_account(account):
    """The platform pays out to a test bank account, added on its first payout."""
    bank = {
        "id": core.new_id("ba"),
        "object": "bank_account",
        "account": PLATFORM_ACCOUNT_ID,
        "account_holder_name": "Bazaar",
        "account_holder_type": "company",
        "account_type": None,
        "available_payout_methods": ["standard", "instant"],
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": account.get("default_currency") or "usd",
        "default_for_currency": True,
        "fingerprint": core.new_id("fp", 16)[3:],
        "last4": "6789",
        "metadata": {},
        "routing_number": "110000000",
        "status": "new",
    }
    external = account.get("external_accounts") or core.embedded_list(
        f"/v1/accounts/{PLATFORM_ACCOUNT_ID}/external_accounts"
    )
    external["data"] = [bank]
    external["total_count"] = 1
    account["external_accounts"] = external
    core.save(account, account="platform")
    return bank


def _destination(req, account, currency, requested):
    """The external account a payout goes to: the one asked for, or the default for currency."""
    found = _external_accounts(account)
    if not found and req.account == core.PLATFORM:
        found = [_platform_bank_account(account)]
    if requested:
        for external in found:
            if external["id"] == requested:
                if external.get("currency") != currency:
                    raise InvalidRequest(
                        f"The currency of the external account {requested} "
                        f"({external.get('currency')}) does not match the payout currency "
                        f"({currency}).",
                        param="destination",
                    )
                return external
        raise ResourceMissing("external account", requested, param="destination")
    same_currency = [e for e in found if e.get("currency") == currency]
    for external in same_currency:
        if external.get("default_for_currency"):
            return external
    if same_currency:
        return same_currency[0]
    raise InvalidRequest(
        f"Sorry, you don't have any external accounts in that currency ({currency}).",
        param="currency",
    )


# --- Payouts ------------------------------------------------------------------------------------

PAYOUT_CREATE = {
    "amount": Int(required=True, min=1),
    "currency": Str(required=True),
    "description": Str(),
    "destination": Str(),
    "metadata": Metadata(),
    "method": Str(choices=["standard", "instant"]),
    "source_type": Str(choices=["bank_account", "card", "fpx"]),
    "statement_descriptor": Str(max_length=22),
}


@route("POST", "/v1/payouts")
def payout_create(req):
    values = req.validate(PAYOUT_CREATE)
    amount = values["amount"]
    currency = currency_param(values["currency"])
    method = values.get("method", "standard")
    account = account_object(req.account)
    if not account.get("payouts_enabled"):
        raise InvalidRequest(
            "Payouts have been disabled on the connected account (payouts_enabled is false). "
            "Check its requirements: the account has to finish onboarding before it can be "
            "paid out.",
            code="payouts_not_allowed",
        )
    destination = _destination(req, account, currency, values.get("destination"))
    if method == "instant" and "instant" not in (
        destination.get("available_payout_methods") or ["standard", "instant"]
    ):
        raise InvalidRequest(
            f"The external account {destination['id']} does not support instant payouts.",
            param="method",
            code="instant_payouts_unsupported",
        )
    lock_balance(req.account)
    if values.get("source_type", "card") != "card":
        spendable = 0  # the sandbox only holds card funds
    elif method == "instant":
        spendable = instant_available_amount(req.account, currency)
    else:
        spendable = available_amount(req.account, currency)
    if spendable < amount:
        raise InvalidRequest(INSUFFICIENT_FUNDS, param="amount", code="balance_insufficient")

    created = core.now()
    payout_id = core.new_id("po")
    txn = core.balance_transaction(
        account=req.account,
        amount=-amount,
        currency=currency,
        type="payout",
        source=payout_id,
        description=values.get("description") or "STRIPE PAYOUT",
        reporting_category="payout",
    )
    payout = {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": created + ARRIVAL_AFTER[method],
        "automatic": False,
        "balance_transaction": txn["id"],
        "created": created,
        "currency": currency,
        "description": values.get("description"),
        "destination": destination["id"],
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": values.get("metadata", {}),
        "method": method,
        "original_payout": None,
        "reconciliation_status": "not_applicable",  # only automatic payouts are reconciled
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": values.get("statement_descriptor"),
        "status": "pending",
        "type": "card" if destination.get("object") == "card" else "bank_account",
    }
    core.save(payout, account=req.account)
    core.emit(req, "payout.created", payout, account=req.account)
    return payout


@route("GET", "/v1/payouts/{id}")
def payout_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="payout", account=req.account)


@route("POST", "/v1/payouts/{id}")
def payout_update(req, id):
    values = req.validate({"metadata": Metadata()})
    payout = core.get(id, kind="payout", account=req.account, lock=True)
    metadata = merge_metadata(payout["metadata"], req, values)
    if metadata != payout["metadata"]:
        previous = {"metadata": payout["metadata"]}
        payout["metadata"] = metadata
        core.save(payout, account=req.account)
        core.emit(req, "payout.updated", payout, account=req.account, previous_attributes=previous)
    return payout


@route("POST", "/v1/payouts/{id}/cancel")
def payout_cancel(req, id):
    req.validate({})
    payout = core.get(id, kind="payout", account=req.account, lock=True)
    if payout["method"] == "instant":
        raise InvalidRequest("Instant payouts cannot be canceled.", param="payout")
    if payout["status"] != "pending":
        raise InvalidRequest(
            f"Payout {id} cannot be canceled: it is {payout['status']}. Only pending payouts can "
            "be canceled.",
            param="payout",
        )
    txn = core.balance_transaction(
        account=req.account,
        amount=payout["amount"],
        currency=payout["currency"],
        type="payout_cancel",
        source=payout["id"],
        description="Payout cancellation",
        reporting_category="payout_reversal",
    )
    payout["status"] = "canceled"
    payout["failure_balance_transaction"] = txn["id"]
    core.save(payout, account=req.account)
    core.emit(
        req,
        "payout.canceled",
        payout,
        account=req.account,
        previous_attributes={"status": "pending"},
    )
    return payout


def _arrival_matches(spec):
    if spec in (None, ""):
        return None
    if isinstance(spec, dict):
        bounds = {op: int(spec[op]) for op in ("gt", "gte", "lt", "lte") if op in spec}
        checks = {
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }
        return lambda payout: all(checks[op](payout["arrival_date"], v) for op, v in bounds.items())
    exact = int(spec)
    return lambda payout: payout["arrival_date"] == exact


@route("GET", "/v1/payouts")
def payout_list(req):
    values = req.validate(
        LIST_PARAMS | {"arrival_date": Param(), "destination": Str(), "status": Str()}
    )
    try:
        predicate = _arrival_matches(values.get("arrival_date"))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(
            "Invalid arrival_date: must be an integer or a range hash.", param="arrival_date"
        ) from exc
    return core.list_response(
        req,
        "payout",
        url="/v1/payouts",
        account=req.account,
        filters={"status": values.get("status"), "destination": values.get("destination")},
        predicate=predicate,
    )


# --- The clock moves payouts on -----------------------------------------------------------------


def _failure_for(account_id, destination_id):
    """(failure_code, failure_message) if the payout's bank account is a failing test account."""
    try:
        account = account_object(account_id)
    except ResourceMissing:
        return None
    for external in _external_accounts(account):
        if external["id"] == destination_id:
            if external.get("object") != "bank_account" or external.get("routing_number") not in (
                TEST_ROUTING_NUMBER,
                None,
            ):
                return None
            return FAILING_BANK_ACCOUNTS.get(external.get("last4"))
    return None


def _mark_bank_account_errored(account_id, destination_id):
    """After a failed payout Stripe marks the bank account errored until it is updated."""
    stripe_id = account_id or PLATFORM_ACCOUNT_ID
    row = SandboxObject.objects.select_for_update().filter(stripe_id=stripe_id).first()
    if row is None:
        return
    account = row.data
    for external in _external_accounts(account):
        if external["id"] == destination_id and external.get("status") != "errored":
            previous = {"status": external.get("status")}
            external["status"] = "errored"
            row.data = account
            row.save(update_fields=["data"])
            standalone = SandboxObject.objects.filter(stripe_id=destination_id).first()
            if standalone is not None:
                standalone.data["status"] = "errored"
                standalone.save(update_fields=["data"])
            if account_id:
                core.emit(
                    None,
                    "account.external_account.updated",
                    external,
                    account=account_id,
                    previous_attributes=previous,
                )
            return


def _fail(row, payout, failure):
    txn = core.balance_transaction(
        account=row.account,
        amount=payout["amount"],
        currency=payout["currency"],
        type="payout_failure",
        source=payout["id"],
        description="Payout failure",
        reporting_category="payout_reversal",
    )
    payout["status"] = "failed"
    payout["failure_balance_transaction"] = txn["id"]
    payout["failure_code"], payout["failure_message"] = failure
    row.data = payout
    row.save(update_fields=["data"])
    core.emit(
        None,
        "payout.failed",
        payout,
        account=row.account,
        previous_attributes={"status": "in_transit"},
    )
    _mark_bank_account_errored(row.account, payout["destination"])


@core.due_rule("payout")
def _payout_due(payout, account):
    if payout["status"] == "pending":
        return payout["created"] + IN_TRANSIT_AFTER[payout["method"]]
    if payout["status"] == "in_transit":
        return payout["arrival_date"]
    return None


@core.on_tick("payout")
def _move_payouts_on(current):
    rows = SandboxObject.objects.select_for_update().filter(
        object_type="payout", data__status__in=["pending", "in_transit"]
    )
    for row in rows:
        payout = row.data
        if (
            payout["status"] == "pending"
            and current >= payout["created"] + IN_TRANSIT_AFTER[payout["method"]]
        ):
            payout["status"] = "in_transit"
            row.data = payout
            row.save(update_fields=["data"])
            core.emit(
                None,
                "payout.updated",
                payout,
                account=row.account,
                previous_attributes={"status": "pending"},
            )
        if payout["status"] == "in_transit" and current >= payout["arrival_date"]:
            failure = _failure_for(row.account, payout["destination"])
            if failure is not None:
                _fail(row, payout, failure)
            else:
                payout["status"] = "paid"
                row.data = payout
                row.save(update_fields=["data"])
                core.emit(
                    None,
                    "payout.paid",
                    payout,
                    account=row.account,
                    previous_attributes={"status": "in_transit"},
                )
