"""Milestones on the order page: the seller proposes them on a form (errors next to the fields),
the buyer accepts, the seller delivers one and the buyer approves it, with its countdown."""

import pytest
from django.urls import reverse

from core import clock
from escrow import services
from escrow.models import MilestoneStatus, ReleaseStatus
from escrow.testing import place_order
from escrow.tests.test_milestones import milestone_order
from marketplace.factories import ServiceListingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def service(seller):
    return ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")


def row(n, title, amount, due):
    return {f"m{n}-title": title, f"m{n}-amount": amount, f"m{n}-due_date": due}


def test_the_seller_proposes_on_the_form_and_mistakes_show_next_to_the_fields(
    client, seller, buyer, service
):
    order = place_order(buyer=buyer, listing_id=service.pk)
    url = reverse("order-milestones", kwargs={"pk": order.pk})
    client.force_login(seller)
    assert client.get(url).status_code == 200
    due = clock.now().date().isoformat()

    wrong = client.post(
        url, {"rows": "3", **row(0, "Design", "40.00", due), **row(1, "Build", "50", due)}
    )
    assert wrong.status_code == 400
    assert "must add up to the order&#x27;s total, US$100.00" in wrong.content.decode()
    bad_amount = client.post(
        url, {"rows": "2", **row(0, "Design", "-5", due), **row(1, "Build", "105", due)}
    )
    assert bad_amount.status_code == 400
    assert bad_amount.context["forms"][0].errors["amount"] == [
        "Enter an amount of at least 1 cent."
    ]
    assert not order.milestones.exists()

    done = client.post(
        url, {"rows": "3", **row(0, "Design", "40.00", due), **row(1, "Build", "60", due)}
    )
    assert done.status_code == 302
    assert list(order.milestones.values_list("amount_cents", flat=True)) == [4000, 6000]

    client.force_login(buyer)
    page = client.get(order.get_absolute_url())
    assert b"Accept the milestones" in page.content
    assert client.get(url).status_code == 302  # the plan form is the seller's
    client.post(reverse("order-milestones-accept", kwargs={"pk": order.pk}))
    order.refresh_from_db()
    assert order.has_milestone_plan


def test_deliver_and_approve_one_milestone_on_the_order_page(
    client, seller, buyer, service, capture
):
    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    deliver = reverse("order-milestone-deliver", kwargs={"pk": order.pk, "milestone_pk": first.pk})
    approve = reverse("order-milestone-approve", kwargs={"pk": order.pk, "milestone_pk": first.pk})

    client.force_login(buyer)
    client.post(deliver, {"note": "x"})
    first.refresh_from_db()
    assert first.status == MilestoneStatus.PENDING  # not the buyer's to deliver

    client.force_login(seller)
    page = client.get(order.get_absolute_url())
    assert "Mark “Part 1” delivered" in page.content.decode()
    with capture():
        client.post(deliver, {"note": "Sketches in the chat"})
    first.refresh_from_db()
    assert first.status == MilestoneStatus.DELIVERED

    client.force_login(buyer)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Released automatically in" in page
    assert "Approve “Part 1” and release US$20.00" in page
    with capture():
        response = client.post(approve)
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    assert first.release.status == ReleaseStatus.TRANSFERRED
    other = reverse("order-milestone-approve", kwargs={"pk": order.pk, "milestone_pk": 999999})
    assert client.post(other).status_code == 404


def test_the_seller_refunds_one_milestone_on_the_refund_page(
    client, seller, buyer, service, capture
):
    from escrow.models import EscrowRefund, RefundStatus

    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    url = reverse("order-refund", kwargs={"pk": order.pk})
    client.force_login(seller)
    page = client.get(url).content.decode()
    assert "2. Part 2 (US$30.00, in progress)" in page

    partial = client.post(
        url, {"milestone": str(second.pk), "amount": "10.00", "reason": "Part", "client_key": "a"}
    )
    assert partial.status_code == 200
    assert partial.context["form"].errors["amount"] == [
        "A milestone not released yet is refunded in full: US$30.00."
    ]
    with capture():
        done = client.post(
            url,
            {"milestone": str(second.pk), "amount": "30", "reason": "Dropped", "client_key": "b"},
        )
    assert done.status_code == 302
    refund = EscrowRefund.objects.get()
    assert (refund.milestone_id, refund.amount_cents, refund.status) == (
        second.pk,
        3000,
        RefundStatus.SUCCEEDED,
    )
    second.refresh_from_db()
    assert second.status == MilestoneStatus.REFUNDED


def test_the_order_page_costs_the_same_queries_for_3_and_12_milestones(
    client, seller, buyer, service, capture
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    three, parts_of_three = milestone_order(client, seller, buyer, service, capture)
    twelve, parts_of_twelve = milestone_order(
        client, seller, buyer, service, capture, amounts=(833,) * 11 + (837,)
    )
    # Released ones show their transfer (the release is joined, not read per row).
    for part in (parts_of_three[0], *parts_of_twelve[:3]):
        with capture():
            services.milestone_deliver(milestone=part, actor=seller)
            services.milestone_approve(milestone=part, actor=buyer)
    client.force_login(buyer)
    counts = []
    for order in (three, twelve):
        client.get(order.get_absolute_url())  # warm the per-session reads
        with CaptureQueriesContext(connection) as queries:
            page = client.get(order.get_absolute_url())
        assert page.content.decode().count("data-milestone-status=") == order.milestones.count()
        counts.append(len(queries))
    assert counts[0] == counts[1]
