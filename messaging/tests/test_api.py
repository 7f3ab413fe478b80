"""The messaging API at /api/v1/conversations/ and /api/v1/attachments/, as a mobile client uses
it: conversations, messages (cursor pages), sending text and files, read state, direct uploads
and downloads, and 404s for everyone outside a conversation.

Files are real bytes in the per-test temporary attachment storage the root conftest sets up, so
"nothing stored" is checked on disk, and signed links are followed with the test client.
"""

import os

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.factories import UserFactory
from accounts.models import User
from core.testing import assert_matches_api_schema
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory
from marketplace.models import ListingStatus
from messaging import services
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
)
from messaging.storage import attachment_storage
from messaging.tests.samples import EXE, PDF

pytestmark = pytest.mark.django_db

BASE = "/api/v1/conversations/"
UNREAD = BASE + "unread-count/"

CONTACT = "Pay me directly, write to sam@example.com"


def detail_url(conversation):
    return f"{BASE}{conversation.pk}/"


def messages_url(conversation):
    return f"{BASE}{conversation.pk}/messages/"


def read_url(conversation):
    return f"{BASE}{conversation.pk}/read/"


def uploads_url(conversation):
    return f"{BASE}{conversation.pk}/uploads/"


def confirm_url(conversation, upload_id):
    return f"{BASE}{conversation.pk}/uploads/{upload_id}/confirm/"


def for_order_url(order):
    return f"{BASE}for-order/{order.pk}/"


def attachment_url(attachment):
    return f"/api/v1/attachments/{attachment.pk}/"


def download_url(attachment):
    return f"/api/v1/attachments/{attachment.pk}/download/"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def upload(name, data):
    # The client's content type is deliberately unhelpful: the type comes from the content.
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def stored_files():
    root = attachment_storage().location
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def local_path(url):
    """A signed link of the local storage, as the test client requests it."""
    assert url.startswith(settings.SITE_URL)
    return url[len(settings.SITE_URL) :]


def fetched(response):
    return b"".join(response.streaming_content)


def put_in_storage(attachment, data):
    attachment_storage().save(attachment.key, ContentFile(data))


