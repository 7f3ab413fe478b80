"""Money paths log which order and which Stripe request (the id Stripe's dashboard and support
find a request by), whatever process the line comes from: the page, the webhook task."""

import logging
import re

import pytest

from escrow import services
from escrow.models import ReleaseTrigger
from escrow.testing import deliver_order, pay_on_checkout_page, place_order

pytestmark = pytest.mark.django_db

STRIPE_REQUEST_ID = re.compile(r"req_[A-Za-z0-9]+")


def _records(caplog, name, starts):
    return [r for r in caplog.records if r.name == name and r.getMessage().startswith(starts)]


def _pay(client, order, buyer, card="4242 4242 4242 4242"):
    _, url = services.payment_checkout_start(
        order=order,
        buyer=buyer,
        success_url="http://testserver/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/cancelled",
    )
    return pay_on_checkout_page(client, url, card)


def test_a_confirmed_payment_and_its_release_log_the_order_and_stripes_request_ids(
    client, seller, listing, buyer, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO)
    order = place_order(buyer=buyer, listing_id=listing.pk)

    with django_capture_on_commit_callbacks(execute=True):
        _pay(client, order, buyer)

    confirmed = _records(caplog, "escrow.services.payments", "Payment confirmed with Stripe")
    assert confirmed  # once per event that asks (charge, intent, checkout session)
    for record in confirmed:
        assert record.order_id == order.pk
        assert STRIPE_REQUEST_ID.fullmatch(record.stripe_request_id)
        assert record.task_id  # the webhook's processing task
    assert len({r.stripe_request_id for r in confirmed}) == len(confirmed)  # one request each

    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=order.seller, note="Shipped")
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)

    (transferred,) = _records(caplog, "escrow.services.releases", "Transfer made")
    assert transferred.order_id == order.pk
    assert STRIPE_REQUEST_ID.fullmatch(transferred.stripe_request_id)
    # Stripe names the request that made the transfer in its transfer.created event: the same id.
    (event,) = _records(caplog, "core.stripe_webhooks", "Stripe event transfer.created")
    assert event.stripe_request_id == transferred.stripe_request_id


def test_a_declined_card_logs_the_order_and_stripes_request_id(
    client, seller, listing, buyer, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO)
    order = place_order(buyer=buyer, listing_id=listing.pk)

    with django_capture_on_commit_callbacks(execute=True):
        _pay(client, order, buyer, card="4000 0000 0000 0002")

    (declined,) = _records(caplog, "escrow.services.payments", "Payment declined")
    assert declined.order_id == order.pk
    assert STRIPE_REQUEST_ID.fullmatch(declined.stripe_request_id)
