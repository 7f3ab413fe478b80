"""What one release costs Bazaar's database, pinned: the auto-release job makes one per due order,
10,000 at a time, and each query is a round trip (issue #16: < 10 ms of our own per order).

Only Bazaar's own statements are counted: the sandbox answers the Transfer in-process with queries
of its own (Stripe's work, not ours), and in a test every transaction is a savepoint inside the
test's, which production runs as BEGIN/COMMIT without a statement of Django's."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import stripe_client
from core.models import AuditEntry
from core.testing import bazaar_queries, commits_watched, prepared_statements
from escrow import ledger, services
from escrow.models import (
    EscrowRelease,
    LedgerAccount,
    Order,
    OrderStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.testing import deliver_order, deliver_paid_order, pay_on_checkout_page, place_order
from notifications.models import Notification

pytestmark = pytest.mark.django_db

# The order locked (with its seller), the payment with its refunds, the seller's debt and account
# and the order's release if there is one, the release row, its ledger lines, the order moved,
# the two audit entries (one INSERT), the seller's notification (their email preference, the
# notification, its email); then, with Stripe's answer: the release locked (with its order's
# seller id), moved, audited, its ledger lines. 27 before the batching, 15 before the release
# and the seller's account were read with the payment.
RELEASE_QUERIES = 13


@pytest.fixture
def due_order(client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks):
    order = deliver_paid_order(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        capture=django_capture_on_commit_callbacks,
    )
    stripe_sandbox.advance_clock(days=15)
    # A worker looks these up once and keeps them; the count is of each release after that.
    ContentType.objects.get_for_models(Order, EscrowRelease)
    return order


def test_an_auto_release_makes_a_pinned_number_of_queries_and_keeps_every_rule(
    due_order, monkeypatch
):
    keys = []
    real_call = stripe_client.call

    def keyed(fn, *args, **kwargs):
        keys.append((fn.__qualname__, kwargs.get("options", {}).get("idempotency_key")))
        return real_call(fn, *args, **kwargs)

    monkeypatch.setattr(stripe_client, "call", keyed)
    with CaptureQueriesContext(connection) as captured:
        decided = services.escrow_release(order=Order(pk=due_order.pk), trigger=ReleaseTrigger.AUTO)

    ours = bazaar_queries(captured.captured_queries)
    assert len(ours) <= RELEASE_QUERIES, "\n".join(ours)
    # The order and the release are moved by UPDATEs of what changed, not of every column; the
    # release is recorded without reading its order's row again.
    updates = [sql for sql in ours if sql.startswith("UPDATE")]
    assert len(updates) == 2
    assert not any('"listing_title"' in sql or '"destination_account"' in sql for sql in updates)
    assert not any('"marketplace_order"."listing_title"' in sql for sql in ours[1:])
    if connection.features.has_select_for_update:
        # The order and the release were decided and recorded under their row locks.
        assert sum("FOR UPDATE" in sql for sql in ours) == 2

    decided = EscrowRelease.objects.get(pk=decided.pk)
    assert decided.status == ReleaseStatus.TRANSFERRED
    assert decided.transfer_cents == 2250
    assert decided.transfer_in_flight_since is None
    due_order.refresh_from_db()
    assert due_order.status == OrderStatus.RELEASED
    assert ledger.order_total(due_order) == 0
    assert ledger.balance(LedgerAccount.seller_payable(due_order.seller_id)) == 0
    entries = {
        entry.action: entry
        for entry in AuditEntry.objects.filter(
            action__in=[
                "escrow.release.created",
                "escrow.order.auto_released",
                "escrow.release.transferred",
            ]
        )
    }
    assert entries["escrow.release.created"].after["transfer_cents"] == 2250
    assert entries["escrow.order.auto_released"].before == {"status": "delivered"}
    assert entries["escrow.order.auto_released"].after["status"] == "released"
    assert entries["escrow.release.transferred"].before == {"status": "pending"}
    assert entries["escrow.release.transferred"].after["stripe_transfer_id"] == (
        decided.stripe_transfer_id
    )
    # One Stripe write, the Transfer, with the key from the release row.
    assert keys == [("TransferService.create", f"escrow-escrowrelease-{decided.pk}-transfer")]
    assert Notification.objects.filter(
        recipient_id=due_order.seller_id, event_code="order.released"
    ).exists()


def test_the_job_releases_many_due_orders_at_the_same_cost_each(
    due_order, buyer, seller, listing, client, stripe_sandbox, django_capture_on_commit_callbacks
):
    """The job's own reads (which orders are due, which milestones) are made once per run, not
    once per order."""
    from escrow.tasks import auto_release_due_orders

    second = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=second,
        buyer=buyer,
        success_url="http://testserver/orders/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/orders/cancelled",
    )
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)
    second.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=second, actor=seller)
    stripe_sandbox.advance_clock(days=15)

    with CaptureQueriesContext(connection) as captured:
        assert auto_release_due_orders.delay().get() == 2

    ours = bazaar_queries(captured.captured_queries)
    assert len(ours) <= 2 * RELEASE_QUERIES + 2, "\n".join(ours)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Prepared statements are PostgreSQL's."
)
def test_a_release_s_writes_are_prepared_statements_on_postgresql(due_order):
    """Each is parsed and planned once per connection, not once per order (core.rows.cursor)."""
    services.escrow_release(order=Order(pk=due_order.pk), trigger=ReleaseTrigger.AUTO)

    written = {
        (sql.split()[0], sql.split('"')[1])
        for sql in prepared_statements()
        if sql.startswith(("INSERT", "UPDATE"))
    }
    assert written >= {
        ("INSERT", "escrow_escrowrelease"),
        ("INSERT", "escrow_ledgerentry"),
        ("UPDATE", "marketplace_order"),
        ("INSERT", "marketplace_auditentry"),
        ("INSERT", "notifications_notification"),
        ("INSERT", "notifications_emaildelivery"),
        ("UPDATE", "escrow_escrowrelease"),
    }


def test_a_receiver_of_the_release_s_save_still_hears_it(due_order):
    from django.db.models.signals import post_save

    heard = []

    def receiver(instance, created, **kwargs):
        heard.append((instance.order_id, created))

    post_save.connect(receiver, sender=EscrowRelease)
    try:
        services.escrow_release(order=Order(pk=due_order.pk), trigger=ReleaseTrigger.AUTO)
    finally:
        post_save.disconnect(receiver, sender=EscrowRelease)

    assert heard[0] == (due_order.pk, True)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Asynchronous commit is PostgreSQL's."
)
@pytest.mark.django_db(transaction=True)
def test_only_the_record_of_stripe_s_answer_commits_without_waiting_for_the_disk(
    due_order, stripe_sandbox
):
    """The release is decided, durably, before its Transfer is sent (a lost decision would
    decide it again, under a new idempotency key: a second Transfer). The answer's record may
    be lost to a crash: the retry job asks again with the same key and records it then."""
    # transfer.created is held: a test's eager worker would record it inside the event's
    # transaction, before the answer is back, as a worker rarely manages to in production.
    with stripe_sandbox.webhooks_held(), commits_watched() as committed:
        services.escrow_release(order=Order(pk=due_order.pk), trigger=ReleaseTrigger.AUTO)

    ours = [(writes, setting) for writes, setting in committed if "escrow_" in str(writes)]
    assert [setting for _, setting in ours] == ["on", "off"], committed
    decided, recorded = (writes for writes, _ in ours)
    assert 'INSERT INTO "escrow_escrowrelease"' in decided
    assert recorded[0] == 'UPDATE "escrow_escrowrelease" SET'
    assert EscrowRelease.objects.get(order=due_order).status == ReleaseStatus.TRANSFERRED
    with connection.cursor() as cursor:  # the session's own setting again after it
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
