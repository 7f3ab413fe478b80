"""Payouts on connected accounts (and the platform), through the real stripe SDK."""

from urllib.parse import urlsplit

import pytest
import stripe

from stripe_sandbox import control, core
from stripe_sandbox.tests.helpers_money import (
    DAY,
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


def payout(account, amount, **params):
    return sdk().v1.payouts.create(
        params={"amount": amount, "currency": "usd", **params},
        options=as_account(account, idempotency_key=core.new_id("po-test")),
    )


def fetch(account, payout_id):
    return sdk().v1.payouts.retrieve(payout_id, options=as_account(account))


def account_events(event_type, account):
    return [e for e in control.events(event_type) if e.get("account") == account]


def test_a_standard_payout_goes_pending_in_transit_paid_on_the_sandbox_clock():
    seller = funded_account(1000)
    bank = core.get(seller, kind="account")["external_accounts"]["data"][0]

    made = payout(seller, 400, description="Weekly payout", statement_descriptor="BAZAAR")

    assert made.id.startswith("po_")
    assert (made.status, made.method, made.type) == ("pending", "standard", "bank_account")
    assert made.destination == bank["id"]
    assert made.arrival_date == made.created + 2 * DAY
    assert made.automatic is False
    # The money leaves the available balance at once.
    assert balance(seller)["available"] == {"usd": 600}
    txn = sdk().v1.balance_transactions.retrieve(
        made.balance_transaction, options=as_account(seller)
    )
    assert (txn.type, txn.amount, txn.source, txn.status) == ("payout", -400, made.id, "available")
    [created_event] = account_events("payout.created", seller)
    assert created_event["data"]["object"]["id"] == made.id

    control.advance_clock(hours=1)
    assert fetch(seller, made.id).status == "in_transit"
    control.advance_clock(days=1)
    assert fetch(seller, made.id).status == "in_transit"
    control.advance_clock(days=1)
    assert fetch(seller, made.id).status == "paid"

    [paid] = control.events("payout.paid")
    assert paid["account"] == seller  # a Connect event, for the connected account
    assert paid["data"]["object"]["id"] == made.id
    assert paid["data"]["object"]["status"] == "paid"
    assert balance(seller)["available"] == {"usd": 600}
    types = [e["type"] for e in control.events(account=seller)]
    assert types == ["payout.created", "payout.updated", "payout.paid"]


def test_a_payout_to_the_failing_test_bank_account_fails_and_the_money_comes_back():
    seller = funded_account(1000, failing_bank=True)  # 000111111116

    made = payout(seller, 700)
    assert balance(seller)["available"] == {"usd": 300}
    control.advance_clock(days=2)

    failed = fetch(seller, made.id)
    assert failed.status == "failed"
    assert failed.failure_code == "no_account"
    assert "No bank account could be located" in failed.failure_message
    assert balance(seller)["available"] == {"usd": 1000}
    failure_txn = sdk().v1.balance_transactions.retrieve(
        failed.failure_balance_transaction, options=as_account(seller)
    )
    assert (failure_txn.type, failure_txn.amount, failure_txn.source) == (
        "payout_failure",
        700,
        made.id,
    )
    [event] = control.events("payout.failed")
    assert event["account"] == seller
    assert event["data"]["object"]["failure_code"] == "no_account"
    assert control.events("payout.paid") == []
    bank = core.get(seller, kind="account")["external_accounts"]["data"][0]
    assert bank["status"] == "errored"


@pytest.mark.parametrize(
    ("last4", "code"),
    [
        ("1116", "no_account"),
        ("1113", "account_closed"),
        ("2227", "insufficient_funds"),
        ("3335", "debit_not_authorized"),
        ("4440", "invalid_currency"),
        ("6789", None),
    ],
)
def test_each_of_stripes_test_bank_accounts_fails_with_its_own_code(last4, code):
    seller = funded_account(500, bank_last4=last4)

    made = payout(seller, 500)
    control.advance_clock(days=2)

    found = fetch(seller, made.id)
    assert found.failure_code == code
    assert found.status == ("failed" if code else "paid")
    assert balance(seller)["available"] == {"usd": 500 if code else 0}


def test_an_instant_payout_arrives_in_thirty_minutes_and_may_use_settling_funds():
    seller = connected_account()
    charge = platform_charge(2000)
    sdk().v1.transfers.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "destination": seller,
            "source_transaction": charge["id"],
        }
    )
    assert balance(seller)["available"] == {"usd": 0}

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 500)  # standard: only available funds
    assert excinfo.value.code == "balance_insufficient"

    made = payout(seller, 500, method="instant")

    assert made.method == "instant"
    assert made.arrival_date == made.created + 30 * 60
    assert balance(seller)["instant_available"] == {"usd": 500}
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 501, method="instant")
    assert excinfo.value.code == "balance_insufficient"
    control.advance_clock(minutes=29)
    assert fetch(seller, made.id).status == "in_transit"
    control.advance_clock(minutes=1)
    assert fetch(seller, made.id).status == "paid"
    assert control.events("payout.paid")[0]["account"] == seller
    control.advance_clock(days=2)
    assert balance(seller)["available"] == {"usd": 500}


