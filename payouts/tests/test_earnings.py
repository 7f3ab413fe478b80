"""A seller's earnings per week or month (/seller/earnings/, GET /api/v1/seller/earnings/) and
their ledger lines as CSV (/seller/earnings/export.csv, GET /api/v1/seller/earnings/export/).

The sums are checked against the lifetime earnings of the balances page, through a sale's real
life (sandbox Stripe: release, refund after release, debt, a later release paying it off); the
pages, CSV and API through HTTP, with rows from the factories where only the data matters."""

import csv
import io
import re
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from django.http import StreamingHttpResponse
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.factories import SellerFactory, UserFactory
from accounts.selectors import connected_account_id_for
from core.money import format_money
from core.stripe_client import client as stripe
from escrow import services
from escrow.factories import (
    ChargebackFactory,
    EscrowPaymentFactory,
    EscrowReleaseFactory,
    OrderFactory,
    TransferReversalFactory,
    ledger_pair,
)
from escrow.models import LedgerAccount, OrderStatus, RefundInitiator, ReleaseTrigger
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from payouts import earnings
from payouts.selectors import seller_balances

pytestmark = pytest.mark.django_db

PAGE = reverse("seller-earnings")
EXPORT = reverse("seller-earnings-export")
API = reverse("api-seller-earnings")
API_EXPORT = reverse("api-seller-earnings-export")
SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@contextmanager
def on(monkeypatch, when):
    """Book what happens inside the block at `when` (timezone.now, which created_at,
    transferred_at and the ledger's dates read)."""
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: when)
        yield


def all_time(seller, period):
    report = earnings.seller_earnings(
        seller=seller, period=period, start=date(2020, 1, 1), end=date(2030, 12, 31)
    )
    return {row.currency: row for row in report.currencies}


def nonzero(row):
    return {p.start: p.net_cents for p in row.periods if p.net_cents}


# --- The sums, through a sale's real life -------------------------------------------------------


@pytest.fixture
def paid(client, seller, listing, buyer, django_capture_on_commit_callbacks):
    """A US$50.00 order (commission 5.00: the seller's share 45.00), paid and held."""

    def make():
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert pay_on_checkout_page(client, url).status_code == 302
        order.refresh_from_db()
        assert order.status == OrderStatus.FUNDED
        return order

    return make


def _release(order):
    deliver_order(order=order, actor=order.seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=order.buyer)
    order.refresh_from_db()
    return order


def _refund(order, amount):
    return services.refund_create(
        order=order,
        amount_cents=amount,
        reason="Chipped in the post",
        initiator=RefundInitiator.SELLER,
        actor=order.seller,
    )


def test_the_periods_of_all_time_add_up_to_the_lifetime_earnings(
    paid, seller, stripe_sandbox, monkeypatch
):
    first, second = paid(), paid()
    mondays = [datetime(2026, 9, 7, 12, tzinfo=UTC) + timedelta(weeks=n) for n in range(4)]

    with on(monkeypatch, mondays[0]):
        _release(first)  # +45.00
    with on(monkeypatch, mondays[1]):
        _refund(first, 2000)  # 18.00 of the seller's share reversed from their transfer
    stripe_sandbox.advance_clock(days=3)
    stripe().v1.payouts.create(
        params={"amount": 2700, "currency": "usd"},
        options={"stripe_account": connected_account_id_for(seller)},
    )
    with on(monkeypatch, mondays[2] + timedelta(days=30)):  # October: another month
        _refund(first, 1000)  # nothing left on their balance: 9.00 owed
    assert seller_balances(seller=seller).currencies[0].debt_cents == 900
    with on(monkeypatch, mondays[3] + timedelta(days=30)):
        _release(second)  # 45.00: 9.00 pays the debt off, 36.00 transferred

    lifetime = seller_balances(seller=seller).currencies[0].lifetime_earnings_cents
    assert lifetime == 4500 - 1800 - 900 + 4500

    weeks = all_time(seller, "week")["usd"]
    assert nonzero(weeks) == {
        date(2026, 9, 7): 4500,
        date(2026, 9, 14): -1800,
        date(2026, 10, 19): -900,
        date(2026, 10, 26): 3600 + 900,
    }
    assert weeks.total_cents == lifetime
    months = all_time(seller, "month")["usd"]
    assert nonzero(months) == {date(2026, 9, 1): 2700, date(2026, 10, 1): 3600}
    assert months.total_cents == lifetime


