"""The escrow pages through Django's test client: buying, the order room and its buttons, the
page Stripe Checkout returns to, order lists and the seller's ledger.

Payments run through the real stripe SDK against the offline sandbox; webhooks arrive after
commit (django_capture_on_commit_callbacks) exactly as Stripe's would.
"""

import re

import pytest
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from core.stripe_client import client as stripe_client
from escrow import services
from escrow.models import (
    EscrowPayment,
    EscrowRelease,
    Order,
    OrderStatus,
    PaymentStatus,
    ReleaseStatus,
)
from escrow.testing import SHIPPING_FORM, make_order, onboard, path_of, pay_on_checkout_page
from marketplace.factories import ListingFactory, ServiceListingFactory
from marketplace.models import Listing

pytestmark = pytest.mark.django_db

DECLINED = "4000 0000 0000 0002"


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


@pytest.fixture(autouse=True)
def _site_url(settings):
    # Stripe's return URLs are built from SITE_URL; the test client is http://testserver.
    settings.SITE_URL = "http://testserver"


@pytest.fixture
def seller(client, stripe_sandbox, django_capture_on_commit_callbacks):
    seller = SellerFactory(email="potter@example.com", full_name="Pat Potter")
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, seller)
    return seller


@pytest.fixture
def listing(seller):
    return ListingFactory(
        store=seller.store, title="Blue mug", price_cents=2500, currency="usd", stock=5
    )


@pytest.fixture
def buyer():
    return UserFactory(email="buyer@example.com", full_name="Sam Buyer")


# The checkout step's POST: a product's address with the quantity (escrow.views.order_create).
CHECKOUT = {"shipping_step": "1"} | SHIPPING_FORM


def place_order(client, buyer, listing, quantity=1):
    client.force_login(buyer)
    data = {"quantity": quantity} | (CHECKOUT if listing.kind == "product" else {})
    response = client.post(reverse("order-create", args=[listing.pk]), data)
    assert response.status_code == 302, _text(response)
    return Order.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def pay(client, order, capture, card="4242 4242 4242 4242"):
    """The buyer presses Pay, then types a card on the sandbox's hosted checkout page."""
    response = client.post(reverse("order-pay", args=[order.pk]))
    assert response.status_code == 302
    assert "/stripe-sandbox/checkout/cs_" in response["Location"]
    with capture(execute=True):
        return pay_on_checkout_page(client, response["Location"], card)


def test_the_buyer_reads_the_policy_they_agreed_to_before_paying(client, seller, listing, buyer):
    listing.cancellation_policy = "moderate"
    listing.save()
    order = place_order(client, buyer, listing)
    listing.cancellation_policy = "strict"  # changed after the order: the order keeps Moderate
    listing.save()

    response = client.get(order.get_absolute_url())

    text = _text(response)
    words = "Full refund until the order is shipped; no refund after that."
    assert f"Cancellation policy: Moderate. {words}" in text
    assert text.index("Cancellation policy: Moderate.") < text.index("Pay US$25.00")
    assert "Cancellation policy Moderate" in text  # in the order's details too
    assert "Strict" not in text


def funded_order(client, buyer, listing, capture):
    order = place_order(client, buyer, listing)
    pay(client, order, capture)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


UPS = {"carrier": "ups", "tracking_number": "1Z999AA10123456784"}


