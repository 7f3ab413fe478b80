"""Payments in the Stripe sandbox through the real stripe SDK: customers, payment methods,
PaymentIntents, charges, refunds and disputes, held to Stripe's rules and shapes."""

import json
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe

from stripe_sandbox import control, core, testing
from stripe_sandbox.resources.payments import dispute_create_for_charge
from stripe_sandbox.router import handle
from stripe_sandbox.testing import SECRET_KEY as SANDBOX_SECRET_KEY

pytestmark = pytest.mark.django_db

DAY = 86400
SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "stripe-openapi"


@pytest.fixture
def api():
    return testing.client().v1


def connected_account(api):
    """A Connect Express account that can receive transfers (onboarding done)."""
    account = api.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    stored = core.get(account.id, kind="account")
    stored["capabilities"] = {"transfers": "active", "card_payments": "active"}
    core.save(stored, account=core.PLATFORM)
    return account.id


def pay(api, amount=2000, pm="pm_card_visa", **params):
    """A confirmed card PaymentIntent (cards only: no return_url needed)."""
    return api.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": pm,
            "payment_method_types": ["card"],
            "confirm": True,
            **params,
        }
    )


def event_types(prefixes=("payment_intent.", "charge.", "refund.", "checkout.")):
    return [e["type"] for e in control.events() if e["type"].startswith(prefixes)]


# --- Customers ----------------------------------------------------------------------------------


def test_customer_lifecycle_create_update_list_delete(api):
    ada = api.customers.create(params={"email": "ada@example.com", "name": "Ada"})
    api.customers.create(params={"email": "bob@example.com"})

    assert ada.id.startswith("cus_")
    assert ada.invoice_settings.default_payment_method is None
    updated = api.customers.update(ada.id, params={"metadata": {"bazaar_user": "7"}})
    assert updated.metadata.to_dict() == {"bazaar_user": "7"}
    assert [c.id for c in api.customers.list(params={"email": "ada@example.com"}).data] == [ada.id]

    deleted = api.customers.delete(ada.id)
    assert deleted.deleted is True
    assert api.customers.retrieve(ada.id).deleted is True
    assert [c.email for c in api.customers.list().data] == ["bob@example.com"]
    assert event_types(("customer.",)) == [
        "customer.created",
        "customer.created",
        "customer.updated",
        "customer.deleted",
    ]
    updated_event = control.events("customer.updated")[0]
    assert updated_event["data"]["previous_attributes"] == {"metadata": {}}


def test_a_deleted_customer_cannot_pay(api):
    customer = api.customers.create(params={})
    api.customers.delete(customer.id)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        pay(api, customer=customer.id)

    assert excinfo.value.code == "resource_missing"
    assert excinfo.value.param == "customer"


# --- Payment methods ----------------------------------------------------------------------------


def test_a_test_token_becomes_a_real_card_payment_method(api):
    pi = pay(api, pm="pm_card_mastercard")

    pm = api.payment_methods.retrieve(pi.payment_method)
    assert pm.id.startswith("pm_") and pm.id != "pm_card_mastercard"
    assert (pm.card.brand, pm.card.last4, pm.card.funding) == ("mastercard", "4444", "credit")


def test_attach_list_and_detach_payment_methods(api):
    customer = api.customers.create(params={})
    other = api.customers.create(params={})
    visa = api.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    amex = api.payment_methods.attach("pm_card_amex", params={"customer": customer.id})

    listed = api.customers.payment_methods.list(customer.id)
    assert [pm.id for pm in listed.data] == [amex.id, visa.id]
    assert [pm.id for pm in api.payment_methods.list(params={"customer": other.id}).data] == []
    with pytest.raises(stripe.InvalidRequestError, match="already been attached"):
        api.payment_methods.attach(visa.id, params={"customer": other.id})

    detached = api.payment_methods.detach(visa.id)
    assert detached.customer is None
    with pytest.raises(stripe.InvalidRequestError, match="not attached to a customer"):
        api.payment_methods.detach(visa.id)
    assert event_types(("payment_method.",)) == [
        "payment_method.attached",
        "payment_method.attached",
        "payment_method.detached",
    ]


def test_an_unattached_payment_method_pays_only_once(api):
    first = pay(api)

    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        pay(api, pm=first.payment_method)


