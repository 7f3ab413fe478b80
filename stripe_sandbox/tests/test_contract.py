"""Contract scenarios: the same code runs against the sandbox and against Stripe's test mode.

Each test asserts only what Stripe guarantees (statuses, fields and their types, error types,
codes, decline codes and params, idempotent replays, pagination), never a sandbox detail, so a
difference between the two is a sandbox bug. The "stripe" variant needs STRIPE_TEST_SECRET_KEY
(skipped otherwise); steps that need days to pass run on the sandbox only (its clock).
"""

import io
import struct
import zlib

import pytest
import stripe

from stripe_sandbox.tests.contract_scenarios import (
    BACKENDS,
    card_payment,
    express_account,
    make_backend,
    transfer_ready_account,
)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return make_backend(request.param)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def pay(backend, label, amount=2000, **extra):
    return backend.v1.payment_intents.create(
        params=card_payment(amount, **extra), options={"idempotency_key": backend.key(label)}
    )


def charge_of(backend, intent):
    return backend.v1.charges.retrieve(intent.latest_charge)


# --- Customers ----------------------------------------------------------------------------------


def test_customer_create_retrieve_update_list(backend):
    email = backend.email("customer")
    created = backend.v1.customers.create(
        params={"email": email, "name": "Ada Buyer", "metadata": {"order": "42"}},
        options={"idempotency_key": backend.key("customer")},
    )
    assert created.id.startswith("cus_")
    assert created.object == "customer"
    assert (created.email, created.name) == (email, "Ada Buyer")
    assert created.metadata.to_dict() == {"order": "42"}
    assert is_int(created.created)
    assert created.livemode is False
    assert "sources" not in created  # only when expanded (API 2020-08-27+)

    fetched = backend.v1.customers.retrieve(created.id)
    assert (fetched.id, fetched.email) == (created.id, email)

    updated = backend.v1.customers.update(
        created.id, params={"name": "Ada Lovelace", "metadata": {"order": "", "vip": "yes"}}
    )
    assert updated.name == "Ada Lovelace"
    assert updated.metadata.to_dict() == {"vip": "yes"}  # "" removes a key, others merge
    assert updated.email == email

    listed = backend.v1.customers.list(params={"email": email})
    assert listed.object == "list"
    assert listed.url == "/v1/customers"
    assert [c.id for c in listed.data] == [created.id]
    assert listed.has_more is False


def test_retrieving_a_missing_customer_is_resource_missing(backend):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.customers.retrieve("cus_DoesNotExist000")
    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"
    assert excinfo.value.param == "id"


def test_list_pagination_with_starting_after_and_has_more(backend):
    email = backend.email("pages")
    made = [
        backend.v1.customers.create(
            params={"email": email, "description": f"page customer {n}"},
            options={"idempotency_key": backend.key(f"page-customer-{n}")},
        ).id
        for n in range(3)
    ]

    first = backend.v1.customers.list(params={"email": email, "limit": 2})
    assert len(first.data) == 2
    assert first.has_more is True
    second = backend.v1.customers.list(
        params={"email": email, "limit": 2, "starting_after": first.data[-1].id}
    )
    assert len(second.data) == 1
    assert second.has_more is False

    seen = [c.id for c in first.data] + [c.id for c in second.data]
    assert sorted(seen) == sorted(made)  # every customer once, no overlap between pages
    back = backend.v1.customers.list(
        params={"email": email, "limit": 2, "ending_before": second.data[0].id}
    )
    assert [c.id for c in back.data] == [c.id for c in first.data]


# --- Payments -----------------------------------------------------------------------------------


