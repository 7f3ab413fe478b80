"""Two requests with one Idempotency-Key at the same moment, from threads with their own database
connections (PostgreSQL only).

The first request is held in flight by a real row lock: the test locks the charge the Transfer
draws on (source_transaction), which the sandbox locks too before it moves money. Meanwhile the
second request must not make a second Transfer, even though the charge has room for two: Stripe
answers it 409 idempotency_key_in_use, and the stripe SDK's own retry of that 409 gets the first
request's answer replayed.

The tests commit for real (transaction=True) and every thread closes its connection. SQLite has
no row locks (select_for_update is a no-op there and writers lock the whole file), so they skip
on it; CI runs them on PostgreSQL (DATABASE_URL).
"""

import threading
import time

import pytest
import stripe
from django.db import connection, transaction

from stripe_sandbox import core
from stripe_sandbox.models import SandboxObject
from stripe_sandbox.testing import SECRET_KEY
from stripe_sandbox.tests.helpers_money import connected_account, platform_charge, sdk
from stripe_sandbox.transport import SandboxHTTPClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL's row locks (set DATABASE_URL): SQLite ignores "
        "select_for_update and serialises every writer, so these races cannot happen there.",
    ),
]

KEY = "escrow-release-41"


class Outcome:
    def __init__(self):
        self.value = None
        self.error = None
        self.done = threading.Event()


def in_thread(fn):
    """Run fn() in a thread with its own database connection; returns its Outcome."""
    outcome = Outcome()

    def run():
        try:
            outcome.value = fn()
        except Exception as exc:  # the test looks at it
            outcome.error = exc
        finally:
            connection.close()
            outcome.done.set()

    threading.Thread(target=run, daemon=True).start()
    return outcome


def sdk_with(http_client=None, retries=0):
    return stripe.StripeClient(
        api_key=SECRET_KEY,
        stripe_version=core.API_VERSION,
        max_network_retries=retries,
        http_client=http_client or SandboxHTTPClient(),
    )


def release_transfer(api, seller, charge):
    return api.v1.transfers.create(
        params={
            "amount": 400,
            "currency": "usd",
            "destination": seller,
            "source_transaction": charge["id"],
            "transfer_group": "order-41",
        },
        options={"idempotency_key": KEY},
    )


def wait_until(condition, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def waiting_on_our_lock():
    """How many other connections wait for a row lock (the first request, held in flight)."""
    with connection.cursor() as cursor:
        # Statistics views are a snapshot per transaction unless it is cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def transfers():
    return list(SandboxObject.objects.filter(object_type="transfer").values_list("stripe_id"))


@pytest.fixture
def seller_and_charge():
    return connected_account(), platform_charge(1000)  # room for two 400 transfers


def test_a_second_request_with_the_key_gets_409_while_the_first_runs(seller_and_charge):
    seller, charge = seller_and_charge
    with transaction.atomic():
        SandboxObject.objects.select_for_update().get(stripe_id=charge["id"])
        first = in_thread(lambda: release_transfer(sdk_with(), seller, charge))
        wait_until(waiting_on_our_lock, "the first request to reach the locked charge")
        second = in_thread(lambda: release_transfer(sdk_with(), seller, charge))
        assert second.done.wait(10), "the second request waited for the first"
        assert not first.done.is_set()  # still held by the lock
    assert first.done.wait(10)

    assert first.error is None, first.error
    assert isinstance(second.error, stripe.APIError)
    assert second.error.http_status == 409
    assert second.error.error.type == "idempotency_error"
    assert second.error.error.code == "idempotency_key_in_use"
    assert transfers() == [(first.value.id,)]
    replay = release_transfer(sdk(), seller, charge)
    assert replay.id == first.value.id
    assert replay.last_response.headers["idempotent-replayed"] == "true"
    assert transfers() == [(first.value.id,)]


class PausingClient(SandboxHTTPClient):
    """The sandbox's transport, whose pause before a retry lets the test finish the first
    request: stripe-python retries a 409 with the same key after such a pause."""

    def __init__(self, on_pause):
        super().__init__()
        self.on_pause = on_pause
        self.pauses = 0

    def _sleep_time_seconds(self, num_retries):
        self.pauses += 1
        self.on_pause()
        return 0


def test_the_sdks_retry_of_the_409_gets_the_first_transfer_replayed(seller_and_charge):
    seller, charge = seller_and_charge
    conflicted, first_done = threading.Event(), threading.Event()

    def pause():
        conflicted.set()
        assert first_done.wait(10)

    retrying = PausingClient(pause)
    with transaction.atomic():
        SandboxObject.objects.select_for_update().get(stripe_id=charge["id"])
        first = in_thread(lambda: release_transfer(sdk_with(), seller, charge))
        wait_until(waiting_on_our_lock, "the first request to reach the locked charge")
        second = in_thread(lambda: release_transfer(sdk_with(retrying, retries=2), seller, charge))
        assert conflicted.wait(10), "the second request was not answered 409"
    assert first.done.wait(10)
    first_done.set()
    assert second.done.wait(10)

    assert first.error is None and second.error is None, (first.error, second.error)
    assert retrying.pauses == 1
    assert second.value.id == first.value.id
    assert second.value.last_response.headers["idempotent-replayed"] == "true"
    assert transfers() == [(first.value.id,)]


def test_many_threads_sharing_a_key_make_one_transfer(seller_and_charge, monkeypatch):
    seller, charge = seller_and_charge
    monkeypatch.setattr(SandboxHTTPClient, "_sleep_time_seconds", lambda self, n: 0.05 * n)
    start = threading.Barrier(8)

    def contender():
        start.wait(10)
        return release_transfer(sdk_with(retries=5), seller, charge)

    outcomes = [in_thread(contender) for _ in range(8)]
    for outcome in outcomes:
        assert outcome.done.wait(30)

    assert [o.error for o in outcomes] == [None] * 8
    (made,) = transfers()
    assert {o.value.id for o in outcomes} == {made[0]}
    replayed = [o for o in outcomes if o.value.last_response.headers.get("idempotent-replayed")]
    assert len(replayed) == 7