def test_a_won_chargebacks_return_and_reversals_count_when_booked(monkeypatch):
    seller = SellerFactory()
    week_one = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday
    with on(monkeypatch, week_one):
        release = EscrowReleaseFactory(
            order__listing__store=seller.store, order__listing__price_cents=10000
        )
    with on(monkeypatch, week_one + timedelta(days=7)):
        TransferReversalFactory(release=release, amount_cents=3000)
    chargeback = ChargebackFactory(
        payment=EscrowPaymentFactory(order=release.order, status="succeeded"),
        returned_cents=3000,
        stripe_return_transfer_id="tr_returned",
    )
    with on(monkeypatch, week_one + timedelta(days=14)):
        ledger_pair(
            order=release.order,
            debit=LedgerAccount.CHARGEBACK_LOSSES,
            credit=LedgerAccount.STRIPE_BALANCE,
            amount_cents=chargeback.returned_cents,
            stripe_object_id="tr_returned",
        )

    row = all_time(seller, "week")["usd"]
    transfer = release.transfer_cents
    assert nonzero(row) == {
        date(2026, 3, 2): transfer,
        date(2026, 3, 9): -3000,
        date(2026, 3, 16): 3000,
    }
    assert row.total_cents == seller_balances(seller=seller).currencies[0].lifetime_earnings_cents


@override_settings(TIME_ZONE="America/New_York")
def test_periods_are_weeks_of_the_sites_time_zone(monkeypatch):
    seller = SellerFactory()
    # Monday 02:00 UTC is still Sunday evening in New York: the week before.
    with on(monkeypatch, datetime(2026, 3, 9, 2, tzinfo=UTC)):
        release = EscrowReleaseFactory(order__listing__store=seller.store)

    assert nonzero(all_time(seller, "week")["usd"]) == {date(2026, 3, 2): release.transfer_cents}


def test_every_period_of_the_range_is_there_at_zero_when_nothing_happened():
    seller = SellerFactory()

    report = earnings.seller_earnings(
        seller=seller, period="month", start=date(2026, 1, 15), end=date(2026, 4, 2)
    )

    (row,) = report.currencies
    assert [(p.start, p.end, p.net_cents) for p in row.periods] == [
        (date(2026, 1, 1), date(2026, 1, 31), 0),
        (date(2026, 2, 1), date(2026, 2, 28), 0),
        (date(2026, 3, 1), date(2026, 3, 31), 0),
        (date(2026, 4, 1), date(2026, 4, 30), 0),
    ]


# --- The page -----------------------------------------------------------------------------------


def _history(seller, monkeypatch, *, orders=1, weeks_ago=(1, 3)):
    """`orders` releases (US$90.00 each to the seller) booked `weeks_ago[0]` weeks ago, and a
    reversal of 20.00 `weeks_ago[1]` weeks ago (a week in the red)."""
    earned_at = timezone.now() - timedelta(weeks=weeks_ago[0])
    reversed_at = timezone.now() - timedelta(weeks=weeks_ago[1])
    releases = []
    with on(monkeypatch, earned_at):
        for _ in range(orders):
            releases.append(
                EscrowReleaseFactory(
                    order__listing__store=seller.store,
                    order__listing__price_cents=10000,
                    order__commission_cents=1000,
                )
            )
    with on(monkeypatch, reversed_at):
        TransferReversalFactory(release=releases[0], amount_cents=2000)
    return releases