def test_a_visa_payment_succeeds_and_books_a_balance_transaction(backend):
    intent = pay(backend, "visa", 2000)

    assert intent.id.startswith("pi_")
    assert intent.status == "succeeded"
    assert (intent.amount, intent.amount_received, intent.currency) == (2000, 2000, "usd")
    assert isinstance(intent.client_secret, str)
    assert intent.latest_charge.startswith("ch_")
    assert intent.last_payment_error is None
    assert "charges" not in intent  # replaced by latest_charge in API 2022-11-15

    charge = charge_of(backend, intent)
    assert charge.status == "succeeded"
    assert (charge.paid, charge.captured, charge.refunded) == (True, True, False)
    assert charge.payment_intent == intent.id
    assert charge.amount_captured == 2000
    assert charge.payment_method_details.type == "card"
    assert charge.payment_method_details.card.brand == "visa"
    assert charge.payment_method_details.card.last4 == "4242"

    txn = backend.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert txn.id.startswith("txn_")
    assert (txn.type, txn.amount, txn.currency, txn.source) == ("charge", 2000, "usd", charge.id)
    assert is_int(txn.fee) and txn.fee > 0
    assert txn.net == txn.amount - txn.fee
    assert txn.status == "pending"
    assert txn.available_on > charge.created  # card funds settle later
    assert all(is_int(d.amount) and isinstance(d.type, str) for d in txn.fee_details)
    assert sum(d.amount for d in txn.fee_details) == txn.fee


def test_card_funds_become_available_when_they_settle(backend):
    intent = pay(backend, "settle", 2000)
    charge = charge_of(backend, intent)

    backend.advance_clock(days=3)

    txn = backend.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert txn.status == "available"


@pytest.mark.parametrize(
    ("card", "decline_code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_insufficient_funds", None)],
)
def test_declined_cards(backend, card, decline_code):
    decline_code = decline_code or "insufficient_funds"
    with pytest.raises(stripe.CardError) as excinfo:
        pay(backend, f"decline-{card}", 2000, card=card)

    error = excinfo.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error.type == "card_error"
    assert error.error.decline_code == decline_code
    assert error.error.charge.startswith("ch_")
    failed_intent = error.error.payment_intent
    assert failed_intent.status == "requires_payment_method"

    intent = backend.v1.payment_intents.retrieve(failed_intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "card_declined"
    assert intent.last_payment_error.decline_code == decline_code
    assert intent.last_payment_error.type == "card_error"
    assert intent.latest_charge == error.error.charge
    charge = backend.v1.charges.retrieve(intent.latest_charge)
    assert charge.status == "failed"
    assert charge.failure_code == "card_declined"
    assert charge.balance_transaction is None


def test_manual_capture_then_capture(backend):
    intent = pay(backend, "manual", 3000, capture_method="manual")
    assert intent.status == "requires_capture"
    assert intent.amount_capturable == 3000
    assert intent.amount_received == 0
    charge = charge_of(backend, intent)
    assert (charge.status, charge.captured) == ("succeeded", False)
    assert charge.balance_transaction is None

    captured = backend.v1.payment_intents.capture(
        intent.id, options={"idempotency_key": backend.key("manual-capture")}
    )
    assert captured.status == "succeeded"
    assert captured.amount_received == 3000
    assert captured.amount_capturable == 0
    charge = charge_of(backend, captured)
    assert charge.captured is True
    assert charge.balance_transaction.startswith("txn_")


def test_cancel_a_payment_intent(backend):
    intent = backend.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "payment_method_types": ["card"]},
        options={"idempotency_key": backend.key("to-cancel")},
    )
    assert intent.status == "requires_payment_method"
    assert intent.latest_charge is None

    canceled = backend.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert is_int(canceled.canceled_at)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert excinfo.value.code == "payment_intent_unexpected_state"


def test_a_succeeded_payment_cannot_be_canceled(backend):
    intent = pay(backend, "cancel-succeeded", 1500)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.payment_intents.cancel(intent.id)
    assert excinfo.value.code == "payment_intent_unexpected_state"
    assert backend.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_cancel_an_uncaptured_authorisation(backend):
    intent = pay(backend, "cancel-auth", 1500, capture_method="manual")
    canceled = backend.v1.payment_intents.cancel(intent.id)
    assert canceled.status == "canceled"
    assert canceled.amount_received == 0
    charge = charge_of(backend, canceled)
    assert charge.captured is False
    assert charge.refunded is True  # the authorisation is released
    assert charge.amount_refunded == 1500


