"""Messaging services, through their public functions: opening conversations, sending text and
files, contact-detail flagging and review, notifications, direct uploads and moderation.

Files are real bytes (a small PDF and PNG, a Windows program's header) in the per-test temporary
attachment storage the root conftest sets up, so "nothing stored" is checked on disk.
"""

import os
import struct
import zlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.factories import StaffFactory, UserFactory
from accounts.models import User
from core.errors import NotAllowed, ValidationFailed
from core.models import AuditEntry
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory
from marketplace.models import ListingStatus
from messaging import selectors, services
from messaging.factories import (
    AttachmentFactory,
    ConversationFactory,
    MessageFactory,
    OrderConversationFactory,
)
from messaging.models import (
    Attachment,
    AttachmentState,
    Conversation,
    ConversationKind,
    Message,
    Participant,
    ParticipantRole,
    Review,
    SenderRole,
)
from messaging.storage import attachment_storage
from messaging.tests.samples import EXE, PDF
from notifications.events import EmailMode
from notifications.models import EmailDelivery, Notification
from notifications.services import preference_set

pytestmark = pytest.mark.django_db

EVENT = "message.received"

# --- Files --------------------------------------------------------------------------------------


def _png():
    def chunk(kind, data):
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()


def upload(name, data, content_type="application/octet-stream"):
    """A file as request.FILES gives it; the client's content type is deliberately unhelpful."""
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_files():
    """Every file in the attachment storage's folder, relative to it."""
    root = settings.STORAGES["attachments"]["OPTIONS"]["location"]
    found = []
    for folder, _dirs, names in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, n), root) for n in names]
    return sorted(found)


def read_stored(key):
    with attachment_storage().open(key, "rb") as handle:
        return handle.read()


def put_in_storage(attachment, data):
    """What a client's direct upload does: the bytes land at the attachment's key."""
    saved = attachment_storage().save(attachment.key, ContentFile(data))
    assert saved == attachment.key


def notifications_for(user):
    return list(Notification.objects.filter(recipient=user, event_code=EVENT))


def set_online(user):
    User.objects.filter(pk=user.pk).update(last_seen_at=timezone.now())


def visible_ids(conversation, user):
    return [m.pk for m in selectors.messages_for(conversation=conversation, user=user)]


@pytest.fixture
def conversation():
    return ConversationFactory()


@pytest.fixture
def unpaid_order_conversation():
    return OrderConversationFactory(order=OrderFactory())


@pytest.fixture
def staff():
    return StaffFactory()


# --- Opening an inquiry -------------------------------------------------------------------------


def test_the_first_inquiry_opens_a_conversation_with_a_seat_for_each_side():
    listing = ListingFactory()
    buyer = UserFactory()

    message = services.inquiry_send(listing=listing, buyer=buyer, body="  Is it still for sale? ")

    conversation = message.conversation
    assert conversation.kind == ConversationKind.INQUIRY
    assert conversation.listing == listing
    assert conversation.order is None
    assert (conversation.buyer, conversation.seller) == (buyer, listing.store.owner)
    seats = {(p.user_id, p.role) for p in conversation.participants.all()}
    assert seats == {
        (buyer.pk, ParticipantRole.BUYER),
        (listing.store.owner.pk, ParticipantRole.SELLER),
    }
    assert message.sender == buyer
    assert message.sender_role == SenderRole.BUYER
    assert message.body == "Is it still for sale?"
    conversation.refresh_from_db()
    assert conversation.last_message_at == message.created_at


def test_a_second_inquiry_about_the_same_listing_continues_the_same_conversation():
    listing = ListingFactory()
    buyer, other_buyer = UserFactory(), UserFactory()

    first = services.inquiry_send(listing=listing, buyer=buyer, body="Hello")
    second = services.inquiry_send(listing=listing, buyer=buyer, body="Anyone there?")
    someone_else = services.inquiry_send(listing=listing, buyer=other_buyer, body="Hi")

    assert second.conversation_id == first.conversation_id
    assert someone_else.conversation_id != first.conversation_id
    assert Conversation.objects.filter(listing=listing).count() == 2
    assert Participant.objects.filter(conversation_id=first.conversation_id).count() == 2
    assert list(
        Message.objects.filter(conversation_id=first.conversation_id).values_list("body", flat=True)
    ) == ["Hello", "Anyone there?"]


def test_a_seller_cannot_ask_about_their_own_listing():
    listing = ListingFactory()

    with pytest.raises(ValidationFailed) as caught:
        services.inquiry_send(listing=listing, buyer=listing.store.owner, body="Hello me")

    assert "own listing" in caught.value.errors["body"][0]
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    "status", [ListingStatus.DRAFT, ListingStatus.PENDING_REVIEW, ListingStatus.ARCHIVED]
)
def test_a_listing_not_on_sale_takes_no_new_questions(status):
    listing = ListingFactory(status=status)

    with pytest.raises(ValidationFailed) as caught:
        services.inquiry_send(listing=listing, buyer=UserFactory(), body="Hello")

    assert "not on sale" in caught.value.errors["body"][0]
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_an_inquiry_already_open_continues_after_the_listing_is_withdrawn():
    listing = ListingFactory()
    buyer = UserFactory()
    first = services.inquiry_send(listing=listing, buyer=buyer, body="Hello")
    listing.status = ListingStatus.ARCHIVED
    listing.save(update_fields=["status"])

    again = services.inquiry_send(listing=listing, buyer=buyer, body="Will it be back?")

    assert again.conversation_id == first.conversation_id