def test_a_customers_payment_method_needs_that_customer(api):
    customer = api.customers.create(params={})
    pm = api.payment_methods.attach("pm_card_visa", params={"customer": customer.id})

    with pytest.raises(stripe.InvalidRequestError, match="belongs to a Customer"):
        pay(api, pm=pm.id)
    assert pay(api, pm=pm.id, customer=customer.id).status == "succeeded"
    assert pay(api, pm=pm.id, customer=customer.id).status == "succeeded"  # saved cards reuse


# --- PaymentIntents -----------------------------------------------------------------------------


def test_payment_intent_moves_through_stripes_statuses(api):
    pi = api.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "payment_method_types": ["card"]}
    )
    assert pi.status == "requires_payment_method"
    assert pi.client_secret.startswith(f"{pi.id}_secret_")
    assert pi.latest_charge is None

    pi = api.payment_intents.update(pi.id, params={"payment_method": "pm_card_visa"})
    assert pi.status == "requires_confirmation"

    pi = api.payment_intents.confirm(pi.id)
    assert pi.status == "succeeded"
    assert pi.amount_received == 1500
    charge = api.charges.retrieve(pi.latest_charge)
    assert (charge.status, charge.paid, charge.captured) == ("succeeded", True, True)
    assert charge.amount_captured == 1500
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.outcome.type == "authorized"
    assert charge.receipt_url.endswith(f"/stripe-sandbox/receipts/{charge.id}/")

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.confirm(pi.id)
    assert excinfo.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError, match="could not be updated"):
        api.payment_intents.update(pi.id, params={"amount": 99})
    assert api.payment_intents.update(pi.id, params={"description": "Order 9"}).description


def test_a_successful_charge_books_the_fee_and_settles_later(api):
    pi = api.payment_intents.retrieve(
        pay(api, amount=10000).id, params={"expand": ["latest_charge.balance_transaction"]}
    )

    txn = pi.latest_charge.balance_transaction
    assert txn.type == "charge"
    assert (txn.amount, txn.fee, txn.net) == (10000, 320, 9680)  # 2.9% + 30
    assert txn.fee_details[0].type == "stripe_fee"
    assert txn.status == "pending"
    # Settles SETTLEMENT_DAYS after the capture (the balance transaction's own time: a loaded
    # machine can tick a second between the charge's creation and its capture).
    assert txn.available_on == txn.created + core.SETTLEMENT_DAYS * DAY
    assert txn.created - pi.latest_charge.created in (0, 1)
    assert core.balance_of(core.PLATFORM)["pending"] == {"usd": 9680}

    control.advance_clock(days=core.SETTLEMENT_DAYS)
    assert core.balance_of(core.PLATFORM)["available"] == {"usd": 9680}
    assert api.balance_transactions.retrieve(txn.id).status == "available"


def test_expand_latest_charge(api):
    pi = pay(api)

    expanded = api.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})

    assert expanded.latest_charge.id == pi.latest_charge
    assert expanded.latest_charge.payment_intent == pi.id
    assert isinstance(expanded.latest_charge.balance_transaction, str)


def test_dynamic_payment_methods_need_a_return_url_to_confirm(api):
    with pytest.raises(stripe.InvalidRequestError, match="you must provide a `return_url`"):
        api.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )

    pi = api.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    assert pi.status == "succeeded"
    assert pi.automatic_payment_methods.enabled is True


@pytest.mark.parametrize(
    ("token", "code", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline", "Your card was declined."),
        ("pm_card_insufficient_funds", "card_declined", "insufficient_funds", "insufficient funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card", "has expired"),
        ("pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card", "was declined"),
        ("pm_card_radarBlock", "card_declined", "fraudulent", "was declined"),
    ],
)
def test_declines_answer_402_and_keep_the_failed_charge(api, token, code, decline_code, message):
    with pytest.raises(stripe.CardError) as excinfo:
        pay(api, pm=token)

    error = excinfo.value
    assert error.http_status == 402
    assert (error.code, error.error.decline_code) == (code, decline_code)
    assert message in str(error)
    pi = error.error.payment_intent
    assert pi.status == "requires_payment_method"
    assert pi.payment_method is None
    assert pi.last_payment_error.decline_code == decline_code
    assert pi.last_payment_error.payment_method.id.startswith("pm_")
    charge = api.charges.retrieve(error.error.charge)
    assert (charge.status, charge.paid, charge.captured) == ("failed", False, False)
    assert charge.failure_code == code
    assert charge.balance_transaction is None
    assert charge.id == api.payment_intents.retrieve(pi.id).latest_charge
    assert event_types() == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
    ]