def test_refund_partially_then_fully(backend):
    intent = pay(backend, "refund", 5000)

    partial = backend.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 2000},
        options={"idempotency_key": backend.key("refund-1")},
    )
    assert partial.id.startswith("re_")
    assert partial.status == "succeeded"
    assert (partial.amount, partial.currency) == (2000, "usd")
    assert partial.charge == intent.latest_charge
    assert partial.payment_intent == intent.id
    charge = charge_of(backend, intent)
    assert (charge.amount_refunded, charge.refunded) == (2000, False)
    txn = backend.v1.balance_transactions.retrieve(partial.balance_transaction)
    assert (txn.type, txn.amount, txn.source) == ("refund", -2000, partial.id)
    assert txn.net == txn.amount - txn.fee

    rest = backend.v1.refunds.create(
        params={"charge": intent.latest_charge},
        options={"idempotency_key": backend.key("refund-2")},
    )
    assert rest.amount == 3000
    charge = charge_of(backend, intent)
    assert (charge.amount_refunded, charge.refunded) == (5000, True)
    # Since API 2022-11-15 a charge's refunds are only there when expanded.
    assert "refunds" not in charge
    expanded = backend.v1.charges.retrieve(charge.id, params={"expand": ["refunds"]})
    assert sorted(r.id for r in expanded.refunds.data) == sorted([partial.id, rest.id])

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.refunds.create(params={"charge": intent.latest_charge, "amount": 1})
    assert excinfo.value.code == "charge_already_refunded"


def test_expand_latest_charge(backend):
    intent = pay(backend, "expand", 2500)
    expanded = backend.v1.payment_intents.retrieve(
        intent.id, params={"expand": ["latest_charge.balance_transaction"]}
    )
    assert isinstance(expanded.latest_charge, stripe.Charge)
    assert expanded.latest_charge.id == intent.latest_charge
    assert isinstance(expanded.latest_charge.balance_transaction, stripe.BalanceTransaction)
    assert expanded.latest_charge.balance_transaction.amount == 2500


# --- Idempotency and parameters -----------------------------------------------------------------


def test_idempotent_replay_returns_the_same_object(backend):
    params = {"email": backend.email("idem"), "metadata": {"try": "1"}}
    key = backend.key("idem-customer")
    first = backend.v1.customers.create(params=params, options={"idempotency_key": key})
    again = backend.v1.customers.create(params=params, options={"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response.headers.get("idempotent-replayed") == "true"
    assert first.last_response.headers.get("idempotent-replayed") is None

    first_payment = pay(backend, "idem-payment", 1200)
    second_payment = pay(backend, "idem-payment", 1200)
    assert second_payment.id == first_payment.id
    assert second_payment.latest_charge == first_payment.latest_charge


def test_a_declined_payment_replays_the_same_decline(backend):
    with pytest.raises(stripe.CardError) as first:
        pay(backend, "idem-decline", 1200, card="pm_card_chargeDeclined")
    with pytest.raises(stripe.CardError) as again:
        pay(backend, "idem-decline", 1200, card="pm_card_chargeDeclined")
    assert again.value.error.charge == first.value.error.charge
    assert again.value.error.payment_intent.id == first.value.error.payment_intent.id


def test_a_request_refused_for_its_parameters_does_not_use_up_its_key(backend):
    key = backend.key("idem-fixed")
    with pytest.raises(stripe.InvalidRequestError):
        backend.v1.customers.create(
            params={"email": backend.email("fixed"), "colour": "blue"},
            options={"idempotency_key": key},
        )
    fixed = backend.v1.customers.create(
        params={"email": backend.email("fixed")}, options={"idempotency_key": key}
    )
    assert fixed.id.startswith("cus_")


def test_idempotency_key_reused_with_other_parameters_is_refused(backend):
    key = backend.key("idem-mismatch")
    backend.v1.customers.create(
        params={"email": backend.email("first")}, options={"idempotency_key": key}
    )
    with pytest.raises(stripe.IdempotencyError) as excinfo:
        backend.v1.customers.create(
            params={"email": backend.email("second")}, options={"idempotency_key": key}
        )
    assert excinfo.value.error.type == "idempotency_error"


def test_unknown_parameter_names_the_param(backend):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.customers.create(params={"email": backend.email("x"), "colour": "blue"})
    assert excinfo.value.http_status == 400
    assert excinfo.value.param == "colour"
    assert "colour" in excinfo.value.user_message

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "automatic_payment_methods": {"enabled": True, "colour": "blue"},
            }
        )
    assert excinfo.value.param == "automatic_payment_methods[colour]"


