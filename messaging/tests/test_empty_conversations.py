"""An order's conversation opens with the order, before anyone writes. Until it has a message,
the inbox (page and API) does not list it and nothing of it counts as unread (#15)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.factories import SellerFactory
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory
from messaging import selectors
from messaging.factories import ConversationFactory, MessageFactory, OrderConversationFactory

pytestmark = pytest.mark.django_db

INBOX = reverse("messaging:inbox")
API = "/api/v1/conversations/"


def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def seller():
    return SellerFactory()


def order_conversation(seller):
    return OrderConversationFactory(order=OrderFactory(listing=ListingFactory(store=seller.store)))


def test_the_inbox_page_lists_only_conversations_with_messages(client, seller):
    empty = order_conversation(seller)
    talked = order_conversation(seller)
    MessageFactory(conversation=talked)

    for person in (seller, empty.buyer):
        client.force_login(person)
        rows = client.get(INBOX).context["conversations"]
        expected = [talked.pk] if person == seller else []
        assert [c.pk for c in rows] == expected
    client.force_login(empty.buyer)
    assert "No messages yet." in client.get(INBOX).content.decode()


def test_the_inbox_api_lists_only_conversations_with_messages(seller):
    empty = order_conversation(seller)
    talked = order_conversation(seller)
    MessageFactory(conversation=talked, sender=seller)

    body = api_for(seller).get(API).json()
    assert body["count"] == 1
    assert [row["id"] for row in body["results"]] == [talked.pk]
    assert api_for(empty.buyer).get(API).json()["count"] == 0


def test_an_empty_conversation_still_opens_and_joins_the_inbox_with_its_first_message(
    client, seller
):
    empty = order_conversation(seller)
    assert api_for(empty.buyer).get(f"{API}{empty.pk}/").status_code == 200
    client.force_login(empty.buyer)
    assert client.get(empty.get_absolute_url()).status_code == 200

    MessageFactory(conversation=empty, sender=seller)

    assert [c.pk for c in client.get(INBOX).context["conversations"]] == [empty.pk]


def test_a_held_message_lists_the_conversation_for_its_sender_only(seller):
    inquiry = ConversationFactory(seller=seller, listing__store=seller.store)
    MessageFactory(conversation=inquiry, held=True)
    assert [c.pk for c in selectors.inbox_for(user=inquiry.buyer)] == [inquiry.pk]
    assert list(selectors.inbox_for(user=seller)) == []


def test_empty_conversations_count_nothing_as_unread(seller):
    for _ in range(3):
        order_conversation(seller)
    assert selectors.unread_total(user=seller) == 0
    assert api_for(seller).get(f"{API}unread-count/").json()["unread_total"] == 0


@pytest.mark.parametrize("rows", [2, 20])
def test_the_inbox_queries_stay_flat_with_empty_conversations_among_them(
    client, seller, rows, django_assert_max_num_queries
):
    for i in range(rows):
        conversation = order_conversation(seller)
        if i % 2:
            MessageFactory(conversation=conversation)
    client.force_login(seller)

    # The same budget as an inbox without empty conversations (test_views.py).
    with django_assert_max_num_queries(8):
        response = client.get(INBOX)
    assert len(response.context["conversations"]) == rows // 2
    with django_assert_max_num_queries(4):
        assert api_for(seller).get(API).json()["count"] == rows // 2