def test_the_page_draws_a_chart_and_a_table_of_the_last_twelve_weeks(client, monkeypatch):
    seller = SellerFactory()
    _history(seller, monkeypatch)
    client.force_login(seller)

    response = client.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg class="earnings-chart__svg" role="img"' in html
    assert re.search(r"<title id=\"earnings-chart-title-usd\">Net earnings per week in USD", html)
    assert html.count("data-period>") == 12
    amounts = re.findall(r"<span data-amount>([^<]*)</span>", html)
    assert len(amounts) == 12
    assert amounts[-2] == format_money(9000, "usd")  # last week's release
    assert amounts[-4] == format_money(-2000, "usd")  # three weeks ago: reversed
    assert amounts.count(format_money(0, "usd")) == 10
    assert html.count("earnings-chart__bar--negative") == 1
    assert "data-zero-line" in html
    assert f"<span data-total>{format_money(7000, 'usd')}</span>" in html
    assert f'href="{EXPORT}?from=' in html


def test_months_are_a_toggle_away(client, monkeypatch):
    seller = SellerFactory()
    _history(seller, monkeypatch)
    client.force_login(seller)
    weeks = client.get(PAGE).content.decode()
    toggle = re.search(r'href="([^"]+)" data-period-toggle="month"', weeks).group(1)

    html = client.get(toggle.replace("&amp;", "&")).content.decode()

    assert html.count("data-period>") == 12
    assert "Net earnings per month in USD" in html
    assert f"<span data-total>{format_money(7000, 'usd')}</span>" in html


def test_a_range_shows_its_periods(client):
    seller = SellerFactory()
    client.force_login(seller)

    html = client.get(
        PAGE, {"period": "week", "from": "2026-03-04", "to": "2026-03-20"}
    ).content.decode()

    # The weeks of 2 March, 9 March and 16 March, whole.
    assert html.count("data-period>") == 3
    assert "2 Mar 2026 – 8 Mar 2026" in html
    assert 'value="2026-03-04"' in html


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"from": "2026-13-01"}, "from", "Enter a date as YYYY-MM-DD."),
        ({"to": "yesterday"}, "to", "Enter a date as YYYY-MM-DD."),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to", "The end date is before the start"),
        ({"from": "1999-12-31", "to": "2000-01-31"}, "from", "Enter a date from 2000-01-01"),
        ({"from": "2001-01-01", "to": "2026-01-01"}, "to", "Choose a range of at most"),
        ({"period": "year"}, "period", "Select a valid choice"),
    ],
)
def test_bad_dates_are_shown_next_to_their_field(client, query, field, message):
    client.force_login(SellerFactory())

    response = client.get(PAGE, query)

    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    error_list = html.split(f'id="id_{field}_error"', 1)[1].split("</ul>", 1)[0]
    assert message in error_list
    assert 'aria-invalid="true"' in html
    assert "earnings-chart__svg" not in html


def test_the_seller_nav_and_the_payouts_page_link_to_it(client):
    seller = SellerFactory()
    client.force_login(seller)

    assert f'href="{PAGE}"' in client.get(reverse("seller-payouts")).content.decode()
    assert f'href="{PAGE}"' in client.get(reverse("seller-ledger")).content.decode()


def test_people_who_do_not_sell_are_sent_to_set_up_a_store(client, api_client):
    client.force_login(UserFactory())
    for url in (PAGE, EXPORT):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == reverse("seller-onboard")


def test_anonymous_visitors_sign_in_first(client, api_client):
    for url in (PAGE, EXPORT):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for url in (API, API_EXPORT):
        assert api_client.get(url).status_code == 401


# --- The CSV --------------------------------------------------------------------------------------


