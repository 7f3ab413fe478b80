"""Races on one order, with real row locks (PostgreSQL only).

Buyer approval, the auto-release job and staff release start together from many threads: exactly
one release is decided and exactly one Stripe Transfer is made. Stripe's success webhooks and a
retrying job confirming the same payment at once: the money is booked once.

The hourly retry job and staff's "Retry the transfer" racing a transfer request still in flight:
nothing more is sent to Stripe, whatever room the charge has.

Each thread has its own database connection (Django's are per thread), so these tests commit for
real (`transaction=True`) and every thread closes its connection when it is done. SQLite has no
row locks (select_for_update is a no-op there and writers lock the whole file), so the tests skip
on it; CI runs them on PostgreSQL (DATABASE_URL).
"""

import threading
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.factories import StaffFactory
from core.models import AuditEntry
from core.stripe_client import client as stripe
from core.testing import race
from escrow import ledger, services, tasks
from escrow.models import (
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    OrderStatus,
    PaymentStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests import harness
from stripe_sandbox import testing as sandbox

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


def funded_order(client, buyer, listing):
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED  # webhooks are delivered at each commit here
    return order


def test_approve_auto_release_and_staff_release_racing_release_once(
    client, seller, listing, buyer, stripe_sandbox
):
    staff = StaffFactory()
    order = funded_order(client, buyer, listing)
    deliver_order(order=order, actor=seller, note="Sent")
    stripe_sandbox.advance_clock(days=15)  # the review window is over: the job may release too

    contenders = [
        lambda: services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer),
        lambda: tasks.auto_release_due_orders.delay().result,  # no .get(): see race()
        lambda: services.escrow_release(order=order, trigger=ReleaseTrigger.STAFF, actor=staff),
    ]
    outcomes, crashes = race(*(contenders[i % 3] for i in range(THREADS)))

    assert not crashes, "\n".join(crashes)
    decided = EscrowRelease.objects.get(order=order)
    assert decided.status == ReleaseStatus.TRANSFERRED
    assert decided.failure_message == ""  # a loser's failed retry never overwrites the outcome
    assert decided.transfer_cents == 4500
    transfers = harness.stripe_transfers_for(order)
    assert [(t.id, t.amount) for t in transfers] == [(decided.stripe_transfer_id, 4500)]
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert ledger.order_total(order) == 0
    assert ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order) == 0
    assert ledger.balance(LedgerAccount.seller_payable(seller.pk)) == 0
    releases_booked = LedgerEntry.objects.filter(
        order=order, account=LedgerAccount.PLATFORM_COMMISSION
    )
    assert releases_booked.count() == 1
    released = AuditEntry.objects.filter(
        target_id=str(order.pk),
        action__in=[
            "escrow.order.approved",
            "escrow.order.auto_released",
            "escrow.order.released_by_staff",
        ],
    )
    assert released.count() == 1
    assert harness.escrow_violations([order], sellers=[seller]) == []
    # Every thread that got an answer got the one release (or the job's count / a refusal).
    for outcome in outcomes:
        if isinstance(outcome, EscrowRelease):
            assert outcome.pk == decided.pk


def test_the_same_payment_confirmed_at_once_is_booked_once(
    client, seller, listing, buyer, stripe_sandbox
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment = services.payment_intent_start(order=order, buyer=buyer)
    with stripe_sandbox.webhooks_held():  # Bazaar learns of it only from the racing threads
        intent = stripe().v1.payment_intents.confirm(
            payment.stripe_payment_intent_id, params={"payment_method": "pm_card_visa"}
        )
    assert intent.status == "succeeded"

    outcomes, crashes = race(
        *(lambda: services.payment_confirm(payment_intent_id=intent.id) for _ in range(THREADS))
    )

    assert not crashes, "\n".join(crashes)
    assert [p.status for p in EscrowPayment.objects.filter(order=order)] == [
        PaymentStatus.SUCCEEDED
    ]
    fundings = LedgerEntry.objects.filter(order=order, account=LedgerAccount.BUYER_FUNDS_HELD)
    assert [e.amount_cents for e in fundings] == [-2500]
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert (
        AuditEntry.objects.filter(target_id=str(order.pk), action="escrow.order.funded").count()
        == 1
    )
    assert ledger.order_total(order) == 0

    # Stripe's own webhooks (three for this payment), each twice, change nothing more.
    stripe_sandbox.deliver(stripe_sandbox.pending_deliveries(), times=2)
    assert LedgerEntry.objects.filter(order=order).count() == 3
    assert harness.escrow_violations([order], sellers=[seller]) == []


class FirstTransferHeld:
    """Stripe receives the first transfer request and sits on it until `answer` is set, as a
    slow network or a busy Stripe does; every transfer request is counted."""

    def __init__(self):
        self.requests = 0
        self.in_flight = threading.Event()
        self.answer = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, method, url, headers, body, handle):
        if method.upper() == "POST" and urlsplit(url).path == "/v1/transfers":
            with self.lock:
                self.requests += 1
                first = self.requests == 1
            if first:
                self.in_flight.set()
                assert self.answer.wait(timeout=60), "the held transfer was never answered"
        return handle(method, url, headers, body)


