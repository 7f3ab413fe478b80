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


def test_a_refused_delivery_is_retried_on_the_sandbox_clock_until_accepted(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    right = receiver.SECRETS["platform"]
    receiver.SECRETS["platform"] = "whsec_not_the_one_stripe_gave"
    with django_capture_on_commit_callbacks(execute=True):
        testing.client().v1.customers.create(params={"email": "ada@example.com"})
    [row] = stripe_sandbox.deliveries("customer.created")
    assert (row.status, row.attempts) == ("failed", 1)
    receiver.SECRETS["platform"] = right  # the endpoint is fixed

    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.advance_clock(seconds=30)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)  # the first retry is a minute after

    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.advance_clock(seconds=31)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    assert [kind for _, _, kind in receiver.RECEIVED] == ["customer.created"]


def test_stripe_gives_up_on_a_delivery_after_three_days_of_backing_off(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    receiver.SECRETS["platform"] = "whsec_not_the_one_stripe_gave"
    with django_capture_on_commit_callbacks(execute=True):
        testing.client().v1.customers.create(params={"email": "ada@example.com"})
    [row] = stripe_sandbox.deliveries("customer.created")

    attempts = []
    for hours in (0.5, 1, 2, 4, 8, 16, 32, 64, 71.9, 72, 96, 200):
        with django_capture_on_commit_callbacks(execute=True):
            stripe_sandbox.advance_clock(seconds=int(hours * 3600) - elapsed(stripe_sandbox, row))
        row.refresh_from_db()
        attempts.append(row.attempts)

    # Each tick sends what fell due (one try per tick here); backing off, then the last try at
    # three days, then no more.
    assert attempts == [2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 10, 10]
    assert row.status == "failed"
    assert receiver.RECEIVED == []


def elapsed(control, row):
    return control.now() - control.event(row.event_id)["created"]


def test_held_webhooks_are_not_retried_either(stripe_sandbox, django_capture_on_commit_callbacks):
    receiver.SECRETS["platform"] = "whsec_not_the_one_stripe_gave"
    with django_capture_on_commit_callbacks(execute=True):
        testing.client().v1.customers.create(params={"email": "ada@example.com"})
    [row] = stripe_sandbox.deliveries("customer.created")

    with stripe_sandbox.webhooks_held(), django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.advance_clock(minutes=2)
    row.refresh_from_db()

    assert (row.status, row.attempts) == ("failed", 1)


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