def _rows(response):
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _seller_lines(seller, monkeypatch, when):
    order = OrderFactory(listing__store=seller.store, released=True)
    with on(monkeypatch, when):
        ledger_pair(
            order=order,
            debit=LedgerAccount.BUYER_FUNDS_HELD,
            credit=LedgerAccount.seller_payable(seller.pk),
            amount_cents=1250,
            memo='=HYPERLINK("http://evil.example","Click")',
        )
        ledger_pair(
            order=order,
            debit=LedgerAccount.seller_debt(seller.pk),
            credit=LedgerAccount.STRIPE_BALANCE,
            amount_cents=5,
            memo="-2+3 owed",
            stripe_object_id="@trr_1",
        )
        # A kind of seller account later bookings may add (payouts): it is theirs too.
        ledger_pair(
            order=order,
            debit=f"seller_payouts:{seller.pk}",
            credit=LedgerAccount.seller_payable(seller.pk),
            amount_cents=300,
            memo="Paid out",
        )
    return order


def test_the_csv_holds_the_sellers_lines_in_the_range_and_nobody_elses(client, monkeypatch):
    seller, other = SellerFactory(), SellerFactory()
    when = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    order = _seller_lines(seller, monkeypatch, when)
    _seller_lines(other, monkeypatch, when)
    _seller_lines(seller, monkeypatch, when - timedelta(days=30))  # before the range
    # An account whose id only ends like theirs.
    with on(monkeypatch, when):
        ledger_pair(credit=f"seller_payable:1{seller.pk}", memo="Someone else's")
    client.force_login(seller)

    response = client.get(EXPORT, {"from": "2026-03-01", "to": "2026-03-31"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="bazaar-earnings-2026-03-01-to-2026-03-31.csv"'
    )
    rows = _rows(response)
    assert list(rows[0]) == list(earnings.CSV_COLUMNS)
    assert [(r["account"], r["amount"], r["amount_cents"]) for r in rows] == [
        (f"seller_payable:{seller.pk}", "12.50", "1250"),
        (f"seller_debt:{seller.pk}", "-0.05", "-5"),
        (f"seller_payouts:{seller.pk}", "-3.00", "-300"),
        (f"seller_payable:{seller.pk}", "3.00", "300"),
    ]
    first = rows[0]
    assert first["date"] == "2026-03-10T15:30:00+00:00"
    assert first["order_id"] == str(order.pk)
    assert first["currency"] == "usd"
    # Formulas are text: a leading ' keeps a spreadsheet from running them.
    assert first["description"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert rows[1]["description"] == "'-2+3 owed"
    assert rows[1]["stripe_object_id"] == "'@trr_1"


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (1250, "usd", "12.50"),
        (-1250, "usd", "-12.50"),
        (5, "usd", "0.05"),
        (-99, "eur", "-0.99"),
        (100000001, "usd", "1000000.01"),
        (500, "jpy", "500"),
        (0, "usd", "0.00"),
    ],
)
def test_amounts_are_written_from_cents_exactly(cents, currency, text):
    assert earnings.cents_to_decimal_string(cents, currency) == text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "The end date is before the start date."),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "at most 366 days"),
        ({"from": "2026-02-30"}, "Enter a date as YYYY-MM-DD."),
    ],
)
def test_a_bad_range_is_refused_with_a_reason(client, api_client, query, message):
    seller = SellerFactory()
    client.force_login(seller)

    response = client.get(EXPORT, query)

    assert response.status_code == 400
    assert message in response.content.decode()

    api_client.force_authenticate(seller)
    refused = api_client.get(API_EXPORT, query)
    assert refused.status_code == 400
    assert message in str(refused.json())


def test_a_range_of_366_days_is_allowed(client):
    client.force_login(SellerFactory())

    response = client.get(EXPORT, {"from": "2024-01-01", "to": "2024-12-31"})

    assert response.status_code == 200
    assert len(_rows(response)) == 0


def test_the_page_offers_no_download_for_a_range_longer_than_the_csv_takes(client):
    client.force_login(SellerFactory())

    html = client.get(PAGE, {"from": "2024-01-01", "to": "2025-06-30"}).content.decode()

    assert "data-export-too-long" in html
    assert "data-export>" not in html


# --- The API --------------------------------------------------------------------------------------


