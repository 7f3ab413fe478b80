"""Reads behind the order and ledger pages: timelines, order lists, a seller's ledger and totals."""

import re
from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from escrow import selectors, services
from escrow.factories import EscrowPaymentFactory, TransferReversalFactory
from escrow.models import (
    EscrowRelease,
    LedgerAccount,
    Order,
    OrderStatus,
    PaymentStatus,
    ReleaseTrigger,
)
from escrow.testing import (
    deliver_order,
    make_order,
    pay_on_checkout_page,
    place_order,
    release_order,
)

pytestmark = pytest.mark.django_db


# --- Totals -------------------------------------------------------------------------------------


def test_totals_split_held_released_and_commission_per_currency():
    seller, buyer = SellerFactory(), UserFactory()
    make_order(seller, buyer, status=OrderStatus.FUNDED, total=2500, commission=250)
    make_order(seller, buyer, status=OrderStatus.DELIVERED, total=1000, commission=100)
    make_order(seller, buyer, status=OrderStatus.PENDING_PAYMENT, total=9900, commission=990)
    make_order(seller, buyer, status=OrderStatus.CANCELLED, total=9900, commission=990)
    make_order(seller, buyer, status=OrderStatus.RELEASED, total=4000, commission=400)
    failed = make_order(seller, buyer, status=OrderStatus.FUNDED, total=2000, commission=200)
    Order.objects.filter(pk=failed.pk).update(status=OrderStatus.RELEASED)
    release_order(failed, transferred=False)
    make_order(
        seller, buyer, status=OrderStatus.RELEASED, total=3000, commission=300, currency="eur"
    )
    # Another seller's money is not this seller's.
    make_order(SellerFactory(), buyer, status=OrderStatus.RELEASED, total=7777, commission=777)

    totals = selectors.seller_ledger_totals(seller=seller)

    assert [t.currency for t in totals] == ["eur", "usd"]
    eur, usd = totals
    assert usd.held_cents == 2250 + 900
    assert usd.released_cents == 3600
    assert usd.transferring_cents == 1800
    assert usd.commission_cents == 400 + 200
    assert (eur.held_cents, eur.released_cents, eur.commission_cents) == (0, 2700, 300)


def test_totals_of_a_seller_without_orders_are_zero_in_their_currency():
    totals = selectors.seller_ledger_totals(seller=SellerFactory(), default_currency="gbp")
    assert totals == [selectors.SellerTotals(currency="gbp")]


def test_totals_cost_the_same_queries_for_3_and_30_orders(django_assert_num_queries):
    seller, buyer = SellerFactory(), UserFactory()
    for _ in range(3):
        make_order(seller, buyer, status=OrderStatus.RELEASED)
    # Held, releases, refunds after release, the debt: one grouped query each.
    with django_assert_num_queries(4):
        selectors.seller_ledger_totals(seller=seller)
    for _ in range(27):
        make_order(seller, buyer, status=OrderStatus.RELEASED)
    with django_assert_num_queries(4):
        totals = selectors.seller_ledger_totals(seller=seller)
    assert totals[0].released_cents == 30 * 2250


# --- Ledger lines -------------------------------------------------------------------------------


def test_ledger_lines_are_the_sellers_payable_account_seen_from_their_side():
    seller, buyer = SellerFactory(), UserFactory()
    order = make_order(seller, buyer, status=OrderStatus.RELEASED)
    make_order(SellerFactory(), buyer, status=OrderStatus.RELEASED)

    lines = list(selectors.seller_ledger_lines(seller=seller))

    assert [(line.order_id, line.seller_amount_cents) for line in lines] == [
        (order.pk, -2250),  # newest first: the transfer to their Stripe account
        (order.pk, 2250),  # the release that made the money theirs
    ]
    assert {line.account for line in lines} == {LedgerAccount.seller_payable(seller.pk)}


