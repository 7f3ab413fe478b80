"""Conversations opened from many requests at once (PostgreSQL only).

An order's conversation may be opened by more than one request at once (placing the order, a
retried job), and a buyer's first questions can arrive in a burst (double clicks, a retrying
app): however many land together there is one conversation with two seats, and no message is
lost to the race.

Each thread has its own database connection, so these tests commit for real
(`transaction=True`) and every thread closes its connection when done. SQLite serialises
writers and ignores row locks, so the race cannot happen there; CI runs these on PostgreSQL.
"""

import pytest
from django.db import connection

from accounts.factories import UserFactory
from core.errors import DomainError
from core.testing import race
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory
from messaging import selectors, services
from messaging.models import Conversation, ConversationKind, Message, Participant

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL (set DATABASE_URL): SQLite serialises every writer, so these "
        "races cannot happen there.",
    ),
]

THREADS = 8


def seats_of(conversation):
    return sorted(Participant.objects.filter(conversation=conversation).values_list("user", "role"))


def test_an_orders_conversation_opened_from_many_requests_at_once_is_one():
    order = OrderFactory()

    outcomes, crashes = race(
        *(lambda: services.conversation_open_for_order(order=order) for _ in range(THREADS))
    )

    assert not crashes, "\n".join(crashes)
    conversation = Conversation.objects.get(order=order)
    assert conversation.kind == ConversationKind.ORDER
    assert [o.pk for o in outcomes] == [conversation.pk] * THREADS
    assert seats_of(conversation) == sorted(
        [(order.buyer_id, "buyer"), (order.seller_id, "seller")]
    )
    assert Conversation.objects.count() == 1


def test_a_burst_of_first_questions_opens_one_conversation_and_keeps_every_message():
    listing = ListingFactory()
    buyer = UserFactory()

    outcomes, crashes = race(
        *(
            lambda i=i: services.inquiry_send(listing=listing, buyer=buyer, body=f"Question {i}")
            for i in range(THREADS)
        )
    )

    assert not crashes, "\n".join(crashes)
    assert not [o for o in outcomes if isinstance(o, DomainError)]
    conversation = Conversation.objects.get(listing=listing, buyer=buyer)
    assert Conversation.objects.count() == 1
    assert {o.conversation_id for o in outcomes} == {conversation.pk}
    bodies = Message.objects.filter(conversation=conversation).values_list("body", flat=True)
    assert sorted(bodies) == [f"Question {i}" for i in range(THREADS)]
    assert seats_of(conversation) == sorted(
        [(buyer.pk, "buyer"), (listing.store.owner_id, "seller")]
    )
    assert selectors.unread_total(user=listing.store.owner) == THREADS
