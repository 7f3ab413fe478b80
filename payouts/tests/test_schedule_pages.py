"""The payout schedule through the seller's page and the API: choosing it, the next payout day it
leads to, field errors, and a staff hold's reason shown where the seller asks for money."""

from datetime import date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.factories import StaffFactory
from core import clock
from payouts import services as payouts
from payouts.models import Payout, PayoutSchedule


def at(day):
    return timezone.make_aware(datetime(day.year, day.month, day.day, 10))


@pytest.mark.parametrize(
    ("interval", "weekly", "monthly", "today", "expected"),
    [
        ("manual", 0, 1, date(2026, 3, 4), None),
        ("daily", 0, 1, date(2026, 3, 4), date(2026, 3, 4)),
        # Wednesday 4 March, weekly on Friday (4): that Friday.
        ("weekly", 4, 1, date(2026, 3, 4), date(2026, 3, 6)),
        # Weekly on Monday, chosen on a Wednesday: not the Monday gone, the next one.
        ("weekly", 0, 1, date(2026, 3, 4), date(2026, 3, 9)),
        ("monthly", 0, 31, date(2026, 2, 10), date(2026, 2, 28)),
        ("monthly", 0, 1, date(2026, 3, 2), date(2026, 4, 1)),
    ],
)
def test_the_next_payout_day(interval, weekly, monthly, today, expected):
    rule = PayoutSchedule(
        interval=interval, weekly_anchor=weekly, monthly_anchor=monthly, changed_at=at(today)
    )
    assert payouts.schedule_next_date(rule, today) == expected


@pytest.mark.django_db
def test_a_day_already_paid_is_not_the_next_payout_day(seller):
    schedule = payouts.payout_schedule_set(seller=seller, interval="daily")
    today = timezone.localtime(clock.now()).date()
    Payout.objects.create(
        seller=seller,
        stripe_account_id="acct_x",
        currency="usd",
        amount_cents=500,
        status="paid",
        period=f"d{today:%Y%m%d}",
    )
    assert payouts.schedule_next_date(schedule, today) == date.fromordinal(today.toordinal() + 1)


@pytest.mark.django_db
def test_a_seller_chooses_a_schedule_on_the_page(client, seller):
    client.force_login(seller)
    page = client.get(reverse("seller-payouts")).content.decode()
    assert "You are paid out <strong>only when you ask</strong>" in page

    response = client.post(
        reverse("seller-payout-schedule"),
        {"interval": "weekly", "weekly_anchor": "4", "monthly_anchor": "1"},
    )

    assert response.status_code == 302
    schedule = PayoutSchedule.objects.get(seller=seller)
    assert (schedule.interval, schedule.weekly_anchor) == ("weekly", 4)
    page = client.get(response["Location"]).content.decode()
    assert "You will be paid out every Friday." in page
    assert "data-next-payout" in page


@pytest.mark.django_db
def test_a_bad_schedule_gets_errors_next_to_its_fields(client, seller):
    client.force_login(seller)

    response = client.post(
        reverse("seller-payout-schedule"),
        {"interval": "hourly", "weekly_anchor": "9", "monthly_anchor": "40"},
    )

    assert response.status_code == 400
    errors = response.context["schedule_form"].errors
    assert set(errors) == {"interval", "weekly_anchor", "monthly_anchor"}
    assert not PayoutSchedule.objects.filter(seller=seller).exists()


@pytest.mark.django_db
def test_the_schedule_through_the_api(client, seller):
    client.force_login(seller)
    url = reverse("api-seller-payout-schedule")
    assert client.get(url).json()["interval"] == "manual"

    response = client.put(
        url, {"interval": "monthly", "monthly_anchor": 31}, content_type="application/json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["interval"], body["monthly_anchor"]) == ("monthly", 31)
    assert body["description"] == "on the last day of every month"
    assert body["next_payout_on"] is not None
    bad = client.put(
        url, {"interval": "weekly", "weekly_anchor": 7}, content_type="application/json"
    )
    assert bad.status_code == 400
    assert "weekly_anchor" in bad.json()
    assert PayoutSchedule.objects.get(seller=seller).interval == "monthly"


@pytest.mark.django_db
def test_a_hold_shows_its_reason_and_hides_the_request_form(client, seller):
    payouts.payouts_hold(
        seller=seller, reason="We are checking a burst of refunds.", actor=StaffFactory()
    )
    client.force_login(seller)

    page = client.get(reverse("seller-payouts")).content.decode()
    api = client.get(reverse("api-seller-payout-schedule")).json()

    assert "Your payouts are on hold" in page
    assert "burst of refunds" in page
    assert 'action="/seller/payouts/request/"' not in page
    assert (api["held"], api["hold_reason"], api["next_payout_on"]) == (
        True,
        "We are checking a burst of refunds.",
        None,
    )
