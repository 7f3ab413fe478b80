"""Transfers to connected accounts, transfer reversals, application fees and their refunds.

How the money moves (as in Stripe, API 2024-04-10):
- A transfer debits the platform (balance transaction "transfer") and credits the connected
  account through a payment object `py_...` (object "charge", balance transaction "payment").
  With `source_transaction` the transfer rides on that charge's funds: both sides become
  available when the charge's funds do, and the platform's available balance is not needed.
- A reversal credits the platform ("transfer_refund") and debits the connected account through a
  refund of the payment `pyr_...` ("payment_refund"). Money going back never settles earlier than
  the money it reverses.
- Destination charges: the charge's full amount (or transfer_data.amount) is transferred, and an
  application_fee_amount comes back to the platform as an application fee `fee_...`: the fee is
  taken from the connected account's payment (its balance transaction's `fee`), and the platform
  books it as "application_fee". Refunding the fee gives it back ("application_fee_refund").

payments.py calls create_transfer_for_destination_charge, reverse_for_refund and
refund_application_fee_for_refund; create_application_fee_for_direct_charge serves direct charges
made on a connected account with application_fee_amount.
"""

from stripe_sandbox import core
from stripe_sandbox.errors import InvalidRequest, ResourceMissing
from stripe_sandbox.params import LIST_PARAMS, Bool, Int, Metadata, Param, Str
from stripe_sandbox.resources.balance import available_amount, currency_param, lock_balance
from stripe_sandbox.router import route

# Bazaar's Connect application, as the sandbox names it (webhook endpoints use the same id).
APPLICATION_ID = "ca_bazaar_sandbox"
# Any of these capabilities lets an account receive transfers.
TRANSFER_CAPABILITIES = ("transfers", "crypto_transfers", "legacy_payments")
DAY = 24 * 60 * 60

INSUFFICIENT_AVAILABLE = (
    "You have insufficient available funds in your Stripe account. Try adding funds directly to "
    "your available balance by creating Charges using the 4000000000000077 test card. See: "
    "https://stripe.com/docs/testing#available-balance"
)


# --- Small pieces -------------------------------------------------------------------------------


def merge_metadata(current, req, values):
    """Stripe's metadata update: keys merge, a key set to "" is removed, metadata="" clears."""
    if "metadata" not in values:
        return current
    if req.params.get("metadata") == "":
        return {}
    merged = dict(current or {})
    for key, value in values["metadata"].items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _proportion(amount, part, whole):
    """amount * part / whole, rounded half up, in integers."""
    if whole <= 0:
        return 0
    return (2 * amount * part + whole) // (2 * whole)


def _id(value):
    return value["id"] if isinstance(value, dict) else value


def _settles_at(txn_id, default):
    """When the balance transaction `txn_id` settles (default if there is none)."""
    if not txn_id:
        return default
    try:
        return core.get(_id(txn_id), kind="balance_transaction")["available_on"]
    except ResourceMissing:
        return default


def charge_available_on(charge):
    """When a charge's funds become available (its balance transaction's available_on)."""
    fallback = (charge.get("created") or core.now()) + core.SETTLEMENT_DAYS * DAY
    return _settles_at(charge.get("balance_transaction"), fallback)


def _connected_account(destination, param="destination"):
    """The connected account money may go to: 404 if unknown, 400 without transfers."""
    try:
        account = core.get(destination, kind="account", account=core.PLATFORM, param=param)
    except ResourceMissing as exc:
        raise ResourceMissing("destination", destination, param=param) from exc
    capabilities = account.get("capabilities") or {}
    if not any(capabilities.get(name) == "active" for name in TRANSFER_CAPABILITIES):
        raise InvalidRequest(
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            param=param,
            code="insufficient_capabilities_for_transfer",
        )
    return account


# --- Transfers ----------------------------------------------------------------------------------