def query_count(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.fixture
def conversation():
    return ConversationFactory()


@pytest.fixture
def buyer(conversation):
    return client_for(conversation.buyer)


@pytest.fixture
def seller(conversation):
    return client_for(conversation.seller)


@pytest.fixture
def stranger():
    return client_for(UserFactory())


# --- Conversations ------------------------------------------------------------------------------


def test_the_list_shows_my_conversations_with_what_the_inbox_needs(conversation, buyer, seller):
    MessageFactory(conversation=conversation, sender=conversation.buyer, body="Is it blue?")
    MessageFactory(conversation=conversation, sender=conversation.seller, body="Yes,\n  blue.")
    ConversationFactory()  # someone else's

    response = buyer.get(BASE)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["count"] == 1
    (row,) = body["results"]
    assert row["id"] == conversation.pk
    assert row["kind"] == "inquiry"
    assert row["subject"] == conversation.subject
    assert row["listing"] == {"id": conversation.listing.pk, "title": conversation.listing.title}
    assert row["order_id"] is None
    assert row["other_party"] == {"name": conversation.listing.store.name, "role": "seller"}
    assert row["unread_count"] == 1
    assert row["last_message_at"] is not None
    assert row["last_message_preview"] == "Yes, blue."
    # The seller sees the buyer, and the buyer's message as unread.
    (seller_row,) = seller.get(BASE).json()["results"]
    assert seller_row["other_party"] == {
        "name": conversation.buyer.get_full_name(),
        "role": "buyer",
    }
    assert seller_row["unread_count"] == 1


def test_the_list_is_newest_activity_first_and_pages_with_limit():
    buyer = UserFactory()
    older = ConversationFactory(buyer=buyer)
    newer = ConversationFactory(buyer=buyer)
    MessageFactory(conversation=older, sender=buyer)
    MessageFactory(conversation=newer, sender=buyer)
    MessageFactory(conversation=older, sender=older.seller)  # older is busiest now

    client = client_for(buyer)
    first = client.get(BASE, {"limit": 1}).json()
    second = client.get(first["next"]).json()

    assert [r["id"] for r in first["results"]] == [older.pk]
    assert [r["id"] for r in second["results"]] == [newer.pk]


def test_a_preview_of_a_message_with_only_a_file_says_so(conversation, buyer):
    message = MessageFactory(conversation=conversation, sender=conversation.seller, body="")
    AttachmentFactory(message=message)

    (row,) = buyer.get(BASE).json()["results"]

    assert row["last_message_preview"] == "Sent a file"


def test_the_list_reads_a_fixed_number_of_queries_however_many_conversations():
    buyer = UserFactory()

    def make(n):
        for _ in range(n):
            conversation = ConversationFactory(buyer=buyer)
            MessageFactory(conversation=conversation, sender=conversation.seller)

    make(2)
    client = client_for(buyer)
    few = query_count(client, BASE)
    make(18)
    many = query_count(client, BASE)

    assert len(client.get(BASE).json()["results"]) == 20
    assert many == few == 2  # the page and the count


def test_the_detail_names_both_participants(conversation, seller):
    response = seller.get(detail_url(conversation))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == conversation.pk
    assert body["participants"] == [
        {"name": conversation.buyer.get_full_name(), "role": "buyer", "is_me": False},
        {"name": conversation.listing.store.name, "role": "seller", "is_me": True},
    ]


def test_an_order_conversation_is_found_by_its_order_for_buyer_and_seller():
    order = OrderFactory()
    services.conversation_open_for_order(order=order)  # as placing the order does

    as_buyer = client_for(order.buyer).get(for_order_url(order))
    as_seller = client_for(order.seller).get(for_order_url(order))

    assert as_buyer.status_code == as_seller.status_code == 200
    assert as_buyer.json()["id"] == as_seller.json()["id"]
    conversation = Conversation.objects.get(order=order)
    assert as_buyer.json()["id"] == conversation.pk
    assert as_buyer.json()["kind"] == ConversationKind.ORDER
    assert as_buyer.json()["order_id"] == order.pk
    assert as_buyer.json()["other_party"]["role"] == "seller"
    assert as_seller.json()["other_party"]["role"] == "buyer"


def test_an_existing_order_conversation_is_returned_as_it_is():
    conversation = OrderConversationFactory()
    MessageFactory(conversation=conversation, sender=conversation.seller)

    response = client_for(conversation.buyer).get(for_order_url(conversation.order))

    assert response.json()["id"] == conversation.pk
    assert response.json()["unread_count"] == 1
    assert Conversation.objects.count() == 1


def test_reading_an_order_s_conversation_never_opens_one():
    order = OrderFactory()  # made by hand: placing an order opens its conversation

    response = client_for(order.buyer).get(for_order_url(order))

    assert response.status_code == 404
    assert not Conversation.objects.exists()


def test_someone_else_s_order_has_no_conversation_for_me(stranger):
    order = OrderFactory()

    response = stranger.get(for_order_url(order))

    assert response.status_code == 404
    assert response.json()["detail"] == "You have no order with this id."
    assert not Conversation.objects.exists()


# --- Reading messages ---------------------------------------------------------------------------


def test_messages_show_sender_ownership_and_files(conversation, buyer):
    mine = MessageFactory(conversation=conversation, sender=conversation.buyer, body="Hello")
    theirs = MessageFactory(conversation=conversation, sender=conversation.seller, body="Hi")
    shown = AttachmentFactory(message=theirs, name="invoice.pdf", size=2048)
    removed = AttachmentFactory(message=theirs, state=AttachmentState.REMOVED)

    response = buyer.get(messages_url(conversation))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    newest, oldest = response.json()["results"]
    assert (newest["id"], oldest["id"]) == (theirs.pk, mine.pk)
    assert oldest["sender"] == {"name": conversation.buyer.get_full_name(), "role": "buyer"}
    assert oldest["is_mine"] is True
    assert oldest["attachments"] == []
    assert newest["sender"] == {"name": conversation.listing.store.name, "role": "seller"}
    assert newest["is_mine"] is False
    assert newest["body"] == "Hi"
    assert newest["held"] is False
    assert newest["attachments"] == [
        {
            "id": str(shown.pk),
            "name": "invoice.pdf",
            "size": 2048,
            "content_type": "application/pdf",
            "removed": False,
            "download_url": f"http://testserver/api/v1/attachments/{shown.pk}/download/",
        },
        {
            "id": str(removed.pk),
            "name": removed.name,
            "size": removed.size,
            "content_type": "application/pdf",
            "removed": True,
            "download_url": None,
        },
    ]


def test_a_removed_file_has_no_download_link_and_the_schema_allows_it(conversation, buyer):
    # The schema said download_url is always a URI; found by tests/test_api_schema.py.
    message = MessageFactory(conversation=conversation, sender=conversation.seller)
    AttachmentFactory(message=message, state=AttachmentState.REMOVED)

    response = buyer.get(messages_url(conversation))

    assert response.json()["results"][0]["attachments"][0]["download_url"] is None
    assert_matches_api_schema(response, "/api/v1/conversations/{id}/messages/", "GET")


def test_messages_read_a_fixed_number_of_queries_however_many(conversation, buyer):
    def make(n):
        for i in range(n):
            sender = conversation.buyer if i % 2 else conversation.seller
            AttachmentFactory(message=MessageFactory(conversation=conversation, sender=sender))

    make(2)
    few = query_count(buyer, messages_url(conversation))
    make(28)
    many = query_count(buyer, messages_url(conversation))

    body = buyer.get(messages_url(conversation)).json()
    assert len(body["results"]) == 30
    assert all(len(m["attachments"]) == 1 for m in body["results"])
    assert many == few == 3  # the conversation, the page, its attachments


def test_the_cursor_walks_every_message_once_newest_first(conversation, buyer):
    sent = [
        MessageFactory(
            conversation=conversation,
            sender=conversation.buyer if i % 3 else conversation.seller,
        ).pk
        for i in range(45)
    ]

    pages = []
    url = messages_url(conversation)
    while url:
        body = buyer.get(url).json()
        pages.append([m["id"] for m in body["results"]])
        url = body["next"]

    assert [len(page) for page in pages] == [30, 15]
    walked = [pk for page in pages for pk in page]
    assert walked == sorted(sent, reverse=True)


def test_the_cursor_stays_right_when_new_messages_arrive(conversation, buyer):
    sent = [MessageFactory(conversation=conversation).pk for _ in range(10)]

    first = buyer.get(messages_url(conversation), {"limit": 4}).json()
    MessageFactory(conversation=conversation, sender=conversation.seller)
    rest = []
    url = first["next"]
    while url:
        body = buyer.get(url).json()
        rest += [m["id"] for m in body["results"]]
        url = body["next"]

    assert [m["id"] for m in first["results"]] + rest == sorted(sent, reverse=True)


def test_a_held_message_is_shown_to_its_sender_only(conversation, buyer, seller, settings):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True

    response = buyer.post(messages_url(conversation), {"body": CONTACT}, format="json")

    assert response.status_code == 201
    assert response.json()["held"] is True
    assert response.json()["warning"] == services.BLOCKED_MESSAGE
    assert [m["held"] for m in buyer.get(messages_url(conversation)).json()["results"]] == [True]
    # A first question that is held does not even tell the seller the conversation exists.
    assert seller.get(messages_url(conversation)).status_code == 404
    assert seller.get(BASE).json()["results"] == []
    assert seller.get(UNREAD).json() == {"unread_total": 0}


# --- Sending ------------------------------------------------------------------------------------


def test_a_text_message_is_sent(conversation, buyer, seller):
    response = buyer.post(messages_url(conversation), {"body": "  Is it still free?  "})

    assert response.status_code == 201
    body = response.json()
    message = Message.objects.get()
    assert body["id"] == message.pk
    assert body["conversation_id"] == conversation.pk
    assert body["body"] == "Is it still free?"
    assert body["is_mine"] is True
    assert body["sender"]["role"] == "buyer"
    assert body["warning"] == ""
    assert seller.get(UNREAD).json() == {"unread_total": 1}


def test_a_pdf_is_sent_as_a_multipart_form(conversation, seller, buyer):
    response = seller.post(
        messages_url(conversation),
        {"body": "Your invoice", "files": [upload("Invoice March.pdf", PDF)]},
        format="multipart",
    )

    assert response.status_code == 201
    (sent,) = response.json()["attachments"]
    assert sent["name"] == "Invoice March.pdf"
    assert sent["size"] == len(PDF)
    assert sent["content_type"] == "application/pdf"
    attachment = Attachment.objects.get()
    assert attachment_storage().open(attachment.key).read() == PDF
    # The other side can download it.
    redirected = buyer.get(sent["download_url"])
    assert redirected.status_code == 302
    assert fetched(buyer.get(local_path(redirected["Location"]))) == PDF


def test_a_file_only_message_is_sent(conversation, buyer):
    response = buyer.post(
        messages_url(conversation), {"files": [upload("scan.pdf", PDF)]}, format="multipart"
    )

    assert response.status_code == 201
    assert response.json()["body"] == ""
    assert len(response.json()["attachments"]) == 1


def test_a_disguised_program_is_refused_and_nothing_is_saved(conversation, buyer):
    response = buyer.post(
        messages_url(conversation),
        {"body": "The invoice", "files": [upload("scan.pdf", PDF), upload("invoice.pdf", EXE)]},
        format="multipart",
    )

    assert response.status_code == 400
    errors = response.json()["files"]
    assert len(errors) == 1
    assert "invoice.pdf" in errors[0]
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files() == []


def test_too_many_files_are_refused(conversation, buyer, settings):
    limit = settings.MESSAGING_ATTACHMENT_MAX_FILES
    files = [upload(f"page-{i}.pdf", PDF) for i in range(limit + 1)]

    response = buyer.post(messages_url(conversation), {"files": files}, format="multipart")

    assert response.status_code == 400
    assert response.json()["files"] == [f"Attach at most {limit} files to one message."]
    assert not Message.objects.exists()
    assert stored_files() == []


def test_an_oversized_file_is_refused(conversation, buyer, settings):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = len(PDF) - 1

    response = buyer.post(
        messages_url(conversation), {"files": [upload("big.pdf", PDF)]}, format="multipart"
    )

    assert response.status_code == 400
    assert "files" in response.json()
    assert not Message.objects.exists()
    assert stored_files() == []


@pytest.mark.parametrize("payload", [{}, {"body": "   "}])
def test_an_empty_message_is_refused(conversation, buyer, payload):
    response = buyer.post(messages_url(conversation), payload, format="json")

    assert response.status_code == 400
    assert response.json() == {"body": ["Write a message or attach a file."]}
    assert not Message.objects.exists()


def test_a_too_long_message_is_refused(conversation, buyer):
    response = buyer.post(
        messages_url(conversation), {"body": "x" * (services.MAX_BODY_CHARS + 1)}, format="json"
    )

    assert response.status_code == 400
    assert "at most" in response.json()["body"][0]


def test_contact_details_are_sent_with_a_warning_for_the_sender(conversation, buyer, seller):
    response = buyer.post(messages_url(conversation), {"body": CONTACT}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert "an email address" in body["warning"]
    assert body["held"] is False
    # Delivered all the same (blocking is off), and without the warning for the other side.
    (seen,) = seller.get(messages_url(conversation)).json()["results"]
    assert seen["body"] == CONTACT
    assert "warning" not in seen


# --- Read state ---------------------------------------------------------------------------------


def test_marking_read_changes_the_counts(conversation, buyer):
    other = ConversationFactory(buyer=conversation.buyer)
    first, second, _third = (
        MessageFactory(conversation=conversation, sender=conversation.seller) for _ in range(3)
    )
    MessageFactory(conversation=other, sender=other.seller)
    assert buyer.get(UNREAD).json() == {"unread_total": 4}

    partly = buyer.post(read_url(conversation), {"up_to_id": second.pk}, format="json")

    assert partly.status_code == 200
    assert partly.json() == {"unread_count": 1, "unread_total": 2}
    everything = buyer.post(read_url(conversation), format="json")
    assert everything.json() == {"unread_count": 0, "unread_total": 1}
    assert buyer.get(UNREAD).json() == {"unread_total": 1}
    row = next(r for r in buyer.get(BASE).json()["results"] if r["id"] == conversation.pk)
    assert row["unread_count"] == 0
    assert first.pk < second.pk


def test_the_unread_count_marks_the_person_online(conversation, seller):
    MessageFactory(conversation=conversation, sender=conversation.buyer)
    assert conversation.seller.last_seen_at is None

    response = seller.get(UNREAD)

    assert response.status_code == 200
    assert response.json() == {"unread_total": 1}
    assert "no-store" in response["Cache-Control"]
    assert User.objects.get(pk=conversation.seller.pk).last_seen_at is not None


# --- Inquiries ----------------------------------------------------------------------------------


def test_a_question_about_a_listing_opens_the_conversation_and_then_continues_it():
    listing = ListingFactory()
    asker = client_for(UserFactory())

    first = asker.post(BASE, {"listing": listing.pk, "body": "Does it fit a 30 cm shelf?"})
    second = asker.post(
        BASE,
        {"listing": listing.pk, "body": "Here is the shelf", "files": [upload("shelf.pdf", PDF)]},
        format="multipart",
    )

    assert first.status_code == second.status_code == 201
    conversation = Conversation.objects.get()
    assert conversation.kind == ConversationKind.INQUIRY
    assert conversation.listing == listing
    assert first.json()["conversation_id"] == second.json()["conversation_id"] == conversation.pk
    assert first.json()["sender"]["role"] == "buyer"
    assert len(second.json()["attachments"]) == 1
    seller = client_for(listing.store.owner)
    assert [r["id"] for r in seller.get(BASE).json()["results"]] == [conversation.pk]


@pytest.mark.parametrize("listing_id", [0, 987654, "blue"])
def test_a_question_about_an_unknown_listing_is_refused(stranger, listing_id):
    response = stranger.post(BASE, {"listing": listing_id, "body": "Hello?"}, format="json")

    assert response.status_code == 400
    assert "listing" in response.json()
    assert not Conversation.objects.exists()


def test_a_listing_that_is_not_on_sale_takes_no_new_questions(stranger):
    draft = ListingFactory(status=ListingStatus.DRAFT)

    response = stranger.post(BASE, {"listing": draft.pk, "body": "Hello?"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"listing": ["This listing is not available."]}


def test_an_open_question_continues_after_the_listing_went_off_sale(conversation, buyer):
    conversation.listing.status = ListingStatus.ARCHIVED
    conversation.listing.save(update_fields=["status"])

    response = buyer.post(
        BASE, {"listing": conversation.listing.pk, "body": "Still there?"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["conversation_id"] == conversation.pk


def test_a_seller_cannot_ask_about_their_own_listing():
    listing = ListingFactory()

    response = client_for(listing.store.owner).post(
        BASE, {"listing": listing.pk, "body": "Hello?"}, format="json"
    )

    assert response.status_code == 400
    assert "your own listing" in response.json()["listing"][0]
    assert not Conversation.objects.exists()


# --- Direct uploads -----------------------------------------------------------------------------


def start_upload(client, conversation, name="scan.pdf", size=None):
    size = len(PDF) if size is None else size
    response = client.post(uploads_url(conversation), {"filename": name, "size": size})
    assert response.status_code == 201, response.content
    return response.json()


def post_bytes(upload_form, name, data):
    """What the app does with the upload form: a multipart POST without the API token."""
    fields = dict(upload_form["fields"]) | {"file": SimpleUploadedFile(name, data)}
    return APIClient().post(local_path(upload_form["url"]), fields, format="multipart")


def test_a_direct_upload_goes_to_storage_and_is_sent_with_the_message(conversation, buyer, seller):
    started = start_upload(buyer, conversation)
    assert started["max_bytes"] == settings.MESSAGING_ATTACHMENT_MAX_BYTES
    assert started["expires_in"] == settings.MESSAGING_UPLOAD_URL_EXPIRY

    stored = post_bytes(started["upload"], "scan.pdf", PDF)
    confirmed = buyer.post(confirm_url(conversation, started["id"]))
    sent = buyer.post(
        messages_url(conversation),
        {"body": "The scan", "upload_ids": [started["id"]]},
        format="json",
    )

    assert stored.status_code == 204
    assert confirmed.status_code == 200
    assert confirmed.json() == {
        "id": started["id"],
        "name": "scan.pdf",
        "size": len(PDF),
        "content_type": "application/pdf",
        "state": "uploaded",
    }
    assert sent.status_code == 201
    (attached,) = sent.json()["attachments"]
    assert attached["id"] == started["id"]
    message = Message.objects.get()
    assert [a.pk for a in message.attachments.all()] == [Attachment.objects.get().pk]
    redirected = seller.get(attached["download_url"])
    assert fetched(seller.get(local_path(redirected["Location"]))) == PDF


def test_upload_ids_work_in_a_multipart_form_without_confirming(conversation, buyer):
    first = start_upload(buyer, conversation, "one.pdf")
    second = start_upload(buyer, conversation, "two.pdf")
    post_bytes(first["upload"], "one.pdf", PDF)
    post_bytes(second["upload"], "two.pdf", PDF)

    sent = buyer.post(
        messages_url(conversation),
        {"upload_ids": [first["id"], second["id"]], "files": [upload("three.pdf", PDF)]},
        format="multipart",
    )

    assert sent.status_code == 201
    assert sorted(a["name"] for a in sent.json()["attachments"]) == [
        "one.pdf",
        "three.pdf",
        "two.pdf",
    ]


def test_a_disguised_program_uploaded_directly_is_refused_and_deleted(conversation, buyer):
    started = start_upload(buyer, conversation, "invoice.pdf", len(EXE))
    assert post_bytes(started["upload"], "invoice.pdf", EXE).status_code == 204
    assert len(stored_files()) == 1

    response = buyer.post(confirm_url(conversation, started["id"]))

    assert response.status_code == 400
    assert "uploads" in response.json()
    assert stored_files() == []
    assert not Attachment.objects.exists()
    # Sending it afterwards names the field the client sent.
    sent = buyer.post(messages_url(conversation), {"upload_ids": [started["id"]]}, format="json")
    assert sent.status_code == 400
    assert "upload_ids" in sent.json()
    assert not Message.objects.exists()


def test_an_upload_that_has_not_arrived_cannot_be_sent(conversation, buyer):
    started = start_upload(buyer, conversation)

    response = buyer.post(
        messages_url(conversation), {"body": "See file", "upload_ids": [started["id"]]}
    )

    assert response.status_code == 400
    assert "has not arrived yet" in response.json()["upload_ids"][0]
    assert not Message.objects.exists()


def test_a_direct_upload_larger_than_allowed_is_refused_by_the_upload_url(
    conversation, buyer, settings
):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = 100
    started = start_upload(buyer, conversation, "big.pdf", 100)

    response = post_bytes(started["upload"], "big.pdf", PDF + bytes(200))

    assert response.status_code == 400
    assert stored_files() == []


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"filename": "huge.pdf", "size": 10**12}, "size"),
        ({"filename": "empty.pdf", "size": 0}, "size"),
        ({"filename": "", "size": 10}, "filename"),
        ({"size": 10}, "filename"),
        ({"filename": "a.pdf", "size": "big"}, "size"),
    ],
)
def test_starting_an_upload_checks_name_and_size(conversation, buyer, payload, field):
    response = buyer.post(uploads_url(conversation), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Attachment.objects.exists()


def test_an_upload_is_confirmed_only_in_its_own_conversation(conversation, buyer):
    elsewhere = ConversationFactory(buyer=conversation.buyer)
    started = start_upload(buyer, elsewhere)
    post_bytes(started["upload"], "scan.pdf", PDF)

    response = buyer.post(confirm_url(conversation, started["id"]))

    assert response.status_code == 404
    assert Attachment.objects.get().state == AttachmentState.PENDING


def test_the_other_participant_cannot_confirm_my_upload(conversation, buyer, seller):
    started = start_upload(buyer, conversation)
    post_bytes(started["upload"], "scan.pdf", PDF)

    response = seller.post(confirm_url(conversation, started["id"]))

    assert response.status_code == 404
    assert Attachment.objects.get().state == AttachmentState.PENDING


# --- Attachments --------------------------------------------------------------------------------


def test_the_download_redirects_to_a_signed_link_that_serves_the_file(conversation, seller):
    attachment = AttachmentFactory(
        message=MessageFactory(conversation=conversation), name="plan.pdf", size=len(PDF)
    )
    put_in_storage(attachment, PDF)

    response = seller.get(download_url(attachment))

    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]
    file_response = APIClient().get(local_path(response["Location"]))
    assert file_response.status_code == 200
    assert fetched(file_response) == PDF
    assert "plan.pdf" in file_response["Content-Disposition"]


def test_the_attachment_link_is_given_as_json(conversation, seller, settings):
    attachment = AttachmentFactory(
        message=MessageFactory(conversation=conversation), name="plan.pdf", size=len(PDF)
    )
    put_in_storage(attachment, PDF)

    response = seller.get(attachment_url(attachment))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["id"] == str(attachment.pk)
    assert body["name"] == "plan.pdf"
    assert body["size"] == len(PDF)
    assert body["content_type"] == "application/pdf"
    assert body["expires_in"] == settings.MESSAGING_ATTACHMENT_URL_EXPIRY
    assert fetched(APIClient().get(local_path(body["url"]))) == PDF


def test_a_removed_file_cannot_be_downloaded(conversation, buyer):
    attachment = AttachmentFactory(
        message=MessageFactory(conversation=conversation), state=AttachmentState.REMOVED
    )

    assert buyer.get(download_url(attachment)).status_code == 404
    assert buyer.get(attachment_url(attachment)).status_code == 404


# --- Access -------------------------------------------------------------------------------------


@pytest.fixture
def everything(conversation):
    """A conversation with a message, a file in storage and an unsent upload of the buyer."""
    attachment = AttachmentFactory(message=MessageFactory(conversation=conversation))
    put_in_storage(attachment, PDF)
    pending, _form = services.upload_start(
        conversation=conversation, user=conversation.buyer, filename="scan.pdf", size=len(PDF)
    )
    put_in_storage(pending, PDF)
    return conversation, attachment, pending


STRANGER_REQUESTS = [
    ("get", lambda c, a, p: detail_url(c), None, "conversation"),
    ("get", lambda c, a, p: messages_url(c), None, "conversation"),
    ("post", lambda c, a, p: messages_url(c), {"body": "Hi"}, "conversation"),
    ("post", lambda c, a, p: read_url(c), {}, "conversation"),
    ("post", lambda c, a, p: uploads_url(c), {"filename": "a.pdf", "size": 10}, "conversation"),
    ("post", lambda c, a, p: confirm_url(c, p.pk), None, "conversation"),
    ("get", lambda c, a, p: attachment_url(a), None, "file"),
    ("get", lambda c, a, p: download_url(a), None, "file"),
]


@pytest.mark.parametrize("method, url, data, what", STRANGER_REQUESTS)
def test_a_stranger_gets_404_everywhere(everything, stranger, method, url, data, what):
    conversation, attachment, pending = everything
    counts = (Message.objects.count(), Attachment.objects.count())

    response = getattr(stranger, method)(url(conversation, attachment, pending), data)

    assert response.status_code == 404
    assert response.json()["detail"] == f"You have no {what} with this id."
    assert "Location" not in response
    assert (Message.objects.count(), Attachment.objects.count()) == counts
    assert Attachment.objects.get(pk=pending.pk).state == AttachmentState.PENDING


def test_a_stranger_does_not_see_the_conversation_or_its_messages_in_counts(everything, stranger):
    assert stranger.get(BASE).json()["count"] == 0
    assert stranger.get(UNREAD).json() == {"unread_total": 0}


def test_signed_out_clients_are_refused(conversation):
    response = APIClient().get(BASE)

    assert response.status_code == 401


# --- Schema -------------------------------------------------------------------------------------


def test_the_schema_documents_every_messaging_endpoint(api_client):
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    for path in [
        BASE,
        BASE + "{id}/",
        BASE + "{id}/messages/",
        BASE + "{id}/read/",
        BASE + "{id}/uploads/",
        BASE + "{id}/uploads/{upload_id}/confirm/",
        BASE + "for-order/{order_id}/",
        UNREAD,
        "/api/v1/attachments/{id}/",
        "/api/v1/attachments/{id}/download/",
    ]:
        assert path in paths, path
    send = paths[BASE + "{id}/messages/"]["post"]["requestBody"]["content"]
    multipart = send["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "files" in schema["components"]["schemas"][multipart]["properties"]
    listing = {p["name"] for p in paths[BASE + "{id}/messages/"]["get"]["parameters"]}
    assert {"cursor", "limit"} <= listing
    assert "direct upload" in paths[BASE + "{id}/uploads/"]["post"]["description"]


def test_an_upload_form_cannot_be_used_again_after_the_file_was_sent(
    conversation, buyer, django_capture_on_commit_callbacks
):
    started = start_upload(buyer, conversation)
    assert post_bytes(started["upload"], "scan.pdf", PDF).status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        sent = buyer.post(
            messages_url(conversation), {"upload_ids": [started["id"]]}, format="json"
        )
    assert sent.status_code == 201
    files_after_send = stored_files()

    again = post_bytes(started["upload"], "scan.pdf", EXE)

    # Nothing may land where no row tracks it (and nothing replaces the sent file).
    assert again.status_code == 409
    assert stored_files() == files_after_send


def test_an_upload_form_cannot_be_used_again_after_the_file_was_refused(conversation, buyer):
    started = start_upload(buyer, conversation, "invoice.pdf", len(EXE))
    post_bytes(started["upload"], "invoice.pdf", EXE)
    assert buyer.post(confirm_url(conversation, started["id"])).status_code == 400

    assert post_bytes(started["upload"], "invoice.pdf", EXE).status_code == 409
    assert stored_files() == []


def test_an_oversized_direct_upload_is_refused_before_it_is_read(conversation, buyer, settings):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = 100
    started = start_upload(buyer, conversation, "big.pdf", 100)
    path = local_path(started["upload"]["url"])

    response = APIClient().generic(
        "POST",
        path,
        b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 1024 * 1024),
    )

    assert response.status_code == 400
    assert stored_files() == []


def test_a_buyer_without_a_name_is_never_shown_by_email(conversation, buyer, seller):
    conversation.buyer.full_name = ""
    conversation.buyer.save()
    buyer.post(messages_url(conversation), {"body": "Hello"}, format="json")

    listed = seller.get(BASE).json()["results"][0]
    (message,) = seller.get(messages_url(conversation)).json()["results"]

    assert listed["other_party"]["name"] == "A Bazaar buyer"
    assert message["sender"]["name"] == "A Bazaar buyer"
    assert conversation.buyer.email not in seller.get(BASE).content.decode()
