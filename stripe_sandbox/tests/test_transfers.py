"""Transfers, reversals and application fees, through the real stripe SDK against the sandbox."""

import pytest
import stripe

from stripe_sandbox import control, core
from stripe_sandbox.resources import transfers
from stripe_sandbox.tests.helpers_money import (
    DAY,
    as_account,
    assert_stripe_shape,
    balance,
    connected_account,
    fund_platform,
    platform_charge,
    sdk,
)

pytestmark = pytest.mark.django_db


def transfer(amount, destination, **params):
    return sdk().v1.transfers.create(
        params={"amount": amount, "currency": "usd", "destination": destination, **params},
        options={"idempotency_key": core.new_id("test")},
    )


def reverse(transfer_id, **params):
    return sdk().v1.transfers.reversals.create(transfer_id, params=params)


def account_txns(account, **filters):
    listing = sdk().v1.balance_transactions.list(
        params={"limit": 100, **filters}, options=as_account(account)
    )
    return listing.data


def event_types():
    return [event["type"] for event in control.events()]


# --- Creating transfers -------------------------------------------------------------------------


def test_a_transfer_with_source_transaction_uses_the_charges_pending_funds():
    seller = connected_account()
    charge = platform_charge(1000)  # settles in two days; nothing is available yet
    charge_txn = core.get(charge["balance_transaction"], kind="balance_transaction")

    made = transfer(600, seller, source_transaction=charge["id"], transfer_group="order-1")

    assert made.id.startswith("tr_")
    assert made.amount == 600
    assert made.destination == seller
    assert made.source_transaction == charge["id"]
    assert made.transfer_group == "order-1"
    assert made.destination_payment.startswith("py_")
    assert made.reversed is False and made.amount_reversed == 0
    # Platform: the transfer is taken from the charge's pending funds, not the available balance.
    assert balance() == {"available": {"usd": 0}, "pending": {"usd": charge_txn["net"] - 600}}
    platform_txn = sdk().v1.balance_transactions.retrieve(made.balance_transaction)
    assert (platform_txn.type, platform_txn.amount, platform_txn.source) == (
        "transfer",
        -600,
        made.id,
    )
    assert platform_txn.available_on == charge_txn["available_on"]
    # Connected account: a payment with its own balance transaction, settling with the charge.
    [payment_txn] = account_txns(seller)
    assert (payment_txn.type, payment_txn.amount, payment_txn.source) == (
        "payment",
        600,
        made.destination_payment,
    )
    assert payment_txn.available_on == charge_txn["available_on"]
    assert balance(seller)["pending"] == {"usd": 600}
    payment = core.get(made.destination_payment, kind="charge", account=seller)
    assert payment["source_transfer"] == made.id
    assert event_types() == ["transfer.created"]
    [event] = control.events("transfer.created")
    assert event["data"]["object"]["id"] == made.id
    assert "account" not in event  # a platform event


def test_source_transaction_cannot_be_transferred_twice_over():
    seller, other = connected_account(), connected_account()
    charge = platform_charge(1000)
    transfer(700, seller, source_transaction=charge["id"])

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        transfer(400, other, source_transaction=charge["id"])

    assert excinfo.value.http_status == 400
    assert excinfo.value.param == "amount"
    assert "300" in str(excinfo.value)  # what is left of the charge
    assert transfer(300, other, source_transaction=charge["id"]).amount == 300
    with pytest.raises(stripe.InvalidRequestError):
        transfer(1, other, source_transaction=charge["id"])


def test_a_transfer_without_source_transaction_needs_available_balance():
    seller = connected_account()
    charge = platform_charge(1000)
    net = core.get(charge["balance_transaction"], kind="balance_transaction")["net"]

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        transfer(500, seller)
    assert excinfo.value.code == "balance_insufficient"
    assert excinfo.value.http_status == 400

    control.advance_clock(days=2)  # the charge's funds settle
    made = transfer(500, seller)

    assert balance() == {"available": {"usd": net - 500}, "pending": {"usd": 0}}
    assert balance(seller)["available"] == {"usd": 500}  # available at once, like its source
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        transfer(net - 500 + 1, seller)
    assert excinfo.value.code == "balance_insufficient"
    assert sdk().v1.transfers.retrieve(made.id).amount == 500