@pytest.mark.parametrize(
    ("body", "files", "field"),
    [
        ("   ", (), "body"),
        ("x" * (services.MAX_BODY_CHARS + 1), (), "body"),
        ("See attached", (upload("brief.pdf", PDF), upload("report.pdf", EXE)), "files"),
    ],
    ids=["empty", "too-long", "disguised-program"],
)
def test_a_rejected_first_message_leaves_no_conversation_behind(body, files, field):
    listing = ListingFactory()

    with pytest.raises(ValidationFailed) as caught:
        services.inquiry_send(listing=listing, buyer=UserFactory(), body=body, files=files)

    assert field in caught.value.errors
    assert not Conversation.objects.exists()
    assert not Participant.objects.exists()
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files() == []
    assert not Notification.objects.exists()


# --- Conversations of orders --------------------------------------------------------------------


def test_an_orders_conversation_is_opened_once_with_its_buyer_and_seller():
    order = OrderFactory()

    first = services.conversation_open_for_order(order=order)
    again = services.conversation_open_for_order(order=order)

    assert again.pk == first.pk
    assert Conversation.objects.filter(order=order).count() == 1
    assert first.kind == ConversationKind.ORDER
    assert first.listing_id == order.listing_id
    assert (first.buyer_id, first.seller_id) == (order.buyer_id, order.seller_id)
    seats = {(p.user_id, p.role) for p in first.participants.all()}
    assert seats == {(order.buyer_id, ParticipantRole.BUYER), (order.seller_id, "seller")}


def test_an_order_and_an_earlier_inquiry_are_separate_conversations():
    order = OrderFactory()
    inquiry = services.inquiry_send(listing=order.listing, buyer=order.buyer, body="Hello")

    conversation = services.conversation_open_for_order(order=order)

    assert conversation.pk != inquiry.conversation_id
    assert Conversation.objects.filter(listing=order.listing, buyer=order.buyer).count() == 2


# --- Sending text -------------------------------------------------------------------------------


def test_the_seller_answers_in_the_conversation(conversation):
    message = services.message_send(
        conversation=conversation, sender=conversation.seller, body="Yes, two left."
    )

    assert message.sender_role == SenderRole.SELLER
    assert message.contact_flags == []
    assert message.review == Review.NONE
    assert message.held is False
    assert visible_ids(conversation, conversation.buyer) == [message.pk]


@pytest.mark.parametrize("who", ["stranger", "staff"])
def test_someone_outside_the_conversation_cannot_write_in_it(conversation, who):
    outsider = UserFactory() if who == "stranger" else StaffFactory()

    with pytest.raises(NotAllowed):
        services.message_send(conversation=conversation, sender=outsider, body="Hi")

    assert not Message.objects.exists()


@pytest.mark.parametrize("body", ["", "   \n\t ", None])
def test_an_empty_message_is_refused(conversation, body):
    with pytest.raises(ValidationFailed) as caught:
        services.message_send(conversation=conversation, sender=conversation.buyer, body=body)

    assert caught.value.errors == {"body": ["Write a message or attach a file."]}
    assert not Message.objects.exists()


def test_a_message_of_the_longest_length_is_sent_and_one_longer_is_refused(conversation):
    longest = "a" * services.MAX_BODY_CHARS
    sent = services.message_send(conversation=conversation, sender=conversation.buyer, body=longest)
    assert len(sent.body) == services.MAX_BODY_CHARS

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation, sender=conversation.buyer, body=longest + "a"
        )

    assert f"at most {services.MAX_BODY_CHARS} characters" in caught.value.errors["body"][0]
    assert Message.objects.count() == 1


def test_sender_names_are_the_store_for_the_seller_the_person_for_the_buyer(conversation, staff):
    conversation.buyer.full_name = "Maya Stone"
    conversation.buyer.save()
    from_buyer = services.message_send(
        conversation=conversation, sender=conversation.buyer, body="Hi"
    )
    from_seller = services.message_send(
        conversation=conversation, sender=conversation.seller, body="Hello"
    )
    from_staff = services.message_post_as_staff(
        conversation=conversation, staff=staff, body="We are looking into it."
    )

    assert services.message_sender_name(message=from_buyer) == "Maya Stone"
    assert services.message_sender_name(message=from_seller) == conversation.listing.store.name
    assert services.message_sender_name(message=from_staff) == "Bazaar staff"


# --- Sending files ------------------------------------------------------------------------------


def test_files_become_attachments_typed_from_their_content(conversation):
    files = [
        upload("../../Brief: final?.PDF", PDF, content_type="text/html"),
        upload("photo.jpg", PNG, content_type="image/jpeg"),
    ]

    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body="Here you go", files=files
    )

    pdf, png = message.attachments.order_by("created_at", "name")
    assert (pdf.name, pdf.content_type) == ("Brief final.PDF", "application/pdf")
    assert pdf.size == len(PDF)
    assert png.content_type == "image/png"
    assert png.name.endswith(".png")
    for attachment in (pdf, png):
        assert attachment.state == AttachmentState.ATTACHED
        assert attachment.conversation == conversation
        assert attachment.uploaded_by == conversation.buyer
        # The key is ours: nothing the sender typed reaches the storage path.
        assert "Brief" not in attachment.key and "photo" not in attachment.key
    assert read_stored(pdf.key) == PDF
    assert read_stored(png.key) == PNG
    assert sorted([pdf.key, png.key]) == stored_files()