def delivered_order(client, buyer, seller, listing, capture):
    """Paid, shipped by the seller and received by the buyer: in review."""
    order = funded_order(client, buyer, listing, capture)
    client.force_login(seller)
    with capture(execute=True):
        client.post(reverse("order-ship", args=[order.pk]), UPS)
    client.force_login(buyer)
    with capture(execute=True):
        client.post(reverse("order-received", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    return order


# --- The listing page's buy box ---------------------------------------------------------------


def test_listing_page_offers_a_buy_form_with_the_price_and_escrow_promise(client, listing, buyer):
    client.force_login(buyer)
    response = client.get(listing.get_absolute_url())
    html = _html(response)
    assert f'action="{reverse("order-create", args=[listing.pk])}"' in html
    assert 'name="quantity"' in html and 'max="5"' in html
    assert "Buy now · US$25.00 each" in _text(response)
    assert "held in escrow until you approve" in _text(response)


def test_a_service_is_bought_once_without_a_quantity_box(client, seller, buyer):
    service = ServiceListingFactory(store=seller.store, price_cents=9000)
    client.force_login(buyer)
    html = _html(client.get(service.get_absolute_url()))
    assert '<input type="hidden" name="quantity" value="1"' in html
    assert "Buy now · US$90.00" in html


def test_a_service_posted_with_a_quantity_is_refused_next_to_the_field(client, seller, buyer):
    service = ServiceListingFactory(store=seller.store, price_cents=9000)
    client.force_login(buyer)

    response = client.post(
        reverse("order-create", args=[service.pk]), {"quantity": 5, "client_key": "web-1"}
    )

    assert response.status_code == 200
    assert "A service is booked once per order" in _text(response)
    assert not Order.objects.exists()


def test_visitors_are_asked_to_log_in_and_owners_see_no_buy_form(client, seller, listing):
    response = client.get(listing.get_absolute_url())
    assert "Log in to buy" in _text(response)
    assert 'name="quantity"' not in _html(response)

    client.force_login(seller)
    response = client.get(listing.get_absolute_url())
    assert 'name="quantity"' not in _html(response)
    assert "Log in to buy" not in _text(response)
    assert "Edit listing" in _text(response)


def test_a_seller_who_cannot_take_payments_shows_no_buy_form(client, buyer):
    listing = ListingFactory(store=SellerFactory().store)  # never set up payouts
    client.force_login(buyer)
    response = client.get(listing.get_absolute_url())
    assert "This seller cannot take payments right now" in _text(response)
    assert 'name="quantity"' not in _html(response)


def test_a_sold_out_listing_says_so(client, seller, buyer):
    listing = ListingFactory(store=seller.store, stock=0)
    client.force_login(buyer)
    response = client.get(listing.get_absolute_url())
    assert "Sold out." in _text(response)
    assert 'name="quantity"' not in _html(response)


# --- Ordering -----------------------------------------------------------------------------------


def test_buying_creates_the_order_reserves_stock_and_opens_the_order_room(client, listing, buyer):
    client.force_login(buyer)
    response = client.post(
        reverse("order-create", args=[listing.pk]), {"quantity": "2"} | CHECKOUT, follow=True
    )
    order = Order.objects.get()
    assert response.redirect_chain[-1][0] == reverse("order-detail", args=[order.pk])
    assert (order.buyer, order.quantity, order.total_cents) == (buyer, 2, 5000)
    assert Listing.objects.get(pk=listing.pk).stock == 3
    assert "Pay US$50.00" in _text(response)


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("6", "Only 5 left in stock."),
        ("0", "Ensure this value is greater than or equal to 1."),
        ("lots", "Enter a whole number."),
        ("", "This field is required."),
        ("101", "Order at most 100 at a time."),
    ],
)
def test_a_bad_quantity_is_shown_next_to_the_field(client, listing, buyer, quantity, message):
    client.force_login(buyer)
    response = client.post(
        reverse("order-create", args=[listing.pk]), {"quantity": quantity} | CHECKOUT
    )
    assert response.status_code == 200
    assert _field_errors(response, "quantity") == [message]
    assert not Order.objects.exists()
    assert Listing.objects.get(pk=listing.pk).stock == 5


def test_the_same_form_submitted_twice_makes_one_order(client, listing, buyer):
    client.force_login(buyer)
    data = {"quantity": "1", "client_key": "web-double-click"} | CHECKOUT
    first = client.post(reverse("order-create", args=[listing.pk]), data)
    second = client.post(reverse("order-create", args=[listing.pk]), data)
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1
    assert Listing.objects.get(pk=listing.pk).stock == 4


def test_buying_from_a_seller_without_payments_or_your_own_listing_is_refused(client, seller):
    listing = ListingFactory(store=SellerFactory().store)
    client.force_login(UserFactory())
    response = client.post(reverse("order-create", args=[listing.pk]), {"quantity": "1"} | CHECKOUT)
    assert response.status_code == 200
    assert "This seller cannot take payments right now" in _text(response)

    own = ListingFactory(store=seller.store)
    client.force_login(seller)
    response = client.post(reverse("order-create", args=[own.pk]), {"quantity": "1"})
    assert response.status_code == 200
    assert "You cannot buy your own listing." in _text(response)
    assert not Order.objects.exists()