def test_ledger_lines_join_their_order_and_release(django_assert_num_queries):
    seller, buyer = SellerFactory(), UserFactory()
    for _ in range(5):
        make_order(seller, buyer, status=OrderStatus.RELEASED)
    # The lines with their orders, then the orders' releases (an order has several when it is
    # released milestone by milestone): two queries however many lines.
    with django_assert_num_queries(2):
        lines = list(selectors.seller_ledger_lines(seller=seller))
        commissions = {line.order.release.commission_cents for line in lines}
    assert len(lines) == 10
    assert commissions == {250}


# --- Orders -------------------------------------------------------------------------------------


def test_order_lists_are_scoped_and_newest_first(django_assert_num_queries):
    seller, buyer, other = SellerFactory(), UserFactory(), UserFactory()
    first = make_order(seller, buyer)
    second = make_order(seller, buyer, status=OrderStatus.RELEASED)
    make_order(seller, other)
    make_order(SellerFactory(), buyer)

    with django_assert_num_queries(1):
        bought = list(selectors.orders_for_buyer(user=buyer))
        stores = [order.store.name for order in bought]
    assert len(bought) == 3 and len(stores) == 3
    assert [o.pk for o in bought][1:] == [second.pk, first.pk]

    with django_assert_num_queries(2):  # the orders, then their releases
        sold = list(selectors.orders_for_seller(user=seller))
        details = [(order.buyer.email, selectors.order_release(order)) for order in sold]
    assert [o.pk for o in sold][1:] == [second.pk, first.pk]
    assert details[1][1].transfer_cents == 2250
    assert details[2][1] is None


def test_an_order_exists_only_for_its_buyer_and_seller():
    seller, buyer = SellerFactory(), UserFactory()
    order = make_order(seller, buyer)
    assert selectors.order_for_participant_get(user=buyer, pk=order.pk) == order
    assert selectors.order_for_participant_get(user=seller, pk=order.pk) == order
    for outsider in (UserFactory(), StaffFactory(), SellerFactory()):
        with pytest.raises(Http404):
            selectors.order_for_participant_get(user=outsider, pk=order.pk)


# --- Timeline -----------------------------------------------------------------------------------


def test_timeline_tells_the_whole_story_from_the_audit_entries(
    client, seller, listing, buyer, django_capture_on_commit_callbacks, django_assert_num_queries
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    with django_capture_on_commit_callbacks(execute=True):
        _, url = services.payment_checkout_start(
            order=order,
            buyer=buyer,
            success_url="http://testserver/done?s={CHECKOUT_SESSION_ID}",
            cancel_url="http://testserver/",
        )
        pay_on_checkout_page(client, url)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=seller, note="Posted")
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)

    with django_assert_num_queries(1):
        timeline = selectors.order_timeline(order)

    assert [(e.action, e.actor_role) for e in timeline] == [
        ("escrow.order.created", "buyer"),
        ("escrow.order.funded", "bazaar"),
        ("escrow.order.shipped", "seller"),
        ("escrow.order.received", "buyer"),
        ("escrow.order.approved", "buyer"),
    ]
    assert timeline[1].title == "Payment received and held in escrow"
    assert timeline[2].title == "Shipped by the seller"
    assert timeline[4].tone == "success"
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)


def test_the_timeline_words_are_for_escrow_order_actions():
    shape = re.compile(r"^escrow\.order\.[a-z]+(_[a-z]+)*$")
    assert all(shape.match(action) for action in selectors.TIMELINE_WORDS)


def test_timeline_of_an_order_without_events_is_empty_and_unknown_actions_are_readable():
    from core.audit import audit_record

    seller, buyer = SellerFactory(), UserFactory()
    order = make_order(seller, buyer)
    assert selectors.order_timeline(order) == []
    audit_record(action="escrow.order.refund_requested", actor=StaffFactory(), target=order)
    (event,) = selectors.order_timeline(order)
    assert (event.title, event.actor_role, event.actor_label) == (
        "Refund requested",
        "staff",
        "Bazaar staff",
    )


# --- What the periodic jobs are due to do -------------------------------------------------------