def test_a_message_can_be_only_a_file(conversation):
    message = services.message_send(
        conversation=conversation,
        sender=conversation.seller,
        body="",
        files=[upload("proof.pdf", PDF)],
    )

    assert message.body == ""
    assert message.attachments.count() == 1
    assert "proof.pdf" in notifications_for(conversation.buyer)[0].message


def test_too_many_files_are_refused_and_nothing_is_stored(conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_FILES = 2
    files = [upload(f"page-{i}.pdf", PDF) for i in range(3)]

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation, sender=conversation.buyer, body="Pages", files=files
        )

    assert caught.value.errors == {"files": ["Attach at most 2 files to one message."]}
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files() == []


def test_the_most_files_allowed_are_accepted(conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_FILES = 2
    files = [upload(f"page-{i}.pdf", PDF) for i in range(2)]

    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body="Pages", files=files
    )

    assert message.attachments.count() == 2
    assert len(stored_files()) == 2


def test_an_oversize_file_is_refused_and_nothing_is_stored(conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = len(PDF) - 1

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Big one",
            files=[upload("big.pdf", PDF)],
        )

    assert "“big.pdf”" in caught.value.errors["files"][0]
    assert "at most" in caught.value.errors["files"][0]
    assert not Message.objects.exists()
    assert stored_files() == []


def test_a_file_of_exactly_the_size_limit_is_accepted(conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = len(PDF)

    message = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="Just fits",
        files=[upload("fits.pdf", PDF)],
    )

    assert message.attachments.get().size == len(PDF)


def test_a_disguised_program_as_the_second_file_keeps_the_whole_message_out(conversation):
    files = [upload("brief.pdf", PDF), upload("report.pdf", EXE, content_type="application/pdf")]

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation, sender=conversation.buyer, body="Two files", files=files
        )

    (error,) = caught.value.errors["files"]
    assert "“report.pdf”" in error
    assert "Windows program" in error
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files() == []
    assert not Notification.objects.exists()
    conversation.refresh_from_db()
    assert conversation.last_message_at is None


def test_every_rejected_file_is_named(conversation):
    files = [upload("a.pdf", EXE), upload("ok.pdf", PDF), upload("empty.pdf", b"")]

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation, sender=conversation.buyer, body="x", files=files
        )

    errors = caught.value.errors["files"]
    assert len(errors) == 2
    assert "“a.pdf”" in errors[0]
    assert "“empty.pdf” is empty" in errors[1]


def test_a_storage_failure_midway_deletes_the_files_already_stored(conversation, monkeypatch):
    storage = attachment_storage()
    real_save = storage.save
    calls = []

    def save_then_fail(name, content, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(name, content, **kwargs)

    monkeypatch.setattr(storage, "save", save_then_fail)

    with pytest.raises(OSError):
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Two",
            files=[upload("one.pdf", PDF), upload("two.png", PNG)],
        )

    assert len(calls) == 2
    assert stored_files() == []
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()


# --- Staff posts --------------------------------------------------------------------------------


def test_staff_post_into_a_conversation_both_sides_see_and_are_told(conversation, staff):
    message = services.message_post_as_staff(
        conversation=conversation, staff=staff, body="Write to me at help@bazaar.example"
    )

    assert message.sender_role == SenderRole.STAFF
    assert message.contact_flags == []  # staff posts are never flagged
    assert message.review == Review.NONE
    assert visible_ids(conversation, conversation.buyer) == [message.pk]
    assert visible_ids(conversation, conversation.seller) == [message.pk]
    assert len(notifications_for(conversation.buyer)) == 1
    assert len(notifications_for(conversation.seller)) == 1
    assert "Bazaar staff" in notifications_for(conversation.buyer)[0].title


def test_only_staff_can_post_as_staff(conversation):
    with pytest.raises(NotAllowed):
        services.message_post_as_staff(
            conversation=conversation, staff=conversation.seller, body="I am staff"
        )

    assert not Message.objects.exists()


# --- Contact details before payment -------------------------------------------------------------

CONTACT = "email me at jo@example.com"


@pytest.mark.parametrize("where", ["inquiry", "unpaid order"])
def test_contact_details_before_payment_are_flagged_but_delivered(where):
    if where == "inquiry":
        conversation = ConversationFactory()
    else:
        conversation = OrderConversationFactory(order=OrderFactory())

    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    assert message.contact_flags == [{"kind": "email", "text": "jo@example.com"}]
    assert message.review == Review.PENDING
    assert message.held is False
    assert visible_ids(conversation, conversation.seller) == [message.pk]
    assert len(notifications_for(conversation.seller)) == 1
    assert selectors.unread_total(user=conversation.seller) == 1
    warning = services.message_flag_warning(message=message)
    assert "an email address" in warning
    assert "Staff will review it" in warning


