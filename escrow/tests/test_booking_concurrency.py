"""Many buyers trying to book the same time of one seller at once (PostgreSQL only): exactly one
gets it, the others are told the time is gone, and nothing crashes. With the seller's row lock
taken away, PostgreSQL's exclusion constraint still keeps the calendar free of overlaps.

The database is built without migrations, so a fixture adds the constraint with migration
0013's own function. As in test_concurrency.py, each thread has its own connection and commits
for real (`transaction=True`); SQLite ignores select_for_update and serialises writers, so this
skips there (CI runs it with DATABASE_URL).
"""

from datetime import timedelta
from importlib import import_module

import pytest
from django.db import connection

from accounts.factories import UserFactory
from core import clock
from core.errors import ValidationFailed
from core.testing import race
from escrow import selectors, services
from escrow.models import Booking, BookingStatus
from marketplace.factories import ServiceListingFactory, availability_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL's row locks and exclusion constraints (set DATABASE_URL).",
    ),
]

THREADS = 10
MIGRATION = import_module("escrow.migrations.0013_bookings")
TAKEN = ["This time is no longer available. Pick another one."]


@pytest.fixture(autouse=True)
def no_overlap_constraint(django_db_blocker):
    """The tests' database is built without migrations (--no-migrations): add the exclusion
    constraint with migration 0013's own function, as `migrate` does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = 'booking_no_overlap'")
        present = cursor.fetchone()
    if not present:
        with connection.schema_editor() as editor:
            MIGRATION.add_no_overlap(None, editor)


@pytest.fixture
def service(seller):
    listing = ServiceListingFactory(
        store=seller.store, price_cents=10000, currency="usd", duration_minutes=60
    )
    availability_for(listing, time_zone="Europe/Berlin", buffer_minutes=15)
    return listing


def first_slot(service):
    now = clock.now()
    return selectors.listing_free_slots(
        listing=service,
        availability=service.availability,
        start=now + timedelta(days=2),
        end=now + timedelta(days=3),
    )[0]


def test_exactly_one_of_many_buyers_gets_the_same_slot(service):
    slot = first_slot(service)
    buyers = [UserFactory() for _ in range(THREADS)]

    outcomes, crashes = race(
        *[
            (lambda b=b: services.order_create(buyer=b, listing_id=service.pk, slot_start=slot))
            for b in buyers
        ]
    )

    assert crashes == []
    refused = [o for o in outcomes if isinstance(o, ValidationFailed)]
    booked = [o for o in outcomes if not isinstance(o, ValidationFailed)]
    assert len(booked) == 1
    assert len(refused) == THREADS - 1
    assert all(r.errors == {"slot_start": TAKEN} for r in refused)
    assert Booking.objects.filter(status=BookingStatus.HELD).count() == 1


def test_the_exclusion_constraint_refuses_an_overlap_the_service_did_not_see(service, monkeypatch):
    slot = first_slot(service)
    services.order_create(buyer=UserFactory(), listing_id=service.pk, slot_start=slot)
    # As if the seller's lock and the overlap query had missed it (another code path):
    # the database itself refuses, and the buyer still gets the clean answer.
    monkeypatch.setattr("escrow.services.bookings._check_slot", lambda **kwargs: None)

    with pytest.raises(ValidationFailed) as refused:
        services.order_create(
            buyer=UserFactory(), listing_id=service.pk, slot_start=slot + timedelta(minutes=30)
        )

    assert refused.value.errors == {"slot_start": TAKEN}
    assert Booking.objects.count() == 1
