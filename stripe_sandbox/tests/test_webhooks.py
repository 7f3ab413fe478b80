"""Webhook deliveries as Stripe makes them: to the endpoints that listen, signed so that the
stripe SDK's own check (stripe.Webhook.construct_event) accepts them."""

import json
import time

import pytest
import stripe

from stripe_sandbox import testing
from stripe_sandbox.tests import receiver

pytestmark = pytest.mark.django_db


def connected_account():
    return testing.client().v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
        }
    )


def test_platform_and_connect_events_reach_their_own_endpoint_signed(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    account = connected_account()
    receiver.RECEIVED.clear()

    with django_capture_on_commit_callbacks(execute=True):
        customer = testing.client().v1.customers.create(params={"email": "ada@example.com"})
        testing.client().v1.accounts.update(account.id, params={"metadata": {"shop": "7"}})

    [created] = stripe_sandbox.events("customer.created")
    [updated] = stripe_sandbox.events("account.updated", account=account.id)
    assert created["data"]["object"]["id"] == customer.id
    assert sorted(receiver.RECEIVED) == sorted(
        [
            ("platform", created["id"], "customer.created"),
            ("connect", updated["id"], "account.updated"),
        ]
    )
    assert {row.status for row in stripe_sandbox.deliveries()} == {"delivered"}


def test_a_receiver_with_another_secret_refuses_the_delivery(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    receiver.SECRETS["platform"] = "whsec_not_the_one_stripe_gave"

    with django_capture_on_commit_callbacks(execute=True):
        testing.client().v1.customers.create(params={"email": "ada@example.com"})

    [row] = stripe_sandbox.deliveries("customer.created")
    assert (row.status, row.last_status_code, row.attempts) == ("failed", 400, 1)
    assert receiver.RECEIVED == []


def test_webhook_signature_is_one_the_stripe_sdk_accepts_while_fresh():
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "customer.created"})
    secret = "whsec_test_secret"

    event = stripe.Webhook.construct_event(
        payload, testing.webhook_signature(payload, secret), secret
    )

    assert event.id == "evt_1"
    an_hour_ago = int(time.time()) - 3600
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            payload, testing.webhook_signature(payload, secret, an_hour_ago), secret
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            payload, testing.webhook_signature(payload, "whsec_other"), secret
        )