def test_the_warning_names_every_kind_of_contact_detail_once(conversation):
    message = services.message_send(
        conversation=conversation,
        sender=conversation.seller,
        body="Call 555 123 4567, or mail jo@example.com or jo@example.org",
    )

    assert {f["kind"] for f in message.contact_flags} == {"phone", "email"}
    warning = services.message_flag_warning(message=message)
    assert "a phone number and an email address" in warning
    assert warning.count("an email address") == 1


def test_ordinary_messages_carry_no_warning(conversation):
    message = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="Can you ship order 1234 by 2024-05-01 for $25?",
    )

    assert message.contact_flags == []
    assert message.review == Review.NONE
    assert services.message_flag_warning(message=message) == ""


@pytest.mark.parametrize("trait", ["funded", "delivered", "released"])
def test_contact_details_after_payment_are_not_flagged(trait):
    conversation = OrderConversationFactory(order=OrderFactory(**{trait: True}))

    message = services.message_send(
        conversation=conversation, sender=conversation.seller, body=CONTACT
    )

    assert message.contact_flags == []
    assert message.review == Review.NONE
    assert message.held is False


def test_blocking_holds_a_flagged_message_from_the_other_side(conversation, settings):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True

    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    assert message.held is True
    assert message.review == Review.PENDING
    assert visible_ids(conversation, conversation.buyer) == [message.pk]  # the sender sees it
    assert visible_ids(conversation, conversation.seller) == []
    assert notifications_for(conversation.seller) == []
    assert selectors.unread_total(user=conversation.seller) == 0
    # Nothing else was said yet: the seller does not even learn that the buyer wrote.
    assert list(selectors.conversations_for(user=conversation.seller)) == []
    assert services.message_flag_warning(message=message) == services.BLOCKED_MESSAGE
    conversation.refresh_from_db()
    assert conversation.last_message_at is None


def test_blocking_leaves_messages_without_contact_details_alone(conversation, settings):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True

    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body="Is it blue?"
    )

    assert message.held is False
    assert visible_ids(conversation, conversation.seller) == [message.pk]


def test_clearing_a_held_message_delivers_it(conversation, settings, staff):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    reviewed = services.message_review(message=message, staff=staff, verdict=Review.CLEARED)

    assert reviewed.review == Review.CLEARED
    assert reviewed.held is False
    assert reviewed.reviewed_by == staff
    assert reviewed.reviewed_at is not None
    assert visible_ids(conversation, conversation.seller) == [message.pk]
    assert len(notifications_for(conversation.seller)) == 1
    assert selectors.unread_total(user=conversation.seller) == 1
    conversation.refresh_from_db()
    assert conversation.last_message_at == message.created_at
    entry = AuditEntry.objects.get(action="messaging.message.cleared")
    assert entry.actor == staff
    assert entry.target_id == str(message.pk)
    assert entry.before == {"review": "pending", "held": True}
    assert entry.after == {"review": "cleared", "held": False}


def test_confirming_a_held_message_keeps_it_from_the_other_side(conversation, settings, staff):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    reviewed = services.message_review(message=message, staff=staff, verdict=Review.CONFIRMED)

    assert reviewed.review == Review.CONFIRMED
    assert reviewed.held is True
    assert visible_ids(conversation, conversation.seller) == []
    assert notifications_for(conversation.seller) == []
    assert AuditEntry.objects.filter(action="messaging.message.confirmed").count() == 1


def test_reviewing_a_delivered_flagged_message_only_records_the_verdict(conversation, staff):
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    services.message_review(message=message, staff=staff, verdict=Review.CLEARED)

    # Delivered when sent; clearing does not tell the seller a second time.
    assert len(notifications_for(conversation.seller)) == 1
    message.refresh_from_db()
    assert (message.review, message.held) == (Review.CLEARED, False)


def test_the_same_verdict_twice_is_recorded_once(conversation, staff):
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    services.message_review(message=message, staff=staff, verdict=Review.CONFIRMED)
    services.message_review(message=message, staff=staff, verdict=Review.CONFIRMED)

    assert AuditEntry.objects.filter(action__startswith="messaging.message.").count() == 1


def test_a_message_that_was_not_flagged_has_no_review(conversation, staff):
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body="Hello"
    )

    with pytest.raises(ValidationFailed) as caught:
        services.message_review(message=message, staff=staff, verdict=Review.CLEARED)

    assert "not flagged" in caught.value.errors["verdict"][0]
    message.refresh_from_db()
    assert message.review == Review.NONE


def test_a_verdict_must_be_cleared_or_confirmed(conversation, staff):
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    with pytest.raises(ValidationFailed):
        services.message_review(message=message, staff=staff, verdict=Review.PENDING)


def test_only_staff_review_messages(conversation):
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body=CONTACT
    )

    with pytest.raises(NotAllowed):
        services.message_review(message=message, staff=conversation.seller, verdict=Review.CLEARED)

    message.refresh_from_db()
    assert message.review == Review.PENDING
    assert not AuditEntry.objects.filter(action__startswith="messaging.").exists()