def test_a_refused_transfer_moves_no_money_and_emits_nothing():
    seller = connected_account()
    fund_platform(100)

    with pytest.raises(stripe.InvalidRequestError):
        transfer(101, seller)

    assert balance(seller)["available"] == {"usd": 0}
    assert sdk().v1.transfers.list().data == []
    assert event_types() == []


def test_an_unknown_destination_is_a_404():
    fund_platform(1000)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        transfer(100, "acct_doesnotexist")

    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"
    assert excinfo.value.param == "destination"


def test_a_destination_without_the_transfers_capability_is_refused():
    fund_platform(1000)
    seller = connected_account(transfers=False)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        transfer(100, seller)

    assert excinfo.value.http_status == 400
    assert excinfo.value.code == "insufficient_capabilities_for_transfer"
    assert balance(seller)["available"] == {"usd": 0}


def test_source_transaction_must_be_a_platform_charge_in_the_same_currency():
    seller = connected_account()
    charge = platform_charge(1000)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        transfer(100, seller, source_transaction="ch_nope")
    assert excinfo.value.http_status == 404
    assert excinfo.value.param == "source_transaction"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk().v1.transfers.create(
            params={
                "amount": 100,
                "currency": "eur",
                "destination": seller,
                "source_transaction": charge["id"],
            }
        )
    assert excinfo.value.param == "currency"


def test_transfers_are_the_platforms_a_connected_account_cannot_see_them():
    seller = connected_account()
    fund_platform(1000)
    made = transfer(100, seller)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk().v1.transfers.retrieve(made.id, options=as_account(seller))

    assert excinfo.value.http_status == 404
    assert sdk().v1.transfers.list(options=as_account(seller)).data == []


def test_update_changes_metadata_and_description_and_emits_transfer_updated():
    seller = connected_account()
    fund_platform(1000)
    made = transfer(100, seller, metadata={"order": "1", "note": "x"})

    updated = sdk().v1.transfers.update(
        made.id, params={"description": "Order 1 payout", "metadata": {"note": "", "batch": "7"}}
    )

    assert updated.description == "Order 1 payout"
    assert updated.metadata.to_dict() == {"order": "1", "batch": "7"}
    assert sdk().v1.transfers.retrieve(made.id).description == "Order 1 payout"
    [event] = control.events("transfer.updated")
    assert event["data"]["previous_attributes"]["description"] is None


def test_list_filters_by_destination_and_transfer_group_and_paginates():
    first, second = connected_account(), connected_account()
    fund_platform(10_000)
    made = [transfer(100 + n, first, transfer_group="g1").id for n in range(3)]
    other = transfer(50, second, transfer_group="g2").id

    by_destination = sdk().v1.transfers.list(params={"destination": first})
    assert [t.id for t in by_destination.data] == list(reversed(made))
    by_group = sdk().v1.transfers.list(params={"transfer_group": "g2"})
    assert [t.id for t in by_group.data] == [other]

    newest_first = [other, *reversed(made)]
    page = sdk().v1.transfers.list(params={"limit": 2})
    assert [t.id for t in page.data] == newest_first[:2]
    assert page.has_more is True
    rest = sdk().v1.transfers.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [t.id for t in rest.data] == newest_first[2:]
    assert rest.has_more is False


# --- Reversals ----------------------------------------------------------------------------------