def _destination_payment(*, transfer_id, account, amount, currency, available_on, fee=0):
    """The payment `py_...` a transfer makes on the connected account, with its balance
    transaction; `fee` is an application fee the platform takes back from it."""
    payment_id = core.new_id("py")
    fee_details = []
    if fee:
        fee_details = [
            {
                "amount": fee,
                "application": APPLICATION_ID,
                "currency": currency,
                "description": "Application fee",
                "type": "application_fee",
            }
        ]
    txn = core.balance_transaction(
        account=account,
        amount=amount,
        currency=currency,
        type="payment",
        source=payment_id,
        fee=fee,
        fee_details=fee_details,
        available_on=available_on,
        reporting_category="charge",
    )
    payment = {
        "id": payment_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": APPLICATION_ID,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": txn["id"],
        "billing_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": None,
            "name": None,
            "phone": None,
        },
        "calculated_statement_descriptor": None,
        "captured": True,
        "created": core.now(),
        "currency": currency,
        "customer": None,
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": None,
        "paid": True,
        "payment_intent": None,
        "payment_method": None,
        "payment_method_details": {"stripe_account": {}, "type": "stripe_account"},
        "radar_options": {},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": transfer_id,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    return core.save(payment, account=account)


def _make_transfer(
    *,
    amount,
    currency,
    destination,
    source_charge=None,
    transfer_group=None,
    metadata=None,
    description=None,
    application_fee=0,
):
    """Book a transfer on both sides (no event: the caller emits once everything is in place)."""
    current = core.now()
    available_on = current
    if source_charge is not None:
        available_on = max(current, charge_available_on(source_charge))
    transfer_id = core.new_id("tr")
    payment = _destination_payment(
        transfer_id=transfer_id,
        account=destination,
        amount=amount,
        currency=currency,
        available_on=available_on,
        fee=application_fee,
    )
    txn = core.balance_transaction(
        account=core.PLATFORM,
        amount=-amount,
        currency=currency,
        type="transfer",
        source=transfer_id,
        available_on=available_on,
        reporting_category="transfer",
    )
    transfer = {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": txn["id"],
        "created": current,
        "currency": currency,
        "description": description,
        "destination": destination,
        "destination_payment": payment["id"],
        "livemode": False,
        "metadata": metadata or {},
        "reversals": core.embedded_list(f"/v1/transfers/{transfer_id}/reversals"),
        "reversed": False,
        "source_transaction": source_charge["id"] if source_charge else None,
        "source_type": "card",
        "transfer_group": transfer_group,
    }
    return core.save(transfer), payment


def _source_remaining(charge):
    """What is left of a charge for transfers with source_transaction=charge."""
    taken = sum(
        t["amount"] - t["amount_reversed"]
        for t in core.find("transfer", account=core.PLATFORM, source_transaction=charge["id"])
    )
    return (charge.get("amount_captured") or charge["amount"]) - taken


TRANSFER_CREATE = {
    "amount": Int(required=True, min=1),
    "currency": Str(required=True),
    "destination": Str(required=True),
    "description": Str(),
    "metadata": Metadata(),
    "source_transaction": Str(),
    "source_type": Str(choices=["bank_account", "card", "fpx"]),
    "transfer_group": Str(),
}


