"""Staff and milestones in the admin: the order shows its milestones inline; staff release a
delivered one or refund one not released, through the services (audited), and a refusal is a
message, never an error page."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from accounts.factories import StaffFactory
from core.models import AuditEntry
from escrow.models import (
    EscrowRefund,
    EscrowRelease,
    MilestoneStatus,
    RefundStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.tests.test_milestones import milestone_order
from marketplace.factories import ServiceListingFactory

pytestmark = pytest.mark.django_db

MILESTONES_URL = "/admin/escrow/milestone/"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def service(seller):
    return ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")


def act(client, action, milestone):
    response = client.post(
        MILESTONES_URL,
        {"action": action, ACTION_CHECKBOX_NAME: [str(milestone.pk)], "index": 0},
        follow=True,  # the changelist shows (and so uses up) the action's messages
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def test_staff_release_a_delivered_milestone_and_refund_another(
    client, seller, buyer, service, capture
):
    order, (first, second, third) = milestone_order(client, seller, buyer, service, capture)
    staff = StaffFactory()
    with capture():
        from escrow import services

        services.milestone_deliver(milestone=first, actor=seller)
    client.force_login(staff)

    page = client.get(reverse("admin:escrow_order_change", args=[order.pk])).content.decode()
    assert "Part 1" in page and "Part 3" in page

    refused = act(client, "release_milestone", second)  # not delivered
    assert refused == [
        f"Order #{order.pk}: A milestone is released once the seller has delivered it."
    ]
    assert not EscrowRelease.objects.exists()

    with capture():
        said = act(client, "release_milestone", first)
    assert said == [f"Order #{order.pk}: “Part 1” released, US$18.00 transferred to the seller."]
    release = EscrowRelease.objects.get()
    assert (release.milestone_id, release.trigger, release.status) == (
        first.pk,
        ReleaseTrigger.STAFF,
        ReleaseStatus.TRANSFERRED,
    )
    created = AuditEntry.objects.get(action="escrow.release.created")
    assert created.actor == staff and "from the admin" in created.after["reason"]

    with capture():
        said = act(client, "refund_milestone", second)
    assert said == [f"Order #{order.pk}: “Part 2” refund of US$30.00 is refunded."]
    refund = EscrowRefund.objects.get()
    assert (refund.milestone_id, refund.status, refund.actor) == (
        second.pk,
        RefundStatus.SUCCEEDED,
        staff,
    )
    second.refresh_from_db()
    assert second.status == MilestoneStatus.REFUNDED

    again = act(client, "refund_milestone", second)
    assert again == [f"Order #{order.pk}: This milestone has been refunded already."]
    assert EscrowRefund.objects.count() == 1
