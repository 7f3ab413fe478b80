"""Checkout Sessions (mode=payment) and the sandbox's hosted checkout page, through the real
stripe SDK and Django's test client."""

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import stripe
from django.contrib.auth import get_user_model
from django.test import Client

from stripe_sandbox import control, core, testing
from stripe_sandbox.testing import (
    VISA,
    checkout_page_path,
    checkout_page_pay,
    checkout_session_create,
)

pytestmark = pytest.mark.django_db

DECLINED = "4000 0000 0000 0002"
NO_FUNDS = "4000 0000 0000 9995"
NEEDS_3DS = "4000 0025 0000 3155"
DISPUTED = "4000 0000 0000 0259"


@pytest.fixture
def api():
    return testing.client().v1


def event_types():
    return [
        e["type"]
        for e in control.events()
        if e["type"].startswith(("payment_intent.", "charge.", "checkout."))
    ]


# --- The Checkout Session API -------------------------------------------------------------------


def test_a_session_is_open_unpaid_and_points_at_the_hosted_page(api, settings):
    session = checkout_session_create(api, client_reference_id="basket-9", metadata={"order": "9"})

    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_subtotal, session.amount_total, session.currency) == (3000, 3000, "usd")
    assert session.payment_intent is None  # made when the customer pays (API 2024-04-10)
    assert session.customer_details is None  # filled in on completion
    assert session.url == f"{settings.SITE_URL}/stripe-sandbox/checkout/{session.id}/"
    assert session.expires_at - session.created == 24 * 3600
    assert session.client_reference_id == "basket-9"
    assert not event_types()  # Stripe sends no event when a session is created


def test_line_items_list_paginates_and_can_be_expanded(api):
    session = checkout_session_create(api)

    page = api.checkout.sessions.line_items.list(session.id, params={"limit": 1})
    assert [i.description for i in page.data] == ["Stoneware mug"]
    assert page.has_more is True
    assert page.data[0].amount_total == 2500
    assert page.data[0].price.unit_amount == 1250
    rest = api.checkout.sessions.line_items.list(
        session.id, params={"starting_after": page.data[0].id}
    )
    assert [i.description for i in rest.data] == ["Gift wrap"]

    expanded = api.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items.data.price.product"]}
    )
    assert expanded.line_items.data[0].price.product.name == "Stoneware mug"
    assert expanded.line_items.data[0].price.product.description == "350 ml"
    assert "line_items" not in api.checkout.sessions.retrieve(session.id)


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"mode": "subscription"}, "mode", "payment"),
        ({"mode": "setup"}, "mode", "payment"),
        ({"success_url": ""}, "success_url", "success_url"),
        ({"line_items": []}, "line_items", "line_items"),
        ({"customer_email": "a@b.test", "customer": "cus_x"}, "customer_email", "one of"),
        ({"expires_at": 1}, "expires_at", "30 minutes"),
        ({"payment_method_types": ["ideal"]}, "payment_method_types", "cards"),
        ({"colour": "red"}, "colour", "unknown parameter"),
    ],
)
def test_invalid_sessions_are_400s(api, params, param, message):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        checkout_session_create(api, **params)

    assert excinfo.value.http_status == 400
    assert excinfo.value.param == param
    assert message in str(excinfo.value)


def test_sessions_list_filters_by_customer_status_and_payment_intent(api, client):
    customer = api.customers.create(params={"email": "cal@shop.test"})
    mine = checkout_session_create(api, customer=customer.id)
    other = checkout_session_create(api)
    checkout_page_pay(client, other)
    other = api.checkout.sessions.retrieve(other.id)

    assert [s.id for s in api.checkout.sessions.list(params={"customer": customer.id})] == [mine.id]
    assert [s.id for s in api.checkout.sessions.list(params={"status": "complete"})] == [other.id]
    by_pi = api.checkout.sessions.list(params={"payment_intent": other.payment_intent})
    assert [s.id for s in by_pi] == [other.id]


def test_expiring_a_session_by_api(api, client):
    session = checkout_session_create(api)

    expired = api.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    assert event_types() == ["checkout.session.expired"]
    with pytest.raises(stripe.InvalidRequestError, match="can be expired"):
        api.checkout.sessions.expire(session.id)
    assert "has expired" in client.get(checkout_page_path(session)).content.decode()


