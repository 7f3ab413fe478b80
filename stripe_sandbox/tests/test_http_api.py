"""Stripe's REST API over HTTP at /stripe-sandbox/v1/...: what another process (a mobile app under
development, the stripe CLI, curl) sends to api.stripe.com, answered by the same router as the
in-process transport."""

import base64
import json
from urllib.parse import urlencode

import pytest
import stripe
from django.test import Client

from stripe_sandbox import core
from stripe_sandbox.testing import SECRET_KEY
from stripe_sandbox.tests.helpers_money import connected_account

API = "/stripe-sandbox/v1"
BEARER = {"Authorization": f"Bearer {SECRET_KEY}"}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def http(db):
    """A client that checks CSRF as a browser's would: the API must not need a token."""
    return Client(enforce_csrf_checks=True)


def post(http, path, params=None, **headers):
    return http.post(
        API + path, urlencode(params or {}), content_type=FORM, headers=BEARER | headers
    )


def test_a_form_encoded_post_with_a_bearer_key_gets_stripes_json(http):
    response = post(
        http,
        "/customers",
        {"email": "ann@shop.test", "metadata[order]": "41", "expand[0]": "test_clock"},
    )

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Request-Id"].startswith("req_")
    assert response["Stripe-Version"] == core.API_VERSION
    customer = response.json()
    assert customer["object"] == "customer"
    assert customer["id"].startswith("cus_")
    assert customer["email"] == "ann@shop.test"
    assert customer["metadata"] == {"order": "41"}

    fetched = http.get(f"{API}/customers/{customer['id']}", headers=BEARER)
    assert fetched.status_code == 200
    assert fetched.json() == customer
    listed = http.get(f"{API}/customers", {"limit": 1, "email": "ann@shop.test"}, headers=BEARER)
    assert [c["id"] for c in listed.json()["data"]] == [customer["id"]]
    assert listed.json()["url"] == "/v1/customers"


def test_delete_works_over_http(http):
    customer = post(http, "/customers").json()

    deleted = http.delete(f"{API}/customers/{customer['id']}", headers=BEARER)

    assert deleted.json() == {"id": customer["id"], "object": "customer", "deleted": True}
    gone = http.get(f"{API}/customers/{customer['id']}", headers=BEARER)
    assert gone.json()["deleted"] is True  # Stripe keeps a deleted customer's stub


def test_curl_style_basic_auth_is_accepted(http):
    basic = base64.b64encode(f"{SECRET_KEY}:".encode()).decode()

    response = http.get(f"{API}/balance", headers={"Authorization": f"Basic {basic}"})

    assert response.status_code == 200
    assert response.json()["object"] == "balance"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "You did not provide an API key."),
        ("Bearer sk_live_RealMoney", "Invalid API Key provided"),
        ("Basic not-base64!", "You did not provide an API key."),
    ],
)
def test_a_missing_or_wrong_key_is_a_401_in_stripes_shape(http, authorization, message):
    headers = {"Authorization": authorization} if authorization else {}

    response = http.post(f"{API}/customers", "", content_type=FORM, headers=headers)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)


def test_idempotency_keys_work_over_http(http):
    first = post(http, "/customers", {"email": "ann@shop.test"}, **{"Idempotency-Key": "k-41"})
    again = post(http, "/customers", {"email": "ann@shop.test"}, **{"Idempotency-Key": "k-41"})
    other = post(http, "/customers", {"email": "bob@shop.test"}, **{"Idempotency-Key": "k-41"})

    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Original-Request"] == first["Request-Id"]
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"


def test_the_stripe_account_header_scopes_requests_to_a_connected_account(http):
    seller = connected_account()
    on_seller = post(http, "/customers", {"email": "c@shop.test"}, **{"Stripe-Account": seller})

    assert on_seller.status_code == 200
    customer_id = on_seller.json()["id"]
    from_platform = http.get(f"{API}/customers/{customer_id}", headers=BEARER)
    assert from_platform.status_code == 404
    from_seller = http.get(
        f"{API}/customers/{customer_id}", headers=BEARER | {"Stripe-Account": seller}
    )
    assert from_seller.status_code == 200


def test_stripe_version_is_checked_and_the_answer_names_the_version_spoken(http):
    pinned = http.get(
        f"{API}/balance", headers=BEARER | {"Stripe-Version": "2020-08-27; alipay_beta=v1"}
    )
    assert pinned.status_code == 200
    assert pinned["Stripe-Version"] == core.API_VERSION

    wrong = http.get(f"{API}/balance", headers=BEARER | {"Stripe-Version": "yesterday"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == "Invalid Stripe API version: yesterday"


def test_an_unknown_url_is_stripes_400(http):
    response = http.get(f"{API}/teleporters", headers=BEARER)

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/teleporters)."
    )


def test_a_sandbox_failure_is_a_json_api_error_not_an_html_page(http, monkeypatch):
    monkeypatch.setattr(core, "save", lambda *args, **kwargs: 1 / 0)

    response = post(http, "/customers", **{"Idempotency-Key": "k-crash"})

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "api_error"
    assert response["Request-Id"] in response.json()["error"]["message"]
    monkeypatch.undo()
    assert post(http, "/customers", **{"Idempotency-Key": "k-crash"}).status_code == 200


