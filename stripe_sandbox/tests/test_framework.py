"""The sandbox's front door, through the real stripe SDK: keys, params, idempotency, lists."""

import pytest
import stripe

from stripe_sandbox.models import SandboxIdempotencyKey
from stripe_sandbox.params import decode
from stripe_sandbox.testing import SECRET_KEY as SANDBOX_SECRET_KEY
from stripe_sandbox.testing import client

pytestmark = pytest.mark.django_db

KEY = SANDBOX_SECRET_KEY


def create_endpoint(url="https://example.com/hook", **kwargs):
    return stripe.WebhookEndpoint.create(
        api_key=KEY, url=url, enabled_events=["charge.succeeded"], **kwargs
    )


def test_the_sdk_reaches_the_sandbox_and_gets_stripe_shaped_objects():
    endpoint = create_endpoint(description="orders")

    assert endpoint.id.startswith("we_")
    assert endpoint.object == "webhook_endpoint"
    assert endpoint.secret.startswith("whsec_")
    fetched = stripe.WebhookEndpoint.retrieve(endpoint.id, api_key=KEY)
    assert fetched.description == "orders"
    assert "secret" not in fetched  # Stripe only shows it once


def test_the_platform_account_answers_get_account():
    account = stripe.Account.retrieve(api_key=KEY)

    assert account.id.startswith("acct_")
    assert account.charges_enabled is True


@pytest.mark.parametrize(
    ("key", "message"),
    [("sk_live_realkey", "Invalid API Key provided"), ("pk_live_publishable", "Invalid API Key")],
)
def test_a_wrong_key_is_refused(key, message):
    with pytest.raises(stripe.AuthenticationError, match=message):
        stripe.WebhookEndpoint.list(api_key=key)


def test_unknown_parameters_are_refused_naming_the_param():
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        create_endpoint(colour="blue")

    assert excinfo.value.param == "colour"
    assert "Received unknown parameter: colour" in str(excinfo.value)


def test_missing_required_parameter_is_refused():
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.WebhookEndpoint.create(api_key=KEY, url="https://example.com/x")

    assert excinfo.value.param == "enabled_events"
    assert excinfo.value.code == "parameter_missing"


def test_wrong_types_are_refused():
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.WebhookEndpoint.list(api_key=KEY, limit="many")

    assert excinfo.value.param == "limit"
    assert "Invalid integer" in str(excinfo.value)


def test_unrecognised_urls_are_a_400():
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        client().raw_request("get", "/v1/teleporters")


def test_same_idempotency_key_and_params_replays_the_first_response():
    first = create_endpoint(idempotency_key="bazaar-test-1")
    second = create_endpoint(idempotency_key="bazaar-test-1")

    assert second.id == first.id
    assert second.last_response.headers.get("idempotent-replayed") == "true"
    assert len(stripe.WebhookEndpoint.list(api_key=KEY).data) == 1


def test_same_idempotency_key_with_other_params_is_an_idempotency_error():
    create_endpoint(idempotency_key="bazaar-test-2")

    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        create_endpoint(url="https://example.com/other", idempotency_key="bazaar-test-2")


def test_a_request_that_failed_validation_keeps_no_idempotent_result():
    with pytest.raises(stripe.InvalidRequestError):
        create_endpoint(colour="blue", idempotency_key="bazaar-test-3")

    assert not SandboxIdempotencyKey.objects.filter(key="bazaar-test-3").exists()
    assert create_endpoint(idempotency_key="bazaar-test-3").id.startswith("we_")


def test_lists_paginate_newest_first_with_cursors():
    made = [create_endpoint(url=f"https://example.com/{n}").id for n in range(5)]
    newest_first = list(reversed(made))

    page = stripe.WebhookEndpoint.list(api_key=KEY, limit=2)
    assert [e.id for e in page.data] == newest_first[:2]
    assert page.has_more is True
    nxt = stripe.WebhookEndpoint.list(api_key=KEY, limit=2, starting_after=page.data[-1].id)
    assert [e.id for e in nxt.data] == newest_first[2:4]
    last = stripe.WebhookEndpoint.list(api_key=KEY, limit=2, starting_after=nxt.data[-1].id)
    assert [e.id for e in last.data] == newest_first[4:]
    assert last.has_more is False
    back = stripe.WebhookEndpoint.list(api_key=KEY, limit=2, ending_before=newest_first[2])
    assert [e.id for e in back.data] == newest_first[:2]
    assert [e.id for e in page.auto_paging_iter()] == newest_first


def test_an_unknown_cursor_is_a_404():
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.WebhookEndpoint.list(api_key=KEY, starting_after="we_nope")

    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"


def test_missing_objects_are_resource_missing_404():
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.WebhookEndpoint.retrieve("we_missing", api_key=KEY)

    assert excinfo.value.http_status == 404
    assert excinfo.value.code == "resource_missing"
    assert "No such webhook_endpoint: 'we_missing'" in str(excinfo.value)


def test_expanding_a_field_that_cannot_be_expanded_is_a_400():
    endpoint = create_endpoint()

    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        stripe.WebhookEndpoint.retrieve(endpoint.id, api_key=KEY, expand=["colour"])


def test_an_unknown_stripe_account_header_is_refused():
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        stripe.WebhookEndpoint.list(api_key=KEY, stripe_account="acct_nobody")

    assert excinfo.value.http_status == 404


def test_stripe_form_encoding_decodes_nested_params():
    assert decode(
        "metadata[order]=7&expand[0]=a&expand[1]=b&items[0][q]=1&items[1][q]=2"
        "&capabilities[transfers][requested]=true&flags[]=x&flags[]=y"
    ) == {
        "metadata": {"order": "7"},
        "expand": ["a", "b"],
        "items": [{"q": "1"}, {"q": "2"}],
        "capabilities": {"transfers": {"requested": "true"}},
        "flags": ["x", "y"],
    }


def test_a_test_that_would_reach_the_real_stripe_fails_loudly():
    real = stripe.StripeClient(KEY, http_client=stripe.RequestsClient())

    with pytest.raises(AssertionError, match="tried to reach the real Stripe"):
        real.v1.balance.retrieve()