def test_sessions_expire_after_24_hours(api, client):
    session = checkout_session_create(api)

    control.advance_clock(hours=23, minutes=59)
    assert api.checkout.sessions.retrieve(session.id).status == "open"
    control.advance_clock(minutes=1)

    assert api.checkout.sessions.retrieve(session.id).status == "expired"
    assert event_types() == ["checkout.session.expired"]
    response = checkout_page_pay(client, session)
    assert "has expired" in response.content.decode()
    assert api.payment_intents.list().data == []


def test_a_session_expires_at_the_time_it_was_given(api, client, monkeypatch):
    # The sandbox's clock is the wall clock plus the advanced offset: the wall clock stands still
    # here, so a second ticking by on a loaded machine does not move the session's deadline.
    wall_clock = core.time.time()
    monkeypatch.setattr(core, "time", SimpleNamespace(time=lambda: wall_clock))
    session = checkout_session_create(api, expires_at=control.now() + 45 * 60)

    assert session.expires_at - session.created == 45 * 60
    control.advance_clock(minutes=44, seconds=59)
    assert api.checkout.sessions.retrieve(session.id).status == "open"
    control.advance_clock(seconds=1)

    assert api.checkout.sessions.retrieve(session.id).status == "expired"
    assert event_types() == ["checkout.session.expired"]
    assert "has expired" in checkout_page_pay(client, session).content.decode()
    assert api.payment_intents.list().data == []


def test_expires_at_more_than_24_hours_away_is_refused(api, monkeypatch):
    # One second over, measured on a wall clock that stands still: a second ticking by between
    # reading the clock and creating the session would otherwise make it exactly 24 hours.
    wall_clock = core.time.time()
    monkeypatch.setattr(core, "time", SimpleNamespace(time=lambda: wall_clock))
    with pytest.raises(stripe.InvalidRequestError, match="less than 24 hours") as excinfo:
        checkout_session_create(api, expires_at=control.now() + 24 * 3600 + 1)

    assert excinfo.value.param == "expires_at"


# --- The hosted page ----------------------------------------------------------------------------


def test_the_page_shows_the_items_total_and_card_fields(api, client):
    session = checkout_session_create(api)

    response = client.get(checkout_page_path(session))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Stripe sandbox — test mode" in html
    assert "Stoneware mug" in html and "Gift wrap" in html
    assert "US$30.00" in html
    assert "Pay US$30.00" in html
    for name in ("card_number", "expiry", "cvc", "email", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in html
    assert 'href="https://shop.test/basket"' in html
    # Strict CSP: nothing inline.
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_paying_with_4242_completes_the_session_and_redirects(api, client):
    session = checkout_session_create(
        api,
        customer_email="ann@shop.test",
        payment_intent_data={
            "transfer_group": "order-9",
            "metadata": {"order": "9"},
            "description": "Order 9",
        },
    )

    response = checkout_page_pay(client, session)

    assert response.status_code == 302
    assert response["Location"] == f"https://shop.test/thanks?session={session.id}"
    session = api.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status, session.url) == ("complete", "paid", None)
    assert session.customer_details.email == "ann@shop.test"
    pi = api.payment_intents.retrieve(session.payment_intent, params={"expand": ["latest_charge"]})
    assert (pi.status, pi.amount, pi.currency) == ("succeeded", 3000, "usd")
    assert (pi.transfer_group, pi.description) == ("order-9", "Order 9")
    assert pi.metadata.to_dict() == {"order": "9"}
    assert pi.latest_charge.payment_method_details.card.last4 == "4242"
    assert pi.latest_charge.billing_details.email == "ann@shop.test"
    assert event_types() == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    completed = control.events("checkout.session.completed")[0]
    assert completed["data"]["object"]["payment_intent"] == pi.id
    assert completed["request"]["id"] is None  # paid on Stripe's page, not through the API


def test_a_declined_card_shows_the_error_and_the_session_stays_open(api, client):
    session = checkout_session_create(api)

    response = checkout_page_pay(client, session, DECLINED)

    assert response.status_code == 200
    assert "Your card was declined." in response.content.decode()
    declined = api.checkout.sessions.retrieve(session.id)
    assert (declined.status, declined.payment_status) == ("open", "unpaid")
    pi = api.payment_intents.retrieve(declined.payment_intent)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.decline_code == "generic_decline"
    assert event_types() == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
    ]

    response = checkout_page_pay(client, session, VISA)

    assert response.status_code == 302
    paid = api.checkout.sessions.retrieve(session.id)
    assert paid.payment_intent == pi.id  # the same PaymentIntent, paid on the second try
    assert api.payment_intents.retrieve(pi.id).status == "succeeded"
    assert [c.status for c in api.charges.list(params={"payment_intent": pi.id})] == [
        "succeeded",
        "failed",
    ]


