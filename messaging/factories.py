"""Factories for messaging rows, for tests that need data rather than a flow.

A conversation comes with its two seats (buyer and seller), as the services open it. Messages
are written directly (no flagging, no notification); tests of sending use the services.
"""

import uuid

import factory

from accounts.factories import UserFactory
from marketplace.factories import ListingFactory
from messaging.models import (
    Attachment,
    AttachmentState,
    Conversation,
    ConversationKind,
    Message,
    Participant,
    ParticipantRole,
    SenderRole,
)

__all__ = ["ConversationFactory", "OrderConversationFactory", "MessageFactory", "AttachmentFactory"]


class ConversationFactory(factory.django.DjangoModelFactory):
    """A buyer's inquiry about a listing, with both seats."""

    class Meta:
        model = Conversation
        skip_postgeneration_save = True

    kind = ConversationKind.INQUIRY
    listing = factory.SubFactory(ListingFactory)
    buyer = factory.SubFactory(UserFactory)
    seller = factory.LazyAttribute(lambda o: o.listing.store.owner)

    @factory.post_generation
    def seats(obj, create, extracted, **kwargs):
        if not create:
            return
        Participant.objects.bulk_create(
            [
                Participant(conversation=obj, user=obj.buyer, role=ParticipantRole.BUYER),
                Participant(conversation=obj, user=obj.seller, role=ParticipantRole.SELLER),
            ]
        )


class OrderConversationFactory(ConversationFactory):
    """The conversation of an order (pass order=; buyer, seller and listing follow it)."""

    kind = ConversationKind.ORDER
    order = factory.SubFactory("escrow.factories.OrderFactory")
    listing = factory.LazyAttribute(lambda o: o.order.listing)
    buyer = factory.LazyAttribute(lambda o: o.order.buyer)
    seller = factory.LazyAttribute(lambda o: o.order.seller)


class MessageFactory(factory.django.DjangoModelFactory):
    """A message from the conversation's buyer unless sender/sender_role say otherwise."""

    class Meta:
        model = Message
        skip_postgeneration_save = True

    conversation = factory.SubFactory(ConversationFactory)
    sender = factory.LazyAttribute(lambda o: o.conversation.buyer)
    sender_role = factory.LazyAttribute(
        lambda o: SenderRole.SELLER if o.sender == o.conversation.seller else SenderRole.BUYER
    )
    body = factory.Faker("sentence")

    @factory.post_generation
    def bump(obj, create, extracted, **kwargs):
        if create and not obj.held:
            Conversation.objects.filter(pk=obj.conversation_id).update(
                last_message_at=obj.created_at
            )


class AttachmentFactory(factory.django.DjangoModelFactory):
    """An attached file's row. Its bytes are not in storage unless the test puts them there."""

    class Meta:
        model = Attachment

    message = factory.SubFactory(MessageFactory)
    conversation = factory.LazyAttribute(lambda o: o.message.conversation)
    uploaded_by = factory.LazyAttribute(lambda o: o.message.sender)
    state = AttachmentState.ATTACHED
    key = factory.LazyAttribute(lambda o: f"c{o.conversation.pk}/{uuid.uuid4().hex}")
    name = factory.Sequence(lambda n: f"brief-{n}.pdf")
    content_type = "application/pdf"
    size = 1024
