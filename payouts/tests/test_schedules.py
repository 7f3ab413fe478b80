"""Payout schedules, holds and the first payout delay: the due-date table (daily, weekly,
monthly, month ends), the beat job paying due sellers once per period (also with two jobs racing
on PostgreSQL), staff holds refusing requests and schedules, and a full sale to bank cycle that
ends with reconcile at zero differences."""

from datetime import date, datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import connected_account_for
from core.errors import NotAllowed, ValidationFailed
from core.models import AuditEntry
from core.testing import race
from escrow.reconcile import reconcile
from escrow.testing import sell_and_release
from marketplace.factories import ListingFactory
from notifications.models import Notification
from payouts import services as payouts
from payouts.models import Payout, PayoutSchedule, PayoutStatus
from payouts.tasks import run_scheduled_payouts

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def schedule(interval, *, weekly=0, monthly=1, chosen=date(2026, 1, 1)):
    return PayoutSchedule(
        interval=interval,
        weekly_anchor=weekly,
        monthly_anchor=monthly,
        changed_at=timezone.make_aware(datetime(chosen.year, chosen.month, chosen.day, 9)),
    )


# --- The due-date table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "today", "expected"),
    [
        (schedule("manual"), date(2026, 3, 4), None),
        (schedule("daily"), date(2026, 3, 4), ("d20260304", date(2026, 3, 4))),
        # Weekly on Monday (0): a Wednesday belongs to the Monday before it.
        (schedule("weekly"), date(2026, 3, 4), ("w20260302", date(2026, 3, 2))),
        (schedule("weekly"), date(2026, 3, 2), ("w20260302", date(2026, 3, 2))),
        (schedule("weekly", weekly=4), date(2026, 3, 4), ("w20260227", date(2026, 2, 27))),
        # Monthly on the 15th: before it, last month's 15th.
        (schedule("monthly", monthly=15), date(2026, 3, 14), ("m202602", date(2026, 2, 15))),
        (schedule("monthly", monthly=15), date(2026, 3, 15), ("m202603", date(2026, 3, 15))),
        # The 31st in a month of 28, 30 days: its last day.
        (schedule("monthly", monthly=31), date(2026, 2, 28), ("m202602", date(2026, 2, 28))),
        (schedule("monthly", monthly=31), date(2026, 4, 29), ("m202603", date(2026, 3, 31))),
        (schedule("monthly", monthly=30), date(2028, 2, 29), ("m202802", date(2028, 2, 29))),
        # January's period before the 10th is December's.
        (schedule("monthly", monthly=10), date(2027, 1, 9), ("m202612", date(2026, 12, 10))),
        # Nothing due from before the seller chose the schedule.
        (schedule("weekly", chosen=date(2026, 3, 3)), date(2026, 3, 4), None),
        (schedule("monthly", monthly=1, chosen=date(2026, 3, 2)), date(2026, 3, 31), None),
        (
            schedule("monthly", monthly=1, chosen=date(2026, 3, 2)),
            date(2026, 4, 1),
            ("m202604", date(2026, 4, 1)),
        ),
    ],
)
def test_the_period_due_on_a_day(rule, today, expected):
    assert payouts.schedule_period(rule, today) == expected


# --- Through the sandbox ------------------------------------------------------------------------


@pytest.fixture
def sale(client, seller, listing, buyer, stripe_sandbox, settings):
    """A US$50.00 order paid and released (the seller's share 45.00)."""
    settings.PAYOUT_FIRST_DELAY_DAYS = 7

    def make():
        return sell_and_release(client, buyer=buyer, seller=seller, listing=listing)

    return make


@pytest.mark.django_db(transaction=True)
def test_a_sale_is_paid_out_on_schedule_after_the_first_payout_delay_and_reconciles(
    sale, seller, stripe_sandbox
):
    payouts.payout_schedule_set(seller=seller, interval="daily")
    sale()
    stripe_sandbox.advance_clock(days=3)  # settled: available at Stripe

    with pytest.raises(NotAllowed, match="first payout can be made from"):
        payouts.payout_request_create(seller=seller, amount_cents=4500, currency="usd")
    assert run_scheduled_payouts.delay().result == 0  # the first payout delay
    stripe_sandbox.advance_clock(days=5)

    assert run_scheduled_payouts.delay().result == 1
    assert run_scheduled_payouts.delay().result == 0  # one payout per period
    payout = Payout.objects.get()
    assert (payout.amount_cents, payout.status, payout.period[:1]) == (4500, "pending", "d")
    stripe_sandbox.advance_clock(days=3)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert Notification.objects.filter(recipient=seller, event_code="payout.paid").exists()
    assert list(reconcile().differences.values_list("message", flat=True)) == []


