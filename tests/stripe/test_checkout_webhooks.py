"""A Checkout payment on the sandbox's hosted page reaches Bazaar's webhook intake, and dj-stripe
syncs every event it sends (moved from the sandbox's own tests: this is Bazaar's intake)."""

from urllib.parse import urlsplit

import pytest
from djstripe.models import Event, WebhookEventTrigger

from core import stripe_client
from stripe_sandbox import control

pytestmark = pytest.mark.django_db

VISA = "4242 4242 4242 4242"


@pytest.fixture
def api():
    return stripe_client.client().v1


def make_session(api, **params):
    return api.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.test/thanks?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.test/basket",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 1250,
                        "product_data": {"name": "Stoneware mug", "description": "350 ml"},
                    },
                    "quantity": 2,
                },
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 500,
                        "product_data": {"name": "Gift wrap"},
                    },
                    "quantity": 1,
                },
            ],
            **params,
        }
    )


def page_path(session):
    return urlsplit(session.url).path


def pay(client, session, number=VISA, **fields):
    data = {"card_number": number, "expiry": "12 / 34", "cvc": "123", "email": "ann@shop.test"}
    return client.post(page_path(session), data | fields)


# --- Through Bazaar's webhook intake ------------------------------------------------------------


def test_checkout_events_reach_bazaars_webhook_and_dj_stripe_syncs_them(
    api, client, stripe_sandbox, django_capture_on_commit_callbacks
):
    session = make_session(api)
    with django_capture_on_commit_callbacks(execute=True):
        response = pay(client, session)
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