def test_ordering_needs_a_login_and_a_get_goes_back_to_the_listing(client, listing, buyer):
    url = reverse("order-create", args=[listing.pk])
    response = client.post(url, {"quantity": "1"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(buyer)
    assert client.get(url)["Location"] == listing.get_absolute_url()
    assert client.post(reverse("order-create", args=[999999]), {"quantity": "1"}).status_code == 404
    assert not Order.objects.exists()


# --- The order room -----------------------------------------------------------------------------


def test_both_parties_see_the_amounts_and_the_timeline(client, seller, listing, buyer):
    order = place_order(client, buyer, listing)
    for user in (buyer, seller):
        client.force_login(user)
        response = client.get(reverse("order-detail", args=[order.pk]))
        assert response.status_code == 200
        html = _html(response)
        assert re.search(r'data-amount="total">US\$25.00<', html)
        assert re.search(r'data-amount="commission">−US\$2.50<', html)
        assert re.search(r'data-amount="seller">US\$22.50<', html)
        assert "Bazaar commission (10%)" in _text(response)
        assert 'data-action="escrow.order.created"' in html
    # Only the buyer is offered Pay and Cancel.
    assert "Waiting for the buyer to pay" in _text(response)
    assert reverse("order-pay", args=[order.pk]) not in _html(response)


@pytest.mark.parametrize(
    "name", ["order-detail", "order-paid", "order-status"], ids=["detail", "paid", "status"]
)
def test_an_order_is_404_for_anyone_but_its_buyer_and_seller(client, listing, buyer, name):
    order = place_order(client, buyer, listing)
    url = reverse(name, args=[order.pk])
    assert client.get(url).status_code == 200
    for outsider in (UserFactory(), StaffFactory(), SellerFactory()):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url)["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "name", ["order-pay", "order-deliver", "order-ship", "order-received", "order-approve"]
)
def test_outsiders_cannot_press_any_button(client, listing, buyer, name):
    order = place_order(client, buyer, listing)
    client.force_login(UserFactory())
    assert client.post(reverse(name, args=[order.pk])).status_code == 404
    client.force_login(buyer)
    assert client.get(reverse(name, args=[order.pk])).status_code == 405
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert not EscrowPayment.objects.exists()


# --- Paying -------------------------------------------------------------------------------------


def test_pay_goes_to_stripe_checkout_and_comes_back_to_a_confirmed_page(
    client, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(client, buyer, listing)
    back = pay(client, order, django_capture_on_commit_callbacks)

    assert back.status_code == 302
    assert back["Location"].startswith(f"http://testserver/orders/{order.pk}/paid/?session_id=cs_")
    response = client.get(path_of(back["Location"]))
    assert "Payment confirmed, held in escrow" in _text(response)
    assert "<script" not in _html(response).split("</head>")[0].replace(
        '<script src="/static/js/site.js" defer></script>', ""
    ).replace('<script src="/static/js/notifications.js" defer></script>', "").replace(
        '<script src="/static/js/favourites.js" defer></script>', ""
    )

    response = client.get(reverse("order-detail", args=[order.pk]))
    text = _text(response)
    assert "Paid — waiting for the seller to ship" in text
    assert "View the payment receipt" in text
    assert 'data-action="escrow.order.funded"' in _html(response)
    assert reverse("order-pay", args=[order.pk]) not in _html(response)


def test_a_second_payment_shows_on_the_order_page_as_paid_twice(
    client, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(client, buyer, listing)
    checkout_url = client.post(reverse("order-pay", args=[order.pk]))["Location"]
    in_the_app = services.payment_intent_start(order=order, buyer=buyer)
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, checkout_url)
        stripe_client().v1.payment_intents.confirm(
            in_the_app.stripe_payment_intent_id, params={"payment_method": "pm_card_visa"}
        )

    response = client.get(reverse("order-detail", args=[order.pk]))

    text = _text(response)
    assert "Paid twice: you paid US$25.00 a second time for this order." in text
    assert 'data-payment-status="duplicate"' in _html(response)


def test_the_return_page_trusts_stripe_not_the_redirect(
    client, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(client, buyer, listing)
    checkout = client.post(reverse("order-pay", args=[order.pk]))["Location"]
    with stripe_sandbox.webhooks_held():
        back = pay_on_checkout_page(client, checkout)

    response = client.get(path_of(back["Location"]))
    html = _html(response)
    assert "Confirming your payment…" in _text(response)
    assert "Payment confirmed" not in html
    assert f'data-order-status-url="{reverse("order-status", args=[order.pk])}"' in html
    assert '<script src="/static/js/order.js" defer></script>' in html
    assert '<noscript><meta http-equiv="refresh"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script (CSP)
    assert client.get(reverse("order-status", args=[order.pk])).json() == {
        "status": "pending_payment",
        "status_display": "Awaiting payment",
        "paid": False,
        "payment_failed": False,
    }

    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.deliver_pending()

    status = client.get(reverse("order-status", args=[order.pk])).json()
    assert (status["status"], status["status_display"], status["paid"]) == (
        "funded",
        "Paid, held in escrow",
        True,
    )
    assert "Payment confirmed, held in escrow" in _text(client.get(path_of(back["Location"])))


def test_a_declined_card_shows_the_error_and_still_offers_pay(
    client, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(client, buyer, listing)
    page = pay(client, order, django_capture_on_commit_callbacks, card=DECLINED)
    assert page.status_code == 200 and "declined" in _text(page).lower()
    declined_on = EscrowPayment.objects.get(order=order).stripe_checkout_session_id

    response = client.get(reverse("order-detail", args=[order.pk]))
    text = _text(response)
    assert "Your last payment did not go through." in text
    assert "declined" in text.lower()
    assert reverse("order-pay", args=[order.pk]) in _html(response)
    assert client.get(reverse("order-status", args=[order.pk])).json()["payment_failed"] is True
    paid_page = client.get(reverse("order-paid", args=[order.pk]))
    assert "Your payment did not go through" in _text(paid_page)

    # Pressing Pay again goes back to the same Checkout page, open for another card: no second
    # page that could take the money a second time.
    again = client.post(reverse("order-pay", args=[order.pk]))
    assert again["Location"].endswith(f"/stripe-sandbox/checkout/{declined_on}/")
    assert EscrowPayment.objects.filter(order=order).count() == 1


def test_only_the_buyer_can_pay_and_only_while_unpaid(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(client, buyer, listing)
    client.force_login(seller)
    response = client.post(reverse("order-pay", args=[order.pk]), follow=True)
    assert "Only the buyer can pay for this order." in _messages(response)
    assert not EscrowPayment.objects.exists()

    order = funded_order(client, buyer, listing, django_capture_on_commit_callbacks)
    response = client.post(reverse("order-pay", args=[order.pk]), follow=True)
    assert "This order is paid, held in escrow; it cannot be paid." in _messages(response)
    assert response.redirect_chain[-1][0] == reverse("order-detail", args=[order.pk])


def test_stripe_being_unreachable_is_a_message_not_an_error_page(
    client, listing, buyer, monkeypatch
):
    from core import stripe_client

    order = place_order(client, buyer, listing)

    def unreachable(fn, *args, **kwargs):
        raise stripe_client.StripeUnavailable("Stripe could not be reached. Nothing was charged.")

    monkeypatch.setattr(stripe_client, "call", unreachable)
    response = client.post(reverse("order-pay", args=[order.pk]), follow=True)
    assert response.status_code == 200
    assert "Stripe could not be reached. Nothing was charged." in _messages(response)


# --- Delivering, approving, cancelling ----------------------------------------------------------


def test_the_seller_marks_shipped_and_the_buyer_sees_the_countdown(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = funded_order(client, buyer, listing, django_capture_on_commit_callbacks)
    client.force_login(seller)
    page = client.get(reverse("order-detail", args=[order.pk]))
    assert "Mark shipped" in _text(page)
    assert "Mark delivered" not in _text(page)  # a product is shipped, not delivered

    response = client.post(reverse("order-ship", args=[order.pk]), UPS, follow=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert order.tracking_number == "1Z999AA10123456784"
    assert any("Marked as shipped" in m for m in _messages(response))

    client.force_login(buyer)
    response = client.get(reverse("order-detail", args=[order.pk]))
    text = _text(response)
    # The transit allowance (7 days) and then the review window (14 days).
    assert "Payment releases automatically in 21 days" in text
    assert re.search(r'data-countdown-seconds="\d+"', _html(response))
    assert "1Z999AA10123456784" in text
    assert "I received it" in text
    assert "Approve and release payment" in text


def test_only_the_seller_ships_and_a_too_long_tracking_number_is_an_error(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = funded_order(client, buyer, listing, django_capture_on_commit_callbacks)
    response = client.post(reverse("order-ship", args=[order.pk]), UPS, follow=True)
    assert "Only the seller can mark this order shipped." in _messages(response)

    client.force_login(seller)
    response = client.post(
        reverse("order-ship", args=[order.pk]), {"carrier": "ups", "tracking_number": "1" * 41}
    )
    assert response.status_code == 400
    assert _field_errors(response, "tracking_number") == [
        "Ensure this value has at most 40 characters (it has 41)."
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED


def test_shipping_an_unpaid_order_is_refused_with_a_message(client, seller, listing, buyer):
    order = place_order(client, buyer, listing)
    client.force_login(seller)
    response = client.post(reverse("order-ship", args=[order.pk]), UPS, follow=True)
    assert response.status_code == 200
    assert "cannot become delivered" in " ".join(_messages(response))
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_the_buyer_approves_and_the_seller_sees_completed_and_the_released_amount(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = delivered_order(client, buyer, seller, listing, django_capture_on_commit_callbacks)
    client.force_login(buyer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("order-approve", args=[order.pk]), follow=True)
    assert any("US$22.50 was released to" in m for m in _messages(response))
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    release = EscrowRelease.objects.get(order=order)
    assert (release.status, release.transfer_cents) == (ReleaseStatus.TRANSFERRED, 2250)

    client.force_login(seller)
    response = client.get(reverse("order-detail", args=[order.pk]))
    text = _text(response)
    assert "Completed" in text
    assert re.search(r"data-released-amount>US\$22.50<", _html(response))
    assert "released to you" in text
    assert 'data-action="escrow.order.approved"' in _html(response)
    assert "You cannot withdraw" not in text  # payouts are on


def test_approving_is_for_the_buyer_after_delivery(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = funded_order(client, buyer, listing, django_capture_on_commit_callbacks)
    response = client.post(reverse("order-approve", args=[order.pk]), follow=True)
    assert "You can approve the order once the seller has delivered it." in _messages(response)

    client.force_login(seller)
    client.post(reverse("order-ship", args=[order.pk]), UPS)
    response = client.post(reverse("order-approve", args=[order.pk]), follow=True)
    assert "Only the buyer can approve this order." in _messages(response)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert not EscrowRelease.objects.exists()


def test_the_buyer_cancels_an_unpaid_order_and_the_stock_returns(client, seller, listing, buyer):
    order = place_order(client, buyer, listing, quantity=2)
    assert Listing.objects.get(pk=listing.pk).stock == 3

    client.force_login(seller)
    response = client.post(reverse("order-cancel", args=[order.pk]), follow=True)
    assert "Only the buyer can cancel this order." in _messages(response)

    client.force_login(buyer)
    response = client.post(reverse("order-cancel", args=[order.pk]), follow=True)
    assert f"Order #{order.pk} was cancelled. Nothing was charged." in _messages(response)
    assert "This order was cancelled" in _text(response)
    assert reverse("order-pay", args=[order.pk]) not in _html(response)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert Listing.objects.get(pk=listing.pk).stock == 5


def test_a_paid_order_is_cancelled_only_once_its_refund_was_shown(
    client, listing, buyer, django_capture_on_commit_callbacks
):
    order = funded_order(client, buyer, listing, django_capture_on_commit_callbacks)
    # The unpaid order's one-click button posts no amount: the confirm page shows it first.
    response = client.post(reverse("order-cancel", args=[order.pk]))
    assert response.status_code == 200
    assert "data-cancel-preview" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert EscrowPayment.objects.get(order=order).status == PaymentStatus.SUCCEEDED


def test_a_seller_whose_payouts_are_paused_is_told_why_they_cannot_withdraw(
    client, stripe_sandbox, buyer, django_capture_on_commit_callbacks
):
    seller = SellerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, seller, outcome="due")  # can take payments; payouts wait for documents
    listing = ListingFactory(store=seller.store, price_cents=2500, currency="usd", stock=5)
    order = delivered_order(client, buyer, seller, listing, django_capture_on_commit_callbacks)
    client.force_login(buyer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("order-approve", args=[order.pk]))

    client.force_login(seller)
    for url in (reverse("order-detail", args=[order.pk]), reverse("seller-ledger")):
        text = _text(client.get(url))
        assert "You cannot withdraw this money yet." in text
        assert "Stripe needs a bank account and a photo ID before you can be paid." in text
    client.force_login(buyer)
    assert "You cannot withdraw" not in _text(client.get(reverse("order-detail", args=[order.pk])))


# --- Lists and the ledger -----------------------------------------------------------------------


def test_buyers_see_their_own_orders_newest_first(client, seller, listing, buyer):
    first = place_order(client, buyer, listing)
    second = place_order(client, buyer, listing, quantity=2)
    make_order(SellerFactory(), UserFactory())  # someone else's
    response = client.get(reverse("orders-buying"))
    orders = list(response.context["orders"])
    assert orders == [second, first]
    assert "2 orders" in _text(response)
    assert "US$50.00" in _text(response) and "Awaiting payment" in _text(response)


def test_sellers_see_the_orders_they_received(client, seller, listing, buyer):
    order = place_order(client, buyer, listing)
    make_order(SellerFactory(), buyer)
    client.force_login(seller)
    response = client.get(reverse("orders-selling"))
    assert list(response.context["orders"]) == [order]
    text = _text(response)
    assert "Sam Buyer" in text and "you get US$22.50" in text
    assert f'href="{reverse("seller-ledger")}"' in _html(response)


def test_seller_pages_send_non_sellers_to_become_one(client, buyer):
    client.force_login(buyer)
    for name in ("orders-selling", "seller-ledger"):
        assert client.get(reverse(name))["Location"] == reverse("seller-onboard")


def test_the_ledger_shows_lines_and_totals(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = delivered_order(client, buyer, seller, listing, django_capture_on_commit_callbacks)
    funded_order(client, buyer, listing, django_capture_on_commit_callbacks)  # still held
    client.force_login(buyer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("order-approve", args=[order.pk]))

    client.force_login(seller)
    response = client.get(reverse("seller-ledger"))
    html = _html(response)
    assert re.search(r'data-total="held">US\$22.50<', html)
    assert re.search(r'data-total="released">US\$22.50<', html)
    assert re.search(r'data-total="commission">US\$2.50<', html)
    assert re.findall(r"<span data-amount>(.*?)</span>", html) == ["−US$22.50", "+US$22.50"]
    text = _text(response)
    assert f"Transfer to the seller for order #{order.pk}" in text
    assert "US$25.00 total − US$2.50 commission" in text


def test_an_empty_ledger_says_so(client, seller):
    client.force_login(seller)
    response = client.get(reverse("seller-ledger"))
    assert "No money has moved yet." in _text(response)
    assert re.search(r'data-total="released">US\$0.00<', _html(response))


# Session, user, (seller profile, store), count, the rows, the notifications bell; the ledger adds
# the Connect status, four grouped totals (held, releases, refunds after release, the debt) and
# the latest refunds. None of it grows with the number of orders.
PAGE_QUERIES = {"orders-buying": 8, "orders-selling": 10, "seller-ledger": 16}


@pytest.mark.parametrize("rows", [3, 30])
def test_order_lists_and_ledger_cost_the_same_queries_for_3_and_30_orders(
    client, settings, django_assert_max_num_queries, rows
):
    settings.BAZAAR_PAGE_SIZE = 50  # every row on one page
    seller, buyer = SellerFactory(), UserFactory()
    for i in range(rows):
        make_order(seller, buyer, status=[OrderStatus.FUNDED, OrderStatus.RELEASED][i % 2])

    client.force_login(buyer)
    with django_assert_max_num_queries(PAGE_QUERIES["orders-buying"]):
        response = client.get(reverse("orders-buying"))
    assert len(response.context["orders"]) == rows

    client.force_login(seller)
    with django_assert_max_num_queries(PAGE_QUERIES["orders-selling"]):
        response = client.get(reverse("orders-selling"))
    assert len(response.context["orders"]) == rows

    with django_assert_max_num_queries(PAGE_QUERIES["seller-ledger"]):
        response = client.get(reverse("seller-ledger"))
    assert len(response.context["lines"]) == 2 * (rows // 2)
    assert response.context["totals"][0].released_cents == 2250 * (rows // 2)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "less than a minute"),
        (59, "less than a minute"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (3600, "1 hour"),
        (3 * 86400 + 4 * 3600, "3 days 4 hours"),
        (14 * 86400 - 2, "14 days"),
        ("junk", ""),
    ],
)
def test_time_left_reads_like_a_person_would_say_it(seconds, words):
    from escrow.templatetags.orders import time_left

    assert time_left(seconds) == words


def test_commission_percent_from_basis_points():
    from escrow.templatetags.orders import percent_bps

    assert [percent_bps(b) for b in (1000, 850, 25, 0)] == ["10%", "8.5%", "0.25%", "0%"]