def test_a_declined_payment_intent_can_be_paid_with_another_card(api):
    with pytest.raises(stripe.CardError) as excinfo:
        pay(api, pm="pm_card_chargeDeclined")
    pi_id = excinfo.value.error.payment_intent.id

    pi = api.payment_intents.confirm(pi_id, params={"payment_method": "pm_card_visa"})

    assert pi.status == "succeeded"
    assert pi.last_payment_error is None
    charges = api.charges.list(params={"payment_intent": pi_id}).data
    assert [c.status for c in charges] == ["succeeded", "failed"]


def test_events_follow_stripes_order_for_a_card_payment(api):
    pay(api)

    assert event_types() == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]
    succeeded = control.events("payment_intent.succeeded")[0]
    assert succeeded["data"]["object"]["status"] == "succeeded"
    assert control.events("charge.succeeded")[0]["data"]["object"]["paid"] is True


def test_replaying_an_idempotent_create_returns_the_same_payment_intent(api):
    params = {
        "amount": 1200,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "payment_method_types": ["card"],
        "confirm": True,
    }

    first = api.payment_intents.create(params=params, options={"idempotency_key": "order-1-pay"})
    again = api.payment_intents.create(params=params, options={"idempotency_key": "order-1-pay"})

    assert again.id == first.id
    assert again.last_response.headers.get("idempotent-replayed") == "true"
    assert len(api.payment_intents.list().data) == 1
    assert len(api.charges.list().data) == 1


def test_a_replayed_decline_is_the_same_decline(api):
    params = {
        "amount": 1200,
        "currency": "usd",
        "payment_method": "pm_card_chargeDeclined",
        "payment_method_types": ["card"],
        "confirm": True,
    }
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as excinfo:
            api.payment_intents.create(params=params, options={"idempotency_key": "k-decl"})
        errors.append(excinfo.value.error.charge)

    assert errors[0] == errors[1]
    assert len(api.charges.list().data) == 1


def test_unknown_and_malformed_parameters_are_400s(api):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.create(params={"amount": 100, "currency": "usd", "colour": "red"})
    assert excinfo.value.param == "colour"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.create(params={"amount": 10, "currency": "usd"})
    assert excinfo.value.code == "amount_too_small"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "capture_method": "later"}
        )
    assert excinfo.value.param == "capture_method"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.create(params={"amount": 1000})
    assert excinfo.value.code == "parameter_missing"


def test_missing_payment_intent_is_a_404(api):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.retrieve("pi_nope")

    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"


def test_lists_paginate_and_filter_by_customer(api):
    ada = api.customers.create(params={})
    made = [
        api.payment_intents.create(
            params={
                "amount": 1000 + n,
                "currency": "usd",
                "customer": ada.id,
                "payment_method_types": ["card"],
            }
        ).id
        for n in range(3)
    ]
    api.payment_intents.create(
        params={"amount": 900, "currency": "usd", "payment_method_types": ["card"]}
    )

    page = api.payment_intents.list(params={"customer": ada.id, "limit": 2})
    assert [p.id for p in page.data] == made[::-1][:2]
    assert page.has_more is True
    rest = api.payment_intents.list(
        params={"customer": ada.id, "limit": 2, "starting_after": page.data[-1].id}
    )
    assert [p.id for p in rest.data] == [made[0]]
    assert rest.has_more is False
    assert len(api.payment_intents.list().data) == 4


def test_charges_filter_by_payment_intent_customer_and_transfer_group(api):
    ada = api.customers.create(params={})
    one = pay(api, customer=ada.id, transfer_group="order-1")
    pay(api, transfer_group="order-2")

    assert [c.id for c in api.charges.list(params={"transfer_group": "order-1"}).data] == [
        one.latest_charge
    ]
    assert [c.id for c in api.charges.list(params={"customer": ada.id}).data] == [one.latest_charge]
    assert [c.payment_intent for c in api.charges.list(params={"payment_intent": one.id})] == [
        one.id
    ]


