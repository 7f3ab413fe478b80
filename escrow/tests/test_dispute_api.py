"""Disputes over the API (/api/v1/orders/{id}/dispute/...), as the buyer's and the seller's apps
use them: open (with an Idempotency-Key), read, answer, withdraw; participants only, field
errors as 400, the order's summary carrying the dispute."""

import pytest

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.testing import sign_in_api_client
from escrow.factories import DisputeFactory, EscrowPaymentFactory, OrderFactory
from escrow.models import Dispute, DisputeStatus, OrderStatus

pytestmark = pytest.mark.django_db

REPORT = {"reason": "not_received", "description": "Nothing arrived after three weeks."}


def url(order, action=""):
    return f"/api/v1/orders/{order.pk}/dispute/" + (f"{action}/" if action else "")


def as_user(api_client, user):
    return sign_in_api_client(api_client, user)


@pytest.fixture
def order():
    order = OrderFactory(funded=True)
    EscrowPaymentFactory(order=order)
    return order


def test_the_buyer_opens_a_dispute_and_a_retry_with_the_same_key_returns_it(api_client, order):
    app = as_user(api_client, order.buyer)

    first = app.post(url(order), REPORT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = app.post(url(order), REPORT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201, first.json()
    body = first.json()
    assert again.json()["id"] == body["id"]
    assert Dispute.objects.count() == 1
    assert body["status"] == DisputeStatus.OPEN
    assert body["reason"] == "not_received"
    assert body["reason_display"] == "I have not received it"
    assert body["order"] == order.pk
    assert body["response_due_at"] and body["resolve_by"]
    assert body["resolution"] == "" and body["refund_cents"] == 0
    # The same key for another report is a mistake, not a second dispute.
    other = app.post(
        url(order), REPORT | {"reason": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 400 and "Idempotency-Key" in other.json()
    # Without a key (or with another), a second report while one is open is a conflict.
    assert app.post(url(order), REPORT, format="json").status_code == 409

    summary = app.get(f"/api/v1/orders/{order.pk}/").json()
    assert summary["status"] == OrderStatus.DISPUTED
    assert summary["dispute"]["id"] == body["id"]
    assert summary["dispute"]["status"] == "open"
    listed = app.get("/api/v1/orders/").json()["results"]
    assert listed[0]["dispute"]["reason"] == "not_received"


def test_bad_input_is_a_400_with_field_messages(api_client, order):
    app = as_user(api_client, order.buyer)
    response = app.post(url(order), {"reason": "bored", "description": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"reason", "description"}
    spaces = app.post(url(order), REPORT | {"description": "   "}, format="json")
    assert spaces.status_code == 400 and "description" in spaces.json()
    assert not Dispute.objects.exists()


def test_the_seller_cannot_open_and_outsiders_get_404(api_client, order):
    assert (
        as_user(api_client, order.seller).post(url(order), REPORT, format="json").status_code == 403
    )
    for outsider in (UserFactory(), SellerFactory(), StaffFactory()):
        app = as_user(api_client, outsider)
        assert app.post(url(order), REPORT, format="json").status_code == 404
        assert app.get(url(order)).status_code == 404
    assert not Dispute.objects.exists()
    # A participant asking for a dispute that does not exist: 404 too, saying so.
    missing = as_user(api_client, order.buyer).get(url(order))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "This order has no dispute."


def test_a_released_order_cannot_be_disputed(api_client):
    released = OrderFactory(released=True)
    EscrowPaymentFactory(order=released)
    response = as_user(api_client, released.buyer).post(url(released), REPORT, format="json")
    assert response.status_code == 409


def test_the_seller_answers_and_the_buyer_withdraws(api_client):
    dispute = DisputeFactory()
    order = dispute.order
    seller = as_user(api_client, order.seller)

    assert seller.post(url(order, "respond"), {"response": ""}, format="json").status_code == 400
    answered = seller.post(url(order, "respond"), {"response": "Sent by courier."}, format="json")
    assert answered.status_code == 200
    assert answered.json()["status"] == "answered"
    assert answered.json()["response"] == "Sent by courier."
    assert (
        seller.post(url(order, "respond"), {"response": "Again"}, format="json").status_code == 409
    )
    assert seller.post(url(order, "withdraw")).status_code == 403

    buyer = as_user(api_client, order.buyer)
    assert buyer.post(url(order, "respond"), {"response": "Me"}, format="json").status_code == 403
    assert buyer.get(url(order)).json()["response"] == "Sent by courier."
    withdrawn = buyer.post(url(order, "withdraw"))
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert buyer.post(url(order, "withdraw")).status_code == 200  # again: as it is
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert buyer.get(f"/api/v1/orders/{order.pk}/").json()["dispute"]["status"] == "withdrawn"