@route("POST", "/v1/transfers")
def transfer_create(req):
    values = req.validate(TRANSFER_CREATE)
    if req.account:
        raise InvalidRequest(
            "Transfers to connected accounts are made by the platform: send this request "
            "without the Stripe-Account header."
        )
    amount = values["amount"]
    currency = currency_param(values["currency"])
    destination = values["destination"]
    _connected_account(destination)
    lock_balance(core.PLATFORM)
    source_charge = None
    if values.get("source_transaction"):
        source_charge = core.get(
            values["source_transaction"],
            kind="charge",
            account=core.PLATFORM,
            param="source_transaction",
            lock=True,
        )
        if source_charge.get("status") != "succeeded":
            raise InvalidRequest(
                "The source_transaction must be a charge that succeeded.",
                param="source_transaction",
            )
        if source_charge["currency"] != currency:
            raise InvalidRequest(
                f"The currency of source_transaction's balance transaction "
                f"({source_charge['currency']}) must be the same as the transfer currency "
                f"({currency})",
                param="currency",
            )
        remaining = _source_remaining(source_charge)
        if amount > remaining:
            raise InvalidRequest(
                f"The transfer amount ({amount}) exceeds what is left of source_transaction "
                f"{source_charge['id']} ({max(remaining, 0)} {currency}).",
                param="amount",
                code="amount_too_large",
            )
    elif (
        values.get("source_type", "card") != "card"
        or available_amount(core.PLATFORM, currency) < amount
    ):
        raise InvalidRequest(INSUFFICIENT_AVAILABLE, code="balance_insufficient")
    transfer, _ = _make_transfer(
        amount=amount,
        currency=currency,
        destination=destination,
        source_charge=source_charge,
        transfer_group=values.get("transfer_group"),
        metadata=values.get("metadata"),
        description=values.get("description"),
    )
    core.emit(req, "transfer.created", transfer)
    return transfer


@route("GET", "/v1/transfers/{id}")
def transfer_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="transfer", account=req.account)


@route("POST", "/v1/transfers/{id}")
def transfer_update(req, id):
    values = req.validate({"description": Str(), "metadata": Metadata()})
    transfer = core.get(id, kind="transfer", account=req.account, lock=True)
    previous = {}
    description = values.get("description", transfer["description"]) or None
    if description != transfer["description"]:
        previous["description"] = transfer["description"]
        transfer["description"] = description
    metadata = merge_metadata(transfer["metadata"], req, values)
    if metadata != transfer["metadata"]:
        previous["metadata"] = transfer["metadata"]
        transfer["metadata"] = metadata
    core.save(transfer)
    if previous:
        core.emit(req, "transfer.updated", transfer, previous_attributes=previous)
    return transfer


@route("GET", "/v1/transfers")
def transfer_list(req):
    values = req.validate(LIST_PARAMS | {"destination": Str(), "transfer_group": Str()})
    return core.list_response(
        req,
        "transfer",
        url="/v1/transfers",
        account=req.account,
        filters={
            "destination": values.get("destination"),
            "transfer_group": values.get("transfer_group"),
        },
    )


# --- Transfer reversals -------------------------------------------------------------------------


def _charge_of_destination_transfer(transfer):
    """The destination charge that made this transfer, if it was one (else None)."""
    if not transfer.get("source_transaction"):
        return None
    try:
        charge = core.get(transfer["source_transaction"], kind="charge")
    except ResourceMissing:
        return None
    if _id(charge.get("transfer")) == transfer["id"]:
        return charge
    destination = _id((charge.get("transfer_data") or {}).get("destination"))
    return charge if destination == transfer["destination"] else None


def _refund_destination_payment(*, transfer, reversal_id, amount):
    """Take `amount` back from the connected account: a refund `pyr_...` of its payment."""
    account = transfer["destination"]
    payment = core.get(transfer["destination_payment"], kind="charge", account=account, lock=True)
    refund_id = core.new_id("pyr")
    txn = core.balance_transaction(
        account=account,
        amount=-amount,
        currency=transfer["currency"],
        type="payment_refund",
        source=refund_id,
        available_on=max(core.now(), _settles_at(payment["balance_transaction"], 0)),
        reporting_category="refund",
    )
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn["id"],
        "charge": payment["id"],
        "created": core.now(),
        "currency": transfer["currency"],
        "metadata": {},
        "payment_intent": None,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": reversal_id,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    core.save(refund, account=account)
    payment["amount_refunded"] += amount
    payment["refunded"] = payment["amount_refunded"] >= payment["amount"]
    core.save(payment, account=account)
    return refund