def test_charge_update_changes_metadata_and_emits_charge_updated(api):
    pi = pay(api)

    charge = api.charges.update(
        pi.latest_charge, params={"metadata": {"order": "42"}, "description": "Order 42"}
    )

    assert charge.metadata.to_dict() == {"order": "42"}
    event = control.events("charge.updated")[0]
    assert event["data"]["previous_attributes"] == {"description": None, "metadata": {}}
    with pytest.raises(stripe.InvalidRequestError):
        api.charges.update(pi.latest_charge, params={"amount": 5})


# --- Manual capture -----------------------------------------------------------------------------


def test_manual_capture_holds_then_captures_part(api):
    pi = pay(api, amount=5000, capture_method="manual")

    assert pi.status == "requires_capture"
    assert pi.amount_capturable == 5000
    charge = api.charges.retrieve(pi.latest_charge)
    assert (charge.captured, charge.paid, charge.balance_transaction) == (False, True, None)
    assert event_types()[-2:] == ["charge.succeeded", "payment_intent.amount_capturable_updated"]

    with pytest.raises(stripe.InvalidRequestError, match="amount_capturable"):
        api.payment_intents.capture(pi.id, params={"amount_to_capture": 6000})
    pi = api.payment_intents.capture(pi.id, params={"amount_to_capture": 3000})

    assert (pi.status, pi.amount_received, pi.amount_capturable) == ("succeeded", 3000, 0)
    charge = api.charges.retrieve(pi.latest_charge, params={"expand": ["balance_transaction"]})
    assert (charge.captured, charge.amount_captured, charge.amount_refunded) == (True, 3000, 2000)
    assert charge.refunded is False
    assert charge.balance_transaction.amount == 3000
    assert event_types()[-2:] == ["charge.captured", "payment_intent.succeeded"]
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.capture(pi.id)
    assert excinfo.value.code == "payment_intent_unexpected_state"


def test_uncaptured_payment_intents_are_canceled_after_seven_days(api):
    pi = pay(api, amount=4000, capture_method="manual")

    control.advance_clock(days=6, hours=23)
    assert api.payment_intents.retrieve(pi.id).status == "requires_capture"
    control.advance_clock(hours=1)

    pi = api.payment_intents.retrieve(pi.id)
    assert (pi.status, pi.cancellation_reason) == ("canceled", "automatic")
    charge = api.charges.retrieve(pi.latest_charge)
    assert (charge.refunded, charge.amount_refunded, charge.captured) == (True, 4000, False)
    refund = api.refunds.list(params={"charge": charge.id}).data[0]
    assert refund.reason == "expired_uncaptured_charge"
    assert event_types()[-2:] == ["charge.expired", "payment_intent.canceled"]
    # Stripe did this by itself: the event names no API request.
    assert control.events("payment_intent.canceled")[-1]["request"]["id"] is None
    assert control.events("payment_intent.created")[-1]["request"]["id"].startswith("req_")
    with pytest.raises(stripe.InvalidRequestError):
        api.payment_intents.capture(pi.id)


def test_canceling_releases_an_authorisation(api):
    held = pay(api, amount=3000, capture_method="manual")
    paid = pay(api)

    canceled = api.payment_intents.cancel(
        held.id, params={"cancellation_reason": "requested_by_customer"}
    )

    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "requested_by_customer")
    assert api.charges.retrieve(held.latest_charge).refunded is True
    assert core.balance_of(core.PLATFORM)["pending"] == {"usd": 2000 - 88}  # only `paid`
    with pytest.raises(stripe.InvalidRequestError, match="status of succeeded"):
        api.payment_intents.cancel(paid.id)


# --- 3D Secure ----------------------------------------------------------------------------------