def test_partial_then_full_reversal_moves_money_back_and_emits_transfer_reversed():
    seller = connected_account()
    fund_platform(1000)
    made = transfer(1000, seller)
    assert balance()["available"] == {"usd": 0}

    partial = reverse(made.id, amount=300, metadata={"reason": "partial refund"})

    assert partial.id.startswith("trr_")
    assert (partial.amount, partial.transfer) == (300, made.id)
    assert partial.destination_payment_refund.startswith("pyr_")
    assert balance()["available"] == {"usd": 300}
    assert balance(seller)["available"] == {"usd": 700}
    after_partial = sdk().v1.transfers.retrieve(made.id)
    assert (after_partial.amount_reversed, after_partial.reversed) == (300, False)
    assert [r.id for r in after_partial.reversals.data] == [partial.id]
    platform_txn = sdk().v1.balance_transactions.retrieve(partial.balance_transaction)
    assert (platform_txn.type, platform_txn.amount) == ("transfer_refund", 300)
    [refund_txn] = account_txns(seller, type="payment_refund")
    assert (refund_txn.amount, refund_txn.source) == (-300, partial.destination_payment_refund)

    rest = reverse(made.id)  # no amount: whatever is left

    assert rest.amount == 700
    final = sdk().v1.transfers.retrieve(made.id)
    assert (final.amount_reversed, final.reversed) == (1000, True)
    assert balance()["available"] == {"usd": 1000}
    assert balance(seller)["available"] == {"usd": 0}
    payment = core.get(made.destination_payment, kind="charge", account=seller)
    assert (payment["amount_refunded"], payment["refunded"]) == (1000, True)
    reversed_events = control.events("transfer.reversed")
    assert [e["data"]["object"]["amount_reversed"] for e in reversed_events] == [300, 1000]
    assert reversed_events[0]["data"]["previous_attributes"] == {"amount_reversed": 0}

    with pytest.raises(stripe.InvalidRequestError, match="already been reversed"):
        reverse(made.id)


def test_a_reversal_cannot_exceed_what_is_left():
    seller = connected_account()
    fund_platform(1000)
    made = transfer(500, seller)
    reverse(made.id, amount=200)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        reverse(made.id, amount=301)

    assert excinfo.value.param == "amount"
    assert sdk().v1.transfers.retrieve(made.id).amount_reversed == 200
    assert balance(seller)["available"] == {"usd": 300}


def test_a_reversal_needs_the_money_to_still_be_on_the_connected_account():
    seller = connected_account()
    fund_platform(1000)
    made = transfer(500, seller)
    sdk().v1.payouts.create(params={"amount": 400, "currency": "usd"}, options=as_account(seller))

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        reverse(made.id, amount=200)

    assert excinfo.value.code == "balance_insufficient"
    assert reverse(made.id, amount=100).amount == 100


def test_reversals_list_retrieve_and_update():
    seller = connected_account()
    fund_platform(1000)
    made = transfer(900, seller)
    ids = [reverse(made.id, amount=100).id for _ in range(3)]

    listing = sdk().v1.transfers.reversals.list(made.id, params={"limit": 2})
    assert [r.id for r in listing.data] == [ids[2], ids[1]]
    assert listing.has_more is True
    rest = sdk().v1.transfers.reversals.list(
        made.id, params={"starting_after": listing.data[-1].id}
    )
    assert [r.id for r in rest.data] == [ids[0]]

    updated = sdk().v1.transfers.reversals.update(
        made.id, ids[0], params={"metadata": {"ticket": "42"}}
    )
    assert updated.metadata.to_dict() == {"ticket": "42"}
    fetched = sdk().v1.transfers.reversals.retrieve(made.id, ids[0])
    assert fetched.metadata.to_dict() == {"ticket": "42"}
    embedded = sdk().v1.transfers.retrieve(made.id).reversals.data
    assert {r.id: r.metadata.to_dict() for r in embedded}[ids[0]] == {"ticket": "42"}

    other = transfer(50, seller)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk().v1.transfers.reversals.retrieve(other.id, ids[0])
    assert excinfo.value.http_status == 404