def test_insufficient_funds_says_so(api, client):
    session = checkout_session_create(api)

    response = checkout_page_pay(client, session, NO_FUNDS)

    assert "Your card has insufficient funds." in response.content.decode()
    assert api.checkout.sessions.retrieve(session.id).status == "open"


def test_3d_secure_card_shows_an_authentication_step_then_completes(api, client):
    session = checkout_session_create(api)

    response = checkout_page_pay(client, session, NEEDS_3DS)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Authenticate this payment" in html
    assert "ending in 3155" in html
    pi = api.payment_intents.retrieve(api.checkout.sessions.retrieve(session.id).payment_intent)
    assert pi.status == "requires_action"
    assert "Authenticate this payment" in client.get(checkout_page_path(session)).content.decode()

    response = client.post(f"{checkout_page_path(session)}authenticate/", {"action": "complete"})

    assert response.status_code == 302
    assert response["Location"] == f"https://shop.test/thanks?session={session.id}"
    assert api.payment_intents.retrieve(pi.id).status == "succeeded"
    session = api.checkout.sessions.retrieve(session.id)
    assert session.status == "complete"
    assert session.customer_details.email == "ann@shop.test"
    assert event_types() == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


STRIPE_3DS_TEXT = "The provided PaymentMethod has failed authentication"
PLAIN_3DS_TEXT = (
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again."
)


def test_failing_3d_secure_returns_to_the_form_with_an_error(api, client):
    session = checkout_session_create(api)
    checkout_page_pay(client, session, NEEDS_3DS)

    response = client.post(f"{checkout_page_path(session)}authenticate/", {"action": "fail"})

    assert response.status_code == 200
    html = response.content.decode()
    # The buyer reads what Stripe's hosted page says, not the API's words for developers.
    assert PLAIN_3DS_TEXT in html
    assert STRIPE_3DS_TEXT not in html and "payment_method_data" not in html
    assert 'name="card_number"' in html
    # Coming back to the page says it again, in the same words.
    again = client.get(checkout_page_path(session)).content.decode()
    assert PLAIN_3DS_TEXT in again and STRIPE_3DS_TEXT not in again
    session = api.checkout.sessions.retrieve(session.id)
    assert session.status == "open"
    assert api.payment_intents.retrieve(session.payment_intent).status == (
        "requires_payment_method"
    )
    assert checkout_page_pay(client, session, VISA).status_code == 302


def test_the_dispute_card_pays_then_is_disputed(api, client):
    session = checkout_session_create(api)

    assert checkout_page_pay(client, session, DISPUTED).status_code == 302

    session = api.checkout.sessions.retrieve(session.id)
    assert session.payment_status == "paid"
    [dispute] = api.disputes.list(params={"payment_intent": session.payment_intent}).data
    assert (dispute.status, dispute.reason, dispute.amount) == (
        "needs_response",
        "fraudulent",
        3000,
    )
    assert event_types()[-3:] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "checkout.session.completed",
    ]


def test_manual_capture_session_completes_with_an_authorisation(api, client):
    session = checkout_session_create(api, payment_intent_data={"capture_method": "manual"})

    checkout_page_pay(client, session)

    session = api.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status) == ("complete", "unpaid")
    pi = api.payment_intents.capture(session.payment_intent)
    assert pi.amount_received == 3000


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"card_number": "4242 4242 4242 4241"}, "Your card number is invalid."),
        ({"card_number": "4242"}, "Your card number is incomplete."),
        ({"expiry": "01 / 20"}, "Your card&#x27;s expiration year is in the past."),
        ({"expiry": "13/30"}, "Your card&#x27;s expiration date is invalid."),
        ({"cvc": "1"}, "Ensure this value has at least 3 characters"),
        ({"email": ""}, "This field is required."),
    ],
)
def test_card_mistakes_are_shown_next_to_the_field_and_charge_nothing(api, client, fields, message):
    session = checkout_session_create(api)

    response = checkout_page_pay(client, session, **fields)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert api.checkout.sessions.retrieve(session.id).payment_intent is None
    assert api.payment_intents.list().data == []