def test_a_payout_above_the_available_balance_is_refused():
    seller = funded_account(300)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 301)

    assert excinfo.value.http_status == 400
    assert excinfo.value.code == "balance_insufficient"
    assert balance(seller)["available"] == {"usd": 300}
    assert sdk().v1.payouts.list(options=as_account(seller)).data == []
    assert control.events("payout.created") == []


def test_payouts_need_payouts_enabled():
    seller = connected_account(payouts_enabled=False)
    fund_platform(500)
    sdk().v1.transfers.create(params={"amount": 500, "currency": "usd", "destination": seller})

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 100)

    assert excinfo.value.code == "payouts_not_allowed"
    assert "payouts_enabled" in str(excinfo.value)


def test_payouts_need_an_external_account_in_the_currency():
    seller = funded_account(500, bank=False)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 100)

    assert "external account" in str(excinfo.value)
    assert balance(seller)["available"] == {"usd": 500}
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(funded_account(500), 100, destination="ba_unknown")
    assert excinfo.value.http_status == 404


def test_a_pending_standard_payout_can_be_canceled_and_returns_the_money():
    seller = funded_account(800)
    made = payout(seller, 500)

    canceled = sdk().v1.payouts.cancel(made.id, options=as_account(seller))

    assert canceled.status == "canceled"
    assert balance(seller)["available"] == {"usd": 800}
    cancel_txn = sdk().v1.balance_transactions.retrieve(
        canceled.failure_balance_transaction, options=as_account(seller)
    )
    assert (cancel_txn.type, cancel_txn.amount) == ("payout_cancel", 500)
    assert control.events("payout.canceled")[0]["account"] == seller
    control.advance_clock(days=3)
    assert fetch(seller, made.id).status == "canceled"  # the clock leaves it alone
    assert control.events("payout.paid") == []


def test_only_pending_standard_payouts_can_be_canceled():
    seller = funded_account(800)
    in_transit = payout(seller, 100)
    instant = payout(seller, 100, method="instant")
    control.advance_clock(hours=2)

    with pytest.raises(stripe.InvalidRequestError, match="in_transit"):
        sdk().v1.payouts.cancel(in_transit.id, options=as_account(seller))
    with pytest.raises(stripe.InvalidRequestError, match="Instant payouts"):
        sdk().v1.payouts.cancel(instant.id, options=as_account(seller))
    assert balance(seller)["available"] == {"usd": 600}


def test_one_connected_account_cannot_see_anothers_payouts():
    first, second = funded_account(500), funded_account(500)
    made = payout(first, 200)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        fetch(second, made.id)
    assert excinfo.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        sdk().v1.payouts.cancel(made.id, options=as_account(second))
    with pytest.raises(stripe.InvalidRequestError):
        sdk().v1.payouts.retrieve(made.id)  # nor the platform without Stripe-Account

    assert sdk().v1.payouts.list(options=as_account(second)).data == []
    assert [p.id for p in sdk().v1.payouts.list(options=as_account(first)).data] == [made.id]
    with pytest.raises(stripe.InvalidRequestError):
        sdk().v1.balance_transactions.retrieve(made.balance_transaction, options=as_account(second))


