"""Every request Bazaar's own code sends to Stripe is one Stripe's published API accepts.

The requests are recorded at the stripe SDK's HTTP layer (the sandbox transport) while Bazaar's
main flows run: Connect onboarding, dj-stripe processing webhooks, the escrow's checkout, mobile
payment and release. Each is checked against Stripe's OpenAPI description of API 2024-04-10
(shared/stripe-openapi/spec3.json): the path and method exist, every parameter name (nested ones
included) is one the operation takes, and types and enums match. The sandbox validates requests
too, but only as far as it was taught; the spec is Stripe's own word.
"""

import functools
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import stripe

from accounts import connect
from accounts.factories import SellerFactory, UserFactory
from accounts.models import ConnectedAccount
from accounts.selectors import seller_can_accept_payments
from accounts.tests.test_connect import onboard_seller
from core import stripe_client
from escrow import services
from escrow.models import OrderStatus, ReleaseStatus, ReleaseTrigger
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from marketplace.factories import ListingFactory
from payouts.selectors import seller_balances
from stripe_sandbox import testing

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "stripe-openapi"
SPEC_FILE = SPEC_DIR / "spec3.json"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not SPEC_FILE.exists(),
        reason=f"Stripe's OpenAPI spec is not at {SPEC_DIR} (shared/stripe-openapi)",
    ),
]

FORM = "application/x-www-form-urlencoded"


# --- Stripe's spec, as a request checker --------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    query: dict  # name -> schema (GET/DELETE parameters "in": "query")
    body: dict | None  # the form body's object schema (POST)


@functools.cache
def _spec():
    return json.loads(SPEC_FILE.read_text())


@functools.cache
def _operations():
    """(regex, Operation) for every path and method, the most literal templates first (so
    /v1/accounts/{account}/login_links wins over a template with more placeholders)."""
    found = []
    for template, methods in _spec()["paths"].items():
        regex = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method, op in methods.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            query = {
                p["name"]: p.get("schema", {})
                for p in op.get("parameters", [])
                if p.get("in") == "query"
            }
            content = (op.get("requestBody") or {}).get("content") or {}
            body = (content.get(FORM) or {}).get("schema")
            found.append((regex, Operation(method.upper(), template, query, body)))
    found.sort(key=lambda item: item[1].template.count("{"))
    return found


def operation_for(method, path):
    for regex, op in _operations():
        if op.method == method and regex.match(path):
            return op
    return None


def _matches_type(value, kind):
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
    if kind == "number":
        return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None
    if kind == "boolean":
        return value in ("true", "false")
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def problems(value, schema, name):
    """How a form-decoded `value` (strings, dicts, lists) breaks a request `schema`."""
    if "anyOf" in schema:
        branches = [problems(value, branch, name) for branch in schema["anyOf"]]
        if any(not found for found in branches):
            return []
        return min(branches, key=len)
    kind = schema.get("type")
    if kind and not _matches_type(value, kind):
        return [f"{name}: {value!r} is not of type {kind}"]
    if kind == "string":
        enum = schema.get("enum")
        if enum and value not in enum and not schema.get("x-stripeBypassValidation"):
            return [f"{name}: {value!r} is not one of {enum}"]
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return [f"{name}: longer than {schema['maxLength']} characters"]
        return []
    if kind == "array":
        item = schema.get("items", {})
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{name}[{i}]")]
    if kind == "object":
        return _object_problems(value, schema, name)
    return []


def _object_problems(value, schema, name):
    found = []
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        full = f"{name}[{key}]" if name else key
        if properties is not None and key in properties:
            found += problems(item, properties[key], full)
        elif isinstance(extra, dict):
            found += problems(item, extra, full)
        elif properties is not None or extra is False:
            found.append(f"{full}: not a parameter of this operation")
    for key in schema.get("required", []):
        if key not in value:
            found.append(f"{name}[{key}]: required" if name else f"{key}: required")
    return found


@dataclass
class Request:
    method: str
    url: str
    body: str
    stripe_account: str | None
    stripe_version: str | None = None

    @property
    def path(self):
        return urlsplit(self.url).path

    @property
    def params(self):
        if self.method in ("GET", "DELETE"):
            return testing.decode_params(urlsplit(self.url).query)
        return testing.decode_params(self.body or "")

    def label(self):
        return f"{self.method} {self.path}"