@pytest.mark.django_db(transaction=True)
def test_a_full_cycle_with_an_instant_fee_and_a_scheduled_payout_ends_with_nothing_unexplained(
    sale, seller, stripe_sandbox, settings, client
):
    """Sale, release, an instant payout (its fee owed), a second sale whose release pays the fee
    off, the schedule paying out the rest, both paid: every cent accounted for, reconcile clean."""
    from escrow.models import EscrowRelease, LedgerAccount, LedgerEntry
    from stripe_sandbox import testing as sandbox_testing

    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    settings.PAYOUT_INSTANT_FEE_BPS, settings.PAYOUT_INSTANT_FEE_MIN_CENTS = 150, 50
    account = connected_account_for(seller).stripe_account_id
    sandbox_testing.external_accounts_take_instant(account)

    def booked(name):
        rows = LedgerEntry.objects.filter(account=name, currency="usd")
        return sum(rows.values_list("amount_cents", flat=True))

    first = sale()
    stripe_sandbox.advance_clock(days=3)
    instant = payouts.payout_request_create(
        seller=seller, amount_cents=4500, currency="usd", method="instant"
    )
    assert (instant.fee_cents, instant.bank_cents) == (68, 4432)
    assert booked(LedgerAccount.seller_debt(seller.pk)) == 68

    payouts.payout_schedule_set(seller=seller, interval="daily")
    second = sale()
    assert EscrowRelease.objects.get(order=second).debt_recovered_cents == 68
    assert booked(LedgerAccount.seller_debt(seller.pk)) == 0
    stripe_sandbox.advance_clock(days=3)  # the second release settles; the instant one is paid

    assert run_scheduled_payouts.delay().result == 1
    scheduled = Payout.objects.exclude(pk=instant.pk).get()
    assert (scheduled.amount_cents, scheduled.fee_cents, scheduled.period[:1]) == (4500, 0, "d")
    stripe_sandbox.advance_clock(days=3)

    assert set(Payout.objects.values_list("status", flat=True)) == {PayoutStatus.PAID}
    made = payouts._v1().payouts.list(options={"stripe_account": account}).data
    assert sorted(p.amount for p in made) == [4432, 4500]  # what reached the bank
    assert booked(LedgerAccount.seller_payouts(seller.pk)) == 4432 + 4500
    assert booked(LedgerAccount.PAYOUT_FEES) == -68  # Bazaar's revenue
    balance = payouts._v1().balance.retrieve(options={"stripe_account": account})
    assert [b.amount for b in balance.available] == [0]
    # The fee stayed on the balance: the scheduled payout took it with the second order's money.
    client.force_login(seller)
    listed = client.get(reverse("api-seller-payouts")).json()["results"]
    covered = {
        row["id"]: [(o["order_id"], o["amount_cents"]) for o in row["orders"]] for row in listed
    }
    assert covered == {
        instant.pk: [(first.pk, 4432)],
        scheduled.pk: [(first.pk, 68), (second.pk, 4432)],
    }
    assert list(reconcile().differences.values_list("message", flat=True)) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Needs PostgreSQL's row locks (set DATABASE_URL): SQLite serialises every writer.",
)
def test_schedulers_racing_make_one_payout_per_period(sale, seller, stripe_sandbox, settings):
    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    payouts.payout_schedule_set(seller=seller, interval="daily")
    sale()
    stripe_sandbox.advance_clock(days=3)

    outcomes, crashes = race(*[lambda: payouts.payouts_run_scheduled().made for _ in range(6)])

    assert crashes == []
    assert sum(outcomes) == 1
    assert Payout.objects.count() == 1
    account = connected_account_for(seller).stripe_account_id
    made = payouts._v1().payouts.list(options={"stripe_account": account}).data
    assert [p.amount for p in made] == [4500]