def test_payout_list_filters_and_paginates():
    seller = funded_account(1000)
    made = [payout(seller, 100 + n).id for n in range(4)]
    control.advance_clock(days=2)
    late = payout(seller, 50)
    options = as_account(seller)

    page = sdk().v1.payouts.list(params={"limit": 2}, options=options)
    assert [p.id for p in page.data] == [late.id, made[3]]
    assert page.has_more is True
    rest = sdk().v1.payouts.list(
        params={"limit": 2, "starting_after": page.data[-1].id}, options=options
    )
    assert [p.id for p in rest.data] == [made[2], made[1]]
    assert rest.has_more is True

    paid = sdk().v1.payouts.list(params={"status": "paid"}, options=options)
    assert sorted(p.id for p in paid.data) == sorted(made)
    pending = sdk().v1.payouts.list(params={"status": "pending"}, options=options)
    assert [p.id for p in pending.data] == [late.id]
    arriving_later = sdk().v1.payouts.list(
        params={"arrival_date": {"gt": late.created}}, options=options
    )
    assert [p.id for p in arriving_later.data] == [late.id]
    exact = sdk().v1.payouts.list(params={"arrival_date": late.arrival_date}, options=options)
    assert [p.id for p in exact.data] == [late.id]


def test_payout_metadata_updates_emit_payout_updated():
    seller = funded_account(500)
    made = payout(seller, 100, metadata={"batch": "1"})

    updated = sdk().v1.payouts.update(
        made.id, params={"metadata": {"batch": "2"}}, options=as_account(seller)
    )

    assert updated.metadata.to_dict() == {"batch": "2"}
    [event] = control.events("payout.updated")
    assert event["account"] == seller
    assert event["data"]["previous_attributes"] == {"metadata": {"batch": "1"}}


def test_the_platform_pays_out_to_its_own_bank_account():
    fund_platform(1000)

    made = sdk().v1.payouts.create(params={"amount": 600, "currency": "usd"})

    assert made.destination.startswith("ba_")
    assert balance()["available"] == {"usd": 400}
    control.advance_clock(days=2)
    assert sdk().v1.payouts.retrieve(made.id).status == "paid"
    [event] = control.events("payout.paid")
    assert "account" not in event  # the platform's own event


def test_payout_parameters_are_checked_like_stripe():
    seller = funded_account(500)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 100, method="teleport")
    assert excinfo.value.param == "method"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 0)
    assert excinfo.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        payout(seller, 100, statement_descriptor="X" * 23)
    assert excinfo.value.param == "statement_descriptor"


def test_payouts_match_stripes_schema():
    seller = funded_account(1000)
    standard = payout(seller, 100)
    failing = funded_account(500, failing_bank=True)
    to_fail = payout(failing, 100)
    control.advance_clock(days=2)

    assert_stripe_shape(standard, "payout")
    assert_stripe_shape(fetch(seller, standard.id), "payout")
    assert_stripe_shape(fetch(failing, to_fail.id), "payout")
    for event in control.events(account=seller):
        assert_stripe_shape(event["data"]["object"], "payout")


def test_the_express_dashboard_shows_balances_and_payouts_in_their_currency(client):
    seller = funded_account(123456)
    payout(seller, 3000)

    login = sdk().v1.accounts.login_links.create(seller)  # the seller opens their dashboard

    page = client.get(urlsplit(login.url).path, follow=True)

    assert page.status_code == 200
    assert page.redirect_chain == [(f"/stripe-sandbox/express/{seller}/", 302)]
    text = page.content.decode()
    assert "US$1,204.56" in text  # available after the payout
    assert "US$30.00" in text  # the payout on its way
