"""Milestones over the API: the seller proposes, the buyer accepts, the seller delivers and the
buyer approves, each party refused the other's move; bad plans are 400s with field messages."""

import pytest
from rest_framework.test import APIClient

from escrow.models import MilestoneStatus, OrderStatus, ReleaseStatus
from escrow.testing import place_order
from escrow.tests.test_milestones import pay, plan
from marketplace.factories import ServiceListingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def api_as(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def milestones_url(order):
    return f"/api/v1/orders/{order.pk}/milestones/"


def test_propose_accept_deliver_approve_through_the_api(
    client, seller, buyer, capture, django_assert_max_num_queries
):
    service = ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")
    as_buyer, as_seller = api_as(buyer), api_as(seller)
    created = as_buyer.post("/api/v1/orders/", {"listing": service.pk}, format="json")
    assert created.status_code == 201
    order_id = created.json()["id"]

    refused = as_buyer.post(
        f"/api/v1/orders/{order_id}/milestones/", {"milestones": plan(5000, 5000)}, format="json"
    )
    assert refused.status_code == 403
    proposed = as_seller.post(
        f"/api/v1/orders/{order_id}/milestones/",
        {"milestones": plan(2500, 7500)},
        format="json",
    )
    assert proposed.status_code == 201
    body = proposed.json()
    assert [(m["amount_cents"], m["commission_cents"], m["status"]) for m in body] == [
        (2500, 250, "proposed"),
        (7500, 750, "proposed"),
    ]
    assert as_seller.post(f"/api/v1/orders/{order_id}/milestones/accept/").status_code == 403
    accepted = as_buyer.post(f"/api/v1/orders/{order_id}/milestones/accept/")
    assert accepted.status_code == 200
    assert accepted.json()["milestones_accepted_at"] is not None

    from escrow.models import Order

    order = pay(client, Order.objects.get(pk=order_id), buyer, capture)
    first_id = body[0]["id"]
    deliver = f"/api/v1/orders/{order.pk}/milestones/{first_id}/deliver/"
    approve = f"/api/v1/orders/{order.pk}/milestones/{first_id}/approve/"
    assert as_buyer.post(deliver, {"note": "x"}, format="json").status_code == 403
    with capture():
        delivered = as_seller.post(deliver, {"note": "Drafts attached"}, format="json")
    assert delivered.status_code == 200
    assert delivered.json()["status"] == MilestoneStatus.DELIVERED
    assert 0 < delivered.json()["seconds_until_release"] <= 14 * 24 * 3600
    assert as_seller.post(approve).status_code == 403
    with capture():
        approved = as_buyer.post(approve)
    assert approved.status_code == 200
    assert approved.json()["release"] == {"transfer_cents": 2250, "status": "transferred"}
    assert approved.json()["status"] == MilestoneStatus.RELEASED

    # Token-free client: the order, then its milestones with their releases; one more for the
    # clock of the countdowns.
    with django_assert_max_num_queries(4):
        listed = as_buyer.get(milestones_url(order))
    assert [m["status"] for m in listed.json()] == ["released", "pending"]
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert order.releases.get().status == ReleaseStatus.TRANSFERRED
    missing = as_buyer.post(f"/api/v1/orders/{order.pk}/milestones/999999/approve/")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("milestones", "field"),
    [
        (lambda: plan(5000, 4000), "milestones"),
        (lambda: plan(10000, 0), "milestones.1.amount_cents"),
        (lambda: plan(*[476] * 21), "milestones"),
        (lambda: plan(5000, 5000, days=-2), "milestones.0.due_date"),
        # The serializer's refusals are named like the service's: milestones.<n>.<field>.
        (
            lambda: [{"title": "A", "amount_cents": 5000, "due_date": "soon"}],
            "milestones.0.due_date",
        ),
    ],
)
def test_a_bad_plan_is_a_400_with_field_messages(seller, buyer, milestones, field):

    service = ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")
    order = place_order(buyer=buyer, listing_id=service.pk)

    response = api_as(seller).post(
        milestones_url(order), {"milestones": milestones()}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    assert not order.milestones.exists()