def test_clearing_an_old_held_message_does_not_move_the_conversation_back_in_time(
    conversation, settings, staff
):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True
    held = services.message_send(conversation=conversation, sender=conversation.buyer, body=CONTACT)
    Message.objects.filter(pk=held.pk).update(created_at=timezone.now() - timedelta(hours=2))
    newer = services.message_send(
        conversation=conversation, sender=conversation.seller, body="Any questions?"
    )

    services.message_review(message=held, staff=staff, verdict=Review.CLEARED)

    conversation.refresh_from_db()
    assert conversation.last_message_at == newer.created_at


# --- Notifications ------------------------------------------------------------------------------


def test_the_first_message_tells_the_other_side(conversation):
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body="Is it handmade?"
    )

    (notification,) = notifications_for(conversation.seller)
    assert notification.action_url == conversation.get_absolute_url()
    assert notification.action_url.startswith("/messages/")
    assert notification.context["conversation_id"] == conversation.pk
    assert services.message_sender_name(message=message) in notification.title
    assert "Is it handmade?" in notification.message
    assert notifications_for(conversation.buyer) == []  # the sender is not told


def test_more_messages_before_they_read_raise_no_more_notifications(conversation):
    for body in ("One", "Two", "Three"):
        services.message_send(conversation=conversation, sender=conversation.buyer, body=body)

    assert len(notifications_for(conversation.seller)) == 1


def test_after_reading_a_new_message_notifies_again(conversation):
    services.message_send(conversation=conversation, sender=conversation.buyer, body="One")
    services.conversation_mark_read(conversation=conversation, user=conversation.seller)

    services.message_send(conversation=conversation, sender=conversation.buyer, body="Two")

    first, second = sorted(notifications_for(conversation.seller), key=lambda n: n.pk)
    assert first.is_read is True
    assert second.is_read is False
    assert "Two" in second.message


def test_marking_the_conversation_read_marks_its_notifications_read(conversation):
    other = ConversationFactory(seller=conversation.seller, listing=conversation.listing)
    services.message_send(conversation=conversation, sender=conversation.buyer, body="One")
    services.message_send(conversation=other, sender=other.buyer, body="Elsewhere")

    services.conversation_mark_read(conversation=conversation, user=conversation.seller)

    read = {n.action_url: n.is_read for n in notifications_for(conversation.seller)}
    assert read == {conversation.get_absolute_url(): True, other.get_absolute_url(): False}


def test_replying_then_opening_the_conversation_clears_the_notification(conversation):
    services.message_send(conversation=conversation, sender=conversation.buyer, body="Question")
    services.message_send(conversation=conversation, sender=conversation.seller, body="Answer")

    services.conversation_mark_read(conversation=conversation, user=conversation.seller)

    assert [n.is_read for n in notifications_for(conversation.seller)] == [True]


def test_an_offline_recipient_is_emailed_the_preview_and_the_link(
    conversation, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(
            conversation=conversation, sender=conversation.buyer, body="Can you make it in red?"
        )

    (email,) = mailoutbox
    assert email.to == [conversation.seller.email]
    assert services.message_sender_name(message=Message.objects.get()) in email.subject
    assert "Can you make it in red?" in email.body
    assert settings.SITE_URL + conversation.get_absolute_url() in email.body
    html, _mimetype = email.alternatives[0]
    assert "Can you make it in red?" in html
    delivery = EmailDelivery.objects.get()
    assert delivery.recipient == conversation.seller
    assert delivery.status == EmailDelivery.Status.SENT


def test_an_online_recipient_is_told_in_app_only(
    conversation, mailoutbox, django_capture_on_commit_callbacks
):
    set_online(conversation.seller)

    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(conversation=conversation, sender=conversation.buyer, body="Hi")

    assert len(notifications_for(conversation.seller)) == 1
    assert mailoutbox == []
    assert not EmailDelivery.objects.exists()


def test_someone_last_seen_a_while_ago_counts_as_offline(
    conversation, mailoutbox, django_capture_on_commit_callbacks
):
    User.objects.filter(pk=conversation.seller.pk).update(
        last_seen_at=timezone.now() - timedelta(seconds=settings.MESSAGING_ONLINE_SECONDS + 5)
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(conversation=conversation, sender=conversation.buyer, body="Hi")

    assert [e.to for e in mailoutbox] == [[conversation.seller.email]]


def test_a_digest_preference_sends_no_immediate_email(
    conversation, mailoutbox, django_capture_on_commit_callbacks
):
    preference_set(user=conversation.seller, event_code=EVENT, email_mode=EmailMode.DIGEST)

    with django_capture_on_commit_callbacks(execute=True):
        services.message_send(conversation=conversation, sender=conversation.buyer, body="Hi")

    (notification,) = notifications_for(conversation.seller)
    assert notification.digest_pending is True
    assert mailoutbox == []
    assert not EmailDelivery.objects.exists()


def test_a_long_message_is_previewed_shortened(conversation):
    body = "word " * 100

    services.message_send(conversation=conversation, sender=conversation.buyer, body=body)

    preview = notifications_for(conversation.seller)[0].context["preview"]
    assert len(preview) == services.PREVIEW_CHARS
    assert preview.endswith("…")


# --- Read state ---------------------------------------------------------------------------------


def test_mark_read_returns_how_many_seats_moved_and_never_goes_back(conversation):
    one = services.message_send(conversation=conversation, sender=conversation.buyer, body="One")
    two = services.message_send(conversation=conversation, sender=conversation.buyer, body="Two")
    seat = Participant.objects.get(conversation=conversation, user=conversation.seller)

    assert services.conversation_mark_read(conversation=conversation, user=conversation.seller) == 1
    seat.refresh_from_db()
    assert seat.last_read_id == two.pk
    assert seat.last_read_at is not None

    assert (
        services.conversation_mark_read(
            conversation=conversation, user=conversation.seller, up_to_id=one.pk
        )
        == 0
    )
    seat.refresh_from_db()
    assert seat.last_read_id == two.pk


def test_mark_read_of_an_empty_conversation_does_nothing(conversation):
    assert services.conversation_mark_read(conversation=conversation, user=conversation.buyer) == 0


def test_the_senders_own_message_is_read_for_them(conversation):
    message = services.message_send(conversation=conversation, sender=conversation.buyer, body="Hi")

    seat = Participant.objects.get(conversation=conversation, user=conversation.buyer)
    assert seat.last_read_id == message.pk


# --- Direct uploads -----------------------------------------------------------------------------


def start(conversation, user=None, filename="brief.pdf", size=None):
    return services.upload_start(
        conversation=conversation,
        user=user or conversation.buyer,
        filename=filename,
        size=len(PDF) if size is None else size,
    )


def test_upload_start_hands_out_a_signed_local_upload_link(conversation):
    attachment, form = start(conversation, filename="C:\\Users\\jo\\My brief.pdf")

    assert attachment.state == AttachmentState.PENDING
    assert attachment.message is None
    assert attachment.uploaded_by == conversation.buyer
    assert attachment.name == "My brief.pdf"
    assert attachment.size == len(PDF)
    assert "brief" not in attachment.key
    assert form["url"].startswith(settings.SITE_URL + "/messages/uploads/")
    assert form["fields"] == {}
    assert stored_files() == []  # nothing is stored until the client sends the bytes


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (0, "The file is empty."),
        (-5, "The file is empty."),
        (16 * 1024 * 1024 + 1, "files can be at most 16 MB"),
    ],
)
def test_upload_start_checks_the_size(conversation, settings, size, message):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = 16 * 1024 * 1024

    with pytest.raises(ValidationFailed) as caught:
        start(conversation, size=size)

    assert message in caught.value.errors["size"][0]
    assert not Attachment.objects.exists()


