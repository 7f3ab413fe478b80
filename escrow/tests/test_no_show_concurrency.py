"""A seller answering a no-show report just as the beat job refunds it (PostgreSQL's row locks,
as in test_concurrency.py): in many threads it ends one way, answered and nothing refunded, or
refunded once in full and every late answer refused."""

from datetime import timedelta

import pytest
from django.db import connection

from core import clock
from core.testing import race
from escrow import selectors, services, tasks
from escrow.models import (
    BookingStatus,
    Dispute,
    DisputeReason,
    DisputeStatus,
    EscrowRefund,
    OrderStatus,
    RefundStatus,
)
from escrow.testing import pay_on_checkout_page
from escrow.tests import harness
from marketplace.factories import ServiceListingFactory, availability_for

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


def test_a_late_answer_and_the_refund_job_at_once_end_one_way(
    client, seller, buyer, stripe_sandbox
):
    service = ServiceListingFactory(
        store=seller.store, price_cents=10000, currency="usd", duration_minutes=60
    )
    availability_for(service, time_zone="UTC", buffer_minutes=0)
    now = clock.now()
    slot = selectors.listing_free_slots(
        listing=service,
        availability=service.availability,
        start=now + timedelta(days=2),
        end=now + timedelta(days=4),
    )[0]
    order = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slot)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    assert pay_on_checkout_page(client, url).status_code == 302
    stripe_sandbox.advance_clock(seconds=int((slot - clock.now()).total_seconds()) + 600)
    dispute, _ = services.dispute_open(
        order=order, actor=buyer, reason=DisputeReason.NO_SHOW, description="Nobody came."
    )
    stripe_sandbox.advance_clock(
        seconds=int((dispute.response_due_at - clock.now()).total_seconds()) + 60
    )

    contenders = [
        lambda: services.dispute_respond(dispute=dispute, actor=seller, response="I was there."),
        lambda: tasks.escalate_overdue_disputes.delay().result,  # no .get(): see race()
    ]
    outcomes, crashes = race(*(contenders[i % 2] for i in range(THREADS)))

    assert not crashes, "\n".join(crashes)
    dispute = Dispute.objects.get(pk=dispute.pk)
    order.refresh_from_db()
    refunds = list(EscrowRefund.objects.filter(order=order))
    answers = outcomes[0::2]
    if dispute.status == DisputeStatus.RESOLVED:
        assert [(r.amount_cents, r.status) for r in refunds] == [(10000, RefundStatus.SUCCEEDED)]
        assert order.status == OrderStatus.REFUNDED
        assert order.booking.status == BookingStatus.CANCELLED
        assert dispute.response == ""
        assert all(isinstance(a, Exception) for a in answers)
    else:
        assert dispute.status == DisputeStatus.ANSWERED
        assert refunds == []
        assert order.status == OrderStatus.DISPUTED
        assert sum(not isinstance(a, Exception) for a in answers) == 1
    assert harness.escrow_violations([order], sellers=[seller]) == []