def test_a_known_email_is_not_asked_again(api, client):
    session = checkout_session_create(api, customer_email="kim@shop.test")

    html = client.get(checkout_page_path(session)).content.decode()

    assert 'name="email"' not in html
    assert "kim@shop.test" in html
    assert checkout_page_pay(client, session, email="").status_code == 302
    assert api.checkout.sessions.retrieve(session.id).customer_details.email == "kim@shop.test"

    customer = api.customers.create(params={"email": "lee@shop.test"})
    html = client.get(
        checkout_page_path(checkout_session_create(api, customer=customer.id))
    ).content.decode()
    assert 'name="email"' not in html
    assert "lee@shop.test" in html


def test_a_non_test_card_is_declined_like_in_test_mode(api, client):
    session = checkout_session_create(api)

    response = checkout_page_pay(client, session, "4111 1111 1111 1111")

    assert "non test card" in response.content.decode()
    assert api.payment_intents.list().data == []


def test_a_completed_session_page_says_so(api, client):
    session = checkout_session_create(api)
    checkout_page_pay(client, session)

    response = client.get(checkout_page_path(session))

    assert response.status_code == 200
    assert "This payment is complete" in response.content.decode()
    assert len(api.charges.list().data) == 1
    checkout_page_pay(client, session)
    assert len(api.charges.list().data) == 1  # paying again charges nothing


def test_the_form_needs_its_csrf_token(api):
    session = checkout_session_create(api)
    browser = Client(enforce_csrf_checks=True)

    response = checkout_page_pay(browser, session)

    assert response.status_code == 403
    assert api.checkout.sessions.retrieve(session.id).status == "open"


def test_an_unknown_session_is_a_404(client):
    assert client.get("/stripe-sandbox/checkout/cs_test_nope/").status_code == 404


def test_the_receipt_page(api, client):
    session = checkout_session_create(api)
    checkout_page_pay(client, session)
    pi = api.payment_intents.retrieve(api.checkout.sessions.retrieve(session.id).payment_intent)
    charge = api.charges.retrieve(pi.latest_charge)
    api.refunds.create(params={"charge": charge.id, "amount": 1000})

    response = client.get(urlsplit(charge.receipt_url).path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "US$30.00" in html and "US$10.00" in html
    assert "4242" in html
    assert client.get("/stripe-sandbox/receipts/ch_nope/").status_code == 404


def test_a_destination_checkout_pays_the_seller_through_a_transfer(api, client):
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
    session = checkout_session_create(
        api,
        payment_intent_data={
            "application_fee_amount": 300,
            "transfer_data": {"destination": account.id},
            "on_behalf_of": account.id,
            "transfer_group": "order-12",
        },
    )

    assert checkout_page_pay(client, session).status_code == 302

    pi = api.payment_intents.retrieve(api.checkout.sessions.retrieve(session.id).payment_intent)
    charge = api.charges.retrieve(pi.latest_charge)
    assert (charge.on_behalf_of, charge.transfer_group) == (account.id, "order-12")
    transfer = api.transfers.retrieve(charge.transfer)
    assert (transfer.destination, transfer.amount) == (account.id, 3000)
    assert api.application_fees.retrieve(charge.application_fee).amount == 300


def test_staff_see_stripes_own_text_beside_the_plain_3d_secure_failure(api, client):
    staff = get_user_model().objects.create_user(
        email="staff@example.com", password="x-staff-9", is_staff=True
    )
    session = checkout_session_create(api)
    client.force_login(staff)
    checkout_page_pay(client, session, NEEDS_3DS)

    failed = client.post(f"{checkout_page_path(session)}authenticate/", {"action": "fail"})
    again = client.get(checkout_page_path(session))

    for response in (failed, again):
        html = response.content.decode()
        assert PLAIN_3DS_TEXT in html
        assert f"Stripe's message (staff only): {STRIPE_3DS_TEXT}" in html


def test_a_plain_decline_is_shown_as_stripe_words_it(api, client):
    session = checkout_session_create(api)

    response = checkout_page_pay(client, session, DECLINED)

    html = response.content.decode()
    assert "Your card was declined." in html
    assert "staff only" not in html