def test_authentication_required_card_asks_for_3d_secure_then_succeeds(api, client):
    pi = pay(api, pm="pm_card_authenticationRequired", return_url="https://shop.test/back")

    assert pi.status == "requires_action"
    assert pi.latest_charge is None
    assert pi.next_action.type == "redirect_to_url"
    page_url = pi.next_action.redirect_to_url.url
    path = urlsplit(page_url).path
    assert path == f"/stripe-sandbox/authenticate/{pi.id}/"
    assert event_types()[-1] == "payment_intent.requires_action"

    page = client.get(path)
    assert page.status_code == 200
    assert "Authenticate this payment" in page.content.decode()
    response = client.post(path, {"action": "complete"})

    assert response.status_code == 302
    back = urlsplit(response["Location"])
    assert back.netloc == "shop.test"
    assert parse_qs(back.query)["redirect_status"] == ["succeeded"]
    assert parse_qs(back.query)["payment_intent"] == [pi.id]
    pi = api.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})
    assert pi.status == "succeeded"
    assert pi.latest_charge.payment_method_details.card.three_d_secure.result == "authenticated"


def test_failed_3d_secure_leaves_the_payment_intent_needing_a_payment_method(api, client):
    pi = pay(api, pm="pm_card_authenticationRequired", return_url="https://shop.test/back")

    response = client.post(f"/stripe-sandbox/authenticate/{pi.id}/", {"action": "fail"})

    assert parse_qs(urlsplit(response["Location"]).query)["redirect_status"] == ["failed"]
    pi = api.payment_intents.retrieve(pi.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "payment_intent_authentication_failure"
    assert pi.latest_charge is None
    assert event_types()[-1] == "payment_intent.payment_failed"


def test_a_card_can_pass_3d_secure_and_still_be_declined(api, client):
    pi = pay(
        api,
        pm="pm_card_authenticationRequiredChargeDeclinedInsufficientFunds",
        return_url="https://shop.test/back",
    )

    response = client.post(f"/stripe-sandbox/authenticate/{pi.id}/", {"action": "complete"})

    assert parse_qs(urlsplit(response["Location"]).query)["redirect_status"] == ["failed"]
    pi = api.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.decline_code == "insufficient_funds"
    assert pi.latest_charge.status == "failed"  # the failed charge is kept
    assert event_types()[-2:] == ["charge.failed", "payment_intent.payment_failed"]


def test_off_session_payment_needing_authentication_is_declined(api):
    customer = api.customers.create(params={})
    pm = api.payment_methods.attach(
        "pm_card_authenticationRequired", params={"customer": customer.id}
    )

    with pytest.raises(stripe.CardError) as excinfo:
        pay(api, pm=pm.id, customer=customer.id, off_session=True)

    assert excinfo.value.code == "authentication_required"
    assert excinfo.value.error.payment_intent.status == "requires_payment_method"


# --- Refunds ------------------------------------------------------------------------------------


def test_partial_then_full_refund_with_balance_transactions(api):
    pi = pay(api, amount=10000)

    first = api.refunds.create(
        params={"payment_intent": pi.id, "amount": 2500, "reason": "requested_by_customer"}
    )
    charge = api.charges.retrieve(pi.latest_charge)
    assert (first.status, first.amount, first.charge) == ("succeeded", 2500, charge.id)
    assert (charge.amount_refunded, charge.refunded) == (2500, False)
    txn = api.balance_transactions.retrieve(first.balance_transaction)
    assert (txn.type, txn.amount, txn.fee, txn.net) == ("refund", -2500, 0, -2500)

    rest = api.refunds.create(params={"charge": charge.id})
    assert rest.amount == 7500
    charge = api.charges.retrieve(pi.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (10000, True)
    assert "refunds" not in charge  # listed only when expanded (API 2022-11-15 and later)
    expanded = api.charges.retrieve(charge.id, params={"expand": ["refunds"]})
    assert sorted(r.amount for r in expanded.refunds.data) == [2500, 7500]
    # Stripe keeps its fee on a refund: the balance ends at minus the fee.
    assert (
        sum(core.balance_of(core.PLATFORM)[k].get("usd", 0) for k in ("available", "pending"))
        == -320
    )

    refunded = control.events("charge.refunded")
    assert [e["data"]["previous_attributes"] for e in refunded] == [
        {"amount_refunded": 0},
        {"amount_refunded": 2500, "refunded": False},
    ]
    assert event_types()[-4:] == [
        "charge.refunded",
        "refund.created",
        "charge.refunded",
        "refund.created",
    ]
    assert [r.id for r in api.refunds.list(params={"payment_intent": pi.id}).data] == [
        rest.id,
        first.id,
    ]
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.refunds.create(params={"charge": charge.id})
    assert excinfo.value.code == "charge_already_refunded"


def test_refund_rules(api):
    pi = pay(api, amount=1000)
    held = pay(api, amount=1000, capture_method="manual")

    with pytest.raises(stripe.InvalidRequestError, match="greater than unrefunded amount"):
        api.refunds.create(params={"charge": pi.latest_charge, "amount": 1001})
    with pytest.raises(stripe.InvalidRequestError, match="does not have a successful charge"):
        api.refunds.create(params={"payment_intent": held.id})
    with pytest.raises(stripe.InvalidRequestError, match="payment_intent or charge"):
        api.refunds.create(params={"amount": 100})
    with pytest.raises(stripe.InvalidRequestError, match="destination charge"):
        api.refunds.create(params={"charge": pi.latest_charge, "reverse_transfer": True})

    refund = api.refunds.create(params={"charge": pi.latest_charge, "amount": 400})
    with pytest.raises(stripe.InvalidRequestError, match="requires_action"):
        api.refunds.cancel(refund.id)
    updated = api.refunds.update(refund.id, params={"metadata": {"ticket": "T-1"}})
    assert updated.metadata.to_dict() == {"ticket": "T-1"}
    assert api.refunds.retrieve(refund.id).metadata.to_dict() == {"ticket": "T-1"}
    assert "charge.refund.updated" in event_types()


# --- Disputes -----------------------------------------------------------------------------------


def test_the_dispute_card_is_disputed_right_after_it_succeeds(api):
    pi = pay(api, amount=5000, pm="pm_card_createDispute")

    assert pi.status == "succeeded"
    charge = api.charges.retrieve(pi.latest_charge)
    assert charge.disputed is True
    dispute = api.disputes.list(params={"charge": charge.id}).data[0]
    assert (dispute.status, dispute.reason, dispute.amount) == (
        "needs_response",
        "fraudulent",
        5000,
    )
    assert dispute.payment_intent == pi.id
    [withdrawal] = dispute.balance_transactions
    assert (withdrawal.amount, withdrawal.fee, withdrawal.net) == (-5000, 1500, -6500)
    assert event_types()[-3:] == [
        "payment_intent.succeeded",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.refunds.create(params={"charge": charge.id})
    assert excinfo.value.code == "charge_disputed"


def test_submitting_evidence_and_closing_disputes(api):
    first = pay(api, pm="pm_card_createDispute")
    second = pay(api, pm="pm_card_createDispute")
    dispute = api.disputes.list(params={"payment_intent": first.id}).data[0]

    staged = api.disputes.update(
        dispute.id, params={"evidence": {"product_description": "Handmade mug"}, "submit": False}
    )
    assert staged.status == "needs_response"
    assert staged.evidence.product_description == "Handmade mug"
    submitted = api.disputes.update(dispute.id, params={"metadata": {"case": "1"}})
    assert submitted.status == "needs_response"  # metadata alone submits nothing
    submitted = api.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "Delivered and signed for"}}
    )
    assert submitted.status == "under_review"
    assert submitted.evidence_details.submission_count == 1
    with pytest.raises(stripe.InvalidRequestError):
        api.disputes.close(dispute.id)

    other = api.disputes.list(params={"payment_intent": second.id}).data[0]
    closed = api.disputes.close(other.id)
    assert closed.status == "lost"
    with pytest.raises(stripe.InvalidRequestError, match="already closed"):
        api.disputes.close(other.id)
    assert event_types(("charge.dispute.",))[-1] == "charge.dispute.closed"


