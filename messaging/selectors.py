"""Reads of conversations, messages and attachments, always scoped to the person asking.

Someone who is not in a conversation gets DoesNotExist (a 404 to them), never a hint that it
exists. A message held for staff review is visible to its sender only.
"""

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from messaging.models import (
    Attachment,
    AttachmentState,
    Conversation,
    ConversationKind,
    Message,
)


def _visible_to(user):
    return Q(held=False) | Q(sender_id=user.pk)


def conversations_for(*, user):
    """The person's conversations, newest activity first, each with `unread_count`,
    `last_body` (preview of the newest message they can see) and `my_last_read_id`."""
    unread = (
        Message.objects.filter(
            conversation=OuterRef("pk"), held=False, pk__gt=OuterRef("my_last_read_id")
        )
        .exclude(sender_id=user.pk)
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    newest = Message.objects.filter(conversation=OuterRef("pk")).filter(_visible_to(user))
    return (
        Conversation.objects.filter(participants__user=user)
        # An inquiry whose only messages are held has nothing for the seller to see yet, not
        # even that the buyer wrote (last_message_at is set only by a delivered message).
        .exclude(
            Q(kind=ConversationKind.INQUIRY, seller=user, last_message_at__isnull=True),
            Exists(Message.objects.filter(conversation=OuterRef("pk"), held=True)),
        )
        # Same join as the filter above: this person's own seat.
        .annotate(my_last_read_id=F("participants__last_read_id"))
        .annotate(
            unread_count=Coalesce(
                Subquery(unread, output_field=IntegerField()), Value(0), output_field=IntegerField()
            ),
            last_body=Subquery(newest.order_by("-pk").values("body")[:1]),
        )
        .select_related("listing", "listing__store", "order", "buyer", "seller", "seller__store")
        .order_by(F("last_message_at").desc(nulls_last=True), "-pk")
    )


def inbox_for(*, user):
    """The conversations the inbox lists (page and API): conversations_for() without the empty
    ones. An order's conversation opens with the order, before anyone writes: until it has a
    message this person can see, it is nothing to read (and nothing unread). One EXISTS in the
    same query, so the list stays free of N+1."""
    visible = Message.objects.filter(conversation=OuterRef("pk")).filter(_visible_to(user))
    return conversations_for(user=user).filter(Exists(visible))


def conversation_for(*, user, pk):
    """One of the person's conversations; raises Conversation.DoesNotExist otherwise."""
    return conversations_for(user=user).get(pk=pk)


def conversation_of_order(*, user, order):
    """The order's conversation as its buyer or seller sees it, or None if it has none yet."""
    return conversations_for(user=user).filter(order=order).first()


def unread_total(*, user):
    """Messages waiting for this person across all their conversations."""
    if not getattr(user, "pk", None):
        return 0
    return (
        Message.objects.filter(
            # One filter() call: both conditions are about the same seat (this person's).
            conversation__participants__user=user,
            pk__gt=F("conversation__participants__last_read_id"),
            held=False,
        )
        .exclude(sender_id=user.pk)
        .count()
    )


def _with_attachments(messages):
    shown = Attachment.objects.filter(
        state__in=[AttachmentState.ATTACHED, AttachmentState.REMOVED]
    ).order_by("created_at", "pk")
    return messages.select_related("sender").prefetch_related(Prefetch("attachments", shown))


def messages_for(*, conversation, user):
    """Messages of a conversation the person is in, oldest first, with their attachments."""
    return _with_attachments(
        Message.objects.filter(conversation=conversation).filter(_visible_to(user))
    ).order_by("pk")


def messages_for_staff(*, conversation):
    return _with_attachments(Message.objects.filter(conversation=conversation)).order_by("pk")


def attachment_for(*, user, pk):
    """An attachment the person may download; raises Attachment.DoesNotExist otherwise.

    Only buyer and seller of the conversation, only files on a message they can see, never a
    removed one. Staff download from the admin with `attachment_for_staff`.
    """
    return Attachment.objects.select_related("message").get(
        Q(message__held=False) | Q(message__sender_id=user.pk),
        pk=pk,
        state=AttachmentState.ATTACHED,
        conversation__participants__user=user,
    )


def attachment_for_staff(*, user, pk):
    if not (user.is_staff and user.has_perm("messaging.view_attachment")):
        raise Attachment.DoesNotExist
    return Attachment.objects.get(pk=pk, state=AttachmentState.ATTACHED)


def upload_for(*, user, pk):
    """A direct upload the person started and has not sent yet."""
    return Attachment.objects.get(
        pk=pk,
        uploaded_by=user,
        state__in=[AttachmentState.PENDING, AttachmentState.UPLOADED],
        conversation__participants__user=user,
    )


def order_transcript(*, order):
    """The order's conversation as lines of text (oldest first), for evidence Bazaar hands to a
    card network: each message with its sender's role, time and file names."""
    conversation = Conversation.objects.filter(order=order).first()
    if conversation is None:
        return []
    lines = []
    for message in messages_for_staff(conversation=conversation):
        if message.sender_id == order.buyer_id:
            who = "Buyer"
        elif message.sender_id == order.seller_id:
            who = "Seller"
        else:
            who = "Bazaar staff"
        lines.append(f"{message.created_at:%Y-%m-%d %H:%M} UTC - {who}:")
        lines.extend((message.body or "").splitlines() or [""])
        names = [a.name for a in message.attachments.all()]
        if names:
            lines.append("Files: " + ", ".join(names))
        lines.append("")
    return lines
