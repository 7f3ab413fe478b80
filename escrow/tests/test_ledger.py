"""escrow.ledger.post: a booking's lines, written by core.rows (every money movement)."""

import pytest
from django.db import transaction

from escrow import ledger
from escrow.factories import OrderFactory
from escrow.models import LedgerEntry

pytestmark = pytest.mark.django_db


def test_a_booking_writes_its_lines_as_one_balanced_transaction(django_assert_num_queries):
    order = OrderFactory()
    # The INSERT, in a savepoint and its release.
    with django_assert_num_queries(3), transaction.atomic():
        ledger.post(
            order=order,
            currency="usd",
            memo="Escrow of order released",
            stripe_object_id="tr_123",
            lines=[
                ("buyer_funds_held", 2500),
                ("platform_commission", -250),
                ("stripe_fees_recovered", 0),
                ("seller_payable:1", -2250),
            ],
        )

    lines = list(LedgerEntry.objects.order_by("id"))
    assert [(line.account, line.amount_cents) for line in lines] == [
        ("buyer_funds_held", 2500),
        ("platform_commission", -250),
        ("seller_payable:1", -2250),
    ]  # the zero line is left out
    assert len({line.transaction_id for line in lines}) == 1
    assert all(line.order_id == order.pk for line in lines)
    assert all(line.currency == "usd" and line.memo == "Escrow of order released" for line in lines)
    assert all(line.stripe_object_id == "tr_123" and line.created_at for line in lines)
    assert ledger.order_total(order) == 0
    assert ledger.balance("seller_payable:1", currency="usd") == -2250


def test_a_booking_takes_an_order_id_or_none():
    with transaction.atomic():
        ledger.post(order=None, currency="eur", memo="Platform", lines=[("a", 5), ("b", -5)])
    assert set(LedgerEntry.objects.values_list("order_id", flat=True)) == {None}


def test_an_unbalanced_booking_is_refused():
    with pytest.raises(ledger.UnbalancedBooking), transaction.atomic():
        ledger.post(order=None, currency="usd", memo="Bad", lines=[("a", 5), ("b", -4)])
    assert not LedgerEntry.objects.exists()