def test_the_api_gives_the_periods_per_currency(api_client, monkeypatch):
    seller = SellerFactory()
    with on(monkeypatch, datetime(2026, 3, 3, 12, tzinfo=UTC)):
        release = EscrowReleaseFactory(order__listing__store=seller.store)
    with on(monkeypatch, datetime(2026, 3, 20, 12, tzinfo=UTC)):
        EscrowReleaseFactory(order__listing__store=seller.store, order__listing__currency="eur")
    api_client.force_authenticate(seller)

    response = api_client.get(API, {"period": "week", "from": "2026-03-01", "to": "2026-03-15"})

    assert response.status_code == 200
    body = response.json()
    earned = release.transfer_cents
    assert body == {
        "period": "week",
        "from": "2026-03-01",
        "to": "2026-03-15",
        "currencies": [
            {
                "currency": "usd",
                "total_cents": earned,
                "periods": [
                    {"start": "2026-02-23", "end": "2026-03-01", "net_cents": 0},
                    {
                        "start": "2026-03-02",
                        "end": "2026-03-08",
                        "net_cents": earned,
                    },
                    {"start": "2026-03-09", "end": "2026-03-15", "net_cents": 0},
                ],
            }
        ],
    }


def test_the_api_defaults_to_the_last_twelve_weeks(api_client):
    api_client.force_authenticate(SellerFactory())

    body = api_client.get(API).json()

    assert body["period"] == "week"
    (row,) = body["currencies"]
    assert len(row["periods"]) == 12
    assert body["to"] == earnings.today().isoformat()
    assert date.fromisoformat(row["periods"][0]["start"]).weekday() == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "fortnight"}, "period"),
        ({"from": "not-a-date"}, "from"),
        ({"to": "0001-01-01"}, "to"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"from": "2001-01-01", "to": "2026-01-01"}, "to"),
    ],
)
def test_the_api_refuses_bad_parameters_by_field(api_client, query, field):
    api_client.force_authenticate(SellerFactory())

    response = api_client.get(API, query)

    assert response.status_code == 400
    assert field in response.json()


def test_the_api_refuses_people_who_do_not_sell(api_client):
    api_client.force_authenticate(UserFactory())

    for url in (API, API_EXPORT):
        response = api_client.get(url)
        assert response.status_code == 403
        assert "Only sellers have earnings" in response.json()["detail"]


def test_the_api_export_is_the_pages_csv(client, api_client, monkeypatch):
    seller = SellerFactory()
    _seller_lines(seller, monkeypatch, datetime(2026, 3, 10, 15, 30, tzinfo=UTC))
    query = {"from": "2026-03-01", "to": "2026-03-31"}
    client.force_login(seller)
    api_client.force_authenticate(seller)

    page_rows = _rows(client.get(EXPORT, query))
    response = api_client.get(API_EXPORT, query, HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert _rows(response) == page_rows
    assert len(page_rows) == 4


# --- Queries stay flat --------------------------------------------------------------------------


@pytest.mark.parametrize("orders", [1, 6])
def test_the_page_and_the_api_cost_the_same_however_many_orders(
    client, api_client, monkeypatch, django_assert_max_num_queries, orders
):
    seller = SellerFactory()
    _history(seller, monkeypatch, orders=orders)
    client.force_login(seller)
    api_client.force_authenticate(seller)

    with django_assert_max_num_queries(12):
        assert client.get(PAGE).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(PAGE, {"period": "month"}).status_code == 200
    with django_assert_max_num_queries(5):
        assert api_client.get(API).status_code == 200


@pytest.mark.parametrize("days", [1, 5])
def test_the_csv_costs_the_same_however_many_lines(
    client, monkeypatch, django_assert_max_num_queries, days
):
    seller = SellerFactory()
    for day in range(days):
        _seller_lines(seller, monkeypatch, datetime(2026, 3, 2 + day, tzinfo=UTC))
    client.force_login(seller)

    with django_assert_max_num_queries(5):
        response = client.get(EXPORT, {"from": "2026-03-01", "to": "2026-03-31"})
        assert len(_rows(response)) == 4 * days
