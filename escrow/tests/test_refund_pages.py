"""Refunds on the pages, through Django's test client: the seller's refund form, the refunds on
the order page for both sides (and "partly refunded" beside the status), the refunded order, the
seller's ledger with what refunds after release took back and what the seller owes.

Money moves through the real stripe SDK against the offline sandbox, as in test_refunds.py."""

import re

import pytest
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from core.audit import audit_record
from escrow import ledger
from escrow.factories import EscrowRefundFactory, ledger_pair
from escrow.models import (
    EscrowRefund,
    LedgerAccount,
    OrderStatus,
    RefundInitiator,
    RefundStatus,
)
from escrow.testing import make_order, place_order
from escrow.tests.refunding import drain, paid_order, released, stripe_refunds
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.django_db


def _html(response):
    return response.content.decode()


def _text(response):
    """The page's visible words, tags stripped and whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", _html(response)).split())


def _field_errors(response, field):
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', _html(response))
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def refund_url(order):
    return reverse("order-refund", args=[order.pk])


def post_refund(client, order, amount, reason="Chipped in the post", **extra):
    return client.post(
        refund_url(order), {"amount": amount, "reason": reason, **extra}, follow=True
    )


# --- The seller's refund page -------------------------------------------------------------------


def test_the_seller_is_offered_the_refund_page_and_the_buyer_is_not(client, listing, buyer):
    order = paid_order(client, listing, buyer)

    client.force_login(order.seller)
    seller_page = client.get(order.get_absolute_url())
    client.force_login(buyer)
    buyer_page = client.get(order.get_absolute_url())

    assert refund_url(order) in _html(seller_page)
    assert "Refund the buyer" in _text(seller_page)
    assert refund_url(order) not in _html(buyer_page)


def test_the_refund_page_shows_what_is_left_and_that_the_money_is_still_held(
    client, listing, buyer
):
    order = paid_order(client, listing, buyer)
    client.force_login(order.seller)

    page = client.get(refund_url(order))

    assert page.status_code == 200
    html = _html(page)
    assert re.search(r'data-amount="paid">US\$50.00<', html)
    assert re.search(r'data-amount="refunded">US\$0.00<', html)
    assert re.search(r'data-amount="refundable"><strong>US\$50.00<', html)
    assert "nothing is taken from your Stripe balance" in _text(page)
    # Everything that is left, to change for a part refund.
    assert re.search(r'name="amount" value="50.00"', html)
    assert "Amount to refund (USD)" in _text(page)


def test_a_part_refund_goes_back_to_the_buyer_and_both_sides_see_it(client, listing, buyer):
    order = paid_order(client, listing, buyer)
    seller = order.seller
    client.force_login(seller)

    response = post_refund(client, order, "12.50", reason="One mug arrived chipped")

    assert response.redirect_chain[-1][0] == order.get_absolute_url()
    assert _messages(response) == ["US$12.50 was refunded to the buyer."]
    made = EscrowRefund.objects.get(order=order)
    assert (made.amount_cents, made.initiator, made.actor, made.status) == (
        1250,
        RefundInitiator.SELLER,
        seller,
        RefundStatus.SUCCEEDED,
    )
    assert [r.amount for r in stripe_refunds(order)] == [1250]
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED

    for user, who in ((seller, "Started by you"), (buyer, "Started by the seller")):
        client.force_login(user)
        page = client.get(order.get_absolute_url())
        html, text = _html(page), _text(page)
        assert "data-partly-refunded" in html
        assert "Paid, held in escrow Partly refunded" in text
        assert re.search(r'data-amount="refunded">US\$12.50<', html)
        assert f'data-refund="{made.pk}" data-refund-status="succeeded"' in html
        assert f"US$12.50 Refunded {made.created_at:%-d %b %Y}" in text
        assert who in text
        assert "“One mug arrived chipped”" in text
    # The rest can still be refunded from the page.
    client.force_login(seller)
    again = client.get(refund_url(order))
    assert re.search(r'data-amount="refunded">US\$12.50<', _html(again))
    assert re.search(r'name="amount" value="37.50"', _html(again))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "This field is required."),
        ("abc", "Enter an amount in USD, like 12.50."),
        ("12.345", "USD amounts have at most 2 decimal places."),
        ("0", "Refund more than nothing."),
        ("-5", "Refund more than nothing."),
        ("Infinity", "Enter an amount in USD, like 12.50."),
        ("50.01", "At most US$50.00 can still be refunded."),
    ],
)
def test_a_bad_amount_is_shown_next_to_the_field_and_nothing_is_refunded(
    client, listing, buyer, amount, message
):
    order = paid_order(client, listing, buyer)
    client.force_login(order.seller)

    response = client.post(refund_url(order), {"amount": amount, "reason": "Broken"})

    assert response.status_code == 200
    assert _field_errors(response, "amount") == [message]
    assert 'aria-invalid="true"' in _html(response)
    assert not EscrowRefund.objects.exists()
    assert stripe_refunds(order) == []


def test_a_decimal_comma_is_read_as_the_decimal_point(client, listing, buyer):
    order = paid_order(client, listing, buyer)
    client.force_login(order.seller)

    post_refund(client, order, "7,25")

    assert EscrowRefund.objects.get().amount_cents == 725


def test_a_reason_is_required(client, listing, buyer):
    order = paid_order(client, listing, buyer)
    client.force_login(order.seller)

    response = client.post(refund_url(order), {"amount": "5.00", "reason": "   "})

    assert _field_errors(response, "reason") == ["This field is required."]
    assert not EscrowRefund.objects.exists()


def test_the_same_form_submitted_twice_refunds_once(client, listing, buyer):
    order = paid_order(client, listing, buyer)
    client.force_login(order.seller)
    form = client.get(refund_url(order))
    key = re.search(r'name="client_key" value="([^"]+)"', _html(form)).group(1)

    post_refund(client, order, "10.00", client_key=key)
    post_refund(client, order, "10.00", client_key=key)

    assert EscrowRefund.objects.count() == 1
    assert [r.amount for r in stripe_refunds(order)] == [1000]


def test_a_full_refund_ends_the_order_as_refunded(client, listing, buyer):
    order = paid_order(client, listing, buyer)
    client.force_login(order.seller)

    post_refund(client, order, "50.00", reason="Out of stock after all")

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    for user in (order.seller, buyer):
        client.force_login(user)
        page = client.get(order.get_absolute_url())
        html, text = _html(page), _text(page)
        assert 'class="badge order-badge order-badge--refunded">Refunded<' in html
        assert "data-partly-refunded" not in html
        assert 'data-action="escrow.order.refunded"' in html
        assert "Refunded in full to the buyer" in text
        assert "Every cent paid went back to the buyer." in text
        assert "Nothing was charged" not in text
        assert refund_url(order) not in html
    assert "went back to your card" in text  # the buyer's words
    # Nothing is left: the page says so and offers no form.
    client.force_login(order.seller)
    page = client.get(refund_url(order))
    assert "This order has been refunded in full already." in _text(page)
    assert 'name="amount"' not in _html(page)


def test_an_unpaid_order_has_nothing_to_refund(client, listing, buyer):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    client.force_login(order.seller)

    page = client.get(refund_url(order))
    refused = client.post(refund_url(order), {"amount": "5.00", "reason": "Why not"})

    assert "This order has not been paid: there is nothing to refund." in _text(page)
    assert 'name="amount"' not in _html(page)
    assert refund_url(order) not in _html(client.get(order.get_absolute_url()))
    # Posted anyway: the service's refusal is shown on the form, nothing is made.
    assert refused.status_code == 200
    assert "nothing to refund" in _text(refused)
    assert not EscrowRefund.objects.exists()


def test_the_refund_page_is_the_sellers_alone(client, listing, buyer):
    order = paid_order(client, listing, buyer)
    url = refund_url(order)
    for outsider in (buyer, UserFactory(), SellerFactory(), StaffFactory()):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
        assert client.post(url, {"amount": "1.00", "reason": "Mine"}).status_code == 404
    client.logout()
    assert client.get(url)["Location"].startswith(reverse("login"))
    assert not EscrowRefund.objects.exists()


# --- After release ------------------------------------------------------------------------------


def test_after_release_the_page_says_what_is_taken_back_and_the_refund_takes_it(
    client, listing, buyer
):
    order = released(paid_order(client, listing, buyer))
    seller = order.seller
    client.force_login(seller)

    page = client.get(refund_url(order))

    # 50.00 paid, 5.00 commission: the seller's share of a full refund is 45.00.
    assert re.search(r'data-amount="seller-share">US\$45.00<', _html(page))
    assert (
        "refunding all of US$50.00 takes back US$45.00 , and Bazaar returns the other US$5.00 "
        "of its commission"
    ) in _text(page)

    response = post_refund(client, order, "20.00")

    assert _messages(response) == [
        "US$20.00 was refunded to the buyer. US$18.00 was taken back from your Stripe balance."
    ]
    made = EscrowRefund.objects.get()
    assert (made.after_release, made.seller_share_cents, made.debt_cents) == (True, 1800, 0)
    page = client.get(order.get_absolute_url())
    assert "Completed Partly refunded" in _text(page)
    assert "US$18.00 was taken back from your Stripe balance." in _text(page)
    # The buyer is not shown the seller's share.
    client.force_login(buyer)
    assert "data-refund-seller-share" not in _html(client.get(order.get_absolute_url()))
    # What is left is shared the same way.
    client.force_login(seller)
    rest = client.get(refund_url(order))
    assert re.search(r'data-amount="seller-share">US\$27.00<', _html(rest))


def test_a_seller_whose_balance_cannot_cover_it_is_told_and_sees_the_debt_in_the_ledger(
    client, listing, buyer, stripe_sandbox
):
    order = released(paid_order(client, listing, buyer))
    seller = order.seller
    drain(seller, stripe_sandbox)
    client.force_login(seller)

    response = post_refund(client, order, "20.00")

    assert _messages(response) == [
        "US$20.00 was refunded to the buyer. Your Stripe balance could not cover US$18.00: "
        "it will be taken from your next payments."
    ]
    page = client.get(order.get_absolute_url())
    assert "Your Stripe balance could not cover US$18.00: it is taken from your next payments." in (
        _text(page)
    )

    ledger_page = client.get(reverse("seller-ledger"))

    html, text = _html(ledger_page), _text(ledger_page)
    assert re.search(r'data-total="debt">US\$18.00<', html)
    assert "It is recovered from your next releases in USD" in text
    assert re.search(r'data-total="taken-back">US\$18.00<', html)
    assert "Your share of US$20.00 refunded to buyers after the money was released" in text
    refund_row = re.search(r'<tr class="ledger-line[^"]*" data-refund=.*?</tr>', html, re.S)
    assert refund_row
    row_text = " ".join(re.sub(r"<[^>]+>", " ", refund_row.group(0)).split())
    assert f"#{order.pk} {order.listing_title}" in row_text
    assert "Chipped in the post Refunded US$20.00 US$18.00 US$18.00 owed" in row_text

    # The next sale pays it back; the ledger then shows no debt.
    listing.stock = 10
    listing.save(update_fields=["stock"])
    released(paid_order(client, listing, UserFactory()))
    assert ledger.balance(LedgerAccount.seller_debt(seller.pk), currency="usd") == 0
    after = client.get(reverse("seller-ledger"))
    assert "data-debt" not in _html(after)
    assert "debt paid from the release of order" in _text(after)


def test_the_ledger_shows_refunds_before_release_as_not_taken_from_the_seller(
    client, listing, buyer
):
    order = paid_order(client, listing, buyer)
    client.force_login(order.seller)
    post_refund(client, order, "5.00", reason="Late")

    page = client.get(reverse("seller-ledger"))

    text = _text(page)
    assert "Refunds Money that went back to your buyers." in text
    assert "Late Refunded US$5.00 —" in text
    # No refund after release: no card for it.
    assert 'data-total="taken-back"' not in _html(page)


# --- The timeline and the statuses --------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "words", "tone"),
    [
        ("escrow.order.refunded", "Refunded in full to the buyer", "muted"),
        ("escrow.order.disputed", "Problem reported; the payment is frozen", "warning"),
        ("escrow.order.dispute_ended", "Dispute ended; the order goes on where it was", "info"),
        (
            "escrow.order.compensation_released",
            "Cancelled; the seller's compensation released to them",
            "success",
        ),
        (
            "escrow.order.released_by_dispute",
            "Dispute resolved; payment released to the seller",
            "success",
        ),
    ],
)
def test_the_timeline_says_the_new_order_moves_in_words(client, buyer, action, words, tone):
    order = make_order(SellerFactory(), buyer)
    audit_record(action=action, actor=None, target=order)
    client.force_login(buyer)

    page = client.get(order.get_absolute_url())

    html = _html(page)
    assert f'class="timeline__item timeline__item--{tone}" data-action="{action}"' in html
    assert words.replace("'", "&#x27;") in html


def test_a_disputed_order_is_styled_and_says_the_money_is_frozen(client, buyer):
    order = make_order(SellerFactory(), buyer, status=OrderStatus.DISPUTED)
    client.force_login(buyer)

    page = client.get(order.get_absolute_url())

    assert 'class="badge order-badge order-badge--disputed">Disputed<' in _html(page)
    assert "order-step--disputed" in _html(page)
    assert "stays held in escrow: it is neither released automatically nor approved" in _text(page)
    assert "Nothing was charged" not in _text(page)


# --- Lists and query counts ---------------------------------------------------------------------


def _orders_with_refunds(seller, buyer, rows):
    for i in range(rows):
        order = make_order(seller, buyer, status=[OrderStatus.FUNDED, OrderStatus.RELEASED][i % 2])
        refund = EscrowRefundFactory(payment__order=order, amount_cents=500)
        if order.status == OrderStatus.RELEASED:
            EscrowRefund.objects.filter(pk=refund.pk).update(
                after_release=True,
                seller_share_cents=450,
                commission_share_cents=50,
                debt_cents=450,
            )
            ledger_pair(
                order=order,
                debit=LedgerAccount.seller_debt(seller.pk),
                credit=LedgerAccount.STRIPE_BALANCE,
                amount_cents=450,
            )


# Session, user, (seller profile, store), count, the rows, the notifications bell; the ledger adds
# the Connect status, four grouped totals and the latest refunds.
LIST_QUERIES = {"orders-buying": 8, "orders-selling": 10, "seller-ledger": 16}


@pytest.mark.parametrize("rows", [3, 30])
def test_lists_with_refunds_cost_the_same_queries_for_3_and_30_orders(
    client, settings, django_assert_max_num_queries, rows
):
    settings.BAZAAR_PAGE_SIZE = 50  # every row on one page
    seller, buyer = SellerFactory(), UserFactory()
    _orders_with_refunds(seller, buyer, rows)

    client.force_login(buyer)
    with django_assert_max_num_queries(LIST_QUERIES["orders-buying"]):
        buying = client.get(reverse("orders-buying"))
    client.force_login(seller)
    with django_assert_max_num_queries(LIST_QUERIES["orders-selling"]):
        selling = client.get(reverse("orders-selling"))
    with django_assert_max_num_queries(LIST_QUERIES["seller-ledger"]):
        ledger_page = client.get(reverse("seller-ledger"))

    # US$25.00 orders with US$5.00 refunded: every one is partly refunded.
    assert _html(buying).count("data-partly-refunded") == rows
    assert _html(selling).count("data-partly-refunded") == rows
    released_rows = rows // 2
    [totals] = ledger_page.context["totals"]
    assert totals.debt_cents == 450 * released_rows
    assert totals.taken_back_cents == 450 * released_rows
    assert totals.refunded_after_release_cents == 500 * released_rows
    assert len(ledger_page.context["refunds"]) == min(rows, 20)


@pytest.mark.parametrize("refunds", [1, 12])
def test_the_order_page_costs_the_same_queries_for_1_and_12_refunds(
    client, listing, buyer, django_assert_max_num_queries, refunds
):
    order = make_order(listing.store.owner, buyer, total=5000, commission=500)
    payment = EscrowRefundFactory(payment__order=order, amount_cents=100).payment
    for _ in range(refunds - 1):
        EscrowRefundFactory(payment=payment, amount_cents=100)
    for user in (buyer, order.seller):
        client.force_login(user)
        # The order page's own queries (session, user, order, payments, refunds, timeline, the
        # conversation, the bell, the reviews card's dispute check on a refunded order...): the
        # refunds are one of them, however many there are.
        with django_assert_max_num_queries(17):
            page = client.get(order.get_absolute_url())
        assert _html(page).count("data-refund-status=") == refunds


def test_a_refund_in_another_currency_is_typed_and_shown_in_it(client, seller, buyer):
    euros = ListingFactory(store=seller.store, price_cents=1999, currency="eur", stock=3)
    order = paid_order(client, euros, buyer, quantity=1)
    client.force_login(seller)

    page = client.get(refund_url(order))
    response = post_refund(client, order, "9.99")

    assert "Amount to refund (EUR)" in _text(page)
    assert _messages(response) == ["€9.99 was refunded to the buyer."]
    assert EscrowRefund.objects.get().currency == "eur"