def _reverse(req, transfer, amount, *, metadata=None, source_refund=None, refund_fee=False):
    """Reverse `amount` of a (locked) transfer on both sides; emits transfer.reversed."""
    reversal_id = core.new_id("trr")
    txn = core.balance_transaction(
        account=core.PLATFORM,
        amount=amount,
        currency=transfer["currency"],
        type="transfer_refund",
        source=reversal_id,
        available_on=max(core.now(), _settles_at(transfer["balance_transaction"], 0)),
        reporting_category="transfer_reversal",
    )
    payment_refund = _refund_destination_payment(
        transfer=transfer, reversal_id=reversal_id, amount=amount
    )
    reversal = {
        "id": reversal_id,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": txn["id"],
        "created": core.now(),
        "currency": transfer["currency"],
        "destination_payment_refund": payment_refund["id"],
        "metadata": metadata or {},
        "source_refund": source_refund,
        "transfer": transfer["id"],
    }
    core.save(reversal)
    previous = {"amount_reversed": transfer["amount_reversed"]}
    transfer["amount_reversed"] += amount
    if transfer["amount_reversed"] >= transfer["amount"]:
        previous["reversed"] = transfer["reversed"]
        transfer["reversed"] = True
    reversals = transfer["reversals"]
    reversals["data"].insert(0, reversal)
    reversals["total_count"] = len(reversals["data"])
    core.save(transfer)
    core.emit(req, "transfer.reversed", transfer, previous_attributes=previous)
    if refund_fee:
        fee = _fee_of_transfer(transfer)
        if fee is not None:
            if transfer["reversed"]:
                fee_amount = fee["amount"] - fee["amount_refunded"]
            else:
                fee_amount = _proportion(amount, fee["amount"], transfer["amount"])
            fee_amount = min(fee_amount, fee["amount"] - fee["amount_refunded"])
            if fee_amount > 0:
                _refund_fee(req, fee, fee_amount)
    return reversal


@route("POST", "/v1/transfers/{id}/reversals")
def transfer_reversal_create(req, id):
    values = req.validate(
        {
            "amount": Int(min=1),
            "description": Str(),
            "metadata": Metadata(),
            "refund_application_fee": Bool(),
        }
    )
    transfer = core.get(id, kind="transfer", account=req.account, lock=True)
    remaining = transfer["amount"] - transfer["amount_reversed"]
    if remaining <= 0:
        raise InvalidRequest(f"Transfer {id} has already been reversed.", param="amount")
    amount = values.get("amount", remaining)
    if amount > remaining:
        raise InvalidRequest(
            f"You have requested a reversal of {amount} but only {remaining} "
            f"{transfer['currency']} of transfer {id} is left to reverse.",
            param="amount",
        )
    if _charge_of_destination_transfer(transfer) is None:
        # Only a destination charge's transfer may take the connected account below zero.
        lock_balance(transfer["destination"])
        balance = core.balance_of(transfer["destination"])
        held = balance["available"].get(transfer["currency"], 0) + balance["pending"].get(
            transfer["currency"], 0
        )
        if held < amount:
            raise InvalidRequest(
                f"Insufficient funds in the destination account {transfer['destination']} to "
                f"reverse {amount} {transfer['currency']} of this transfer.",
                param="amount",
                code="balance_insufficient",
            )
    return _reverse(
        req,
        transfer,
        amount,
        metadata=values.get("metadata"),
        refund_fee=values.get("refund_application_fee", False),
    )


@route("GET", "/v1/transfers/{id}/reversals")
def transfer_reversal_list(req, id):
    req.validate(LIST_PARAMS)
    core.get(id, kind="transfer", account=req.account)
    return core.list_response(
        req,
        "transfer_reversal",
        url=f"/v1/transfers/{id}/reversals",
        account=req.account,
        filters={"transfer": id},
    )


def _reversal_of(req, transfer_id, reversal_id):
    transfer = core.get(transfer_id, kind="transfer", account=req.account)
    reversal = core.get(reversal_id, kind="transfer_reversal", account=req.account)
    if reversal["transfer"] != transfer["id"]:
        raise ResourceMissing("transfer_reversal", reversal_id)
    return transfer, reversal


@route("GET", "/v1/transfers/{transfer}/reversals/{id}")
def transfer_reversal_retrieve(req, transfer, id):
    req.validate({})
    return _reversal_of(req, transfer, id)[1]


