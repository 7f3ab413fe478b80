"""The sandbox's clock jobs run before every request, but only when something has fallen due."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stripe_sandbox import core
from stripe_sandbox.models import SandboxClock
from stripe_sandbox.tests.helpers_money import DAY, platform_charge, sdk

pytestmark = pytest.mark.django_db


def sandbox_queries(captured):
    return [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]


def test_a_request_with_nothing_due_asks_the_clock_once():
    """Every clock job looked at its objects in its own transaction before every request (eight
    queries, with pending funds and payouts locked); one query now says nothing is due."""
    charge = platform_charge(1000)  # its funds settle in two days: not due yet
    sdk().v1.balance.retrieve()

    with CaptureQueriesContext(connection) as captured:
        txn = sdk().v1.balance_transactions.retrieve(charge["balance_transaction"])

    assert txn.status == "pending"
    queries = sandbox_queries(captured.captured_queries)
    assert len(queries) == 2, "\n".join(queries)  # what is due, then the transaction itself


def test_what_falls_due_happens_at_the_next_request_whoever_moved_the_clock():
    """Time passing (or another process moving the clock) makes the next request settle funds,
    as before: the due time is kept on the row, not in this process."""
    charge = platform_charge(1000)
    SandboxClock.objects.update_or_create(pk=1, defaults={"offset_seconds": 2 * DAY + 1})

    txn = sdk().v1.balance_transactions.retrieve(charge["balance_transaction"])

    assert txn.status == "available"
    assert core.get(charge["balance_transaction"], kind="balance_transaction")["status"] == (
        "available"
    )
