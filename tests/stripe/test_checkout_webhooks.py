"""A Checkout payment on the sandbox's hosted page reaches Bazaar's webhook intake, and dj-stripe
syncs every event it sends (moved from the sandbox's own tests: this is Bazaar's intake)."""

import pytest
from djstripe.models import Event, WebhookEventTrigger

from core import stripe_client
from stripe_sandbox import control
from stripe_sandbox.testing import checkout_page_pay, checkout_session_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return stripe_client.client().v1


# --- Through Bazaar's webhook intake ------------------------------------------------------------


def test_checkout_events_reach_bazaars_webhook_and_dj_stripe_syncs_them(
    api, client, every_event_type, django_capture_on_commit_callbacks
):
    session = checkout_session_create(api)
    with django_capture_on_commit_callbacks(execute=True):
        response = checkout_page_pay(client, session)
    assert response.status_code == 302

    delivered = {row.last_status_code for row in core_deliveries()}
    assert delivered == {200}
    assert not WebhookEventTrigger.objects.exclude(exception="").exists()
    assert set(Event.objects.values_list("type", flat=True)) >= {
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    }


def core_deliveries():
    assert control.now()  # the sandbox clock is readable
    return control.deliveries()
