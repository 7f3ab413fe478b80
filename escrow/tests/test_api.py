"""The orders API at /api/v1/orders/, as a mobile app uses it: token auth, Stripe's SDK confirming
the PaymentIntent against the sandbox, webhooks funding the order."""

import pytest
import stripe
from django.conf import settings

from accounts.factories import SellerFactory, UserFactory
from accounts.testing import sign_in_api_client
from core import stripe_client
from escrow import ledger
from escrow.factories import EscrowPaymentFactory, OrderFactory
from escrow.models import EscrowPayment, LedgerAccount, Order, OrderStatus, PaymentStatus
from escrow.testing import SHIPPING_ADDRESS, onboard
from marketplace.factories import ListingFactory, ServiceListingFactory
from marketplace.models import Listing, ListingStatus

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
LEDGER = "/api/v1/orders/ledger/"


def order_url(order_id, action=""):
    return f"{ORDERS}{order_id}/" + (f"{action}/" if action else "")


def signed_in(api_client, user):
    """The client as `user`'s app: signed in with an API token."""
    return sign_in_api_client(api_client, user)


def sdk():
    return stripe_client.client().v1


def confirm_on_phone(intent_id, payment_method):
    """What Stripe's mobile SDK does with the client secret: confirm the intent with a card."""
    return sdk().payment_intents.confirm(intent_id, params={"payment_method": payment_method})