def test_upload_start_takes_a_file_of_exactly_the_limit(conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = 1000

    attachment, _form = start(conversation, size=1000)

    assert attachment.size == 1000


@pytest.mark.parametrize("filename", ["", "   ", "uploads/", None])
def test_upload_start_needs_a_file_name(conversation, filename):
    with pytest.raises(ValidationFailed) as caught:
        start(conversation, filename=filename)

    assert caught.value.errors == {"filename": ["Give the file's name."]}
    assert not Attachment.objects.exists()


def test_only_the_people_in_the_conversation_can_start_uploads(conversation):
    with pytest.raises(NotAllowed):
        start(conversation, user=UserFactory())

    assert not Attachment.objects.exists()


def test_open_uploads_are_limited(conversation):
    for _ in range(services.MAX_OPEN_UPLOADS):
        start(conversation)

    with pytest.raises(ValidationFailed) as caught:
        start(conversation)

    assert "earlier uploads" in caught.value.errors["filename"][0]
    assert Attachment.objects.count() == services.MAX_OPEN_UPLOADS
    # The limit is per person: the other side can still upload.
    start(conversation, user=conversation.seller)


def test_sent_uploads_no_longer_count_as_open(conversation):
    uploads = [start(conversation)[0] for _ in range(services.MAX_OPEN_UPLOADS)]
    for attachment in uploads[:2]:
        put_in_storage(attachment, PDF)
    services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="",
        upload_ids=[str(a.pk) for a in uploads[:2]],
    )

    start(conversation)

    assert Attachment.objects.filter(state=AttachmentState.PENDING).count() == 19


def test_confirming_an_arrived_upload_checks_it_from_storage(conversation):
    attachment, _form = start(conversation, filename="photo.jpg", size=999)
    put_in_storage(attachment, PNG)

    confirmed = services.upload_confirm(attachment=attachment)

    assert confirmed.state == AttachmentState.UPLOADED
    assert confirmed.content_type == "image/png"
    assert confirmed.size == len(PNG)  # what arrived, not what the client announced
    assert confirmed.name == "photo.jpg.png"
    assert services.upload_confirm(attachment=confirmed).state == AttachmentState.UPLOADED


def test_confirming_before_the_file_arrived_keeps_the_upload(conversation):
    attachment, _form = start(conversation)

    with pytest.raises(ValidationFailed) as caught:
        services.upload_confirm(attachment=attachment)

    assert "has not arrived yet" in caught.value.errors["uploads"][0]
    attachment.refresh_from_db()
    assert attachment.state == AttachmentState.PENDING


def test_a_disguised_program_uploaded_directly_is_deleted(conversation):
    attachment, _form = start(conversation, filename="report.pdf", size=len(EXE))
    put_in_storage(attachment, EXE)

    with pytest.raises(ValidationFailed) as caught:
        services.upload_confirm(attachment=attachment)

    assert "Windows program" in caught.value.errors["uploads"][0]
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert stored_files() == []


