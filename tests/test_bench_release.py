"""Smoke test of bench/release's data (bench/release_data.py) and bench/webhooks' event bodies:
the orders it makes are ones the real auto-release job releases, one Transfer each, its payees
are paid out by the real scheduled payouts job, one Payout each, and the
events it posts pass the intake's signature check; bench/webhooks tells the sandbox's time from
the worker's. No timing here: the benches print figures."""

import json
import os
import time

import pytest
from djstripe.models import WebhookEventTrigger

from bench import release_data, webhooks, webhooks_data
from bench import webhooks_stack as stack
from escrow.models import EscrowRelease, OrderStatus, ReleaseStatus
from escrow.tasks import auto_release_due_orders
from payouts.models import Payout, PayoutStatus
from payouts.tasks import run_scheduled_payouts


@pytest.mark.django_db(transaction=True)
def test_the_bench_orders_are_released_by_the_real_job(stripe_sandbox):
    assert release_data.due_orders(orders=5, sellers=2) == 5

    assert auto_release_due_orders.delay().get() == 5

    released = EscrowRelease.objects.filter(status=ReleaseStatus.TRANSFERRED)
    assert released.count() == 5
    assert {r.order.status for r in released} == {OrderStatus.RELEASED}
    assert len({r.stripe_transfer_id for r in released}) == 5


@pytest.mark.django_db(transaction=True)
def test_the_bench_payouts_are_made_by_the_real_job(stripe_sandbox, settings):
    settings.PAYOUT_FIRST_DELAY_DAYS = 7  # as in production: the payees' money is no release's
    today = release_data.due_payouts(payouts=3)

    assert run_scheduled_payouts.delay(today=today).get() == 3

    made = Payout.objects.filter(period=f"d{today.replace('-', '')}")
    assert sorted(made.values_list("amount_cents", flat=True)) == [release_data.PAYOUT_CENTS] * 3
    assert {p.status for p in made} == {PayoutStatus.PENDING}
    # Again on the same database: a period of its own, each seller with a new balance to pay.
    later = release_data.due_payouts(payouts=3)
    assert later > today
    assert run_scheduled_payouts.delay(today=later).get() == 3


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


def test_the_webhooks_bench_tells_stripes_time_from_ours(capsys):
    """bench/webhooks reads the timed sandbox client's counters around the run and prints, per
    event, the Stripe calls and the sandbox's time apart from the worker's own."""
    figures = webhooks.stripe_figures(
        (10.0, 300), (16.0, 1300), events=1000, processing_s=8.0, concurrency=2
    )
    assert figures == {
        "stripe_calls_per_event": 1.0,
        "sandbox_ms_per_event": 6.0,
        "worker_ms_per_event_outside_sandbox": 10.0,  # (8 s x 2 processes - 6 s) / 1000
    }

    webhooks.report(
        {
            "events": 1000,
            "clients": 32,
            "gunicorn": "2 workers x 8 threads",
            "celery_concurrency": 2,
            "statuses": {200: 1000},
            "acknowledged_per_s": 600.0,
            "ack_p50_ms": 40.0,
            "ack_p95_ms": 90.0,
            "ack_p99_ms": 120.0,
            "processed_per_s": 125.0,
            "drain_s": 6.3,
            "web_peak_rss_mb": 120.0,
            "worker_peak_rss_mb": 140.0,
            "load_before": "1.00 1.00 1.00",
            "cpu_stolen_share": 0.081,
            "cpus": 2,
            "uptime": "up",
            **figures,
        }
    )
    printed = capsys.readouterr().out
    lines = {line.strip().split("  ")[0]: line for line in printed.splitlines()}
    assert "1.00 per event, sandbox 6.0 ms per event" in lines["Stripe calls"]
    assert "10.0 ms per event (at most)" in lines["worker, sandbox apart"]
    assert "CPU stolen by the hypervisor during the run: 8.1%" in printed


def test_the_benches_tell_the_cpu_time_the_hypervisor_took(tmp_path):
    """A virtual machine whose host gives its cores to others runs every bench slower: the
    benches read /proc/stat's steal counter around their runs and print its share."""
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 0 50 800 10 0 5 35 20 0\ncpu0 50 0 25 400 5 0 2 18 10 0\n")
    before = stack.cpu_counters(stat)
    stat.write_text("cpu  160 0 70 900 10 0 5 55 40 0\ncpu0 80 0 35 450 5 0 2 28 20 0\n")
    after = stack.cpu_counters(stat)

    # 200 ticks passed (guest time is in user already), 20 of them stolen.
    assert stack.stolen_share(before, after) == 0.1
    assert stack.stolen_text(stack.stolen_share(before, after)) == "10.0%"
    # No /proc (another system), or no time passed: not known, never a division by zero.
    assert stack.cpu_counters(tmp_path / "missing") is None
    assert stack.stolen_share(None, after) is None
    assert stack.stolen_share(after, after) is None
    assert stack.stolen_text(None) == "not known"


def test_the_webhooks_bench_says_what_cpu_each_part_of_the_run_took():
    """CPU per event of the client, gunicorn, Celery and PostgreSQL, and their share of the
    cores: a backend that connected during the run counts from its start."""
    waits = {"web_waited": 0.0, "celery_waited": 0.0}
    start = {"client": 1.0, "web": 10.0, "celery": 20.0, "postgres": {7: 5.0}, **waits}
    acked = {"client": 1.2, "web": 11.0, "celery": 20.5, "postgres": {7: 5.3}, **waits}
    done = {
        "client": 1.3,
        "web": 11.0,
        "celery": 26.5,
        "postgres": {7: 5.5, 9: 0.5},
        "web_waited": 1.0,
        "celery_waited": 4.0,
    }

    figures = webhooks.cpu_figures(start, acked, done, events=1000, acked_s=2.0, processing_s=10.0)

    assert figures["cpu_ms_per_event_ack"] == {
        "client": 0.2,
        "web": 1.0,
        "celery": 0.5,
        "postgres": 0.3,
    }
    assert figures["cpu_ms_per_event_run"]["postgres"] == 1.0  # 0.5 + the new backend's 0.5
    assert figures["cpu_share_run"] == round((0.3 + 1.0 + 6.5 + 1.0) / (10.0 * os.cpu_count()), 2)
    # Ready to run, but another process had the cores.
    assert figures["waited_for_a_core_ms_per_event_run"] == {"web": 1.0, "celery": 4.0}