@route("POST", "/v1/transfers/{transfer}/reversals/{id}")
def transfer_reversal_update(req, transfer, id):
    values = req.validate({"metadata": Metadata()})
    parent, reversal = _reversal_of(req, transfer, id)
    reversal["metadata"] = merge_metadata(reversal["metadata"], req, values)
    core.save(reversal)
    parent = core.get(parent["id"], kind="transfer", lock=True)
    parent["reversals"]["data"] = [
        reversal if item["id"] == reversal["id"] else item for item in parent["reversals"]["data"]
    ]
    core.save(parent)
    return reversal


# --- Application fees ---------------------------------------------------------------------------


def _make_application_fee(*, account, amount, currency, charge_id, originating, available_on):
    fee_id = core.new_id("fee")
    txn = core.balance_transaction(
        account=core.PLATFORM,
        amount=amount,
        currency=currency,
        type="application_fee",
        source=fee_id,
        available_on=available_on,
        reporting_category="platform_earning",
    )
    fee = {
        "id": fee_id,
        "object": "application_fee",
        "account": account,
        "amount": amount,
        "amount_refunded": 0,
        "application": APPLICATION_ID,
        "balance_transaction": txn["id"],
        "charge": charge_id,
        "created": core.now(),
        "currency": currency,
        "fee_source": {"charge": charge_id, "type": "charge"},
        "livemode": False,
        "originating_transaction": originating,
        "refunded": False,
        "refunds": core.embedded_list(f"/v1/application_fees/{fee_id}/refunds"),
    }
    return core.save(fee)


def _fee_of_charge(charge):
    """The application fee a charge (destination or direct) raised, or None."""
    fee_id = _id(charge.get("application_fee"))
    if fee_id:
        try:
            return core.get(fee_id, kind="application_fee", lock=True)
        except ResourceMissing:
            pass
    found = core.find(
        "application_fee", account=core.PLATFORM, originating_transaction=charge["id"]
    )
    found = found or core.find("application_fee", account=core.PLATFORM, charge=charge["id"])
    if not found:
        return None
    return core.get(found[0]["id"], kind="application_fee", lock=True)


def _fee_of_transfer(transfer):
    charge = _charge_of_destination_transfer(transfer)
    return _fee_of_charge(charge) if charge is not None else None


def _refund_fee(req, fee, amount, metadata=None):
    """Give `amount` of a (locked) application fee back to the connected account."""
    refund_id = core.new_id("fr")
    settles = max(core.now(), _settles_at(fee["balance_transaction"], 0))
    txn = core.balance_transaction(
        account=core.PLATFORM,
        amount=-amount,
        currency=fee["currency"],
        type="application_fee_refund",
        source=refund_id,
        available_on=settles,
        reporting_category="platform_earning_refund",
    )
    core.balance_transaction(
        account=fee["account"],
        amount=amount,
        currency=fee["currency"],
        type="application_fee_refund",
        source=refund_id,
        available_on=settles,
        reporting_category="platform_earning_refund",
    )
    fee_refund = {
        "id": refund_id,
        "object": "fee_refund",
        "amount": amount,
        "balance_transaction": txn["id"],
        "created": core.now(),
        "currency": fee["currency"],
        "fee": fee["id"],
        "metadata": metadata or {},
    }
    core.save(fee_refund)
    previous = {"amount_refunded": fee["amount_refunded"]}
    fee["amount_refunded"] += amount
    if fee["amount_refunded"] >= fee["amount"]:
        previous["refunded"] = fee["refunded"]
        fee["refunded"] = True
    refunds = fee["refunds"]
    refunds["data"].insert(0, fee_refund)
    refunds["total_count"] = len(refunds["data"])
    core.save(fee)
    core.emit(req, "application_fee.refunded", fee, previous_attributes=previous)
    return fee_refund