def test_winning_evidence_wins_the_dispute_and_reinstates_funds(api):
    pi = pay(api, amount=2000, pm="pm_card_createDispute")
    dispute = api.disputes.list(params={"payment_intent": pi.id}).data[0]

    won = api.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )

    assert won.status == "won"
    assert [t.amount for t in won.balance_transactions] == [-2000, 2000]
    assert event_types(("charge.dispute.",))[-2:] == [
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


def test_dispute_create_for_charge_is_callable_by_other_code(api):
    pi = pay(api, amount=1000)
    charge = core.get(pi.latest_charge, kind="charge")
    dispute = dispute_create_for_charge(
        core.Req(method="POST", path="/test", params={}), charge, reason="product_not_received"
    )

    assert api.disputes.retrieve(dispute["id"]).reason == "product_not_received"
    assert api.charges.retrieve(pi.latest_charge).disputed is True


# --- Connect money (with resources/transfers.py) ------------------------------------------------


def test_destination_charge_transfers_to_the_connected_account(api):
    account = connected_account(api)
    pi = pay(
        api,
        amount=10000,
        application_fee_amount=1000,
        transfer_data={"destination": account},
        transfer_group="order-7",
    )

    charge = api.charges.retrieve(pi.latest_charge)
    assert charge.transfer.startswith("tr_")
    assert charge.application_fee.startswith("fee_")
    transfer = api.transfers.retrieve(charge.transfer)
    assert (transfer.amount, transfer.destination) == (10000, account)
    assert transfer.source_transaction == charge.id

    refund = api.refunds.create(
        params={
            "charge": charge.id,
            "amount": 5000,
            "reverse_transfer": True,
            "refund_application_fee": True,
        }
    )
    assert refund.transfer_reversal.startswith("trr_")
    assert api.transfers.retrieve(charge.transfer).amount_reversed == 5000
    assert api.application_fees.retrieve(charge.application_fee).amount_refunded == 500


def test_direct_charge_on_a_connected_account_pays_the_platform_its_fee(api):
    account = connected_account(api)
    options = {"stripe_account": account}

    pi = api.payment_intents.create(
        params={
            "amount": 10000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "payment_method_types": ["card"],
            "confirm": True,
            "application_fee_amount": 700,
        },
        options=options,
    )

    charge = api.charges.retrieve(
        pi.latest_charge, params={"expand": ["balance_transaction"]}, options=options
    )
    txn = charge.balance_transaction
    assert (txn.amount, txn.fee, txn.net) == (10000, 320 + 700, 10000 - 1020)
    assert sorted(d.type for d in txn.fee_details) == ["application_fee", "stripe_fee"]
    assert api.application_fees.retrieve(charge.application_fee).amount == 700
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.retrieve(pi.id)  # it lives on the connected account
    assert excinfo.value.http_status == 404
    assert [e["type"] for e in control.events(account=account)][-2:] == [
        "charge.succeeded",
        "payment_intent.succeeded",
    ]


def test_destination_must_be_able_to_receive_transfers(api):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        pay(api, transfer_data={"destination": "acct_nobody"})
    assert excinfo.value.param == "transfer_data[destination]"

    with pytest.raises(stripe.InvalidRequestError, match="application_fee_amount"):
        pay(api, application_fee_amount=100)


# --- Shapes: every object held to Stripe's published schema -------------------------------------


@lru_cache(maxsize=1)
def _spec():
    return json.loads((SPEC_DIR / "spec3.json").read_text())


@lru_cache(maxsize=1)
def _fixtures():
    return json.loads((SPEC_DIR / "fixtures3.json").read_text())["resources"]


def _resolve(schema):
    while "$ref" in schema:
        schema = _spec()["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _problems(value, schema, path):
    schema = _resolve(schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null, not nullable"]
    if "anyOf" in schema:
        for branch in schema["anyOf"]:
            if not _problems(value, branch, path):
                return []
        return [f"{path}: matches no anyOf branch ({str(value)[:60]})"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        found = [
            f"{path}.{name}: missing (required)"
            for name in schema.get("required", [])
            if name not in value
        ]
        for name, item in value.items():
            if name in schema.get("properties", {}):
                found += _problems(item, schema["properties"][name], f"{path}.{name}")
        return found
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        return [
            p for i, v in enumerate(value) for p in _problems(v, schema["items"], f"{path}[{i}]")
        ]
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    if kind in checks and not checks[kind](value):
        return [f"{path}: {value!r} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not one of {schema['enum']}"]
    return []


def _raw(method, path):
    text, status, _ = handle(
        method,
        f"https://api.stripe.com{path}",
        {"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"},
        "",
    )
    assert status == 200, text
    return json.loads(text)


def _schema_problems(obj):
    name = obj["object"]
    problems = _problems(obj, {"$ref": f"#/components/schemas/{name}"}, name)
    spec_fields = set(_resolve({"$ref": f"#/components/schemas/{name}"})["properties"])
    example_fields = set(_fixtures().get(name, {}))
    problems += [
        f"{name}.{key}: not a field Stripe sends"
        for key in obj
        if key not in spec_fields | example_fields
    ]
    return problems


@pytest.mark.skipif(not SPEC_DIR.exists(), reason="shared/stripe-openapi (Stripe's spec) absent")
def test_every_object_matches_stripes_openapi_schema(api, client):
    customer = api.customers.create(
        params={"email": "shape@example.com", "address": {"city": "Lyon"}}
    )
    ok = pay(api, customer=customer.id, description="Mug")
    held = pay(api, capture_method="manual")
    with pytest.raises(stripe.CardError):
        pay(api, pm="pm_card_chargeDeclined")
    action = pay(api, pm="pm_card_authenticationRequired")
    disputed = pay(api, pm="pm_card_createDispute")
    refund = api.refunds.create(params={"payment_intent": ok.id, "amount": 500})
    session = api.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.test/ok",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 900,
                        "product_data": {"name": "Tote"},
                    },
                    "quantity": 1,
                }
            ],
        }
    )
    paid = api.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.test/ok",
            "customer_email": "a@b.test",
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 900,
                        "product_data": {"name": "Tote"},
                    },
                    "quantity": 2,
                }
            ],
        }
    )
    client.post(
        f"/stripe-sandbox/checkout/{paid.id}/",
        {"card_number": "4242424242424242", "expiry": "12/40", "cvc": "123"},
    )
    api.customers.delete(api.customers.create(params={}).id)

    objects = [
        _raw("GET", f"/v1/customers/{customer.id}"),
        *_raw("GET", "/v1/payment_methods")["data"],
        *_raw("GET", "/v1/payment_intents")["data"],
        *_raw("GET", "/v1/charges")["data"],
        *_raw("GET", "/v1/refunds")["data"],
        *_raw("GET", "/v1/disputes")["data"],
        *_raw("GET", "/v1/checkout/sessions")["data"],
        *_raw("GET", f"/v1/checkout/sessions/{session.id}/line_items")["data"],
        *[
            _raw("GET", f"/v1/balance_transactions/{t}")
            for t in (
                refund.balance_transaction,
                api.charges.retrieve(ok.latest_charge).balance_transaction,
            )
        ],
        _raw("GET", f"/v1/payment_intents/{ok.id}?expand[]=latest_charge")["latest_charge"],
    ]
    objects += [
        e["data"]["object"]
        for e in control.events()
        if e["data"]["object"]["object"] != "customer" or not e["data"]["object"].get("deleted")
    ]
    kinds = {o["object"] for o in objects}
    assert kinds >= {
        "customer",
        "payment_method",
        "payment_intent",
        "charge",
        "refund",
        "dispute",
        "checkout.session",
        "item",
        "balance_transaction",
    }
    statuses = {o["status"] for o in objects if o["object"] == "payment_intent"}
    assert statuses >= {
        "succeeded",
        "requires_capture",
        "requires_payment_method",
        "requires_action",
    }
    assert {held.id, action.id, disputed.id} <= {o["id"] for o in objects}
    problems = [p for o in objects for p in _schema_problems(o)]
    assert problems == []

    deleted = _raw("GET", "/v1/customers?limit=1")  # lists never show deleted customers
    assert all(not c.get("deleted") for c in deleted["data"])
    decline_body = json.loads(
        handle(
            "POST",
            "https://api.stripe.com/v1/payment_intents",
            {"Authorization": f"Bearer {SANDBOX_SECRET_KEY}"},
            "amount=1000&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true"
            "&payment_method_types[0]=card",
        )[0]
    )
    assert (
        _problems(decline_body["error"], {"$ref": "#/components/schemas/api_errors"}, "error") == []
    )


@pytest.mark.parametrize(
    ("currency", "too_small", "enough"),
    [("usd", 49, 50), ("gbp", 29, 30), ("eur", 49, 50), ("thb", 999, 1000), ("huf", 17499, 17500)],
)
def test_an_amount_below_stripes_minimum_for_its_currency_is_amount_too_small(
    api, currency, too_small, enough
):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.payment_intents.create(params={"amount": too_small, "currency": currency})
    assert (excinfo.value.code, excinfo.value.param) == ("amount_too_small", "amount")
    assert api.payment_intents.create(params={"amount": enough, "currency": currency}).amount == (
        enough
    )
