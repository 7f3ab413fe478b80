"""Every event the sandbox sends about payments is accepted by Bazaar's webhook intake; dj-stripe
mirrors the objects of the events Bazaar does not handle itself (moved from the sandbox's own
tests: this is Bazaar's intake)."""

import pytest
import stripe
from djstripe.models import Charge, Customer, Dispute, Event, PaymentIntent, WebhookEventTrigger

from core import stripe_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return stripe_client.client().v1


def pay(api, amount=2000, pm="pm_card_visa", **params):
    """A confirmed card PaymentIntent (cards only: no return_url needed)."""
    return api.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": pm,
            "payment_method_types": ["card"],
            "confirm": True,
            **params,
        }
    )


# --- Through Bazaar's webhook intake ------------------------------------------------------------


def test_every_payment_event_is_accepted_and_dj_stripe_mirrors_only_what_bazaar_leaves(
    api, every_event_type, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        customer = api.customers.create(params={"email": "sync@example.com"})
        pm = api.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        ok = pay(api, amount=4000, customer=customer.id, pm=pm.id)
        api.refunds.create(params={"payment_intent": ok.id, "amount": 1000})
        held = pay(api, capture_method="manual")
        api.payment_intents.capture(held.id)
        with pytest.raises(stripe.CardError):
            pay(api, pm="pm_card_chargeDeclined")
        disputed = pay(api, pm="pm_card_createDispute")
        api.payment_methods.detach(pm.id)

    rows = every_event_type.pending_deliveries()
    assert rows == []  # every delivery was answered 2xx
    assert not WebhookEventTrigger.objects.exclude(exception="").exists()
    types = set(Event.objects.values_list("type", flat=True))
    assert types >= {
        "customer.created",
        "payment_method.attached",
        "payment_method.detached",
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.amount_capturable_updated",
        "charge.succeeded",
        "charge.failed",
        "charge.captured",
        "charge.refunded",
        "refund.created",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    }
    # Events Bazaar does not handle keep dj-stripe's handlers, which mirror their objects
    # (customer.created, payment_intent.created, charge.captured)...
    assert Customer.objects.filter(id=customer.id).exists()
    assert PaymentIntent.objects.get(id=ok.id).stripe_data["status"] == "succeeded"
    assert Charge.objects.get(id=held.latest_charge).stripe_data["captured"] is True
    # ...while those Bazaar handles (charge.succeeded and .refunded, charge.dispute.*) reach only
    # Bazaar's receivers: dj-stripe's handlers read each object from Stripe again to mirror rows
    # nothing reads.
    assert not Charge.objects.filter(id=ok.latest_charge).exists()
    assert not Dispute.objects.filter(charge_id=disputed.latest_charge).exists()