def test_missing_required_parameter(backend):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.payment_intents.create(params={"currency": "usd"})
    assert excinfo.value.code == "parameter_missing"
    assert excinfo.value.param == "amount"


# --- Checkout -----------------------------------------------------------------------------------


def checkout_params(backend):
    return {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 1250,
                    "product_data": {"name": "Hand-thrown mug"},
                },
                "quantity": 2,
            }
        ],
        "success_url": "https://example.com/paid?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://example.com/cart",
        "metadata": {"order": "7"},
    }


def test_checkout_session_create_and_expire(backend):
    session = backend.v1.checkout.sessions.create(
        params=checkout_params(backend), options={"idempotency_key": backend.key("checkout")}
    )
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.payment_intent is None  # made when the customer pays (API 2022-08-01+)
    assert session.mode == "payment"
    assert session.url.startswith(("http://", "https://"))
    assert (session.amount_total, session.currency) == (2500, "usd")
    assert session.metadata.to_dict() == {"order": "7"}
    assert "line_items" not in session  # only when expanded
    assert is_int(session.expires_at) and session.expires_at > session.created

    items = backend.v1.checkout.sessions.line_items.list(session.id)
    assert [(i.quantity, i.amount_total) for i in items.data] == [(2, 2500)]

    expired = backend.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    assert expired.url is None
    with pytest.raises(stripe.InvalidRequestError):
        backend.v1.checkout.sessions.expire(session.id)


# --- Files and dispute evidence -----------------------------------------------------------------


