"""What one scheduled payout costs, pinned: the beat job makes one per due seller, thousands at a
time (issue #16). Stripe's balance is read once per seller, under the seller's lock, and only
Bazaar's own statements are counted (the sandbox answers in-process with queries of its own, and
in a test each transaction is a savepoint, which production runs as BEGIN/COMMIT)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from core import stripe_client
from core.models import AuditEntry
from core.testing import bazaar_queries, prepared_statements
from escrow import ledger
from escrow.models import LedgerAccount
from escrow.testing import sell_and_release
from notifications.models import Notification
from payouts import services as payouts
from payouts.models import Payout, PayoutStatus

pytestmark = pytest.mark.django_db

# The seller's account, their row locked, the period's payouts, the schedule read again (a hold)
# and the first transfer (the first payout delay), the debt and the payouts not yet taken, the
# payout row, its audit entry, the notification (preference, row, email); with Stripe's answer:
# the payout locked, its ledger lines, its move (with the ledger's flag) and its audit entry.
# 22 before, with the balance read twice.
PAYOUT_QUERIES = 16


@pytest.fixture
def due_payout(
    client, seller, listing, buyer, stripe_sandbox, settings, django_capture_on_commit_callbacks
):
    """A seller on a daily schedule with a sale settled at Stripe: the job owes them a payout."""
    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    payouts.payout_schedule_set(seller=seller, interval="daily")
    sell_and_release(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        capture=django_capture_on_commit_callbacks,
    )
    stripe_sandbox.advance_clock(days=3)  # settled: available at Stripe
    return seller


def test_a_scheduled_payout_reads_the_balance_once_and_makes_a_pinned_number_of_queries(
    due_payout, seller, monkeypatch
):
    ContentType.objects.get_for_models(Payout)  # a worker keeps it after its first use
    asked = []
    real_call = stripe_client.call

    def counted(fn, *args, **kwargs):
        asked.append(fn.__qualname__)
        return real_call(fn, *args, **kwargs)

    monkeypatch.setattr(stripe_client, "call", counted)

    with CaptureQueriesContext(connection) as captured:
        assert payouts.payouts_run_scheduled().made == 1

    assert asked == ["BalanceService.retrieve", "PayoutService.create"]
    ours = bazaar_queries(captured.captured_queries)
    # The job's own reads: the due schedules, and the next batch (none).
    assert len(ours) <= PAYOUT_QUERIES + 2, "\n".join(ours)
    # Stripe's answer moves the payout with an UPDATE of what changed, not of every column.
    (update,) = [sql for sql in ours if sql.startswith('UPDATE "payouts_payout"')]
    assert '"sent_booked"' in update and '"stripe_account_id"' not in update
    payout = Payout.objects.get()
    assert (payout.amount_cents, payout.status, payout.sent_booked) == (
        4500,
        PayoutStatus.PENDING,
        True,
    )
    assert ledger.balance(LedgerAccount.seller_payouts(seller.pk)) == 4500
    assert list(
        AuditEntry.objects.filter(action__startswith="payouts.payout.")
        .order_by("id")
        .values_list("action", "before", "after__status")
    ) == [
        ("payouts.payout.requested", {}, None),
        ("payouts.payout.pending", {"status": "requested"}, "pending"),
    ]
    assert Notification.objects.filter(recipient=seller, event_code="payout.requested").exists()
    # Run again the same day: the period has its payout; nothing more is asked of Stripe's
    # writes.
    asked.clear()
    assert payouts.payouts_run_scheduled().made == 0
    assert "PayoutService.create" not in asked


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Prepared statements are PostgreSQL's."
)
def test_a_scheduled_payout_s_locks_and_writes_are_prepared_statements_on_postgresql(due_payout):
    """Each is parsed and planned once per connection, not once per seller (core.rows.cursor)."""
    assert payouts.payouts_run_scheduled().made == 1

    prepared = prepared_statements()
    written = {
        (sql.split()[0], sql.split('"')[1])
        for sql in prepared
        if sql.startswith(("INSERT", "UPDATE"))
    }
    assert written >= {
        ("INSERT", "payouts_payout"),
        ("UPDATE", "payouts_payout"),
        ("INSERT", "escrow_ledgerentry"),
        ("INSERT", "marketplace_auditentry"),
    }
    locks = [sql for sql in prepared if sql.rstrip().endswith('FOR UPDATE OF "payouts_payout"')]
    assert len(locks) == 1
    seller_lock = "FOR UPDATE OF " + connection.ops.quote_name(get_user_model()._meta.db_table)
    assert any(sql.rstrip().endswith(seller_lock) for sql in prepared)


def test_a_receiver_of_the_payout_s_save_still_hears_it(due_payout):
    heard = []

    def receiver(instance, created, update_fields, **kwargs):
        heard.append((instance.seller_id, created, instance.status))

    post_save.connect(receiver, sender=Payout)
    try:
        assert payouts.payouts_run_scheduled().made == 1
    finally:
        post_save.disconnect(receiver, sender=Payout)

    assert heard == [
        (due_payout.pk, True, PayoutStatus.REQUESTED),
        (due_payout.pk, False, PayoutStatus.PENDING),
    ]
