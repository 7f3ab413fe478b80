"""A milestone released by several actors at once (PostgreSQL's row locks, as in
test_concurrency.py): the buyer approving, the auto-release job and staff, in many threads,
make exactly one release and one Stripe Transfer of that milestone."""

from datetime import timedelta

import pytest
from django.db import connection

from accounts.factories import StaffFactory
from core import clock
from core.testing import race
from escrow import ledger, services, tasks
from escrow.models import (
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    MilestoneStatus,
    OrderStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.testing import pay_on_checkout_page, place_order
from escrow.tests import harness
from marketplace.factories import ServiceListingFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL's row locks (set DATABASE_URL): SQLite ignores "
        "select_for_update and serialises every writer, so these races cannot happen there.",
    ),
]

THREADS = 8
SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def test_approve_auto_release_and_staff_racing_on_one_milestone_release_it_once(
    client, seller, buyer, stripe_sandbox
):
    staff = StaffFactory()
    service = ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")
    order = place_order(buyer=buyer, listing_id=service.pk)
    due = (clock.now() + timedelta(days=3)).date().isoformat()
    services.milestone_plan_propose(
        order=order,
        actor=seller,
        milestones=[
            {"title": "Draft", "amount_cents": 4000, "due_date": due},
            {"title": "Final", "amount_cents": 6000, "due_date": due},
        ],
    )
    services.milestone_plan_accept(order=order, actor=buyer)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    draft, final = order.milestones.order_by("position")
    services.milestone_deliver(milestone=draft, actor=seller)
    stripe_sandbox.advance_clock(days=15)  # the review window is over: the job may release too

    contenders = [
        lambda: services.milestone_approve(milestone=draft, actor=buyer),
        lambda: tasks.auto_release_due_orders.delay().result,  # no .get(): see race()
        lambda: services.milestone_release_by_staff(milestone=draft, actor=staff, reason="Done"),
    ]
    outcomes, crashes = race(*(contenders[i % 3] for i in range(THREADS)))

    assert not crashes, "\n".join(crashes)
    decided = EscrowRelease.objects.get(order=order)
    assert decided.milestone_id == draft.pk
    assert decided.status == ReleaseStatus.TRANSFERRED
    assert (decided.gross_cents, decided.commission_cents, decided.transfer_cents) == (
        4000,
        400,
        3600,
    )
    transfers = harness.stripe_transfers_for(order)
    assert [(t.id, t.amount) for t in transfers] == [(decided.stripe_transfer_id, 3600)]
    assert (
        LedgerEntry.objects.filter(order=order, account=LedgerAccount.PLATFORM_COMMISSION).count()
        == 1
    )
    assert ledger.order_total(order) == 0
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == -6000
    assert ledger.balance(LedgerAccount.seller_payable(seller.pk)) == 0
    draft.refresh_from_db()
    final.refresh_from_db()
    assert (draft.status, final.status) == (MilestoneStatus.RELEASED, MilestoneStatus.PENDING)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    for outcome in outcomes:
        if isinstance(outcome, EscrowRelease):
            assert outcome.pk == decided.pk
    assert ReleaseTrigger(decided.trigger) in (
        ReleaseTrigger.BUYER,
        ReleaseTrigger.AUTO,
        ReleaseTrigger.STAFF,
    )
