"""Smoke test of bench/release's data (bench/release_data.py) and bench/webhooks' event bodies:
the orders it makes are ones the real auto-release job releases, one Transfer each, and the
events it posts pass the intake's signature check. No timing here: the benches print figures."""

import json
import time

import pytest
from djstripe.models import WebhookEventTrigger

from bench import release_data, webhooks, webhooks_data
from escrow.models import EscrowRelease, OrderStatus, ReleaseStatus
from escrow.tasks import auto_release_due_orders


@pytest.mark.django_db(transaction=True)
def test_the_bench_orders_are_released_by_the_real_job(stripe_sandbox):
    assert release_data.due_orders(orders=5, sellers=2) == 5

    assert auto_release_due_orders.delay().get() == 5

    released = EscrowRelease.objects.filter(status=ReleaseStatus.TRANSFERRED)
    assert released.count() == 5
    assert {r.order.status for r in released} == {OrderStatus.RELEASED}
    assert len({r.stripe_transfer_id for r in released}) == 5


@pytest.mark.django_db(transaction=True)
def test_the_bench_events_are_accepted_by_the_intake(client, tmp_path, stripe_sandbox):
    out = tmp_path / "setup.json"
    webhooks_data.prepare(base_url="http://testserver", sellers=2, out=str(out))
    setup = json.loads(out.read_text())
    for body in webhooks.events(setup, 3, "smoke"):
        response = client.post(
            setup["path"],
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=webhooks.sign(body, setup["secret"], int(time.time())),
        )
        assert response.status_code == 200
    assert WebhookEventTrigger.objects.filter(valid=True, processed=True).count() == 3