def test_the_retry_job_and_staff_retrying_an_in_flight_transfer_send_nothing_more(
    client, seller, listing, buyer, stripe_sandbox, monkeypatch, settings
):
    # 60% commission: the seller's share is 20.00 of a 50.00 charge, so Stripe would accept a
    # second transfer from it: only Bazaar can keep the seller from being paid twice.
    settings.BAZAAR_COMMISSION_BPS = 6000
    staff = StaffFactory()
    order = funded_order(client, buyer, listing)
    deliver_order(order=order, actor=seller, note="Sent")
    held = FirstTransferHeld()
    sandbox.intercept(monkeypatch, held)

    def release_now():
        try:
            services.escrow_release(order=order, trigger=ReleaseTrigger.STAFF, actor=staff)
        finally:
            connection.close()

    first = threading.Thread(target=release_now)
    first.start()
    assert held.in_flight.wait(timeout=30)

    def admin_retry():
        browser = Client()
        browser.force_login(staff)
        return browser.post(
            reverse("admin:escrow_order_changelist"),
            {"action": "retry_transfer", ACTION_CHECKBOX_NAME: [order.pk], "index": 0},
        ).status_code

    contenders = [lambda: tasks.retry_failed_transfers.delay().result, admin_retry]
    outcomes, crashes = race(*(contenders[i % 2] for i in range(THREADS)))
    sent_while_in_flight = held.requests
    held.answer.set()
    first.join(timeout=60)

    assert not crashes, "\n".join(crashes)
    assert not first.is_alive()
    assert sent_while_in_flight == 1
    decided = EscrowRelease.objects.get(order=order)
    assert (decided.status, decided.transfer_cents) == (ReleaseStatus.TRANSFERRED, 2000)
    transfers = harness.stripe_transfers_for(order)
    assert [(t.id, t.amount) for t in transfers] == [(decided.stripe_transfer_id, 2000)]
    assert held.requests == 1
    assert ledger.order_total(order) == 0
    assert harness.escrow_violations([order], sellers=[seller]) == []


def test_refunds_and_releases_racing_on_one_order_never_pay_out_more_than_was_paid(
    client, seller, listing, buyer, stripe_sandbox
):
    staff = StaffFactory()
    order = funded_order(client, buyer, listing)  # 50.00
    deliver_order(order=order, actor=seller, note="Sent")
    stripe_sandbox.advance_clock(days=15)

    def refund(amount):
        return lambda: services.refund_create(
            order=order, amount_cents=amount, reason="Race", initiator="seller", actor=seller
        )

    contenders = [
        refund(5000),
        lambda: tasks.auto_release_due_orders.delay().result,
        refund(3000),
        lambda: services.escrow_release(order=order, trigger=ReleaseTrigger.STAFF, actor=staff),
        refund(3000),
        lambda: services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer),
    ]
    outcomes, crashes = race(*contenders, *contenders[:2])

    assert not crashes, "\n".join(crashes)
    refunded = sum(
        r.amount_cents for r in EscrowRefund.objects.filter(order=order, status="succeeded")
    )
    payment = order.payments.get(status=PaymentStatus.SUCCEEDED)
    stripe_refunded = stripe().v1.charges.retrieve(payment.stripe_charge_id).amount_refunded
    assert stripe_refunded == refunded
    release = EscrowRelease.objects.filter(order=order).first()
    released_gross = release.gross_cents if release else 0
    # Refunds before release and the release share the 50.00; refunds after release come out of
    # what was released. Either way never more than was paid goes out.
    before_release = sum(
        r.amount_cents
        for r in EscrowRefund.objects.filter(order=order, status="succeeded", after_release=False)
    )
    assert before_release + released_gross <= 5000
    assert refunded <= 5000
    order.refresh_from_db()
    assert not (order.status == OrderStatus.RELEASED and refunded == 5000)
    if refunded == 5000:
        assert order.status == OrderStatus.REFUNDED
    assert ledger.order_total(order) == 0
    assert harness.escrow_violations([order], sellers=[seller]) == []