@route("GET", "/v1/application_fees")
def application_fee_list(req):
    values = req.validate(LIST_PARAMS | {"charge": Str()})
    return core.list_response(
        req,
        "application_fee",
        url="/v1/application_fees",
        account=req.account,
        filters={"charge": values.get("charge")},
    )


@route("GET", "/v1/application_fees/{id}")
def application_fee_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="application_fee", account=req.account)


def _fee_refund_amount(fee, requested):
    remaining = fee["amount"] - fee["amount_refunded"]
    if remaining <= 0:
        raise InvalidRequest(f"Application fee {fee['id']} has already been refunded.")
    amount = remaining if requested is None else requested
    if amount > remaining:
        raise InvalidRequest(
            f"Refund amount ({amount}) is greater than unrefunded amount on fee ({remaining}).",
            param="amount",
        )
    return amount


@route("POST", "/v1/application_fees/{id}/refunds")
def fee_refund_create(req, id):
    values = req.validate({"amount": Int(min=1), "metadata": Metadata()})
    fee = core.get(id, kind="application_fee", account=req.account, lock=True)
    amount = _fee_refund_amount(fee, values.get("amount"))
    return _refund_fee(req, fee, amount, metadata=values.get("metadata"))


@route("POST", "/v1/application_fees/{id}/refund")
def application_fee_refund_legacy(req, id):
    """The older endpoint: refunds like /refunds but answers with the application fee."""
    values = req.validate({"amount": Int(min=1), "directive": Param()})
    fee = core.get(id, kind="application_fee", account=req.account, lock=True)
    _refund_fee(req, fee, _fee_refund_amount(fee, values.get("amount")))
    return core.get(id, kind="application_fee", account=req.account)


@route("GET", "/v1/application_fees/{id}/refunds")
def fee_refund_list(req, id):
    req.validate(LIST_PARAMS)
    core.get(id, kind="application_fee", account=req.account)
    return core.list_response(
        req,
        "fee_refund",
        url=f"/v1/application_fees/{id}/refunds",
        account=req.account,
        filters={"fee": id},
    )


def _fee_refund_of(req, fee_id, refund_id):
    fee = core.get(fee_id, kind="application_fee", account=req.account)
    refund = core.get(refund_id, kind="fee_refund", account=req.account)
    if refund["fee"] != fee["id"]:
        raise ResourceMissing("fee_refund", refund_id)
    return fee, refund


@route("GET", "/v1/application_fees/{fee}/refunds/{id}")
def fee_refund_retrieve(req, fee, id):
    req.validate({})
    return _fee_refund_of(req, fee, id)[1]


@route("POST", "/v1/application_fees/{fee}/refunds/{id}")
def fee_refund_update(req, fee, id):
    values = req.validate({"metadata": Metadata()})
    parent, refund = _fee_refund_of(req, fee, id)
    previous = {"metadata": refund["metadata"]}
    refund["metadata"] = merge_metadata(refund["metadata"], req, values)
    core.save(refund)
    parent = core.get(parent["id"], kind="application_fee", lock=True)
    parent["refunds"]["data"] = [
        refund if item["id"] == refund["id"] else item for item in parent["refunds"]["data"]
    ]
    core.save(parent)
    core.emit(req, "application_fee.refund.updated", refund, previous_attributes=previous)
    return refund


# --- Called by payments.py ----------------------------------------------------------------------