def test_transfer_to_a_pending_charge_reversed_returns_pending_money():
    seller = connected_account()
    charge = platform_charge(1000)
    made = transfer(600, seller, source_transaction=charge["id"])

    reverse(made.id, amount=600)

    # Money going back settles with the charge, never before it.
    assert balance(seller) == {
        "available": {"usd": 0},
        "pending": {"usd": 0},
        "instant_available": {"usd": 0},
    }
    assert balance()["available"] == {"usd": 0}
    control.advance_clock(days=2)
    net = core.get(charge["balance_transaction"], kind="balance_transaction")["net"]
    assert balance()["available"] == {"usd": net}


# --- Destination charges and application fees ---------------------------------------------------


def destination_charge(seller, amount=1000, fee=123):
    charge = platform_charge(amount)
    charge["transfer_data"] = {"destination": seller}
    charge["application_fee_amount"] = fee
    charge["transfer_group"] = "group_pi_test"
    return core.save(charge)


def test_destination_charge_transfers_the_charge_and_takes_the_application_fee_back():
    seller = connected_account()
    charge = destination_charge(seller)
    req = core.Req(method="POST", path="/v1/payment_intents/pi_x/confirm", params={})

    made, fee = transfers.create_transfer_for_destination_charge(req, charge)

    assert (made["amount"], made["destination"], made["source_transaction"]) == (
        1000,
        seller,
        charge["id"],
    )
    assert made["transfer_group"] == "group_pi_test"
    assert charge["transfer"] == made["id"] and charge["application_fee"] == fee["id"]
    assert (fee["amount"], fee["account"], fee["originating_transaction"]) == (
        123,
        seller,
        charge["id"],
    )
    assert fee["charge"] == made["destination_payment"]
    # The seller nets amount - application fee, pending until the charge settles.
    assert balance(seller)["pending"] == {"usd": 877}
    [payment_txn] = account_txns(seller)
    assert (payment_txn.amount, payment_txn.fee, payment_txn.net) == (1000, 123, 877)
    assert payment_txn.fee_details[0].type == "application_fee"
    fee_txn = sdk().v1.balance_transactions.retrieve(fee["balance_transaction"])
    assert (fee_txn.type, fee_txn.amount) == ("application_fee", 123)
    assert event_types() == ["transfer.created", "application_fee.created"]
    listed = sdk().v1.application_fees.list(params={"charge": made["destination_payment"]})
    assert [f.id for f in listed.data] == [fee["id"]]
    assert sdk().v1.application_fees.retrieve(fee["id"]).amount == 123


def test_destination_charge_with_transfer_data_amount_transfers_that_amount():
    seller = connected_account()
    charge = platform_charge(1000)
    charge["transfer_data"] = {"destination": seller, "amount": 850}
    req = core.Req(method="POST", path="/v1/payment_intents", params={})

    made, fee = transfers.create_transfer_for_destination_charge(req, charge)

    assert made["amount"] == 850 and fee is None
    assert balance(seller)["pending"] == {"usd": 850}


def test_refund_reverses_the_transfer_and_refunds_the_fee_in_proportion():
    seller = connected_account()
    charge = destination_charge(seller)
    req = core.Req(method="POST", path="/v1/refunds", params={})
    made, fee = transfers.create_transfer_for_destination_charge(req, charge)
    core.save(charge)

    reversal = transfers.reverse_for_refund(req, charge, 500, refund_id="re_test1")
    fee_refund = transfers.refund_application_fee_for_refund(req, charge, 500)

    assert (reversal["amount"], reversal["source_refund"]) == (500, "re_test1")
    assert fee_refund["amount"] == 62  # 123 * 500 / 1000, rounded half up
    assert balance(seller)["pending"] == {"usd": 877 - 500 + 62}
    fee_now = sdk().v1.application_fees.retrieve(fee["id"])
    assert (fee_now.amount_refunded, fee_now.refunded) == (62, False)
    assert [r.id for r in fee_now.refunds.data] == [fee_refund["id"]]
    assert control.events("application_fee.refunded")[-1]["data"]["object"]["amount_refunded"] == 62

    # Refunding the rest of the charge reverses and refunds all that is left.
    transfers.reverse_for_refund(req, charge, 1000)
    transfers.refund_application_fee_for_refund(req, charge, 1000)
    assert sdk().v1.transfers.retrieve(made["id"]).reversed is True
    assert sdk().v1.application_fees.retrieve(fee["id"]).refunded is True
    assert balance(seller)["pending"] == {"usd": 0}
    assert transfers.reverse_for_refund(req, charge, 100) is None