def one_pixel_png():
    """A real 1x1 PNG (Stripe may decode what it is given)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_a_dispute_evidence_upload_is_retrieved_and_listed(backend):
    content = one_pixel_png()
    made = backend.v1.files.create(
        params={"purpose": "dispute_evidence", "file": io.BytesIO(content)},
        options={"idempotency_key": backend.key("evidence-file")},
    )
    assert made.id.startswith("file_")
    assert made.object == "file"
    assert (made.purpose, made.type, made.size) == ("dispute_evidence", "png", len(content))
    assert is_int(made.created)
    assert is_int(made.expires_at) and made.expires_at > made.created
    assert isinstance(made.url, str)

    assert backend.v1.files.retrieve(made.id).id == made.id
    listed = backend.v1.files.list(params={"purpose": "dispute_evidence", "limit": 3})
    assert listed.url == "/v1/files"
    assert made.id in [f.id for f in listed.data]
    assert {f.purpose for f in listed.data} == {"dispute_evidence"}


def test_text_is_not_dispute_evidence(backend):
    with pytest.raises(stripe.InvalidRequestError):
        backend.v1.files.create(
            params={"purpose": "dispute_evidence", "file": io.BytesIO(b"just words\n")}
        )


def test_dispute_evidence_names_an_uploaded_file(backend):
    intent = pay(backend, "disputed", 2000, card="pm_card_createDispute")
    dispute = backend.wait_until(
        lambda: backend.v1.disputes.list(params={"payment_intent": intent.id}),
        lambda found: len(found.data) == 1,
        what="the 0259 card's dispute",
    ).data[0]
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.disputes.update(
            dispute.id, params={"evidence": {"receipt": "file_DoesNotExist000"}, "submit": False}
        )
    assert excinfo.value.code == "resource_missing"
    assert excinfo.value.param == "evidence[receipt]"

    receipt = backend.v1.files.create(
        params={"purpose": "dispute_evidence", "file": io.BytesIO(one_pixel_png())}
    )
    staged = backend.v1.disputes.update(
        dispute.id, params={"evidence": {"receipt": receipt.id}, "submit": False}
    )
    assert staged.status == "needs_response"
    assert staged.evidence.receipt == receipt.id
    assert staged.evidence_details.has_evidence is True
    submitted = backend.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )
    assert submitted.evidence_details.submission_count == 1
    won = backend.wait_until(
        lambda: backend.v1.disputes.retrieve(dispute.id),
        lambda found: found.status == "won",
        what="winning_evidence winning the dispute",
    )
    assert [t.amount for t in won.balance_transactions] == [-2000, 2000]


# --- Connect ------------------------------------------------------------------------------------


def test_express_account_starts_restricted(backend):
    account = backend.v1.accounts.create(
        params=express_account(backend, "express"),
        options={"idempotency_key": backend.key("express")},
    )
    assert account.id.startswith("acct_")
    assert account.type == "express"
    assert account.charges_enabled is False
    assert account.payouts_enabled is False
    assert account.details_submitted is False
    assert len(account.requirements.currently_due) > 0
    assert all(isinstance(f, str) for f in account.requirements.currently_due)
    assert set(account.capabilities.to_dict()) == {"card_payments", "transfers"}
    assert set(account.capabilities.to_dict().values()) <= {"inactive", "pending"}

    link = backend.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://example.com/connect/refresh",
            "return_url": "https://example.com/connect/return",
        }
    )
    assert link.object == "account_link"
    assert link.url.startswith(("http://", "https://"))
    assert is_int(link.expires_at) and link.expires_at > link.created

    as_itself = backend.v1.accounts.retrieve(account.id, options={"stripe_account": account.id})
    assert as_itself.id == account.id
    assert as_itself.charges_enabled is False


def test_account_update_link_is_refused_for_express(backend):
    account = backend.v1.accounts.create(
        params=express_account(backend, "express-update"),
        options={"idempotency_key": backend.key("express-update")},
    )
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.account_links.create(
            params={
                "account": account.id,
                "type": "account_update",
                "refresh_url": "https://example.com/r",
                "return_url": "https://example.com/b",
            }
        )
    assert excinfo.value.http_status == 400


def test_transfer_to_an_account_that_cannot_receive_is_refused(backend):
    account = backend.v1.accounts.create(
        params=express_account(backend, "no-transfers"),
        options={"idempotency_key": backend.key("no-transfers")},
    )
    intent = pay(backend, "no-transfers-charge", 2000, card="pm_card_bypassPending")
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.transfers.create(
            params={
                "amount": 1000,
                "currency": "usd",
                "destination": account.id,
                "source_transaction": intent.latest_charge,
            }
        )
    assert excinfo.value.http_status == 400
    assert excinfo.value.code == "insufficient_capabilities_for_transfer"


def test_transfer_with_source_transaction_then_payout_on_the_connected_account(backend):
    seller = transfer_ready_account(backend, "seller")
    assert seller.capabilities.transfers == "active"
    intent = pay(
        backend, "escrow-charge", 10000, card="pm_card_bypassPending", transfer_group="order-1"
    )

    transfer = backend.v1.transfers.create(
        params={
            "amount": 8500,
            "currency": "usd",
            "destination": seller.id,
            "source_transaction": intent.latest_charge,
            "transfer_group": "order-1",
            "metadata": {"order": "1"},
        },
        options={"idempotency_key": backend.key("transfer")},
    )
    assert transfer.id.startswith("tr_")
    assert (transfer.amount, transfer.currency, transfer.destination) == (8500, "usd", seller.id)
    assert transfer.source_transaction == intent.latest_charge
    assert transfer.transfer_group == "order-1"
    assert transfer.reversed is False
    assert transfer.amount_reversed == 0
    assert transfer.destination_payment.startswith("py_")
    assert transfer.balance_transaction.startswith("txn_")
    platform_txn = backend.v1.balance_transactions.retrieve(transfer.balance_transaction)
    assert (platform_txn.type, platform_txn.amount) == ("transfer", -8500)

    payment = backend.v1.charges.retrieve(
        transfer.destination_payment, options={"stripe_account": seller.id}
    )
    assert payment.id == transfer.destination_payment
    assert payment.amount == 8500
    assert payment.source_transfer == transfer.id

    # more than what is left of the charge
    with pytest.raises(stripe.InvalidRequestError):
        backend.v1.transfers.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "destination": seller.id,
                "source_transaction": intent.latest_charge,
            }
        )

    balance = backend.v1.balance.retrieve(options={"stripe_account": seller.id})
    available = {b.currency: b.amount for b in balance.available}
    assert available.get("usd", 0) >= 8500

    payout = backend.v1.payouts.create(
        params={"amount": 5000, "currency": "usd", "metadata": {"release": "1"}},
        options={"stripe_account": seller.id, "idempotency_key": backend.key("payout")},
    )
    assert payout.id.startswith("po_")
    assert (payout.amount, payout.currency) == (5000, "usd")
    assert payout.status == "pending"
    assert payout.destination.startswith("ba_")
    assert is_int(payout.arrival_date)
    assert payout.automatic is False
    assert payout.method == "standard"
    after = backend.v1.balance.retrieve(options={"stripe_account": seller.id})
    assert {b.currency: b.amount for b in after.available}["usd"] == available["usd"] - 5000


def test_a_transfers_payment_lists_its_refunds_only_when_expanded(backend):
    seller = transfer_ready_account(backend, "refunds-seller")
    intent = pay(backend, "refunds-charge", 3000, card="pm_card_bypassPending")
    transfer = backend.v1.transfers.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "destination": seller.id,
            "source_transaction": intent.latest_charge,
        },
        options={"idempotency_key": backend.key("refunds-transfer")},
    )
    reversal = backend.v1.transfers.reversals.create(transfer.id, params={"amount": 500})

    as_seller = {"stripe_account": seller.id}
    expanded = backend.v1.charges.retrieve(
        transfer.destination_payment, params={"expand": ["refunds"]}, options=as_seller
    )
    assert [r.id for r in expanded.refunds.data] == [reversal.destination_payment_refund]
    assert expanded.amount_refunded == 500
    payment = backend.v1.charges.retrieve(transfer.destination_payment, options=as_seller)
    assert "refunds" not in payment  # since API 2022-11-15, as for any charge


def test_a_payout_arrives(backend):
    seller = transfer_ready_account(backend, "payee")
    intent = pay(backend, "payee-charge", 4000, card="pm_card_bypassPending")
    backend.v1.transfers.create(
        params={
            "amount": 3000,
            "currency": "usd",
            "destination": seller.id,
            "source_transaction": intent.latest_charge,
        },
        options={"idempotency_key": backend.key("payee-transfer")},
    )
    payout = backend.v1.payouts.create(
        params={"amount": 3000, "currency": "usd"},
        options={"stripe_account": seller.id, "idempotency_key": backend.key("payee-payout")},
    )

    backend.advance_clock(days=3)

    arrived = backend.v1.payouts.retrieve(payout.id, options={"stripe_account": seller.id})
    assert arrived.status == "paid"


def test_payout_without_funds_is_refused(backend):
    seller = transfer_ready_account(backend, "broke")
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        backend.v1.payouts.create(
            params={"amount": 100000, "currency": "usd"}, options={"stripe_account": seller.id}
        )
    assert excinfo.value.code == "balance_insufficient"


# --- Balance ------------------------------------------------------------------------------------


def test_balance_lists_amounts_by_currency(backend):
    pay(backend, "balance", 2000)
    balance = backend.v1.balance.retrieve()
    assert balance.object == "balance"
    assert balance.livemode is False
    for bucket in (balance.available, balance.pending):
        assert len(bucket) >= 1
        for entry in bucket:
            assert is_int(entry.amount)
            assert isinstance(entry.currency, str) and len(entry.currency) == 3
    assert "usd" in {entry.currency for entry in balance.pending}
