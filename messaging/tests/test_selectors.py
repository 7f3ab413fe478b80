"""Messaging reads: what each person sees of conversations, messages and files, unread counts,
and that nobody outside a conversation learns anything about it."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from escrow.factories import OrderFactory
from messaging import selectors, services
from messaging.factories import (
    AttachmentFactory,
    ConversationFactory,
    MessageFactory,
    OrderConversationFactory,
)
from messaging.models import Attachment, AttachmentState, Conversation, Message, Participant
from messaging.tests.test_services import CONTACT, PDF, put_in_storage, start, upload

pytestmark = pytest.mark.django_db


def send(conversation, sender, body="Hello", **kwargs):
    return services.message_send(conversation=conversation, sender=sender, body=body, **kwargs)


def unread_by_conversation(user):
    return {c.pk: c.unread_count for c in selectors.conversations_for(user=user)}


@pytest.fixture
def conversation():
    return ConversationFactory()


@pytest.fixture
def held_message(conversation, settings):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True
    message = send(conversation, conversation.buyer, CONTACT, files=[upload("brief.pdf", PDF)])
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = False
    assert message.held
    return message


# --- Conversations and unread counts ------------------------------------------------------------


def test_unread_counts_are_per_conversation_and_in_total():
    seller = SellerFactory()
    first = ConversationFactory(seller=seller, listing__store=seller.store)
    second = ConversationFactory(seller=seller, listing__store=seller.store)
    for body in ("One", "Two", "Three"):
        send(first, first.buyer, body)
    send(second, second.buyer)

    counts = unread_by_conversation(seller)

    assert counts == {first.pk: 3, second.pk: 1}
    assert selectors.unread_total(user=seller) == 4
    assert selectors.unread_total(user=first.buyer) == 0


def test_each_side_has_its_own_read_pointer(conversation):
    send(conversation, conversation.buyer, "Question")
    send(conversation, conversation.seller, "Answer")
    send(conversation, conversation.seller, "And more")
    # Writing reads everything before it, for the writer only: the seller has read the question,
    # the buyer has read nothing since.

    (for_buyer,) = selectors.conversations_for(user=conversation.buyer)
    (for_seller,) = selectors.conversations_for(user=conversation.seller)

    assert for_buyer.unread_count == 2
    assert for_seller.unread_count == 0
    seats = dict(Participant.objects.values_list("user_id", "last_read_id"))
    assert for_buyer.my_last_read_id == seats[conversation.buyer.pk]
    assert for_seller.my_last_read_id == seats[conversation.seller.pk]
    assert selectors.unread_total(user=conversation.buyer) == 2
    assert selectors.unread_total(user=conversation.seller) == 0


def test_own_messages_are_never_unread(conversation):
    # Written directly, without moving the sender's pointer: still not unread to them.
    MessageFactory(conversation=conversation, sender=conversation.buyer)
    MessageFactory(conversation=conversation, sender=conversation.buyer)

    assert unread_by_conversation(conversation.buyer) == {conversation.pk: 0}
    assert selectors.unread_total(user=conversation.buyer) == 0
    assert unread_by_conversation(conversation.seller) == {conversation.pk: 2}


def test_staff_posts_are_unread_to_both_sides(conversation):
    services.message_post_as_staff(conversation=conversation, staff=StaffFactory(), body="Hi")

    assert selectors.unread_total(user=conversation.buyer) == 1
    assert selectors.unread_total(user=conversation.seller) == 1


def test_marking_read_up_to_a_message_leaves_the_later_ones_unread(conversation):
    one = send(conversation, conversation.buyer, "One")
    send(conversation, conversation.buyer, "Two")
    send(conversation, conversation.buyer, "Three")

    services.conversation_mark_read(
        conversation=conversation, user=conversation.seller, up_to_id=one.pk
    )

    assert unread_by_conversation(conversation.seller) == {conversation.pk: 2}
    services.conversation_mark_read(conversation=conversation, user=conversation.seller)
    assert unread_by_conversation(conversation.seller) == {conversation.pk: 0}
    assert selectors.unread_total(user=conversation.seller) == 0


def test_read_pointers_never_move_backwards(conversation):
    one = send(conversation, conversation.buyer, "One")
    send(conversation, conversation.buyer, "Two")
    services.conversation_mark_read(conversation=conversation, user=conversation.seller)

    # An older tab marks read up to the first message only.
    services.conversation_mark_read(
        conversation=conversation, user=conversation.seller, up_to_id=one.pk
    )

    assert selectors.unread_total(user=conversation.seller) == 0


def test_marking_read_in_one_conversation_leaves_the_others_unread():
    seller = SellerFactory()
    first = ConversationFactory(seller=seller, listing__store=seller.store)
    second = ConversationFactory(seller=seller, listing__store=seller.store)
    send(first, first.buyer)
    send(second, second.buyer)

    services.conversation_mark_read(conversation=first, user=seller)

    assert unread_by_conversation(seller) == {first.pk: 0, second.pk: 1}
    assert selectors.unread_total(user=seller) == 1


def test_nobody_signed_in_has_nothing_unread():
    assert selectors.unread_total(user=AnonymousUser()) == 0


def test_the_inbox_lists_only_my_conversations_newest_first(settings):
    me = UserFactory()
    old = ConversationFactory(buyer=me)
    new = ConversationFactory(buyer=me)
    silent = ConversationFactory(buyer=me)  # nothing written yet
    ConversationFactory()  # someone else's
    send(old, old.buyer, "Old news")
    send(new, new.seller, "Fresh")

    rows = list(selectors.conversations_for(user=me))

    assert [c.pk for c in rows] == [new.pk, old.pk, silent.pk]
    assert [c.last_body for c in rows] == ["Fresh", "Old news", None]

    send(old, old.seller, "Now this one")
    assert [c.pk for c in selectors.conversations_for(user=me)][0] == old.pk


def test_the_inbox_preview_skips_messages_held_from_me(conversation, held_message):
    send(conversation, conversation.seller, "Welcome!")
    send(conversation, conversation.buyer, "Thanks")
    Message.objects.filter(body="Thanks").update(held=True)  # a later message, held too

    assert [c.last_body for c in selectors.conversations_for(user=conversation.seller)] == [
        "Welcome!"
    ]
    assert [c.last_body for c in selectors.conversations_for(user=conversation.buyer)] == ["Thanks"]


def test_an_inquiry_with_only_held_messages_is_hidden_from_the_seller(conversation, held_message):
    assert list(selectors.conversations_for(user=conversation.seller)) == []
    with pytest.raises(Conversation.DoesNotExist):
        selectors.conversation_for(user=conversation.seller, pk=conversation.pk)
    assert [c.pk for c in selectors.conversations_for(user=conversation.buyer)] == [conversation.pk]


def test_held_messages_are_not_unread_to_the_recipient(conversation, held_message):
    send(conversation, conversation.buyer, "And a normal one")

    assert unread_by_conversation(conversation.seller) == {conversation.pk: 1}
    assert selectors.unread_total(user=conversation.seller) == 1


@pytest.mark.parametrize("rows", [2, 20])
def test_the_inbox_takes_one_query_however_many_conversations(rows, django_assert_num_queries):
    me = UserFactory()
    for i in range(rows):
        if i % 2:
            conversation = OrderConversationFactory(order=OrderFactory(buyer=me))
        else:
            conversation = ConversationFactory(buyer=me)
        MessageFactory(conversation=conversation, sender=conversation.seller)

    with django_assert_num_queries(1):
        shown = [
            (
                c.subject,
                c.listing.store.name,
                c.order_id and c.order.total_cents,
                c.buyer.email,
                c.seller.email,
                c.unread_count,
                c.last_body,
            )
            for c in selectors.conversations_for(user=me)
        ]

    assert len(shown) == rows
    assert all(row[5] == 1 for row in shown)


def test_the_unread_total_is_one_query(conversation, django_assert_num_queries):
    send(conversation, conversation.buyer)

    with django_assert_num_queries(1):
        assert selectors.unread_total(user=conversation.seller) == 1


# --- One conversation ---------------------------------------------------------------------------


def test_a_participant_gets_their_conversation(conversation):
    send(conversation, conversation.buyer)

    for user in (conversation.buyer, conversation.seller):
        found = selectors.conversation_for(user=user, pk=conversation.pk)
        assert found.pk == conversation.pk
    found = selectors.conversation_for(user=conversation.seller, pk=conversation.pk)
    assert found.unread_count == 1


@pytest.mark.parametrize("who", ["stranger", "staff"])
def test_anyone_else_is_told_it_does_not_exist(conversation, who):
    outsider = UserFactory() if who == "stranger" else StaffFactory()

    with pytest.raises(Conversation.DoesNotExist):
        selectors.conversation_for(user=outsider, pk=conversation.pk)
    with pytest.raises(Conversation.DoesNotExist):
        selectors.conversation_for(user=outsider, pk=conversation.pk + 1000)
    assert list(selectors.conversations_for(user=outsider)) == []


# --- Messages -----------------------------------------------------------------------------------


def test_messages_come_oldest_first_with_their_files(conversation):
    first = send(conversation, conversation.buyer, "First", files=[upload("brief.pdf", PDF)])
    second = send(conversation, conversation.seller, "Second")
    third = send(conversation, conversation.buyer, "Third")

    shown = list(selectors.messages_for(conversation=conversation, user=conversation.seller))

    assert [m.pk for m in shown] == [first.pk, second.pk, third.pk]
    assert [a.name for a in shown[0].attachments.all()] == ["brief.pdf"]
    assert list(shown[1].attachments.all()) == []


def test_messages_of_one_conversation_only(conversation):
    other = ConversationFactory(buyer=conversation.buyer)
    mine = send(conversation, conversation.buyer, "Here")
    send(other, other.buyer, "There")

    shown = selectors.messages_for(conversation=conversation, user=conversation.buyer)

    assert [m.pk for m in shown] == [mine.pk]


def test_a_held_message_is_shown_to_its_sender_and_staff_only(conversation, held_message):
    later = send(conversation, conversation.seller, "Any questions?")

    def ids(user):
        return [m.pk for m in selectors.messages_for(conversation=conversation, user=user)]

    assert ids(conversation.buyer) == [held_message.pk, later.pk]
    assert ids(conversation.seller) == [later.pk]
    assert [m.pk for m in selectors.messages_for_staff(conversation=conversation)] == [
        held_message.pk,
        later.pk,
    ]


def test_removed_files_stay_listed_and_unsent_uploads_do_not(conversation):
    message = send(
        conversation,
        conversation.buyer,
        "Files",
        files=[upload("a.pdf", PDF), upload("b.pdf", PDF)],
    )
    removed = message.attachments.get(name="a.pdf")
    services.attachment_remove(attachment=removed, staff=StaffFactory())
    start(conversation, filename="not-sent-yet.pdf")

    (shown,) = selectors.messages_for(conversation=conversation, user=conversation.seller)

    assert [(a.name, a.state) for a in shown.attachments.all()] == [
        ("a.pdf", AttachmentState.REMOVED),
        ("b.pdf", AttachmentState.ATTACHED),
    ]


@pytest.mark.parametrize("rows", [2, 20])
def test_messages_take_a_fixed_number_of_queries(conversation, rows, django_assert_num_queries):
    for i in range(rows):
        message = MessageFactory(
            conversation=conversation,
            sender=conversation.buyer if i % 2 else conversation.seller,
        )
        AttachmentFactory(message=message)

    with django_assert_num_queries(2):  # messages with senders, then their attachments
        shown = [
            (m.sender.email, [a.name for a in m.attachments.all()])
            for m in selectors.messages_for(conversation=conversation, user=conversation.buyer)
        ]

    assert len(shown) == rows
    assert all(len(names) == 1 for _email, names in shown)


# --- Attachments --------------------------------------------------------------------------------


def test_both_sides_may_download_an_attachment(conversation):
    message = send(conversation, conversation.buyer, "File", files=[upload("brief.pdf", PDF)])
    attachment = message.attachments.get()

    for user in (conversation.buyer, conversation.seller):
        assert selectors.attachment_for(user=user, pk=attachment.pk) == attachment


@pytest.mark.parametrize("who", ["stranger", "staff"])
def test_nobody_else_may_download_it_from_the_conversation(conversation, who):
    message = send(conversation, conversation.buyer, "File", files=[upload("brief.pdf", PDF)])
    outsider = UserFactory() if who == "stranger" else StaffFactory()

    with pytest.raises(Attachment.DoesNotExist):
        selectors.attachment_for(user=outsider, pk=message.attachments.get().pk)


def test_a_removed_attachment_cannot_be_downloaded(conversation):
    message = send(conversation, conversation.buyer, "File", files=[upload("brief.pdf", PDF)])
    attachment = message.attachments.get()
    services.attachment_remove(attachment=attachment, staff=StaffFactory())

    for user in (conversation.buyer, conversation.seller):
        with pytest.raises(Attachment.DoesNotExist):
            selectors.attachment_for(user=user, pk=attachment.pk)


def test_a_held_messages_file_is_hidden_from_the_recipient(conversation, held_message):
    attachment = held_message.attachments.get()

    assert selectors.attachment_for(user=conversation.buyer, pk=attachment.pk) == attachment
    with pytest.raises(Attachment.DoesNotExist):
        selectors.attachment_for(user=conversation.seller, pk=attachment.pk)


def test_a_held_messages_file_is_downloadable_once_staff_clear_it(conversation, held_message):
    from messaging.models import Review

    services.message_review(message=held_message, staff=StaffFactory(), verdict=Review.CLEARED)

    attachment = held_message.attachments.get()
    assert selectors.attachment_for(user=conversation.seller, pk=attachment.pk) == attachment


def test_an_unsent_upload_is_not_downloadable_even_by_the_uploader(conversation):
    attachment, _form = start(conversation)
    put_in_storage(attachment, PDF)
    services.upload_confirm(attachment=attachment)

    for user in (conversation.buyer, conversation.seller):
        with pytest.raises(Attachment.DoesNotExist):
            selectors.attachment_for(user=user, pk=attachment.pk)


def test_staff_with_the_permission_download_from_the_admin(conversation):
    message = send(conversation, conversation.buyer, "File", files=[upload("brief.pdf", PDF)])
    attachment = message.attachments.get()
    staff = StaffFactory()  # a superuser: every permission

    assert selectors.attachment_for_staff(user=staff, pk=attachment.pk) == attachment
    for user in (conversation.buyer, StaffFactory(is_superuser=False)):
        with pytest.raises(Attachment.DoesNotExist):
            selectors.attachment_for_staff(user=user, pk=attachment.pk)
    services.attachment_remove(attachment=attachment, staff=staff)
    with pytest.raises(Attachment.DoesNotExist):
        selectors.attachment_for_staff(user=staff, pk=attachment.pk)


# --- Direct uploads -----------------------------------------------------------------------------


def test_an_open_upload_belongs_to_its_uploader_only(conversation):
    attachment, _form = start(conversation)

    assert selectors.upload_for(user=conversation.buyer, pk=attachment.pk) == attachment
    for user in (conversation.seller, UserFactory()):
        with pytest.raises(Attachment.DoesNotExist):
            selectors.upload_for(user=user, pk=attachment.pk)


def test_an_upload_is_no_longer_open_once_sent(conversation):
    attachment, _form = start(conversation)
    put_in_storage(attachment, PDF)
    send(conversation, conversation.buyer, "", upload_ids=[attachment.pk])

    with pytest.raises(Attachment.DoesNotExist):
        selectors.upload_for(user=conversation.buyer, pk=attachment.pk)


def test_an_upload_is_closed_to_someone_who_lost_their_seat(conversation):
    attachment, _form = start(conversation)
    Participant.objects.filter(user=conversation.buyer).delete()

    with pytest.raises(Attachment.DoesNotExist):
        selectors.upload_for(user=conversation.buyer, pk=attachment.pk)
    assert Attachment.objects.filter(pk=attachment.pk).exists()