def test_a_destination_charge_transfer_may_be_reversed_beyond_the_sellers_balance():
    seller = connected_account()
    charge = destination_charge(seller)
    req = core.Req(method="POST", path="/v1/refunds", params={})
    transfers.create_transfer_for_destination_charge(req, charge)
    core.save(charge)

    transfers.reverse_for_refund(req, charge, 1000)  # without refund_application_fee

    # As on Stripe: the seller ends 123 short until the fee is refunded too.
    assert balance(seller)["pending"] == {"usd": -123}


def test_reversal_with_refund_application_fee_gives_the_fee_back():
    seller = connected_account()
    charge = destination_charge(seller)
    req = core.Req(method="POST", path="/v1/payment_intents", params={})
    made, fee = transfers.create_transfer_for_destination_charge(req, charge)
    core.save(charge)

    reverse(made["id"], amount=1000, refund_application_fee=True)

    assert sdk().v1.application_fees.retrieve(fee["id"]).amount_refunded == 123
    assert balance(seller)["pending"] == {"usd": 0}


def test_application_fee_refunds_through_the_api():
    seller = connected_account()
    charge = destination_charge(seller, fee=200)
    req = core.Req(method="POST", path="/v1/payment_intents", params={})
    _, fee = transfers.create_transfer_for_destination_charge(req, charge)
    platform_pending = balance()["pending"]["usd"]

    first = sdk().v1.application_fees.refunds.create(
        fee["id"], params={"amount": 50, "metadata": {"why": "goodwill"}}
    )
    assert first.id.startswith("fr_") and first.fee == fee["id"] and first.amount == 50
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk().v1.application_fees.refunds.create(fee["id"], params={"amount": 151})
    assert excinfo.value.param == "amount"
    second = sdk().v1.application_fees.refunds.create(fee["id"])  # the rest

    assert second.amount == 150
    assert balance()["pending"]["usd"] == platform_pending - 200
    listing = sdk().v1.application_fees.refunds.list(fee["id"])
    assert [r.id for r in listing.data] == [second.id, first.id]
    fetched = sdk().v1.application_fees.refunds.retrieve(fee["id"], first.id)
    assert fetched.metadata.to_dict() == {"why": "goodwill"}
    updated = sdk().v1.application_fees.refunds.update(
        fee["id"], first.id, params={"metadata": {"why": ""}}
    )
    assert updated.metadata.to_dict() == {}
    assert sdk().v1.application_fees.retrieve(fee["id"]).refunded is True
    with pytest.raises(stripe.InvalidRequestError, match="already been refunded"):
        sdk().v1.application_fees.refunds.create(fee["id"])


def test_direct_charge_application_fee():
    seller = connected_account()
    charge = {
        "id": core.new_id("ch"),
        "amount": 2000,
        "currency": "usd",
        "application_fee_amount": 150,
        "created": core.now(),
        "balance_transaction": None,
    }
    req = core.Req(method="POST", path="/v1/payment_intents", params={}, account=seller)

    fee = transfers.create_application_fee_for_direct_charge(req, charge, seller)

    assert (fee["account"], fee["charge"], fee["originating_transaction"]) == (
        seller,
        charge["id"],
        None,
    )
    assert charge["application_fee"] == fee["id"]
    assert balance()["pending"] == {"usd": 150}  # the platform earns it when the charge settles
    control.advance_clock(days=2)
    assert balance()["available"] == {"usd": 150}


# --- Stripe's shapes ----------------------------------------------------------------------------


