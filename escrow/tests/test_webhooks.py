"""Stripe's events about an order's money, through Bazaar's webhook intake: a lost event is
found again, and an event's body is never trusted for an amount or a text Stripe can be asked
for (the events here are validly signed: the endpoint's secret leaked, or Stripe sent a stale
copy)."""

import pytest
from djstripe.models import WebhookEventTrigger
from kombu.exceptions import OperationalError

from core.stripe_webhooks import process_webhook, requeue_stored_webhooks
from escrow import ledger, services
from escrow.models import LedgerAccount, OrderStatus
from escrow.testing import pay_on_checkout_page

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def test_a_payment_whose_events_arrive_while_the_broker_is_down_funds_the_order_later(
    client, seller, listing, buyer, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    order = services.order_create(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )

    earlier = list(WebhookEventTrigger.objects.values_list("pk", flat=True))

    def broker_unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(process_webhook, "delay", broker_unreachable)
        assert pay_on_checkout_page(client, url).status_code == 302

    # Stripe was told "received" (it would otherwise retry for days) and the events are stored.
    stored = WebhookEventTrigger.objects.exclude(pk__in=earlier)
    sent = [d for d in stripe_sandbox.deliveries() if d.attempts and d.last_status_code != 200]
    assert sent == []
    assert stored.filter(valid=True).count() >= 3  # the session, the intent and the charge
    assert not stored.filter(processed=True).exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT

    stripe_sandbox.advance_clock(minutes=2)
    with django_capture_on_commit_callbacks(execute=True):
        requeued = requeue_stored_webhooks.delay().get()

    assert requeued == stored.count()
    assert not stored.filter(processed=False).exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == -order.total_cents
    assert ledger.order_total(order) == 0
