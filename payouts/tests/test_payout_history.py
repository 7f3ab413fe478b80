"""The payout history (page and API): filtered by status and the day requested, each payout with
its arrival date and the released orders whose money it paid out, oldest money first."""

from datetime import date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import connected_account_for
from escrow.testing import sell_and_release
from payouts import services as payouts
from payouts.models import Payout

pytestmark = pytest.mark.django_db

PAGE = "seller-payout-history"
API = "api-seller-payouts"


@pytest.fixture
def two_sales(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks, settings
):
    """Two US$50.00 orders released one after the other (the seller's share 45.00 each) and
    settled: US$90.00 available."""
    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    orders = []
    for _ in range(2):
        orders.append(
            sell_and_release(
                client,
                buyer=buyer,
                seller=seller,
                listing=listing,
                capture=django_capture_on_commit_callbacks,
            )
        )
        stripe_sandbox.advance_clock(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.advance_clock(days=3)
    return orders


def request(seller, cents, capture):
    with capture(execute=True):
        return payouts.payout_request_create(seller=seller, amount_cents=cents, currency="usd")


def test_each_payout_covers_the_oldest_released_money_first(
    two_sales, seller, client, django_capture_on_commit_callbacks
):
    first, second = two_sales
    p1 = request(seller, 3000, django_capture_on_commit_callbacks)
    p2 = request(seller, 4000, django_capture_on_commit_callbacks)
    p3 = request(seller, 2000, django_capture_on_commit_callbacks)
    client.force_login(seller)

    results = {row["id"]: row for row in client.get(reverse(API)).json()["results"]}

    def covers(payout):
        return [
            (o["order_id"], o["amount_cents"], o["whole"]) for o in results[payout.pk]["orders"]
        ]

    assert covers(p1) == [(first.pk, 3000, False)]
    assert covers(p2) == [(first.pk, 1500, False), (second.pk, 2500, False)]
    assert covers(p3) == [(second.pk, 2000, False)]
    page = client.get(reverse(PAGE)).content.decode()
    assert f'data-covers="{second.pk}"' in page
    assert "US$25.00" in page


def test_a_failed_payout_covers_nothing_and_the_next_one_takes_its_orders(
    two_sales, seller, client, stripe_sandbox, django_capture_on_commit_callbacks
):
    from payouts.tests.test_payout_requests import advance, bank_account_use

    first, _ = two_sales
    account = connected_account_for(seller).stripe_account_id
    bank_account_use(account, "000111111116")  # Stripe's test account whose payouts fail
    failed = request(seller, 4500, django_capture_on_commit_callbacks)
    advance(stripe_sandbox, django_capture_on_commit_callbacks, days=3)
    failed.refresh_from_db()
    assert failed.status == "failed"
    bank_account_use(account, "000123456789")
    paid = request(seller, 4500, django_capture_on_commit_callbacks)
    client.force_login(seller)

    results = {row["id"]: row for row in client.get(reverse(API)).json()["results"]}

    assert results[failed.pk]["orders"] == []
    assert [(o["order_id"], o["whole"]) for o in results[paid.pk]["orders"]] == [(first.pk, True)]


def made(seller, day, status="paid", cents=1000):
    payout = Payout.objects.create(
        seller=seller,
        stripe_account_id="acct_test",
        currency="usd",
        amount_cents=cents,
        status=status,
    )
    Payout.objects.filter(pk=payout.pk).update(
        created_at=timezone.make_aware(datetime(day.year, day.month, day.day, 23, 30))
    )
    return payout


def test_the_history_filters_by_status_and_day(client, seller):
    march = made(seller, date(2026, 3, 31))
    april = made(seller, date(2026, 4, 1), status="failed")
    may = made(seller, date(2026, 5, 2))
    client.force_login(seller)

    def ids(**query):
        return [row["id"] for row in client.get(reverse(API), query).json()["results"]]

    assert ids() == [may.pk, april.pk, march.pk]
    assert ids(**{"from": "2026-04-01"}) == [may.pk, april.pk]
    assert ids(to="2026-03-31") == [march.pk]  # the whole last day
    assert ids(**{"from": "2026-04-01", "to": "2026-04-30"}) == [april.pk]
    assert ids(status="paid", to="2026-04-30") == [march.pk]
    page = client.get(reverse(PAGE), {"from": "2026-04-01", "to": "2026-04-30"}).content.decode()
    assert f'data-payout="{april.pk}"' in page
    assert f'data-payout="{march.pk}"' not in page


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ({"from": "1066-10-14"}, "from"),
        ({"status": "lost"}, "status"),
    ],
)
def test_bad_filters_get_field_errors(client, seller, query, field):
    client.force_login(seller)

    api = client.get(reverse(API), query)
    page = client.get(reverse(PAGE), query)

    assert api.status_code == 400
    assert field in api.json()
    assert page.status_code == 400
    assert field in page.context["form"].errors


def test_the_history_page_and_api_take_flat_queries(
    client, seller, django_assert_max_num_queries, settings
):
    for day in range(1, 21):
        made(seller, date(2026, 3, day))
    client.force_login(seller)

    with django_assert_max_num_queries(14):
        assert client.get(reverse(PAGE)).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse(API)).status_code == 200