def request_problems(request):
    """What Stripe's spec says is wrong with one recorded request ([] when nothing)."""
    op = operation_for(request.method, request.path)
    if op is None:
        return [f"{request.label()}: no such operation in Stripe's API"]
    params = request.params
    if request.method in ("GET", "DELETE"):
        found = []
        for key, value in params.items():
            if key not in op.query:
                found.append(f"{key}: not a query parameter of {op.method} {op.template}")
            else:
                found += problems(value, op.query[key], key)
    elif op.body is None:
        found = [f"{key}: {op.method} {op.template} takes no parameters" for key in params]
    else:
        found = problems(params, op.body, "")
    return [f"{op.method} {op.template}: {problem}" for problem in found]


# --- Recording Bazaar's requests ----------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.requests = []
        self.on = True

    @contextmanager
    def paused(self):
        """The test itself playing Stripe's other clients (a buyer's phone): not Bazaar's code."""
        self.on = False
        try:
            yield
        finally:
            self.on = True

    def operations(self):
        return {
            (r.method, op.template if (op := operation_for(r.method, r.path)) else r.path)
            for r in self.requests
        }

    def problems(self):
        """Parameters Stripe's spec refuses, and requests sent under another API version than
        the spec's (whose parameters the spec would not describe)."""
        version = _spec()["info"]["version"]
        found = []
        for request in self.requests:
            found += request_problems(request)
            if request.stripe_version != version:
                found.append(
                    f"{request.label()}: sent as API version {request.stripe_version}, "
                    f"not {version}"
                )
        return found


@pytest.fixture
def stripe_requests(monkeypatch):
    """Every request the stripe SDK sends (Bazaar's StripeClient and dj-stripe's global one)."""
    recorder = Recorder()

    def record(method, url, headers, post_data, handle):
        if recorder.on:
            body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
            sent = {k.lower(): v for k, v in (headers or {}).items()}
            recorder.requests.append(
                Request(
                    method.upper(),
                    url,
                    body,
                    sent.get("stripe-account"),
                    sent.get("stripe-version"),
                )
            )
        return handle(method, url, headers, post_data)

    testing.intercept(monkeypatch, record)
    return recorder


# --- The checker itself -------------------------------------------------------------------------


def form_request(method, path, body=""):
    return Request(method, f"https://api.stripe.com{path}", body, None)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            form_request(
                "POST", "/v1/accounts", "type=express&capabilities[transfers][requested]=true"
            ),
            [],
        ),
        (
            form_request("POST", "/v1/accounts", "capabilities[teleport][requested]=true"),
            ["POST /v1/accounts: capabilities[teleport]: not a parameter of this operation"],
        ),
        (
            form_request("POST", "/v1/accounts", "type=premium"),
            ["POST /v1/accounts: type: 'premium' is not one of ['custom', 'express', 'standard']"],
        ),
        (
            form_request("POST", "/v1/accounts", "capabilities[transfers][requested]=yes"),
            ["POST /v1/accounts: capabilities[transfers][requested]: 'yes' is not of type boolean"],
        ),
        (
            form_request("POST", "/v1/accounts", "metadata[seller]=7&metadata[note]="),
            [],
        ),
        (
            form_request(
                "POST",
                "/v1/checkout/sessions",
                "mode=payment&line_items[0][price_data][currency]=usd"
                "&line_items[0][price_data][unit_amount]=12.5"
                "&line_items[0][price_data][product_data][name]=Mug",
            ),
            [
                "POST /v1/checkout/sessions: line_items[0][price_data][unit_amount]: '12.5' is "
                "not of type integer"
            ],
        ),
        (
            form_request("POST", "/v1/transfers", "amount=100&currency=usd"),
            ["POST /v1/transfers: destination: required"],
        ),
        (
            form_request("GET", "/v1/payment_intents/pi_1?expand[0]=latest_charge&colour=red"),
            [
                "GET /v1/payment_intents/{intent}: colour: not a query parameter of "
                "GET /v1/payment_intents/{intent}"
            ],
        ),
        (
            form_request("POST", "/v1/teleporters", "to=mars"),
            ["POST /v1/teleporters: no such operation in Stripe's API"],
        ),
    ],
    ids=[
        "valid",
        "unknown-nested",
        "enum",
        "boolean",
        "metadata",
        "integer-in-list",
        "required",
        "query",
        "path",
    ],
)
def test_the_checker_catches_what_stripe_would_refuse(request_, expected):
    assert request_problems(request_) == expected


