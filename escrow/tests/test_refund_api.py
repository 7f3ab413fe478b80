"""Refunds over the API: GET and POST /api/v1/orders/{id}/refunds/ as the app uses them (token
auth, Idempotency-Key), the order's refunded_cents, and the seller's ledger totals. Money moves
through the real stripe SDK against the offline sandbox."""

import pytest

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.testing import sign_in_api_client
from escrow import services
from escrow.factories import EscrowRefundFactory
from escrow.models import EscrowRefund, OrderStatus, RefundInitiator, RefundStatus
from escrow.testing import make_order, place_order
from escrow.tests.refunding import drain, paid_order, released, stripe_refunds

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
LEDGER = "/api/v1/orders/ledger/"


def refunds_url(order):
    return f"{ORDERS}{order.pk}/refunds/"


def as_user(api_client, user):
    return sign_in_api_client(api_client, user)


def post_refund(api, order, amount_cents=1000, reason="Chipped in the post", key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(
        refunds_url(order),
        {"amount_cents": amount_cents, "reason": reason},
        format="json",
        **headers,
    )


def test_the_seller_refunds_part_and_both_sides_read_it(api_client, client, listing, buyer):
    order = paid_order(client, listing, buyer)
    seller_api = as_user(api_client, order.seller)

    made = post_refund(seller_api, order, 1250, key="refund-1")

    assert made.status_code == 201, made.json()
    body = made.json()
    refund = EscrowRefund.objects.get()
    assert body["id"] == refund.pk
    assert {k: body[k] for k in ("status", "amount_cents", "currency", "amount_display")} == {
        "status": "succeeded",
        "amount_cents": 1250,
        "currency": "usd",
        "amount_display": "US$12.50",
    }
    assert (body["initiator"], body["reason"], body["after_release"]) == (
        "seller",
        "Chipped in the post",
        False,
    )
    assert (body["taken_back_cents"], body["debt_cents"]) == (0, 0)
    assert [r.amount for r in stripe_refunds(order)] == [1250]

    for user, shares in ((order.seller, 0), (buyer, None)):
        api = as_user(api_client, user)
        listed = api.get(refunds_url(order))
        assert listed.status_code == 200
        [row] = listed.json()
        assert (row["id"], row["status_display"], row["initiator_display"]) == (
            refund.pk,
            "Refunded",
            "Seller",
        )
        assert row["taken_back_cents"] == shares  # the seller's share is theirs to see
        detail = api.get(f"{ORDERS}{order.pk}/").json()
        assert (detail["refunded_cents"], detail["refunded_display"]) == (1250, "US$12.50")
        assert detail["partly_refunded"] is True
        assert detail["status"] == OrderStatus.FUNDED


def test_a_retry_with_the_same_idempotency_key_refunds_once(api_client, client, listing, buyer):
    order = paid_order(client, listing, buyer)
    seller_api = as_user(api_client, order.seller)

    first = post_refund(seller_api, order, 700, key="retry-me")
    again = post_refund(seller_api, order, 700, key="retry-me")
    other_amount = post_refund(seller_api, order, 800, key="retry-me")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert other_amount.status_code == 400
    assert "Idempotency-Key" in other_amount.json()
    assert EscrowRefund.objects.count() == 1
    assert [r.amount for r in stripe_refunds(order)] == [700]
    # A new key is a new refund.
    assert post_refund(seller_api, order, 700, key="another").status_code == 201
    assert [r.amount for r in stripe_refunds(order)] == [700, 700]


def test_after_release_the_seller_sees_what_was_taken_back_and_owed(
    api_client, client, listing, buyer, stripe_sandbox
):
    order = released(paid_order(client, listing, buyer))
    seller_api = as_user(api_client, order.seller)

    taken = post_refund(seller_api, order, 1000).json()
    drain(order.seller, stripe_sandbox)
    owed = post_refund(seller_api, order, 2000).json()

    assert (taken["after_release"], taken["taken_back_cents"], taken["debt_cents"]) == (
        True,
        900,
        0,
    )
    assert (owed["taken_back_cents"], owed["debt_cents"]) == (0, 1800)
    [totals] = seller_api.get(LEDGER).json()["totals"]
    assert {
        k: totals[k]
        for k in (
            "refunded_after_release_cents",
            "taken_back_cents",
            "debt_cents",
            "debt_display",
        )
    } == {
        "refunded_after_release_cents": 3000,
        "taken_back_cents": 2700,
        "debt_cents": 1800,
        "debt_display": "US$18.00",
    }


def test_only_the_seller_may_refund_and_outsiders_learn_nothing(api_client, client, listing, buyer):
    order = paid_order(client, listing, buyer)

    refused = post_refund(as_user(api_client, buyer), order)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only the seller can refund this order."
    for outsider in (UserFactory(), SellerFactory(), StaffFactory()):
        api = as_user(api_client, outsider)
        assert post_refund(api, order).status_code == 404
        assert api.get(refunds_url(order)).status_code == 404
    api_client.credentials()
    assert api_client.get(refunds_url(order)).status_code == 401
    assert post_refund(api_client, order).status_code == 401
    assert not EscrowRefund.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"amount_cents": 5001, "reason": "Too much"}, "amount_cents", "At most US$50.00"),
        ({"amount_cents": 0, "reason": "Nothing"}, "amount_cents", "greater than or equal to 1"),
        ({"amount_cents": "12.50", "reason": "Decimal"}, "amount_cents", "valid integer"),
        ({"amount_cents": 100}, "reason", "required"),
        ({"amount_cents": 100, "reason": "  "}, "reason", "may not be blank"),
        ({"amount_cents": 2**63, "reason": "Huge"}, "amount_cents", "less than or equal to"),
    ],
)
def test_bad_refund_input_is_a_400_naming_the_field(
    api_client, client, listing, buyer, payload, field, message
):
    order = paid_order(client, listing, buyer)

    response = as_user(api_client, order.seller).post(refunds_url(order), payload, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not EscrowRefund.objects.exists()


def test_refunding_an_unpaid_order_is_a_409(api_client, listing, buyer):
    order = place_order(buyer=buyer, listing_id=listing.pk)

    response = post_refund(as_user(api_client, order.seller), order, 100)

    assert response.status_code == 409
    assert "nothing to refund" in response.json()["detail"]


def test_a_fully_refunded_order_reads_refunded_not_partly(api_client, client, listing, buyer):
    order = paid_order(client, listing, buyer)
    seller_api = as_user(api_client, order.seller)

    post_refund(seller_api, order, 5000)

    detail = seller_api.get(f"{ORDERS}{order.pk}/").json()
    assert (detail["status"], detail["refunded_cents"], detail["partly_refunded"]) == (
        "refunded",
        5000,
        False,
    )
    assert post_refund(seller_api, order, 1).status_code == 409


def test_order_list_and_refunds_stay_flat_in_queries(
    api_client, listing, buyer, django_assert_max_num_queries
):
    seller = listing.store.owner

    def orders_with_refunds(count):
        for _ in range(count):
            order = make_order(seller, buyer, status=OrderStatus.FUNDED)
            EscrowRefundFactory(payment__order=order, amount_cents=300)

    orders_with_refunds(3)
    api = as_user(api_client, seller)
    # Token (and the account's other tokens), count, page: refunded_cents comes with the page;
    # the page's releases in one more; the clock once per response (dispute_reasons).
    with django_assert_max_num_queries(7):
        few = api.get(ORDERS, {"page_size": 50}).json()
    orders_with_refunds(27)
    api = as_user(api_client, seller)
    with django_assert_max_num_queries(7):
        many = api.get(ORDERS, {"page_size": 50}).json()

    assert few["count"] == 3 and many["count"] == 30
    assert {o["refunded_cents"] for o in many["results"]} == {300}
    assert all(o["partly_refunded"] for o in many["results"])

    order = make_order(seller, buyer, status=OrderStatus.FUNDED, total=5000)
    payment = EscrowRefundFactory(payment__order=order, amount_cents=100).payment
    # The order is read as the order endpoints read it (with its releases and disputes), then its
    # refunds.
    with django_assert_max_num_queries(6):
        one = api.get(refunds_url(order))
    for _ in range(11):
        EscrowRefundFactory(payment=payment, amount_cents=100)
    with django_assert_max_num_queries(6):
        twelve = api.get(refunds_url(order))
    assert (len(one.json()), len(twelve.json())) == (1, 12)


def test_refunds_started_elsewhere_are_listed_with_who_started_them(
    api_client, client, listing, buyer
):
    order = paid_order(client, listing, buyer)
    finance = StaffFactory()  # a superuser: may refund
    services.refund_create(
        order=order,
        amount_cents=400,
        reason="Goodwill",
        initiator=RefundInitiator.STAFF,
        actor=finance,
    )

    [row] = as_user(api_client, buyer).get(refunds_url(order)).json()

    assert (row["initiator"], row["initiator_display"], row["reason"]) == (
        "staff",
        "Staff",
        "Goodwill",
    )
    assert row["status"] == RefundStatus.SUCCEEDED


def test_the_schema_documents_the_refunds_endpoints(api_client):
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()

    refunds = schema["paths"]["/api/v1/orders/{id}/refunds/"]
    listed = refunds["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["type"] == "array"  # one order's refunds: a list, not pages
    post = refunds["post"]
    headers = [p["name"] for p in post["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
    assert {"201", "400", "403", "404", "409"} <= set(post["responses"])
    body = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][body]["required"]) == {"amount_cents", "reason"}
    order = schema["components"]["schemas"]["OrderOutput"]["properties"]
    assert {"refunded_cents", "refunded_display", "partly_refunded"} <= set(order)