# --- The real stripe SDK, over a real socket ----------------------------------------------------


@pytest.fixture
def remote(live_server):
    """A StripeClient as another process would build it: Stripe's own HTTP client (requests),
    pointed at a running server's sandbox instead of api.stripe.com."""
    sockets = stripe.RequestsClient()
    yield stripe.StripeClient(
        api_key=SECRET_KEY,
        base_addresses={"api": live_server.url + "/stripe-sandbox"},
        max_network_retries=0,
        http_client=sockets,
    )
    # Hang up now: a kept-alive connection must not outlive the server thread's use of the
    # test database.
    sockets.close()


def test_the_stripe_sdk_pointed_at_a_running_server_creates_and_confirms_a_payment_intent(remote):
    intent = remote.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "payment_method_types": ["card"],
            "metadata": {"order": "41"},
        },
        options={"idempotency_key": "order-41-payment"},
    )
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")

    confirmed = remote.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa", "expand": ["latest_charge"]}
    )

    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 2500
    assert confirmed.latest_charge.paid is True
    assert confirmed.latest_charge.payment_method_details.card.last4 == "4242"
    again = remote.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "payment_method_types": ["card"],
            "metadata": {"order": "41"},
        },
        options={"idempotency_key": "order-41-payment"},
    )
    assert again.id == intent.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"


def test_the_stripe_sdk_over_http_raises_stripes_exceptions(remote):
    with pytest.raises(stripe.CardError) as declined:
        remote.v1.payment_intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "payment_method_types": ["card"],
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    assert declined.value.code == "card_declined"
    assert declined.value.http_status == 402

    with pytest.raises(stripe.InvalidRequestError) as missing:
        remote.v1.payment_intents.retrieve("pi_nope")
    assert missing.value.http_status == 404
    assert json.loads(missing.value.http_body)["error"]["code"] == "resource_missing"


# --- A mobile app: the publishable key and the PaymentIntent's client_secret --------------------

PUBLISHABLE_KEY = "pk_test_StripeSandboxTesting0000"


@pytest.fixture
def app(live_server):
    """What Stripe's SDK on a phone holds: the publishable key, and the sandbox's address."""
    sockets = stripe.RequestsClient()
    yield stripe.StripeClient(
        api_key=PUBLISHABLE_KEY,
        base_addresses={"api": live_server.url + "/stripe-sandbox"},
        max_network_retries=0,
        http_client=sockets,
    )
    sockets.close()


def test_a_mobile_app_confirms_its_payment_intent_with_the_publishable_key(remote, app):
    # The backend makes the intent (as Bazaar's POST /api/v1/orders/{id}/pay/ does) and hands
    # the app its client_secret; the app types the card and confirms.
    intent = remote.v1.payment_intents.create(
        params={"amount": 1800, "currency": "usd", "payment_method_types": ["card"]}
    )
    secret = intent.client_secret

    seen = app.v1.payment_intents.retrieve(intent.id, params={"client_secret": secret})
    assert (seen.amount, seen.status) == (1800, "requires_payment_method")
    card = app.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {
                "number": "4242 4242 4242 4242",
                "exp_month": 12,
                "exp_year": 2034,
                "cvc": "1",
            },
        }
    )
    assert card.card.last4 == "4242" and card.card.exp_year == 2034
    confirmed = app.v1.payment_intents.confirm(
        intent.id, params={"payment_method": card.id, "client_secret": secret}
    )

    assert confirmed.status == "succeeded"
    assert remote.v1.payment_intents.retrieve(intent.id).amount_received == 1800


def test_the_publishable_key_needs_the_right_client_secret(remote, app):
    intent = remote.v1.payment_intents.create(
        params={"amount": 1800, "currency": "usd", "payment_method_types": ["card"]}
    )

    with pytest.raises(stripe.InvalidRequestError) as missing:
        app.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert missing.value.param == "client_secret"
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        app.v1.payment_intents.confirm(
            intent.id,
            params={"payment_method": "pm_card_visa", "client_secret": f"{intent.id}_secret_x"},
        )
    assert "does not match" in wrong.value.user_message
    assert remote.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_the_publishable_key_cannot_do_what_needs_the_secret_key(app):
    with pytest.raises(stripe.PermissionError) as caught:
        app.v1.customers.list()

    assert caught.value.http_status == 403
    assert caught.value.error.code == "secret_key_required"
    assert caught.value.user_message.startswith(
        "This API call cannot be made with a publishable API key."
    )


@pytest.mark.parametrize(
    ("number", "code"),
    [("4242 4242 4242 4241", "incorrect_number"), ("4111 1111 1111 1111", "card_declined")],
    ids=["not-a-card-number", "a-real-card-number"],
)
def test_typed_cards_must_be_stripes_test_cards(app, number, code):
    with pytest.raises(stripe.CardError) as caught:
        app.v1.payment_methods.create(
            params={"type": "card", "card": {"number": number, "exp_month": 1, "exp_year": 2034}}
        )

    assert caught.value.code == code