def test_the_recorder_sees_both_bazaars_client_and_dj_stripes(stripe_requests):
    stripe_client.client().v1.customers.create(params={"email": "a@example.com"})
    stripe.Customer.list(api_key=stripe_client.secret_key(), limit=3)

    assert [r.label() for r in stripe_requests.requests] == [
        "POST /v1/customers",
        "GET /v1/customers",
    ]
    assert stripe_requests.problems() == []


def test_a_request_under_another_api_version_is_reported(stripe_requests):
    stripe.Customer.list(api_key=stripe_client.secret_key(), stripe_version="2020-08-27")

    assert stripe_requests.problems() == [
        "GET /v1/customers: sent as API version 2020-08-27, not 2024-04-10"
    ]


# --- Bazaar's flows -----------------------------------------------------------------------------


def test_registering_and_updating_the_webhook_endpoints_sends_only_valid_requests(
    stripe_requests,
):
    from django.core.management import call_command
    from djstripe.models import WebhookEndpoint

    call_command("stripe_webhooks", "setup", "--base-url", "https://bazaar.example.com")
    for endpoint in WebhookEndpoint.objects.all():  # narrowed by hand: the next run updates
        testing.client().v1.webhook_endpoints.update(
            endpoint.id, params={"enabled_events": ["charge.succeeded"]}
        )
    testing.client().v1.webhook_endpoints.create(
        params={"url": "https://bazaar.example.com/stripe/webhook/x/", "enabled_events": ["*"]}
    )
    call_command("stripe_webhooks", "setup", "--base-url", "https://bazaar.example.com")

    assert {
        ("POST", "/v1/webhook_endpoints"),
        ("GET", "/v1/webhook_endpoints"),
        ("GET", "/v1/webhook_endpoints/{webhook_endpoint}"),
        ("POST", "/v1/webhook_endpoints/{webhook_endpoint}"),
        ("DELETE", "/v1/webhook_endpoints/{webhook_endpoint}"),
    } <= stripe_requests.operations()
    assert stripe_requests.problems() == []


def onboard_through_stripe(client, seller):
    """The seller presses "Set up payouts" and completes Stripe's hosted onboarding; the
    account.updated webhooks reach Bazaar (dj-stripe, then accounts/webhooks.py)."""
    back = onboard_seller(client, seller, "complete")
    client.logout()
    return back


def test_connect_onboarding_and_its_webhooks_send_only_valid_requests(
    stripe_requests, every_event_type, client, settings, django_capture_on_commit_callbacks
):
    # A public site URL, so Bazaar also sends business_profile[url].
    settings.SITE_URL = "https://bazaar.example.com"
    seller = SellerFactory(email="potter@example.com", seller__country="US")

    with django_capture_on_commit_callbacks(execute=True):
        onboard_through_stripe(client, seller)
    connected = ConnectedAccount.objects.get(seller_profile=seller.seller_profile)
    assert connected.charges_enabled is True  # the webhook was processed
    _, link = connect.connect_onboarding_link_create(
        seller_profile=seller.seller_profile,
        return_url="https://bazaar.example.com/back",
        refresh_url="https://bazaar.example.com/again",
    )
    login = connect.connect_login_link_create(seller_profile=seller.seller_profile)
    assert link and login

    operations = stripe_requests.operations()
    assert {
        ("POST", "/v1/webhook_endpoints"),  # Bazaar's platform and Connect endpoints
        ("POST", "/v1/accounts"),
        ("POST", "/v1/account_links"),
        ("GET", "/v1/accounts/{account}"),  # the webhook handler's fresh read
        ("POST", "/v1/accounts/{account}/login_links"),
        # dj-stripe mirroring the bank account of account.external_account.created
        ("GET", "/v1/accounts/{account}/external_accounts/{id}"),
    } <= operations, operations
    sent = [r.params for r in stripe_requests.requests if r.label() == "POST /v1/accounts"]
    assert sent[0]["capabilities"]["transfers"] == {"requested": "true"}
    assert "url" in sent[0]["business_profile"]
    assert stripe_requests.problems() == []


@pytest.fixture
def onboarded_seller(stripe_requests, stripe_sandbox, client, django_capture_on_commit_callbacks):
    seller = SellerFactory(email="potter@example.com", seller__country="US")
    with django_capture_on_commit_callbacks(execute=True):
        onboard_through_stripe(client, seller)
    assert seller_can_accept_payments(seller)
    return seller