def test_every_object_matches_stripes_schema():
    seller = connected_account()
    charge = destination_charge(seller)
    req = core.Req(method="POST", path="/v1/payment_intents", params={})
    made, fee = transfers.create_transfer_for_destination_charge(req, charge)
    core.save(charge)
    reversal = reverse(made["id"], amount=100, refund_application_fee=True)
    fee_refund = sdk().v1.application_fees.refunds.list(fee["id"]).data[0]

    transfer_now = sdk().v1.transfers.retrieve(made["id"])
    assert_stripe_shape(transfer_now, "transfer")
    assert_stripe_shape(reversal, "transfer_reversal")
    assert_stripe_shape(sdk().v1.application_fees.retrieve(fee["id"]), "application_fee")
    assert_stripe_shape(fee_refund, "fee_refund")
    assert_stripe_shape(
        core.get(made["destination_payment"], kind="charge", account=seller), "charge"
    )
    assert_stripe_shape(
        core.get(reversal.destination_payment_refund, kind="refund", account=seller), "refund"
    )
    for txn in sdk().v1.balance_transactions.list(params={"limit": 100}).data:
        assert_stripe_shape(txn, "balance_transaction")
    for txn in (
        sdk().v1.balance_transactions.list(params={"limit": 100}, options=as_account(seller)).data
    ):
        assert_stripe_shape(txn, "balance_transaction")


def test_sandbox_clock_arrival_of_transfer_funds_follows_the_charge():
    seller = connected_account()
    charge = platform_charge(1000)
    transfer(400, seller, source_transaction=charge["id"])

    control.advance_clock(days=2, seconds=-60)
    assert balance(seller)["available"] == {"usd": 0}
    control.advance_clock(seconds=60)
    assert balance(seller)["available"] == {"usd": 400}
    assert core.now() >= charge["created"] + 2 * DAY


def test_partial_refunds_adding_up_to_the_charge_reverse_the_whole_transfer():
    seller = connected_account()
    charge = platform_charge(1000)
    charge["transfer_data"] = {"destination": seller, "amount": 877}
    req = core.Req(method="POST", path="/v1/refunds", params={})
    made, _ = transfers.create_transfer_for_destination_charge(req, charge)
    core.save(charge)

    shares = []
    for refunded in (333, 333, 334):
        charge["amount_refunded"] += refunded
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        shares.append(transfers.reverse_for_refund(req, charge, refunded)["amount"])

    assert shares == [292, 292, 293]  # in proportion, the last one takes the rounding
    assert sdk().v1.transfers.retrieve(made["id"]).reversed is True


def test_a_destination_payment_intent_transfers_and_its_refund_reverses():
    """The whole path through payments.py: destination charge, then refund with
    reverse_transfer and refund_application_fee."""
    seller = connected_account()
    intent = sdk().v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "payment_method_types": ["card"],
            "confirm": True,
            "transfer_data": {"destination": seller},
            "application_fee_amount": 123,
        }
    )
    charge = sdk().v1.charges.retrieve(intent.latest_charge)
    made = sdk().v1.transfers.retrieve(charge.transfer)
    assert (made.amount, made.destination, made.source_transaction) == (1000, seller, charge.id)
    assert balance(seller)["pending"] == {"usd": 877}

    refund = sdk().v1.refunds.create(
        params={
            "payment_intent": intent.id,
            "amount": 400,
            "reverse_transfer": True,
            "refund_application_fee": True,
        }
    )

    reversal = sdk().v1.transfers.reversals.retrieve(made.id, refund.transfer_reversal)
    assert (reversal.amount, reversal.source_refund) == (400, refund.id)
    assert sdk().v1.application_fees.retrieve(charge.application_fee).amount_refunded == 49
    assert balance(seller)["pending"] == {"usd": 877 - 400 + 49}
    types = [event["type"] for event in control.events()]
    assert types.index("transfer.created") < types.index("charge.succeeded")
    assert {"transfer.reversed", "application_fee.refunded"} <= set(types)