def create_transfer_for_destination_charge(req, charge):
    """The transfer a destination charge makes to charge["transfer_data"]["destination"], and
    the application fee when application_fee_amount is set. Returns (transfer, fee or None).

    As Stripe does: with transfer_data.amount that amount is transferred; otherwise the full
    charge amount is, and application_fee_amount is taken back from the connected account's
    payment as an application fee (the account nets amount - application_fee_amount either way).
    Sets charge["transfer"] and charge["application_fee"]; the caller saves the charge.
    """
    transfer_data = charge.get("transfer_data") or {}
    destination = _id(transfer_data.get("destination"))
    _connected_account(destination, param="transfer_data[destination]")
    charged = charge.get("amount_captured") or charge["amount"]
    amount = transfer_data.get("amount") or charged
    fee_amount = charge.get("application_fee_amount") or 0
    if fee_amount > amount:
        raise InvalidRequest(
            "The application fee cannot be greater than the amount transferred to the "
            "destination account.",
            param="application_fee_amount",
        )
    transfer, payment = _make_transfer(
        amount=amount,
        currency=charge["currency"],
        destination=destination,
        source_charge=charge,
        transfer_group=charge.get("transfer_group"),
        application_fee=fee_amount,
    )
    fee = None
    if fee_amount:
        fee = _make_application_fee(
            account=destination,
            amount=fee_amount,
            currency=charge["currency"],
            charge_id=payment["id"],
            originating=charge["id"],
            available_on=max(core.now(), charge_available_on(charge)),
        )
        payment["application_fee"] = fee["id"]
        payment["application_fee_amount"] = fee_amount
        core.save(payment, account=destination)
    charge["transfer"] = transfer["id"]
    charge["application_fee"] = fee["id"] if fee else None
    core.emit(req, "transfer.created", transfer)
    if fee is not None:
        core.emit(req, "application_fee.created", fee)
    return transfer, fee


def create_application_fee_for_direct_charge(req, charge, account):
    """The application fee of a direct charge made on connected `account` with
    application_fee_amount. The platform books it; the caller puts it in the charge's own
    balance transaction (fee_details type "application_fee") and sets charge["application_fee"].
    Returns the fee (None without application_fee_amount)."""
    amount = charge.get("application_fee_amount") or 0
    if not amount:
        return None
    fee = _make_application_fee(
        account=account,
        amount=amount,
        currency=charge["currency"],
        charge_id=charge["id"],
        originating=None,
        available_on=max(core.now(), charge_available_on(charge)),
    )
    charge["application_fee"] = fee["id"]
    core.emit(req, "application_fee.created", fee)
    return fee


def _transfer_of_charge(charge):
    transfer_id = _id(charge.get("transfer"))
    if not transfer_id:
        found = core.find("transfer", account=core.PLATFORM, source_transaction=charge["id"])
        destination = (charge.get("transfer_data") or {}).get("destination")
        found = [t for t in found if t["destination"] == _id(destination)]
        if not found:
            return None
        transfer_id = found[-1]["id"]  # the oldest: the one the charge itself made
    return core.get(transfer_id, kind="transfer", lock=True)


def _refund_share(charge, amount, whole, remaining):
    """The part of `whole` (a transfer or a fee) a refund of `amount` takes back: in proportion
    to the charge, and all that is left once the charge is fully refunded (charge["refunded"],
    as the caller has already recorded this refund), so rounding never leaves a cent behind."""
    charged = charge.get("amount_captured") or charge["amount"]
    if amount >= charged or charge.get("refunded"):
        return remaining
    return min(_proportion(amount, whole, charged), remaining)


def reverse_for_refund(req, charge, amount, *, refund_id=None):
    """Refund with reverse_transfer: reverse the charge's transfer in proportion to `amount`
    refunded (all that is left when the whole charge is refunded). Returns the reversal, or None
    when there is nothing to reverse."""
    transfer = _transfer_of_charge(charge)
    if transfer is None:
        return None
    remaining = transfer["amount"] - transfer["amount_reversed"]
    share = _refund_share(charge, amount, transfer["amount"], remaining)
    if share <= 0:
        return None
    return _reverse(req, transfer, share, source_refund=refund_id)


def refund_application_fee_for_refund(req, charge, amount):
    """Refund with refund_application_fee: give back the charge's application fee in proportion
    to `amount` refunded (all of it for a full refund). Returns the fee_refund, or None."""
    fee = _fee_of_charge(charge)
    if fee is None:
        return None
    remaining = fee["amount"] - fee["amount_refunded"]
    share = _refund_share(charge, amount, fee["amount"], remaining)
    if share <= 0:
        return None
    return _refund_fee(req, fee, share)