def test_a_direct_upload_larger_than_allowed_is_deleted(conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = len(PDF)
    attachment, _form = start(conversation, size=10)
    put_in_storage(attachment, PDF + b"more than announced")

    with pytest.raises(ValidationFailed) as caught:
        services.upload_confirm(attachment=attachment)

    assert "at most" in caught.value.errors["uploads"][0]
    assert not Attachment.objects.exists()
    assert stored_files() == []


def test_sending_with_upload_ids_attaches_them(conversation):
    confirmed, _ = start(conversation, filename="brief.pdf")
    put_in_storage(confirmed, PDF)
    services.upload_confirm(attachment=confirmed)
    unconfirmed, _ = start(conversation, filename="photo.png")
    put_in_storage(unconfirmed, PNG)

    message = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="Both",
        upload_ids=[str(confirmed.pk), unconfirmed.pk, str(confirmed.pk)],  # duplicates are one
    )

    attachments = {a.pk: a for a in message.attachments.all()}
    assert set(attachments) == {confirmed.pk, unconfirmed.pk}
    assert all(a.state == AttachmentState.ATTACHED for a in attachments.values())
    assert attachments[unconfirmed.pk].content_type == "image/png"  # checked at sending
    assert read_stored(attachments[confirmed.pk].key) == PDF
    # Sent: no longer an open upload of the sender's.
    with pytest.raises(Attachment.DoesNotExist):
        selectors.upload_for(user=conversation.buyer, pk=confirmed.pk)


def test_an_upload_that_has_not_arrived_keeps_the_message_out(conversation):
    attachment, _ = start(conversation)

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Here",
            upload_ids=[attachment.pk],
        )

    assert "has not arrived yet" in caught.value.errors["uploads"][0]
    assert not Message.objects.exists()
    attachment.refresh_from_db()
    assert attachment.state == AttachmentState.PENDING


def test_a_disguised_program_among_uploads_keeps_the_message_out_and_is_deleted(conversation):
    good, _ = start(conversation, filename="brief.pdf")
    put_in_storage(good, PDF)
    bad, _ = start(conversation, filename="report.pdf", size=len(EXE))
    put_in_storage(bad, EXE)

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Two",
            upload_ids=[good.pk, bad.pk],
            files=[upload("extra.png", PNG)],
        )

    assert "Windows program" in caught.value.errors["uploads"][0]
    assert not Message.objects.exists()
    assert not Attachment.objects.filter(pk=bad.pk).exists()
    good.refresh_from_db()
    assert good.message is None
    assert good.state in (AttachmentState.PENDING, AttachmentState.UPLOADED)
    assert stored_files() == [good.key]  # the bad upload and the extra file are gone


def test_a_disguised_upload_sent_with_an_inquiry_is_forgotten():
    first = services.inquiry_send(listing=ListingFactory(), buyer=UserFactory(), body="Hi")
    conversation = first.conversation
    bad, _ = start(conversation, filename="report.pdf", size=len(EXE))
    put_in_storage(bad, EXE)

    with pytest.raises(ValidationFailed):
        services.inquiry_send(
            listing=conversation.listing,
            buyer=conversation.buyer,
            body="See file",
            upload_ids=[bad.pk],
        )

    assert stored_files() == []
    assert not Attachment.objects.filter(pk=bad.pk).exists()


def test_an_upload_replaced_after_confirming_is_checked_again_when_sent(conversation):
    attachment, _ = start(conversation, filename="brief.pdf")
    put_in_storage(attachment, PDF)
    services.upload_confirm(attachment=attachment)
    # What a second POST with the same presigned form does on S3 (the local view refuses it).
    attachment_storage().delete(attachment.key)
    put_in_storage(attachment, EXE)

    with pytest.raises(ValidationFailed):
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Here",
            upload_ids=[attachment.pk],
        )

    assert not Message.objects.exists()


@pytest.mark.parametrize("whose", ["other person", "other conversation", "already sent", "bogus"])
def test_uploads_that_are_not_the_senders_to_give_are_refused(conversation, whose):
    if whose == "other person":
        attachment, _ = start(conversation, user=conversation.seller)
        put_in_storage(attachment, PDF)
        upload_id = attachment.pk
    elif whose == "other conversation":
        elsewhere = ConversationFactory(buyer=conversation.buyer)
        attachment, _ = start(elsewhere)
        put_in_storage(attachment, PDF)
        upload_id = attachment.pk
    elif whose == "already sent":
        attachment, _ = start(conversation)
        put_in_storage(attachment, PDF)
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="",
            upload_ids=[attachment.pk],
        )
        upload_id = attachment.pk
    else:
        attachment, upload_id = None, "not-a-uuid"
    before = Message.objects.count()
    if attachment is not None:
        attachment.refresh_from_db()
    message_before = attachment and attachment.message_id

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Mine now",
            upload_ids=[upload_id],
        )

    assert "uploads" in caught.value.errors
    assert Message.objects.count() == before
    if attachment is not None:
        attachment.refresh_from_db()  # still there, still where it was
        assert attachment.message_id == message_before