def place_order(api_client, buyer, listing, quantity=1, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = signed_in(api_client, buyer).post(
        ORDERS,
        {"listing": listing.pk, "quantity": quantity, "shipping_address": SHIPPING_ADDRESS},
        format="json",
        **headers,
    )
    assert response.status_code == 201, response.json()
    return response.json()


def pay(api_client, buyer, order_id, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return signed_in(api_client, buyer).post(order_url(order_id, "pay"), **headers)


def paid_order(api_client, buyer, listing, capture, quantity=1):
    order = place_order(api_client, buyer, listing, quantity)
    intent = pay(api_client, buyer, order["id"]).json()
    with capture(execute=True):
        confirm_on_phone(intent["payment_intent_id"], "pm_card_visa")
    return order


# --- The mobile flow ----------------------------------------------------------------------------


def test_order_pay_deliver_approve_through_the_api_transfers_total_minus_commission(
    api_client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    created = place_order(api_client, buyer, listing, quantity=2)
    assert created["status"] == OrderStatus.PENDING_PAYMENT
    assert created["role"] == "buyer"
    assert created["listing"] == {"id": listing.pk, "title": listing.title}
    assert created["store"] == {"slug": seller.store.slug, "name": seller.store.name}
    assert created["total_cents"] == 5000
    assert created["total_display"] == "US$50.00"
    assert created["commission_cents"] == 500
    assert created["seller_gets_cents"] == 4500
    assert created["receipt_url"] is None
    assert created["release"] is None
    order_id = created["id"]

    response = pay(api_client, buyer, order_id)
    assert response.status_code == 200
    intent = response.json()
    assert intent["payment_intent_id"].startswith("pi_")
    assert intent["client_secret"].startswith(intent["payment_intent_id"] + "_secret_")
    assert intent["publishable_key"] == stripe_client.publishable_key()
    assert (intent["amount_cents"], intent["currency"]) == (5000, "usd")
    assert intent["status"] == "pending"
    # Asking for the intent proves nothing: only Stripe's webhook funds the order.
    assert api_client.get(order_url(order_id)).json()["status"] == OrderStatus.PENDING_PAYMENT

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = confirm_on_phone(intent["payment_intent_id"], "pm_card_visa")
    assert confirmed.status == "succeeded"

    funded = api_client.get(order_url(order_id)).json()
    assert funded["status"] == OrderStatus.FUNDED
    assert funded["funded_at"]
    assert funded["receipt_url"].startswith("http")
    assert funded["payment_error"] == ""
    seller_api = signed_in(api_client, seller)
    held = seller_api.get(LEDGER).json()
    assert held["count"] == 0  # nothing owed to the seller until the escrow is released
    assert held["totals"] == [
        {
            "currency": "usd",
            "held_cents": 4500,
            "released_cents": 0,
            "commission_paid_cents": 0,
            "transferring_cents": 0,
            "reversed_cents": 0,
            "refunded_after_release_cents": 0,
            "taken_back_cents": 0,
            "debt_cents": 0,
            "held_display": "US$45.00",
            "released_display": "US$0.00",
            "commission_paid_display": "US$0.00",
            "debt_display": "US$0.00",
        }
    ]
    shipped = seller_api.post(
        order_url(order_id, "ship"),
        {"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
        format="json",
    )
    assert shipped.status_code == 200
    shipped = shipped.json()
    assert shipped["status"] == OrderStatus.DELIVERED
    assert shipped["role"] == "seller"
    assert shipped["tracking_number"] == "1Z999AA10123456784"
    # Until the buyer confirms receipt: the transit allowance, then the review window.
    window = (settings.BAZAAR_DEFAULT_TRANSIT_DAYS + settings.BAZAAR_REVIEW_WINDOW_DAYS) * 86400
    assert window - 60 < shipped["seconds_until_release"] <= window
    delivered = signed_in(api_client, buyer).post(order_url(order_id, "received")).json()
    window = settings.BAZAAR_REVIEW_WINDOW_DAYS * 86400
    assert window - 60 < delivered["seconds_until_release"] <= window
    # Delivered: the buyer approves or reports a problem; cancelling is over for them.
    refused = signed_in(api_client, buyer).post(order_url(order_id, "cancel"))
    assert refused.status_code == 409
    assert "report a problem" in refused.json()["detail"]

    with django_capture_on_commit_callbacks(execute=True):
        approved = signed_in(api_client, buyer).post(order_url(order_id, "approve"))
    assert approved.status_code == 200
    released = approved.json()
    assert released["status"] == OrderStatus.RELEASED
    assert released["released_at"]
    assert released["seconds_until_release"] is None
    assert released["release"] == {"transfer_cents": 4500, "status": "transferred"}
    # Approving is the buyer's: the seller does not get the released order back as if they had.
    assert signed_in(api_client, seller).post(order_url(order_id, "approve")).status_code == 403

    (transfer,) = sdk().transfers.list(params={"transfer_group": f"order-{order_id}"}).data
    transfer = sdk().transfers.retrieve(transfer.id)
    assert transfer.amount == 4500
    assert transfer.currency == "usd"
    assert transfer.destination == seller.seller_profile.connected_account.stripe_account_id

    lines = signed_in(api_client, seller).get(LEDGER).json()
    totals = lines["totals"][0]
    assert (totals["held_cents"], totals["released_cents"]) == (0, 4500)
    assert totals["commission_paid_cents"] == 500
    # Released to the seller (owed), then transferred to their Stripe account.
    assert [line["seller_amount_cents"] for line in lines["results"]] == [-4500, 4500]
    assert {line["account"] for line in lines["results"]} == {
        LedgerAccount.seller_payable(seller.pk)
    }
    assert {line["order"] for line in lines["results"]} == {order_id}
    assert lines["results"][0]["stripe_object_id"] == transfer.id
    assert ledger.order_total(Order.objects.get(pk=order_id)) == 0


def test_a_declined_card_leaves_the_order_payable_and_the_same_intent_pays_it(
    api_client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order_id = place_order(api_client, buyer, listing)["id"]
    first = pay(api_client, buyer, order_id).json()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(stripe.CardError):
        confirm_on_phone(first["payment_intent_id"], "pm_card_chargeDeclined")

    declined = api_client.get(order_url(order_id)).json()
    assert declined["status"] == OrderStatus.PENDING_PAYMENT
    assert "declined" in declined["payment_error"].lower()
    assert declined["receipt_url"] is None

    again = pay(api_client, buyer, order_id)
    assert again.status_code == 200
    again = again.json()
    assert again["payment_intent_id"] == first["payment_intent_id"]
    assert again["client_secret"] == first["client_secret"]
    assert "declined" in again["payment_error"].lower()

    with django_capture_on_commit_callbacks(execute=True):
        assert confirm_on_phone(again["payment_intent_id"], "pm_card_visa").status == "succeeded"

    funded = api_client.get(order_url(order_id)).json()
    assert funded["status"] == OrderStatus.FUNDED
    assert funded["payment_error"] == ""
    assert EscrowPayment.objects.filter(order_id=order_id).count() == 1


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_an_idempotency_key_makes_a_retried_order_return_the_same_order(
    api_client, seller, listing, buyer
):
    first = place_order(api_client, buyer, listing, key="order-7f3a")
    retry = api_client.post(
        ORDERS,
        {"listing": listing.pk, "quantity": 1, "shipping_address": SHIPPING_ADDRESS},
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-7f3a",
    )

    assert retry.status_code == 201
    assert retry.json() == first
    assert Order.objects.filter(buyer=buyer).count() == 1
    assert Listing.objects.get(pk=listing.pk).stock == 4  # reserved once

    other = place_order(api_client, buyer, listing, key="order-8b1c")
    assert other["id"] != first["id"]
    # Keys belong to one buyer: someone else's identical key is their own order.
    someone = place_order(api_client, UserFactory(), listing, key="order-7f3a")
    assert someone["id"] not in (first["id"], other["id"])


def test_reusing_an_idempotency_key_for_another_order_or_an_overlong_key_is_a_400(
    api_client, seller, listing, buyer
):
    place_order(api_client, buyer, listing, key="k-1")

    reused = api_client.post(
        ORDERS,
        {"listing": listing.pk, "quantity": 2, "shipping_address": SHIPPING_ADDRESS},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    too_long = api_client.post(
        ORDERS, {"listing": listing.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )

    assert reused.status_code == 400
    assert "different listing or quantity" in reused.json()["Idempotency-Key"][0]
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()
    assert Order.objects.filter(buyer=buyer).count() == 1


def test_an_idempotency_key_makes_a_retried_pay_return_the_same_intent(
    api_client, seller, listing, buyer
):
    order_id = place_order(api_client, buyer, listing)["id"]

    first = pay(api_client, buyer, order_id, key="pay-1")
    retry = pay(api_client, buyer, order_id, key="pay-1")
    without_key = pay(api_client, buyer, order_id)

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert without_key.json()["payment_intent_id"] == first.json()["payment_intent_id"]
    assert EscrowPayment.objects.filter(order_id=order_id).count() == 1
    on_stripe = sdk().payment_intents.retrieve(first.json()["payment_intent_id"])
    assert on_stripe.amount == 2500
    assert on_stripe.status == "requires_payment_method"


def test_a_retried_pay_for_an_intent_that_paid_twice_says_duplicate_not_pending(api_client):
    order = OrderFactory(funded=True)
    EscrowPaymentFactory(order=order)  # the payment that funded it
    EscrowPaymentFactory(
        order=order,
        kind=EscrowPayment.Kind.PAYMENT_INTENT,
        status=PaymentStatus.DUPLICATE,
        client_key="pay-again",
        client_secret="pi_second_secret_abc",
        stripe_payment_intent_id="pi_second",
    )

    response = pay(api_client, order.buyer, order.pk, key="pay-again")

    assert response.status_code == 200
    assert response.json()["payment_intent_id"] == "pi_second"
    assert response.json()["status"] == "duplicate"


# --- Who sees and does what ---------------------------------------------------------------------


def test_orders_are_visible_to_their_buyer_and_seller_only(api_client, seller, listing, buyer):
    order_id = place_order(api_client, buyer, listing)["id"]
    stranger = signed_in(api_client, UserFactory())

    assert stranger.get(order_url(order_id)).status_code == 404
    assert stranger.get(ORDERS).json()["count"] == 0
    for action in ("pay", "deliver", "ship", "received", "approve", "cancel"):
        response = stranger.post(order_url(order_id, action))
        assert response.status_code == 404, action
    assert Order.objects.get(pk=order_id).status == OrderStatus.PENDING_PAYMENT

    seller_api = signed_in(api_client, seller)
    assert seller_api.get(order_url(order_id)).json()["role"] == "seller"
    assert [o["id"] for o in seller_api.get(ORDERS, {"role": "selling"}).json()["results"]] == [
        order_id
    ]
    assert seller_api.get(ORDERS, {"role": "buying"}).json()["count"] == 0
    buyer_api = signed_in(api_client, buyer)
    assert buyer_api.get(ORDERS, {"role": "buying"}).json()["count"] == 1
    assert buyer_api.get(ORDERS, {"status": "funded"}).json()["count"] == 0
    assert buyer_api.get(ORDERS, {"status": "pending_payment"}).json()["count"] == 1
    bad = buyer_api.get(ORDERS, {"role": "lending", "status": "lost"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"role", "status"}
    api_client.credentials()
    assert api_client.get(ORDERS).status_code == 401


def test_the_wrong_party_is_refused_with_403(api_client, seller, listing, buyer):
    order_id = place_order(api_client, buyer, listing)["id"]

    seller_api = signed_in(api_client, seller)
    for action in ("pay", "approve", "cancel"):
        response = seller_api.post(order_url(order_id, action))
        assert response.status_code == 403, action
        assert "Only the buyer" in response.json()["detail"]
    delivered = signed_in(api_client, buyer).post(order_url(order_id, "deliver"))
    assert delivered.status_code == 403
    assert "Only the seller" in delivered.json()["detail"]

    assert Order.objects.get(pk=order_id).status == OrderStatus.PENDING_PAYMENT
    assert not EscrowPayment.objects.filter(order_id=order_id).exists()


def test_illegal_moves_are_409_with_a_message(api_client, seller, listing, buyer):
    order_id = place_order(api_client, buyer, listing)["id"]
    buyer_api = signed_in(api_client, buyer)

    approve = buyer_api.post(order_url(order_id, "approve"))
    assert approve.status_code == 409
    assert "once the seller has delivered" in approve.json()["detail"]
    deliver = signed_in(api_client, seller).post(order_url(order_id, "deliver"))
    assert deliver.status_code == 409
    assert deliver.json()["code"] == "invalid_transition"

    cancelled = signed_in(api_client, buyer).post(order_url(order_id, "cancel"))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == OrderStatus.CANCELLED
    assert Listing.objects.get(pk=listing.pk).stock == 5  # returned
    pay_cancelled = api_client.post(order_url(order_id, "pay"))
    assert pay_cancelled.status_code == 409
    assert "cancelled" in pay_cancelled.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "listing", "required"),
        ({"listing": "abc"}, "listing", "valid integer"),
        ({"listing": 10**30}, "listing", "not available"),
        ({"listing": -4}, "listing", "not available"),
        ({"listing": 999999}, "listing", "not available"),
        ({"quantity": "two"}, "quantity", "valid integer"),
        ({"quantity": 1.5}, "quantity", "valid integer"),
        ({"quantity": True}, "quantity", "valid integer"),
        ({"quantity": [1]}, "quantity", "valid integer"),
        ({"quantity": 0}, "quantity", "at least one"),
        ({"quantity": 101}, "quantity", "at most 100"),
        ({"quantity": 6}, "quantity", "Only 5 left"),
    ],
)
def test_bad_order_input_is_a_400_naming_the_field(
    api_client, seller, listing, buyer, body, field, message
):
    if "quantity" in body:
        body = {"listing": listing.pk, "shipping_address": SHIPPING_ADDRESS, **body}
    response = signed_in(api_client, buyer).post(ORDERS, body, format="json")

    assert response.status_code == 400
    assert message.lower() in " ".join(response.json()[field]).lower()
    assert not Order.objects.exists()


def test_a_service_is_ordered_once_through_the_api_as_on_the_page(api_client, seller, buyer):
    service = ServiceListingFactory(store=seller.store, price_cents=9000, currency="usd")
    buyer_api = signed_in(api_client, buyer)

    refused = buyer_api.post(ORDERS, {"listing": service.pk, "quantity": 5}, format="json")
    booked = buyer_api.post(ORDERS, {"listing": service.pk}, format="json")

    assert refused.status_code == 400
    assert refused.json() == {"quantity": ["A service is booked once per order: order 1."]}
    assert booked.status_code == 201
    assert (booked.json()["quantity"], booked.json()["total_cents"]) == (1, 9000)


def test_unavailable_own_and_sold_out_listings_are_400s(api_client, seller, listing, buyer):
    draft = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)
    sold_out = ListingFactory(store=seller.store, stock=0)
    buyer_api = signed_in(api_client, buyer)

    responses = {
        "draft": buyer_api.post(ORDERS, {"listing": draft.pk}, format="json"),
        "sold out": buyer_api.post(ORDERS, {"listing": sold_out.pk}, format="json"),
        "own": signed_in(api_client, seller).post(ORDERS, {"listing": listing.pk}, format="json"),
    }

    assert {k: r.status_code for k, r in responses.items()} == dict.fromkeys(responses, 400)
    assert responses["draft"].json() == {"listing": ["This listing is not available."]}
    assert responses["sold out"].json() == {"quantity": ["This listing is sold out."]}
    assert responses["own"].json() == {"listing": ["You cannot buy your own listing."]}
    long_note = signed_in(api_client, seller).post(
        order_url(place_order(api_client, buyer, listing)["id"], "deliver"),
        {"note": "x" * 5001},
        format="json",
    )
    assert long_note.status_code == 400
    assert "note" in long_note.json()


# --- Lists stay cheap ---------------------------------------------------------------------------


def test_order_list_is_newest_first_and_its_query_count_stays_flat(
    api_client,
    client,
    seller,
    buyer,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):
    plenty = ListingFactory(store=seller.store, price_cents=900, stock=None)
    other_seller = SellerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, other_seller)  # our seller also buys, from another store
    theirs = ListingFactory(store=other_seller.store, price_cents=400, stock=None)

    def delivered_order():
        order = paid_order(api_client, buyer, plenty, django_capture_on_commit_callbacks)
        signed_in(api_client, seller).post(
            order_url(order["id"], "ship"),
            {"carrier": "usps", "tracking_number": "9400100000000000000001"},
            format="json",
        )

    delivered_order()  # with a receipt and a review countdown
    place_order(api_client, buyer, plenty)
    place_order(api_client, seller, theirs)
    seller_api = signed_in(api_client, seller)

    # Token (and the account's other tokens: expired ones are deleted), count, page: the store,
    # receipt come with the page; the page's releases and disputes in one more each; the
    # (sandbox) clock for the countdowns is read once.
    with django_assert_max_num_queries(7):
        few = seller_api.get(ORDERS, {"page_size": 50})
    assert few.json()["count"] == 3
    assert {o["role"] for o in few.json()["results"]} == {"buyer", "seller"}
    assert sum(o["seconds_until_release"] is not None for o in few.json()["results"]) == 1

    delivered_order()
    delivered_order()
    for _ in range(24):
        place_order(api_client, buyer, plenty)
    place_order(api_client, seller, theirs)
    seller_api = signed_in(api_client, seller)
    with django_assert_max_num_queries(7):
        many = seller_api.get(ORDERS, {"page_size": 50})

    body = many.json()
    assert body["count"] == 30
    assert len(body["results"]) == 30
    ids = [o["id"] for o in body["results"]]
    assert ids == sorted(ids, reverse=True)
    assert signed_in(api_client, buyer).get(ORDERS).json()["next"]  # 28 rows, pages of 20


def test_the_ledger_is_for_sellers_and_its_query_count_stays_flat(
    api_client, seller, buyer, django_assert_max_num_queries
):
    plenty = ListingFactory(store=seller.store, price_cents=900, stock=None)

    def book(times):
        # Lines as a release books them, on real orders of the seller's.
        for _ in range(times):
            order = Order.objects.get(pk=place_order(api_client, buyer, plenty)["id"])
            ledger.post(
                order=order,
                currency="usd",
                memo=f"Escrow of order #{order.pk} released",
                lines=[
                    (LedgerAccount.seller_payable(seller.pk), -810),
                    (LedgerAccount.PLATFORM_COMMISSION, -90),
                    (LedgerAccount.BUYER_FUNDS_HELD, 900),
                ],
            )

    assert signed_in(api_client, buyer).get(LEDGER).status_code == 403
    book(3)
    seller_api = signed_in(api_client, seller)
    # Token, the account's other tokens, seller profile, count, page of lines, their orders'
    # releases, four grouped totals (held, releases, refunds after release, the debt).
    with django_assert_max_num_queries(10):
        few = seller_api.get(LEDGER, {"page_size": 50}).json()
    book(27)
    seller_api = signed_in(api_client, seller)
    with django_assert_max_num_queries(10):
        many = seller_api.get(LEDGER, {"page_size": 50}).json()

    assert few["count"] == 3
    assert many["count"] == 30
    assert len(many["results"]) == 30
    ids = [line["id"] for line in many["results"]]
    assert ids == sorted(ids, reverse=True)
    assert many["results"][0]["seller_amount_cents"] == 810
    assert many["results"][0]["seller_amount_display"] == "US$8.10"
    assert many["results"][0]["amount_cents"] == -810
    assert signed_in(api_client, seller).get(LEDGER).json()["next"]  # pages of 20


# --- OpenAPI --------------------------------------------------------------------------------------


def test_the_schema_documents_the_orders_api_and_its_idempotency_key(api_client):
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    for path in (
        "/api/v1/orders/",
        "/api/v1/orders/{id}/",
        "/api/v1/orders/{id}/pay/",
        "/api/v1/orders/{id}/deliver/",
        "/api/v1/orders/{id}/approve/",
        "/api/v1/orders/{id}/cancel/",
        "/api/v1/orders/ledger/",
    ):
        assert path in paths, path
    for path in ("/api/v1/orders/", "/api/v1/orders/{id}/pay/"):
        headers = [p for p in paths[path]["post"]["parameters"] if p["in"] == "header"]
        assert [h["name"] for h in headers] == ["Idempotency-Key"]
    list_params = {p["name"] for p in paths["/api/v1/orders/"]["get"]["parameters"]}
    assert {"role", "status", "page", "page_size"} <= list_params
