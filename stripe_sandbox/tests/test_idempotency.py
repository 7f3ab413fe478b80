"""Idempotency-Key as Stripe keeps it: scoped per API key and Stripe-Account, replayed with the
first request's id, refused for another endpoint or other parameters, 409 while the first request
is still running, and never stuck when a request crashed or its process died."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
import stripe
from django.utils import timezone

from stripe_sandbox import core, router
from stripe_sandbox.models import SandboxIdempotencyKey
from stripe_sandbox.testing import SECRET_KEY, client, decode_params
from stripe_sandbox.tests.helpers_money import connected_account, fund_platform, sdk

pytestmark = pytest.mark.django_db

ENDPOINT = {"url": "https://example.com/hook", "enabled_events": ["charge.succeeded"]}


def create_endpoint(key, api=None, **params):
    return (api or sdk()).v1.webhook_endpoints.create(
        params=ENDPOINT | params, options={"idempotency_key": key}
    )


def endpoint_ids():
    return [e.id for e in sdk().v1.webhook_endpoints.list(params={"limit": 100}).data]


def test_a_replay_returns_the_first_response_naming_the_first_request():
    first = create_endpoint("key-replay")
    second = create_endpoint("key-replay")

    assert second.id == first.id and second.secret == first.secret
    headers = second.last_response.headers
    assert headers["idempotent-replayed"] == "true"
    assert headers["original-request"] == first.last_response.request_id
    assert headers["idempotency-key"] == "key-replay"
    assert second.last_response.request_id != first.last_response.request_id
    assert "idempotent-replayed" not in first.last_response.headers
    assert first.last_response.headers["original-request"] == first.last_response.request_id
    assert endpoint_ids() == [first.id]


def test_a_key_reused_with_other_parameters_is_a_400_idempotency_error():
    create_endpoint("key-params")

    with pytest.raises(stripe.IdempotencyError) as caught:
        create_endpoint("key-params", url="https://example.com/other")

    assert caught.value.http_status == 400
    assert caught.value.error.type == "idempotency_error"
    assert caught.value.user_message == (
        "Keys for idempotent requests can only be used with the same parameters they were first "
        "used with. Try using a key other than 'key-params' if you meant to execute a different "
        "request."
    )
    assert len(endpoint_ids()) == 1


def test_a_key_reused_on_another_endpoint_names_both_endpoints():
    create_endpoint("key-endpoint")

    with pytest.raises(stripe.IdempotencyError) as caught:
        sdk().v1.customers.create(options={"idempotency_key": "key-endpoint"})

    assert caught.value.http_status == 400
    assert caught.value.user_message.startswith(
        "Keys for idempotent requests can only be used for the same endpoint they were first "
        "used for ('/v1/customers' vs '/v1/webhook_endpoints')."
    )


def test_keys_are_scoped_per_api_key_and_per_account():
    other_key = stripe.StripeClient(
        api_key="sk_test_AnotherPlatformsKey000",
        stripe_version=core.API_VERSION,
        max_network_retries=0,
        http_client=client()._requestor._client,
    )
    mine = sdk().v1.customers.create(
        params={"email": "ann@shop.test"}, options={"idempotency_key": "key-scope"}
    )
    theirs = other_key.v1.customers.create(
        params={"email": "ann@shop.test"}, options={"idempotency_key": "key-scope"}
    )
    seller = connected_account()
    on_seller = sdk().v1.customers.create(
        params={"email": "ann@shop.test"},
        options={"idempotency_key": "key-scope", "stripe_account": seller},
    )

    assert len({mine.id, theirs.id, on_seller.id}) == 3
    assert "idempotent-replayed" not in theirs.last_response.headers
    assert "idempotent-replayed" not in on_seller.last_response.headers
    again = sdk().v1.customers.create(
        params={"email": "ann@shop.test"}, options={"idempotency_key": "key-scope"}
    )
    assert again.id == mine.id
    stored = list(SandboxIdempotencyKey.objects.values_list())
    assert len(stored) == 3 and SECRET_KEY not in repr(stored)  # only the key's hash is kept


def test_an_error_answer_is_replayed_like_a_success():
    seller = connected_account()

    def transfer():
        return sdk().v1.transfers.create(
            params={"amount": 500, "currency": "usd", "destination": seller},
            options={"idempotency_key": "key-broke"},
        )

    with pytest.raises(stripe.InvalidRequestError) as first:
        transfer()
    assert first.value.code == "balance_insufficient"
    fund_platform(5000)  # money arrives, but the key's answer was given

    with pytest.raises(stripe.InvalidRequestError) as replay:
        transfer()
    assert replay.value.code == "balance_insufficient"
    assert replay.value.headers["idempotent-replayed"] == "true"


def test_a_request_that_crashed_leaves_its_key_free_for_the_retry(monkeypatch):
    real_save = core.save
    monkeypatch.setattr(core, "save", lambda *a, **k: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        create_endpoint("key-crash")
    assert endpoint_ids() == []
    assert not SandboxIdempotencyKey.objects.filter(key="key-crash").exists()

    monkeypatch.setattr(core, "save", real_save)
    made = create_endpoint("key-crash")
    assert endpoint_ids() == [made.id]
    assert "idempotent-replayed" not in made.last_response.headers


def test_a_key_whose_first_request_is_still_running_is_a_409(monkeypatch):
    # While the first request runs, a second one with its key arrives. (Two threads racing for
    # real: test_idempotency_concurrency.py, on PostgreSQL.)
    real_save, seen = core.save, []

    def save_while_a_second_request_arrives(obj, **kwargs):
        with pytest.raises(stripe.APIError) as caught:
            create_endpoint("key-busy")
        seen.append(caught.value)
        return real_save(obj, **kwargs)

    monkeypatch.setattr(core, "save", save_while_a_second_request_arrives)
    first = create_endpoint("key-busy")

    (conflict,) = seen
    assert conflict.http_status == 409
    assert conflict.error.type == "idempotency_error"
    assert conflict.error.code == "idempotency_key_in_use"
    assert conflict.user_message == (
        "There is currently another in-progress request using this Idempotent Key (that probably "
        "means you submitted twice, and the other request is still going through): key-busy. "
        "Please try again later."
    )
    assert endpoint_ids() == [first.id]
    monkeypatch.setattr(core, "save", real_save)
    assert create_endpoint("key-busy").id == first.id  # the conflict stored nothing


def test_a_key_left_in_flight_by_a_dead_process_is_taken_over():
    # A request claimed the key, then its process died before answering.
    params = decode_params(
        urlencode({"url": ENDPOINT["url"], "enabled_events[0]": "charge.succeeded"})
    )
    req = core.Req(
        method="POST",
        path="/v1/webhook_endpoints",
        params=params,
        api_key=SECRET_KEY,
        idempotency_key="key-dead",
    )
    claim = router._claim(req)
    assert claim.status is None

    with pytest.raises(stripe.APIError) as caught:  # it may still be running
        create_endpoint("key-dead")
    assert caught.value.http_status == 409

    SandboxIdempotencyKey.objects.filter(pk=claim.pk).update(
        started=timezone.now() - router.IN_FLIGHT_TIMEOUT - timedelta(seconds=1)
    )
    made = create_endpoint("key-dead")
    assert endpoint_ids() == [made.id]
    assert "idempotent-replayed" not in made.last_response.headers
    assert create_endpoint("key-dead").id == made.id
