"""Messaging's part in disputes: the note written into the order's conversation when a buyer
reports a problem (escrow.signals.dispute_opened), where both sides add their evidence; and the
staff groups messaging's migration 0004 makes (Support reads and posts as staff, Finance also
refunds and resolves), tried through the admin."""

import types
from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from accounts.factories import StaffFactory
from escrow import services as escrow_services
from escrow.factories import EscrowPaymentFactory, OrderFactory
from escrow.models import DisputeStatus, OrderStatus
from messaging.factories import MessageFactory, OrderConversationFactory
from messaging.models import Message, SenderRole

pytestmark = pytest.mark.django_db

GROUPS_MIGRATION = import_module("messaging.migrations.0004_notes_and_staff_groups")


@pytest.fixture
def order():
    order = OrderFactory(delivered=True, listing__title="Blue mug")
    EscrowPaymentFactory(order=order)
    OrderConversationFactory(order=order)
    return order


def open_dispute(order):
    dispute, _ = escrow_services.dispute_open(
        order=order,
        actor=order.buyer,
        reason="not_as_described",
        description="The handle came off on the first day.",
    )
    return dispute


# --- The note in the order's conversation -------------------------------------------------------


def test_opening_a_dispute_writes_a_note_in_the_orders_conversation(client, order):
    MessageFactory(conversation=order.conversation, body="When will it ship?")

    open_dispute(order)

    note = Message.objects.get(sender_role=SenderRole.NOTE)
    assert note.conversation == order.conversation
    assert note.sender == order.buyer
    assert note.body.startswith("Dispute opened: It is not as described\n\n")
    assert "The handle came off on the first day." in note.body
    # Both sides read it as Bazaar's, not as the buyer's own words; nobody is pinged for it
    # (the dispute's own notifications tell them).
    assert not order.seller.notifications.filter(event_code="message.received").exists()
    for user in (order.buyer, order.seller):
        client.force_login(user)
        page = client.get(order.conversation.get_absolute_url()).content.decode()
        assert "Automatic note" in page and "message--note" in page
        assert "Dispute opened: It is not as described" in page
        api = client.get(f"/api/v1/conversations/{order.conversation.pk}/messages/").json()
        [shown] = [m for m in api["results"] if m["id"] == note.pk]
        assert shown["sender"] == {"name": "Bazaar", "role": "note"}
        assert shown["is_mine"] is False


def test_an_order_without_a_conversation_gets_one_with_the_note(order):
    other = OrderFactory(funded=True)
    EscrowPaymentFactory(order=other)

    open_dispute(other)

    assert other.conversation.messages.get().sender_role == SenderRole.NOTE


def test_the_dispute_page_links_to_the_conversation(client, order):
    open_dispute(order)
    client.force_login(order.seller)
    page = client.get(reverse("order-dispute", args=[order.pk])).content.decode()
    assert f'href="{order.conversation.get_absolute_url()}"' in page


# --- Staff groups -------------------------------------------------------------------------------


@pytest.fixture
def groups():
    GROUPS_MIGRATION.create_groups(apps, types.SimpleNamespace(connection=connection))
    return {group.name: group for group in Group.objects.filter(name__in=["Support", "Finance"])}


def in_group(group):
    user = StaffFactory(is_superuser=False)
    user.groups.add(group)
    return user


def test_the_groups_hold_what_support_and_finance_need(groups):
    support, finance = in_group(groups["Support"]), in_group(groups["Finance"])

    for user in (support, finance):
        assert user.has_perms(
            [
                "escrow.view_order",
                "escrow.view_dispute",
                "messaging.view_conversation",
                "messaging.change_conversation",  # post as Bazaar staff
                "messaging.view_message",
                "messaging.view_attachment",
                "core.view_auditentry",
            ]
        )
    assert not support.has_perm("escrow.resolve_dispute")
    assert not support.has_perm("escrow.add_escrowrefund")
    assert finance.has_perm("escrow.resolve_dispute")
    assert finance.has_perm("escrow.add_escrowrefund")
    assert not finance.has_perm("escrow.change_order")
    # Running it again (a re-applied migration) adds nothing twice.
    before = groups["Finance"].permissions.count()
    GROUPS_MIGRATION.create_groups(apps, types.SimpleNamespace(connection=connection))
    assert groups["Finance"].permissions.count() == before


def test_support_reads_the_dispute_and_posts_as_staff_but_only_finance_resolves(
    client, groups, order
):
    dispute = open_dispute(order)
    support, finance = in_group(groups["Support"]), in_group(groups["Finance"])
    resolve = reverse("admin:escrow_dispute_resolve", args=[dispute.pk])

    client.force_login(support)
    assert client.get(reverse("admin:escrow_dispute_change", args=[dispute.pk])).status_code == 200
    assert client.get(reverse("admin:escrow_order_change", args=[order.pk])).status_code == 200
    conversation = reverse("admin:messaging_conversation_change", args=[order.conversation.pk])
    assert "Dispute opened" in client.get(conversation).content.decode()
    posted = client.post(
        reverse("admin:messaging_conversation_post", args=[order.conversation.pk]),
        {"body": "Please send a photo of the handle."},
    )
    assert posted.status_code == 302
    assert Message.objects.filter(sender=support, sender_role=SenderRole.STAFF).count() == 1
    assert client.get(resolve).status_code == 403

    client.force_login(finance)
    response = client.post(
        resolve,
        {"resolution": "refund", "refund": "25.00", "release": "0", "note": "Broken on arrival."},
    )
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert (dispute.status, dispute.resolved_by) == (DisputeStatus.RESOLVED, finance)
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED  # the refund is made at Stripe after commit
