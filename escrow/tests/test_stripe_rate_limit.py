"""The auto-release job under Stripe's rate limit: its Transfers are paced by the shared write
budget (STRIPE_WRITES_PER_SECOND), and a 429 is retried with backoff until the release goes
through, once."""

import uuid
from urllib.parse import urlsplit

import pytest

from core import stripe_client, stripe_rate
from escrow import services
from escrow.models import EscrowRelease, LedgerAccount, LedgerEntry, ReleaseStatus
from escrow.tasks import auto_release_due_orders, retry_failed_transfers
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests.harness import stripe_transfers_for
from stripe_sandbox import testing as sandbox


class FakeTime:
    """A wall clock that moves only when someone sleeps: waits are recorded, never spent."""

    def __init__(self, start):
        self.now = start
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch, settings):
    """Time stands still but for sleeps, on slots of this test's own (in Redis under a key of
    its own when REDIS_URL is set): other test processes sharing the Redis never see them."""
    fake = FakeTime(1_000_000.0)
    monkeypatch.setattr(stripe_client, "_clock", fake.time)
    monkeypatch.setattr(stripe_client, "_sleep", fake.sleep)
    slots = (
        stripe_rate.RedisSlots(settings.REDIS_URL, key=f"test:stripe-slots:{uuid.uuid4()}")
        if settings.REDIS_URL
        else stripe_rate.ProcessSlots()
    )
    monkeypatch.setattr(stripe_rate, "_slots", slots)
    yield fake
    slots.reset()


def due_orders(client, *, buyer, seller, listing, count, capture):
    """`count` orders paid on the sandbox's checkout page, delivered, their review window over."""
    orders = []
    for _ in range(count):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=1)
        _, url = services.payment_checkout_start(
            order=order,
            buyer=buyer,
            success_url="http://testserver/done?session={CHECKOUT_SESSION_ID}",
            cancel_url="http://testserver/cancelled",
        )
        with capture(execute=True):
            assert pay_on_checkout_page(client, url).status_code == 302
        order.refresh_from_db()
        with capture(execute=True):
            deliver_order(order=order, actor=seller, note="Sent")
        orders.append(order)
    return orders


def test_a_429_is_retried_after_a_backoff_and_the_order_released_once(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks, fake_time
):
    (order,) = due_orders(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        count=1,
        capture=django_capture_on_commit_callbacks,
    )
    stripe_sandbox.advance_clock(days=15)
    stripe_sandbox.rate_limit_writes(2)

    with django_capture_on_commit_callbacks(execute=True):
        assert auto_release_due_orders.delay().get() == 1

    assert stripe_sandbox.rate_limited_left() == 0  # both 429s were answered to the transfer
    release = EscrowRelease.objects.get(order=order)
    assert release.status == ReleaseStatus.TRANSFERRED
    assert [t.id for t in stripe_transfers_for(order)] == [release.stripe_transfer_id]
    assert (
        LedgerEntry.objects.filter(
            order=order, account=LedgerAccount.seller_payable(seller.pk), amount_cents__gt=0
        ).count()
        == 1
    )
    # Two waits, the second drawn from a doubled range (jitter: each in its upper half).
    first, second = [s for s in fake_time.slept if s >= 0.25]
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0


def test_a_429_that_persists_gives_up_and_the_retry_job_transfers_once_later(
    client,
    seller,
    listing,
    buyer,
    stripe_sandbox,
    django_capture_on_commit_callbacks,
    fake_time,
    settings,
):
    settings.STRIPE_RATE_LIMIT_RETRIES = 3
    settings.ESCROW_TRANSFER_TIMEOUT_SECONDS = 0
    (order,) = due_orders(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        count=1,
        capture=django_capture_on_commit_callbacks,
    )
    stripe_sandbox.advance_clock(days=15)
    stripe_sandbox.rate_limit_writes(10)

    with django_capture_on_commit_callbacks(execute=True):
        auto_release_due_orders.delay().get()

    release = EscrowRelease.objects.get(order=order)
    assert release.status == ReleaseStatus.FAILED
    assert "too many requests" in release.failure_message
    assert stripe_sandbox.rate_limited_left() == 6  # one try and three retries, then it stopped
    assert stripe_transfers_for(order) == []

    stripe_sandbox.rate_limit_writes(0)
    with django_capture_on_commit_callbacks(execute=True):
        retry_failed_transfers.delay().get()
    release.refresh_from_db()
    assert release.status == ReleaseStatus.TRANSFERRED
    assert [t.id for t in stripe_transfers_for(order)] == [release.stripe_transfer_id]


def test_the_job_spaces_its_transfers_by_the_shared_write_budget(
    client,
    seller,
    listing,
    buyer,
    stripe_sandbox,
    django_capture_on_commit_callbacks,
    fake_time,
    settings,
    monkeypatch,
):
    listing.stock = 10
    listing.save(update_fields=["stock"])
    orders = due_orders(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        count=4,
        capture=django_capture_on_commit_callbacks,
    )
    stripe_sandbox.advance_clock(days=15)
    settings.STRIPE_WRITES_PER_SECOND = 10
    sent_at = []

    def record(method, url, headers, body, handle):
        if method.upper() == "POST" and urlsplit(url).path == "/v1/transfers":
            sent_at.append(fake_time.time())
        return handle(method, url, headers, body)

    sandbox.intercept(monkeypatch, record)
    with django_capture_on_commit_callbacks(execute=True):
        assert auto_release_due_orders.delay().get() == 4

    gaps = [round(b - a, 3) for a, b in zip(sent_at, sent_at[1:], strict=False)]
    assert len(sent_at) == 4 and gaps == [0.1, 0.1, 0.1]  # 10 a second: one every 100 ms
    assert (
        EscrowRelease.objects.filter(order__in=orders, status=ReleaseStatus.TRANSFERRED).count()
        == 4
    )

    settings.STRIPE_WRITES_PER_SECOND = 0  # no limit: nothing waits
    fake_time.slept.clear()
    stripe_rate.limiter(clock=fake_time.time, sleep=fake_time.sleep).take()
    assert fake_time.slept == []


def test_a_long_run_hands_the_rest_to_a_new_task_before_celerys_time_limit(
    client,
    seller,
    listing,
    buyer,
    stripe_sandbox,
    django_capture_on_commit_callbacks,
    settings,
):
    """At 25 writes a second, 10,000 due orders take 400 s: one task would pass Celery's time
    limit (120 s) and be killed mid-run. Past ESCROW_RELEASE_JOB_SECONDS the task queues
    itself again and the next one goes on."""
    orders = due_orders(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        count=3,
        capture=django_capture_on_commit_callbacks,
    )
    stripe_sandbox.advance_clock(days=15)
    settings.ESCROW_RELEASE_JOB_SECONDS = 0  # every task's time is up after its first order

    with django_capture_on_commit_callbacks(execute=True):
        first = auto_release_due_orders.delay().get()

    assert first == 1  # it did one, then handed over (eager Celery runs the next ones at once)
    released = EscrowRelease.objects.filter(order__in=orders, status=ReleaseStatus.TRANSFERRED)
    assert released.count() == 3
    for order in orders:
        assert len(stripe_transfers_for(order)) == 1