def test_due_selectors_pick_the_orders_and_releases_the_jobs_act_on(settings):
    settings.BAZAAR_RELEASE_REMINDER_HOURS = 48
    now = timezone.now()
    seller, buyer = SellerFactory(), UserFactory()

    def order(status, **fields):
        made = make_order(seller, buyer, status=status)
        Order.objects.filter(pk=made.pk).update(**fields)
        return made.pk

    window_over = order(OrderStatus.DELIVERED, review_deadline=now - timedelta(minutes=1))
    ends_now = order(OrderStatus.DELIVERED, review_deadline=now)
    ends_tomorrow = order(OrderStatus.DELIVERED, review_deadline=now + timedelta(days=1))
    order(OrderStatus.DELIVERED, review_deadline=now + timedelta(days=3))  # not soon yet
    order(
        OrderStatus.DELIVERED,
        review_deadline=now + timedelta(hours=1),
        reminder_sent_at=now - timedelta(days=1),
    )  # reminded already
    order(OrderStatus.FUNDED, review_deadline=now - timedelta(days=1))  # not delivered
    unpaid_late = order(OrderStatus.PENDING_PAYMENT, expires_at=now - timedelta(seconds=1))
    order(OrderStatus.PENDING_PAYMENT, expires_at=now + timedelta(minutes=5))
    order(OrderStatus.CANCELLED, expires_at=now - timedelta(days=1))
    failed = make_order(seller, buyer, status=OrderStatus.FUNDED)
    release_order(failed, transferred=False)
    make_order(seller, buyer, status=OrderStatus.RELEASED)  # transferred: nothing to retry

    assert set(selectors.orders_due_for_auto_release(now=now)) == {window_over, ends_now}
    assert set(selectors.orders_due_for_release_reminder(now=now)) == {ends_tomorrow}
    assert set(selectors.orders_due_for_expiry(now=now)) == {unpaid_late}
    assert list(selectors.releases_due_for_transfer_retry()) == [failed.release.pk]


# --- Values derived from the rows that hold them ----------------------------------------------


def test_reversed_totals_are_summed_from_the_reversal_rows_without_inflating_the_others():
    seller, buyer = SellerFactory(), UserFactory()
    twice = make_order(seller, buyer, status=OrderStatus.RELEASED, total=4000, commission=400)
    make_order(seller, buyer, status=OrderStatus.RELEASED, total=2000, commission=200)
    for amount in (300, 200):
        TransferReversalFactory(release=twice.release, amount_cents=amount, currency="usd")

    [usd] = selectors.seller_ledger_totals(seller=seller)

    assert usd.reversed_cents == 500
    # A join to the reversals would count the twice-reversed release twice in these sums.
    assert (usd.released_cents, usd.commission_cents) == (3600 + 1800, 400 + 200)
    release = EscrowRelease.objects.with_amount_reversed().get(pk=twice.release.pk)
    assert release.amount_reversed_cents == 500
    assert EscrowRelease.objects.get(pk=twice.release.pk).amount_reversed_cents == 500


def test_an_orders_payment_error_is_its_latest_declined_payments_until_it_is_paid():
    seller, buyer = SellerFactory(), UserFactory()
    order = make_order(seller, buyer, status=OrderStatus.PENDING_PAYMENT)
    assert order.payment_error == ""
    for message, code in (
        ("Your card was declined.", "card_declined"),
        ("Expired.", "expired_card"),
    ):
        EscrowPaymentFactory(
            order=order,
            status=PaymentStatus.FAILED,
            failure_message=message,
            failure_code=code,
            stripe_charge_id="",
        )
    EscrowPaymentFactory(order=order, status=PaymentStatus.PENDING, stripe_charge_id="")

    annotated = Order.objects.with_payment_error().get(pk=order.pk)
    expired = "Your card has expired. Try again with another card."
    assert annotated.payment_error == order.payment_error == expired
    assert annotated.payment_error_detail == order.payment_error_detail == "Expired. (expired_card)"

    Order.objects.filter(pk=order.pk).update(status=OrderStatus.FUNDED)
    order.refresh_from_db()
    assert order.payment_error == ""
    assert Order.objects.with_payment_error().get(pk=order.pk).payment_error == ""