def test_uploads_count_towards_the_file_limit(conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_FILES = 2
    attachment, _ = start(conversation)
    put_in_storage(attachment, PDF)

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Three",
            files=[upload("a.pdf", PDF), upload("b.png", PNG)],
            upload_ids=[attachment.pk],
        )

    assert "at most 2 files" in caught.value.errors["files"][0]
    assert stored_files() == [attachment.key]


def test_a_download_url_is_a_signed_local_link(conversation):
    message = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="",
        files=[upload("brief.pdf", PDF)],
    )

    url = services.attachment_download_url(attachment=message.attachments.get())

    assert url.startswith(settings.SITE_URL + "/messages/files/")
    assert "brief" not in url.split("/files/")[0]


# --- Moderation: removing an attachment ---------------------------------------------------------


def test_staff_remove_an_attachment_and_its_stored_file(conversation, staff):
    message = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="Look",
        files=[upload("brief.pdf", PDF), upload("photo.png", PNG)],
    )
    brief, photo = message.attachments.order_by("name")

    removed = services.attachment_remove(attachment=brief, staff=staff, reason="Malware report")

    assert removed.state == AttachmentState.REMOVED
    assert removed.is_removed
    assert removed.removed_by == staff
    assert removed.removed_at is not None
    assert removed.removed_reason == "Malware report"
    assert stored_files() == [photo.key]  # only that file's bytes are gone
    entry = AuditEntry.objects.get(action="messaging.attachment.removed")
    assert entry.actor == staff
    assert entry.target_id == str(brief.pk)
    assert entry.before == {"state": "attached"}
    assert entry.after == {"state": "removed", "reason": "Malware report"}
    # The message still shows that a file was there.
    (shown,) = selectors.messages_for(conversation=conversation, user=conversation.seller)
    assert {a.name: a.is_removed for a in shown.attachments.all()} == {
        "brief.pdf": True,
        "photo.png": False,
    }


def test_removing_an_attachment_twice_is_harmless(conversation, staff):
    attachment = AttachmentFactory(message=MessageFactory(conversation=conversation))
    put_in_storage(attachment, PDF)

    services.attachment_remove(attachment=attachment, staff=staff)
    again = services.attachment_remove(attachment=attachment, staff=staff, reason="again")

    assert again.state == AttachmentState.REMOVED
    assert again.removed_reason == ""
    assert AuditEntry.objects.filter(action="messaging.attachment.removed").count() == 1
    assert stored_files() == []


def test_only_staff_remove_attachments(conversation):
    attachment = AttachmentFactory(message=MessageFactory(conversation=conversation))
    put_in_storage(attachment, PDF)

    with pytest.raises(NotAllowed):
        services.attachment_remove(attachment=attachment, staff=conversation.seller)

    attachment.refresh_from_db()
    assert attachment.state == AttachmentState.ATTACHED
    assert stored_files() == [attachment.key]


def test_a_removed_attachments_reason_is_cut_to_fit(conversation, staff):
    attachment = AttachmentFactory(message=MessageFactory(conversation=conversation))

    removed = services.attachment_remove(attachment=attachment, staff=staff, reason="x" * 400)

    assert len(removed.removed_reason) == 300


# --- After commit -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_after_commit_keeps_the_message_and_its_files(monkeypatch):
    from notifications import tasks as notification_tasks

    conversation = ConversationFactory()

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(notification_tasks.drain_emails, "apply_async", broker_down)

    # Committed for real (transaction=True): the email is queued after commit and fails there.
    message = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="The brief",
        files=[upload("brief.pdf", PDF)],
    )

    attachment = message.attachments.get()
    assert attachment_storage().exists(attachment.key)
    assert stored_files() == [attachment.key]
    # The email is not lost: it waits, queued, for the re-queue job.
    delivery = EmailDelivery.objects.get(recipient=conversation.seller)
    assert delivery.status == EmailDelivery.Status.QUEUED


# --- Read pointers ------------------------------------------------------------------------------


def test_sending_never_moves_my_read_pointer_backwards(conversation):
    # As if, during a slow upload of mine, the other side's newer message arrived and I read it
    # in another tab: my pointer is already past the id my message got.
    ahead = 10**9
    Participant.objects.filter(conversation=conversation, user=conversation.buyer).update(
        last_read_id=ahead
    )

    services.message_send(conversation=conversation, sender=conversation.buyer, body="A")

    seat = Participant.objects.get(conversation=conversation, user=conversation.buyer)
    assert seat.last_read_id == ahead


def test_a_cleared_message_counts_as_unread_even_after_newer_ones_were_read(
    conversation, settings, staff
):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True
    held = services.message_send(conversation=conversation, sender=conversation.buyer, body=CONTACT)
    services.message_send(conversation=conversation, sender=conversation.buyer, body="Hello?")
    services.conversation_mark_read(conversation=conversation, user=conversation.seller)

    services.message_review(message=held, staff=staff, verdict=Review.CLEARED)

    assert selectors.unread_total(user=conversation.seller) == 2
    services.conversation_mark_read(conversation=conversation, user=conversation.seller)
    assert selectors.unread_total(user=conversation.seller) == 0
    assert all(n.is_read for n in notifications_for(conversation.seller))