@pytest.mark.django_db(transaction=True)
def test_a_job_out_of_time_hands_the_rest_over_and_every_due_payout_is_made_once(
    client, seller, listing, buyer, stripe_sandbox, settings
):
    """Past PAYOUT_JOB_SECONDS the task queues itself again for the sellers after the last one
    it did, so one beat tick never runs for ever; each due seller is still paid once."""
    from accounts.factories import SellerFactory
    from escrow.testing import onboard, sell_and_release

    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    sellers = [seller]
    for number in range(2):
        other = SellerFactory(email=f"potter{number}@example.com")
        onboard(client, other)
        sellers.append(other)
    for each in sellers:
        payouts.payout_schedule_set(seller=each, interval="daily")
        goods = ListingFactory(store=each.store, price_cents=2500, currency="usd", stock=5)
        sell_and_release(client, buyer=buyer, seller=each, listing=goods)
    stripe_sandbox.advance_clock(days=3)
    settings.PAYOUT_JOB_SECONDS = 0  # every task's time is up after its first seller

    # It paid one seller, then handed over (eager Celery runs the next tasks at once).
    assert run_scheduled_payouts.delay().result == 1

    assert sorted(Payout.objects.values_list("seller_id", flat=True)) == sorted(
        s.pk for s in sellers
    )
    for each in sellers:
        account = connected_account_for(each).stripe_account_id
        made = payouts._v1().payouts.list(options={"stripe_account": account}).data
        assert [p.amount for p in made] == [4500]
    assert run_scheduled_payouts.delay().result == 0  # the next tick: nothing left to pay


# --- Holds --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_hold_refuses_requests_and_schedules_until_staff_release_it(
    sale, seller, stripe_sandbox, settings
):
    from accounts.factories import StaffFactory

    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    staff = StaffFactory()
    payouts.payout_schedule_set(seller=seller, interval="daily")
    sale()
    stripe_sandbox.advance_clock(days=3)
    with pytest.raises(ValidationFailed):
        payouts.payouts_hold(seller=seller, reason="  ", actor=staff)

    payouts.payouts_hold(seller=seller, reason="We are checking a burst of refunds.", actor=staff)

    with pytest.raises(NotAllowed, match="on hold .*burst of refunds"):
        payouts.payout_request_create(seller=seller, amount_cents=4500, currency="usd")
    assert run_scheduled_payouts.delay().result == 0
    held = Notification.objects.get(recipient=seller, event_code="payout.held")
    assert "burst of refunds" in held.message

    payouts.payouts_unhold(seller=seller, actor=staff)
    assert run_scheduled_payouts.delay().result == 1
    assert set(
        AuditEntry.objects.filter(action__startswith="payouts.hold").values_list("action", "actor")
    ) == {("payouts.hold.placed", staff.pk), ("payouts.hold.released", staff.pk)}


@pytest.mark.django_db
def test_a_schedule_is_checked_and_its_change_told(seller):
    with pytest.raises(ValidationFailed) as excinfo:
        payouts.payout_schedule_set(
            seller=seller, interval="hourly", weekly_anchor=9, monthly_anchor=0
        )
    assert set(excinfo.value.errors) == {"interval", "weekly_anchor", "monthly_anchor"}

    payouts.payout_schedule_set(seller=seller, interval="weekly", weekly_anchor=4)
    payouts.payout_schedule_set(seller=seller, interval="weekly", weekly_anchor=4)

    told = Notification.objects.filter(recipient=seller, event_code="payout.schedule_changed")
    assert [n.title for n in told] == ["You are now paid out every Friday"]


@pytest.mark.django_db(transaction=True)
def test_the_job_backs_off_when_stripe_rate_limits_and_resumes(
    sale, seller, stripe_sandbox, settings, monkeypatch
):
    from core import stripe_client

    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    payouts.payout_schedule_set(seller=seller, interval="daily")
    sale()
    stripe_sandbox.advance_clock(days=3)
    slept = []
    monkeypatch.setattr(stripe_client, "_sleep", slept.append)
    stripe_sandbox.rate_limit_writes(2)  # the payout's create is answered 429 twice

    assert payouts.payouts_run_scheduled().made == 1

    assert stripe_sandbox.rate_limited_left() == 0
    backoffs = [s for s in slept if s >= 0.25]  # the pacing's own waits are shorter
    assert len(backoffs) == 2 and backoffs[1] >= 0.5  # backed off twice, longer the second time
    payout = Payout.objects.get()
    assert payout.status == PayoutStatus.PENDING
    made = stripe_client.client().v1.payouts.list(
        options={"stripe_account": payout.stripe_account_id}
    )
    assert [p.id for p in made.data] == [payout.stripe_payout_id]  # made once
