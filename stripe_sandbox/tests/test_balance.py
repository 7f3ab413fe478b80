"""GET /v1/balance and balance transactions, through the real stripe SDK against the sandbox."""

import pytest
import stripe

from stripe_sandbox import control, core
from stripe_sandbox.tests.helpers_money import (
    as_account,
    assert_stripe_shape,
    balance,
    connected_account,
    fund_platform,
    funded_account,
    platform_charge,
    sdk,
)

pytestmark = pytest.mark.django_db


def test_the_platform_balance_moves_from_pending_to_available_as_the_clock_advances():
    charge = platform_charge(1000)
    net = 1000 - core.card_fee(1000, "usd")

    found = sdk().v1.balance.retrieve()

    assert found.object == "balance" and found.livemode is False
    assert [(a.amount, a.currency, a.source_types.card) for a in found.pending] == [
        (net, "usd", net)
    ]
    assert [(a.amount, a.currency) for a in found.available] == [(0, "usd")]
    assert [(a.amount, a.currency) for a in found.connect_reserved] == [(0, "usd")]
    assert "instant_available" not in found

    control.advance_clock(days=1)
    assert balance() == {"available": {"usd": 0}, "pending": {"usd": net}}
    control.advance_clock(days=1)
    assert balance() == {"available": {"usd": net}, "pending": {"usd": 0}}
    txn = sdk().v1.balance_transactions.retrieve(charge["balance_transaction"])
    assert txn.status == "available"


def test_a_connected_accounts_balance_is_its_own_with_instant_available():
    seller = connected_account()
    charge = platform_charge(2000)
    sdk().v1.transfers.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "destination": seller,
            "source_transaction": charge["id"],
        }
    )

    found = sdk().v1.balance.retrieve(options=as_account(seller))

    assert [(a.amount, a.currency) for a in found.pending] == [(1500, "usd")]
    assert [(a.amount, a.currency) for a in found.available] == [(0, "usd")]
    assert [(a.amount, a.currency) for a in found.instant_available] == [(1500, "usd")]
    assert "connect_reserved" not in found
    control.advance_clock(days=2)
    assert balance(seller) == {
        "available": {"usd": 1500},
        "pending": {"usd": 0},
        "instant_available": {"usd": 1500},
    }
    # The platform's own balance is unaffected by what the seller holds.
    assert balance()["available"] == {"usd": 2000 - core.card_fee(2000, "usd") - 1500}


def test_an_account_without_money_shows_its_default_currency_at_zero():
    seller = connected_account(currency="eur")

    found = sdk().v1.balance.retrieve(options=as_account(seller))

    assert [(a.amount, a.currency) for a in found.available] == [(0, "eur")]
    assert [(a.amount, a.currency) for a in found.pending] == [(0, "eur")]


def test_balance_for_an_unknown_stripe_account_is_refused():
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk().v1.balance.retrieve(options=as_account("acct_nobody"))

    assert excinfo.value.http_status == 404


def test_balance_transactions_filter_by_type_source_and_currency():
    seller = funded_account(500)
    payout = sdk().v1.payouts.create(
        params={"amount": 200, "currency": "usd"}, options=as_account(seller)
    )
    options = as_account(seller)

    payments = sdk().v1.balance_transactions.list(params={"type": "payment"}, options=options)
    payouts = sdk().v1.balance_transactions.list(params={"type": "payout"}, options=options)
    by_source = sdk().v1.balance_transactions.list(params={"source": payout.id}, options=options)
    by_payout = sdk().v1.balance_transactions.list(params={"payout": payout.id}, options=options)
    in_eur = sdk().v1.balance_transactions.list(params={"currency": "EUR"}, options=options)

    assert [(t.type, t.amount) for t in payments.data] == [("payment", 500)]
    assert [(t.type, t.amount, t.source) for t in payouts.data] == [("payout", -200, payout.id)]
    assert [t.id for t in by_source.data] == [payout.balance_transaction]
    assert [t.id for t in by_payout.data] == [payout.balance_transaction]
    assert in_eur.data == []
    fetched = sdk().v1.balance_transactions.retrieve(payout.balance_transaction, options=options)
    assert (fetched.net, fetched.reporting_category) == (-200, "payout")


def test_balance_transactions_are_scoped_by_stripe_account():
    first, second = funded_account(300), funded_account(400)
    [first_txn] = sdk().v1.balance_transactions.list(options=as_account(first)).data

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk().v1.balance_transactions.retrieve(first_txn.id, options=as_account(second))
    assert excinfo.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        sdk().v1.balance_transactions.retrieve(first_txn.id)  # nor does the platform see it

    seen_by_second = sdk().v1.balance_transactions.list(options=as_account(second)).data
    assert [t.amount for t in seen_by_second] == [400]
    platform_types = {t.type for t in sdk().v1.balance_transactions.list().data}
    assert platform_types == {"charge", "transfer"}


def test_balance_transactions_paginate_with_starting_after():
    fund_platform(10_000)
    seller = connected_account()
    for amount in (100, 200, 300, 400):
        sdk().v1.transfers.create(
            params={"amount": amount, "currency": "usd", "destination": seller}
        )
    options = as_account(seller)

    page = sdk().v1.balance_transactions.list(params={"limit": 3}, options=options)
    rest = sdk().v1.balance_transactions.list(
        params={"limit": 3, "starting_after": page.data[-1].id}, options=options
    )

    assert [t.amount for t in page.data] == [400, 300, 200]
    assert page.has_more is True
    assert [t.amount for t in rest.data] == [100]
    assert rest.has_more is False
    everything = sdk().v1.balance_transactions.list(params={"limit": 2}, options=options)
    assert [t.amount for t in everything.auto_paging_iter()] == [400, 300, 200, 100]


def test_balance_transactions_filter_by_created():
    fund_platform(1000)
    seller = connected_account()
    sdk().v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": seller})
    control.advance_clock(days=3)
    cutoff = core.now()
    sdk().v1.transfers.create(params={"amount": 200, "currency": "usd", "destination": seller})

    recent = sdk().v1.balance_transactions.list(
        params={"created": {"gte": cutoff}}, options=as_account(seller)
    )

    assert [t.amount for t in recent.data] == [200]


def test_the_older_balance_history_endpoint_answers_too():
    seller = funded_account(250)

    listing = sdk().raw_request("get", "/v1/balance/history", stripe_account=seller)

    data = sdk().deserialize(listing, api_mode="V1")
    assert [t.amount for t in data.data] == [250]


def test_balance_objects_match_stripes_schema():
    seller = funded_account(700)
    platform_charge(500)

    assert_stripe_shape(sdk().v1.balance.retrieve(), "balance")
    assert_stripe_shape(sdk().v1.balance.retrieve(options=as_account(seller)), "balance")
    for txn in sdk().v1.balance_transactions.list(options=as_account(seller)).data:
        assert_stripe_shape(txn, "balance_transaction")
