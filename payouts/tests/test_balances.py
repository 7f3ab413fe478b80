"""A seller's balances through a sale's life, end to end through the real stripe SDK and the
sandbox: held in escrow, on the way after release (with its date), available once the sandbox's
clock passes settlement, paid out, and earnings net of refunds and debt. The page, the API and
the admin show the same figures."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.selectors import connected_account_id_for
from core.money import format_money
from core.stripe_client import client as stripe
from escrow import services
from escrow.models import OrderStatus, RefundInitiator, ReleaseTrigger
from escrow.testing import deliver_order, make_order, pay_on_checkout_page, place_order
from payouts.selectors import STRIPE_UNREACHABLE, seller_balances
from stripe_sandbox import testing as sandbox_testing

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"
PAGE = reverse("seller-payouts")
API = reverse("api-seller-balance")


@pytest.fixture
def paid(client, seller, listing, buyer, django_capture_on_commit_callbacks):
    """A US$50.00 order (2 × 25.00, commission 5.00: the seller's share 45.00), paid and held."""

    def make(the_buyer=None):
        the_buyer = the_buyer or buyer
        order = place_order(buyer=the_buyer, listing_id=listing.pk, quantity=2)
        _, url = services.payment_checkout_start(
            order=order, buyer=the_buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert pay_on_checkout_page(client, url).status_code == 302
        order.refresh_from_db()
        assert order.status == OrderStatus.FUNDED
        return order

    return make


def released(order):
    deliver_order(order=order, actor=order.seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=order.buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    return order


def usd(seller):
    (row,) = [r for r in seller_balances(seller=seller).currencies if r.currency == "usd"]
    return row


def figures(row):
    return {
        "in_escrow": row.in_escrow_cents,
        "on_the_way": row.on_the_way_cents,
        "available": row.available_cents,
        "paid_out": row.paid_out_cents,
        "earnings": row.lifetime_earnings_cents,
        "debt": row.debt_cents,
    }


def charge_available_on(order):
    """When Stripe makes the order's card payment available (its balance transaction)."""
    payment = order.payments.get(status="succeeded")
    charge = stripe().v1.charges.retrieve(
        payment.stripe_charge_id, params={"expand": ["balance_transaction"]}
    )
    return datetime.fromtimestamp(charge.balance_transaction.available_on, tz=UTC)


def pay_out(seller, amount):
    account = connected_account_id_for(seller)
    return stripe().v1.payouts.create(
        params={"amount": amount, "currency": "usd"}, options={"stripe_account": account}
    )


def refund(order, amount):
    return services.refund_create(
        order=order,
        amount_cents=amount,
        reason="Chipped in the post",
        initiator=RefundInitiator.SELLER,
        actor=order.seller,
    )


# --- Through a sale -----------------------------------------------------------------------------


def test_a_paid_order_is_in_escrow_and_nothing_is_at_stripe_yet(paid, seller):
    paid()

    assert figures(usd(seller)) == {
        "in_escrow": 4500,
        "on_the_way": 0,
        "available": 0,
        "paid_out": 0,
        "earnings": 0,
        "debt": 0,
    }


def test_a_disputed_order_still_counts_as_held(paid, seller, buyer):
    order = paid()
    services.dispute_open(order=order, actor=buyer, reason="not_received", description="Never came")
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED

    assert usd(seller).in_escrow_cents == 4500


def test_after_release_it_is_on_the_way_until_the_clock_passes_settlement(
    paid, seller, stripe_sandbox
):
    order = released(paid())

    row = usd(seller)
    assert figures(row) == {
        "in_escrow": 0,
        "on_the_way": 4500,
        "available": 0,
        "paid_out": 0,
        "earnings": 4500,
        "debt": 0,
    }
    (pending,) = row.on_the_way
    assert pending.amount_cents == 4500
    assert pending.available_on == charge_available_on(order)
    assert pending.available_on.timestamp() > stripe_sandbox.now()

    stripe_sandbox.advance_clock(days=3)

    row = usd(seller)
    assert (row.on_the_way_cents, row.available_cents, row.on_the_way) == (0, 4500, ())


def test_a_payout_leaves_available_and_counts_as_paid_out_once_paid(paid, seller, stripe_sandbox):
    released(paid())
    stripe_sandbox.advance_clock(days=3)

    pay_out(seller, 3000)

    row = usd(seller)
    # Sent, not arrived yet: off the available balance, not counted as paid out.
    assert (row.available_cents, row.paid_out_cents) == (1500, 0)

    stripe_sandbox.advance_clock(days=3)  # the payout arrives at the bank

    row = usd(seller)
    assert (row.available_cents, row.paid_out_cents, row.lifetime_earnings_cents) == (
        1500,
        3000,
        4500,
    )


def test_a_refund_after_release_comes_off_earnings_and_the_stripe_balance(paid, seller):
    order = released(paid())

    refund(order, 2000)  # 20.00 of 50.00: the seller gives back 18.00 of their 45.00

    row = usd(seller)
    assert (row.lifetime_earnings_cents, row.on_the_way_cents, row.debt_cents) == (
        2700,
        2700,
        0,
    )


def test_a_refund_the_balance_cannot_cover_is_shown_as_debt(paid, seller, stripe_sandbox):
    order = released(paid())
    stripe_sandbox.advance_clock(days=3)
    pay_out(seller, 4500)

    refund(order, 2000)

    row = usd(seller)
    assert (row.debt_cents, row.available_cents, row.lifetime_earnings_cents) == (1800, 0, 2700)


# --- Page, API and admin agree ------------------------------------------------------------------


def _shown(html, figure, currency="usd"):
    """A figure as the page (or the admin) shows it in the currency's section."""
    section = html.split(f'data-currency="{currency}"', 1)[-1]
    match = re.search(rf'data-figure="{figure}">([^<]*)<', section)
    assert match, f"{figure} is not on the page"
    return match.group(1).strip()


def test_the_page_the_api_and_the_admin_show_the_same_figures(
    client, api_client, paid, seller, stripe_sandbox
):
    order = released(paid())
    stripe_sandbox.advance_clock(days=3)
    pay_out(seller, 4500)
    refund(order, 2000)  # the seller owes 18.00
    paid(UserFactory())  # 45.00 held
    row = usd(seller)
    expected = {
        "in-escrow": 4500,
        "on-the-way": 0,
        "available": 0,
        "earnings": 2700,
        "debt": 1800,
    }
    assert figures(row)["debt"] == 1800

    client.force_login(seller)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    for figure, cents in expected.items():
        assert _shown(html, figure) == format_money(cents, "usd"), figure

    api_client.force_authenticate(seller)
    body = api_client.get(API).json()
    (usd_body,) = [c for c in body["currencies"] if c["currency"] == "usd"]
    assert usd_body["in_escrow_cents"] == 4500
    assert usd_body["available_cents"] == 0
    assert usd_body["lifetime_earnings_cents"] == 2700
    assert usd_body["debt_cents"] == 1800
    assert body["stripe_error"] == ""

    client.force_login(StaffFactory())
    admin_page = client.get(
        reverse("admin:payouts_sellerbalance_change", args=[seller.seller_profile.pk])
    )
    assert admin_page.status_code == 200
    admin_html = admin_page.content.decode()
    admin_figures = {
        "in-escrow": "in_escrow_cents",
        "available": "available_cents",
        "earnings": "lifetime_earnings_cents",
        "debt": "debt_cents",
    }
    for figure, name in admin_figures.items():
        assert _shown(admin_html, name) == format_money(expected[figure], "usd"), figure
    # The seller's profile in the admin links to it.
    profile = client.get(
        reverse("admin:accounts_sellerprofile_change", args=[seller.seller_profile.pk])
    )
    assert (
        reverse("admin:payouts_sellerbalance_change", args=[seller.seller_profile.pk])
        in profile.content.decode()
    )


def test_the_page_lists_each_pending_amount_with_its_date(client, paid, seller):
    order = released(paid())
    client.force_login(seller)

    html = client.get(PAGE).content.decode()

    day = charge_available_on(order)
    assert f'datetime="{day:%Y-%m-%d}"' in html
    assert f"{format_money(4500, 'usd')} available on" in html


def test_the_seller_nav_links_to_the_payouts_page(client, seller):
    client.force_login(seller)
    assert f'href="{PAGE}"' in client.get(reverse("seller-ledger")).content.decode()


# --- Stripe unreachable -------------------------------------------------------------------------


def test_with_stripe_unreachable_the_page_and_api_still_give_the_ledger_figures(
    client, api_client, paid, seller, monkeypatch
):
    paid()
    sandbox_testing.unreachable(monkeypatch)

    client.force_login(seller)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Stripe could not be reached" in html
    assert _shown(html, "in-escrow") == format_money(4500, "usd")
    assert _shown(html, "available") == "—"

    api_client.force_authenticate(seller)
    response = api_client.get(API)
    assert response.status_code == 200
    (usd_body,) = response.json()["currencies"]
    assert response.json()["stripe_error"] == STRIPE_UNREACHABLE
    assert (usd_body["in_escrow_cents"], usd_body["available_cents"]) == (4500, None)


# --- Who may see it -----------------------------------------------------------------------------


def test_people_who_do_not_sell_are_sent_to_set_up_a_store_and_refused_by_the_api(
    client, api_client
):
    someone = UserFactory()
    client.force_login(someone)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == reverse("seller-onboard")

    api_client.force_authenticate(someone)
    refused = api_client.get(API)
    assert refused.status_code == 403
    assert "Only sellers have a balance" in refused.json()["detail"]


def test_anonymous_visitors_sign_in_first(client, api_client):
    page = client.get(PAGE)
    assert page.status_code == 302 and page["Location"].startswith(reverse("login"))
    assert api_client.get(API).status_code == 401


def test_a_seller_without_a_stripe_account_sees_the_ledger_figures_and_a_way_to_set_it_up(
    client, buyer
):
    seller = SellerFactory()
    make_order(seller, buyer, status=OrderStatus.FUNDED, total=2500, commission=250)

    client.force_login(seller)
    html = client.get(PAGE).content.decode()

    assert _shown(html, "in-escrow") == format_money(2250, "usd")
    assert reverse("connect") in html
    balances = seller_balances(seller=seller)
    assert not balances.has_stripe_account and balances.currencies[0].available_cents is None


# --- Queries ------------------------------------------------------------------------------------


def test_the_page_costs_the_same_however_many_orders_the_seller_has(
    client, seller, buyer, django_assert_max_num_queries
):
    make_order(seller, buyer, status=OrderStatus.FUNDED)
    make_order(seller, buyer, status=OrderStatus.RELEASED)
    client.force_login(seller)
    client.get(PAGE)  # the session's first request may do more (sign-in bookkeeping)
    with CaptureQueriesContext(connection) as few:
        assert client.get(PAGE).status_code == 200

    for status in [OrderStatus.FUNDED, OrderStatus.DELIVERED, OrderStatus.RELEASED] * 4:
        make_order(seller, buyer, status=status)
    make_order(seller, buyer, status=OrderStatus.FUNDED, currency="eur")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert _shown(html, "in-escrow") == format_money(2250 * 9, "usd")
    assert _shown(html, "in-escrow", "eur") == format_money(2250, "eur")


# --- Stripe calls are bounded -------------------------------------------------------------------


def _count_stripe_requests(monkeypatch):
    sent = []

    def record(method, url, headers, body, handle):
        sent.append(f"{method.upper()} {url.split('?')[0]}")
        return handle(method, url, headers, body)

    sandbox_testing.intercept(monkeypatch, record)
    return sent


def test_the_page_asks_stripe_three_times(client, paid, seller, monkeypatch):
    released(paid())
    client.force_login(seller)
    sent = _count_stripe_requests(monkeypatch)

    assert client.get(PAGE).status_code == 200

    assert sorted(path.rsplit("/", 1)[-1] for path in sent) == [
        "balance",
        "balance_transactions",
        "payouts",
    ]


def test_past_the_pages_one_read_follows_paid_out_is_marked_at_least(
    client, paid, seller, stripe_sandbox, monkeypatch
):
    released(paid())
    stripe_sandbox.advance_clock(days=3)
    for _ in range(4):
        pay_out(seller, 1000)
    stripe_sandbox.advance_clock(days=3)
    assert usd(seller).paid_out_cents == 4000
    monkeypatch.setattr("payouts.selectors.STRIPE_PAGE_SIZE", 1)  # 4 payouts, 3 pages read
    client.force_login(seller)
    sent = _count_stripe_requests(monkeypatch)

    html = client.get(PAGE).content.decode()

    assert _shown(html, "paid-out") == f"at least {format_money(3000, 'usd')}"
    assert len([path for path in sent if path.endswith("/payouts")]) == 3
    assert len(sent) <= 7


def test_the_admin_lists_sellers_balances_read_only(client, seller):
    client.force_login(StaffFactory())

    listing = client.get(reverse("admin:payouts_sellerbalance_changelist"))

    assert listing.status_code == 200
    change = reverse("admin:payouts_sellerbalance_change", args=[seller.seller_profile.pk])
    assert change in listing.content.decode()
    assert client.get(reverse("admin:payouts_sellerbalance_add")).status_code == 403
    page = client.get(change).content.decode()
    assert 'name="_save"' not in page  # nothing to edit