def test_escrow_checkout_and_release_send_only_valid_requests(
    stripe_requests, onboarded_seller, client, django_capture_on_commit_callbacks
):
    seller = onboarded_seller
    listing = ListingFactory(store=seller.store, price_cents=2500, currency="usd", stock=5)
    buyer = UserFactory(email="buyer@example.com")
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
    stripe_requests.requests.clear()  # from here on: the escrow's requests only

    with django_capture_on_commit_callbacks(execute=True):
        _, url = services.payment_checkout_start(
            order=order,
            buyer=buyer,
            success_url="http://testserver/orders/done?session={CHECKOUT_SESSION_ID}",
            cancel_url="http://testserver/orders/cancelled",
        )
        # The buyer pays on Stripe's hosted page (the sandbox's, not Bazaar's code).
        assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED

    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=seller)
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    assert decided.status == ReleaseStatus.TRANSFERRED

    operations = stripe_requests.operations()
    assert {
        ("POST", "/v1/customers"),
        ("POST", "/v1/checkout/sessions"),
        ("GET", "/v1/payment_intents/{intent}"),  # payment_confirm checks with Stripe
        ("POST", "/v1/transfers"),
    } <= operations, operations
    # Bazaar handles charge.succeeded itself: dj-stripe's handler, which read the charge again
    # to mirror it, is disconnected (core.stripe_webhooks.stripe_event_receiver).
    assert ("GET", "/v1/charges/{charge}") not in operations
    session = next(
        r.params for r in stripe_requests.requests if r.label() == "POST /v1/checkout/sessions"
    )
    assert session["line_items"][0]["price_data"]["currency"] == "usd"
    assert stripe_requests.problems() == []


def test_escrow_mobile_payment_sends_only_valid_requests(
    stripe_requests, onboarded_seller, django_capture_on_commit_callbacks
):
    listing = ListingFactory(store=onboarded_seller.store, price_cents=1800, currency="usd")
    buyer = UserFactory(email="phone@example.com")
    order = place_order(buyer=buyer, listing_id=listing.pk)
    stripe_requests.requests.clear()

    payment = services.payment_intent_start(order=order, buyer=buyer, client_key="app-1")
    # The buyer's app confirms with Stripe's SDK: not Bazaar's request.
    with django_capture_on_commit_callbacks(execute=True), stripe_requests.paused():
        stripe_client.client().v1.payment_intents.confirm(
            payment.stripe_payment_intent_id, params={"payment_method": "pm_card_visa"}
        )
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED

    operations = stripe_requests.operations()
    assert {
        ("POST", "/v1/customers"),
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/payment_intents/{intent}"),
    } <= operations, operations
    assert ("POST", "/v1/payment_intents/{intent}/confirm") not in operations
    assert stripe_requests.problems() == []


def test_escrow_checkout_reused_and_expired_with_its_order_sends_only_valid_requests(
    stripe_requests, onboarded_seller, django_capture_on_commit_callbacks
):
    listing = ListingFactory(store=onboarded_seller.store, price_cents=1800, currency="usd")
    buyer = UserFactory(email="tabs@example.com")
    order = place_order(buyer=buyer, listing_id=listing.pk)
    stripe_requests.requests.clear()

    for _ in range(2):  # a second tab: the open session is read back, not made again
        services.payment_checkout_start(
            order=order,
            buyer=buyer,
            success_url="http://testserver/orders/done?session={CHECKOUT_SESSION_ID}",
            cancel_url="http://testserver/orders/cancelled",
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order=order, actor=buyer)

    operations = stripe_requests.operations()
    assert {
        ("POST", "/v1/checkout/sessions"),
        ("GET", "/v1/checkout/sessions/{session}"),
        ("POST", "/v1/checkout/sessions/{session}/expire"),
    } <= operations, operations
    created = [r for r in stripe_requests.requests if r.label() == "POST /v1/checkout/sessions"]
    assert len(created) == 1
    assert int(created[0].params["expires_at"]) == int(order.expires_at.timestamp())
    assert stripe_requests.problems() == []


def test_a_sellers_balance_read_sends_only_valid_requests(stripe_requests, onboarded_seller):
    stripe_requests.requests.clear()

    balances = seller_balances(seller=onboarded_seller)

    assert balances.stripe_error == ""
    assert stripe_requests.operations() == {
        ("GET", "/v1/balance"),
        ("GET", "/v1/balance_transactions"),
        ("GET", "/v1/payouts"),
    }
    assert stripe_requests.problems() == []
