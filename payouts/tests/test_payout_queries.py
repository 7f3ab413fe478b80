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
from core.testing import bazaar_queries, commits_watched, prepared_statements
from escrow import ledger
from escrow.models import LedgerAccount
from escrow.testing import sell_and_release
from notifications.models import Notification
from payouts import services as payouts
from payouts.models import Payout, PayoutStatus

pytestmark = pytest.mark.django_db

# The seller's row locked; our books in two reads (payouts.selectors.payout_standing: their
# account, a hold, the period's payouts and those not yet taken; then escrow's first transfer and
# debt); the payout row, its audit entry, the notification (preference, row, email); with
# Stripe's answer: the payout locked, its ledger lines, its move (with the ledger's flag) and its
# audit entry. 16 before the books were read in two, 22 with the balance read twice.
PAYOUT_QUERIES = 12


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
    captured = CaptureQueriesContext(connection)

    def counted(fn, *args, **kwargs):
        asked.append((fn.__qualname__, bazaar_queries(captured.captured_queries)))
        return real_call(fn, *args, **kwargs)

    monkeypatch.setattr(stripe_client, "call", counted)

    with captured:
        assert payouts.payouts_run_scheduled().made == 1

    assert [name for name, _ in asked] == ["BalanceService.retrieve", "PayoutService.create"]
    # Our books were read before Stripe's balance (under the seller's lock): a payout Stripe
    # takes in between is then off the balance and still counted as not taken (paid out less
    # this once), never on the balance and no longer counted (paid out twice).
    before_balance = [sql.replace('"', "") for sql in asked[0][1]]
    assert any("payouts_payout" in sql and "SUM(" in sql for sql in before_balance)
    assert any("escrow_ledgerentry" in sql for sql in before_balance)
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


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Asynchronous commit is PostgreSQL's."
)
@pytest.mark.django_db(transaction=True)
def test_only_the_record_of_stripe_s_answer_commits_without_waiting_for_the_disk(
    due_payout, stripe_sandbox
):
    """The payout row is written, durably, before Stripe is asked (a lost row would be decided
    again: a second payout). What Stripe answered may be lost to a crash: the payout is then
    still requested, and payouts_send_requested asks again with the same key."""
    with stripe_sandbox.webhooks_held(), commits_watched() as committed:
        assert payouts.payouts_run_scheduled().made == 1

    ours = [(w, setting) for w, setting in committed if any("payouts_payout" in s for s in w)]
    assert [setting for _, setting in ours] == ["on", "off"], committed
    assert 'INSERT INTO "payouts_payout"' in ours[0][0]
    assert 'UPDATE "payouts_payout" SET' in ours[1][0]
    assert Payout.objects.get().status == PayoutStatus.PENDING
