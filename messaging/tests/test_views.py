"""Messaging pages through HTTP: the inbox, a conversation and its send form, downloads, asking
a seller about a listing, the order room's conversation and the top bar's unread badge.

Files are real bytes in the per-test temporary attachment storage (root conftest), so "nothing
stored" is checked on disk.
"""

import re
from html import unescape

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from escrow.factories import OrderFactory
from escrow.testing import onboard, place_order
from marketplace.factories import ListingFactory
from marketplace.models import ListingStatus
from messaging import selectors, services
from messaging.factories import (
    AttachmentFactory,
    ConversationFactory,
    MessageFactory,
    OrderConversationFactory,
)
from messaging.models import Attachment, AttachmentState, Conversation, Message, SenderRole
from messaging.storage import attachment_storage
from messaging.tests.samples import EXE, PDF

pytestmark = pytest.mark.django_db

CONTACT = "Email me at jo@example.com and we can sort it out"

INBOX = reverse("messaging:inbox")


def url(name, *args):
    return reverse(f"messaging:{name}", args=args)


def html(response):
    return response.content.decode()


def text(response):
    """The page's visible words, tags stripped and whitespace folded, for plain assertions."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html(response), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def pdf(name="brief.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def stored_files(tmp_path):
    root = tmp_path / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def field_errors(response, field):
    """The error messages shown next to a form field (Django's errorlist with the field's id)."""
    match = re.search(
        rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html(response), flags=re.S
    )
    if not match:
        return []
    return [unescape(m) for m in re.findall(r"<li>(.*?)</li>", match.group(1), flags=re.S)]


def page_alerts(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def follow_messages(client, response):
    """The django.contrib.messages shown on the page a redirect leads to."""
    assert response.status_code == 302, response.status_code
    page = client.get(response["Location"])
    return page, [str(m) for m in page.context["messages"]]


@pytest.fixture
def conversation():
    return ConversationFactory(buyer__full_name="Sam Buyer", listing__title="Blue mug")


@pytest.fixture
def buyer_client(client, conversation):
    client.force_login(conversation.buyer)
    return client


@pytest.fixture
def seller_client(client, conversation):
    client.force_login(conversation.seller)
    return client


def seller_named(store_name):
    seller = SellerFactory()
    seller.store.name = store_name
    seller.store.save(update_fields=["name"])
    return seller


def send(conversation, sender, body="Hello", **kwargs):
    return services.message_send(conversation=conversation, sender=sender, body=body, **kwargs)


# --- Inbox --------------------------------------------------------------------------------------


def test_inbox_lists_conversations_newest_first_with_the_other_party_and_unread_badges(client):
    seller = seller_named("Clay Corner")
    older = ConversationFactory(
        seller=seller, listing__store=seller.store, buyer__full_name="Ada Older"
    )
    newer = ConversationFactory(
        seller=seller, listing__store=seller.store, buyer__full_name="Ben Newer"
    )
    send(older, older.buyer, "Is the glaze food safe?")
    send(newer, newer.buyer, "Do you ship to Norway?")
    send(newer, newer.buyer, "And how long does it take?")

    client.force_login(seller)
    response = client.get(INBOX)

    assert response.status_code == 200
    rows = response.context["conversations"]
    assert [c.pk for c in rows] == [newer.pk, older.pk]
    page = html(response)
    # The seller sees buyers' names; each row its preview and its own unread count.
    assert page.index("Ben Newer") < page.index("Ada Older")
    assert "And how long does it take?" in page
    assert 'data-unread="2"' in page and 'data-unread="1"' in page
    assert "2 unread messages" in text(response)

    # The buyer sees the store's name, and no badge for their own message.
    client.force_login(older.buyer)
    response = client.get(INBOX)
    assert "Clay Corner" in text(response)
    assert "Ada Older" not in text(response)
    assert "data-unread=" not in html(response)


def test_inbox_truncates_long_previews(buyer_client, conversation):
    send(conversation, conversation.seller, "word " * 100 + "THE-END")

    page = text(buyer_client.get(INBOX))

    assert "word word" in page
    assert "THE-END" not in page
    assert "…" in page


def test_an_empty_inbox_says_how_to_start(client):
    client.force_login(UserFactory())

    response = client.get(INBOX)

    assert "No messages yet." in text(response)
    assert "Ask the seller a question" in text(response)


def test_the_inbox_is_paginated_by_twenty(client):
    seller = SellerFactory()
    for _ in range(21):
        MessageFactory(conversation=ConversationFactory(seller=seller, listing__store=seller.store))
    client.force_login(seller)

    first = client.get(INBOX)
    second = client.get(INBOX, {"page": 2})

    assert len(first.context["conversations"]) == 20
    assert len(second.context["conversations"]) == 1
    assert "Page 1 of 2" in text(first)


@pytest.mark.parametrize("rows", [2, 20])
def test_the_inbox_costs_the_same_queries_for_2_and_20_conversations(
    client, rows, django_assert_max_num_queries
):
    seller = SellerFactory()
    for i in range(rows):
        if i % 2:
            conversation = ConversationFactory(seller=seller, listing__store=seller.store)
        else:
            order = OrderFactory(listing=ListingFactory(store=seller.store))
            conversation = OrderConversationFactory(order=order)
        assert conversation.seller == seller
        MessageFactory(conversation=conversation)
    client.force_login(seller)

    # session, user, count, the page of conversations (annotated, joined), the top bar's seller
    # check, the notification bell's count and latest five, the messages badge.
    with django_assert_max_num_queries(8):
        response = client.get(INBOX)

    assert len(response.context["conversations"]) == rows
    assert html(response).count('data-unread="1"') == rows


def test_the_inbox_needs_a_login(client):
    response = client.get(INBOX)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- The top bar's badge ------------------------------------------------------------------------


def test_the_messages_link_shows_the_unread_total_for_screen_readers_too(
    seller_client, conversation
):
    send(conversation, conversation.buyer, "One")
    send(conversation, conversation.buyer, "Two")

    page = html(seller_client.get(reverse("home")))

    link = re.search(r"<a[^>]*data-messages-link[^>]*>(.*?)</a>", page, flags=re.S).group(1)
    assert re.search(r'<span class="nav-badge" aria-hidden="true"[^>]*>2</span>', link)
    assert '<span class="visually-hidden"> (2 unread messages)</span>' in link


def test_no_badge_without_unread_messages_and_no_link_for_anonymous_visitors(client, conversation):
    client.force_login(conversation.buyer)
    page = html(client.get(reverse("home")))
    assert "data-messages-link" in page
    assert "data-messages-badge" not in page

    client.logout()
    assert "data-messages-link" not in html(client.get(reverse("home")))


# --- A conversation -----------------------------------------------------------------------------


def test_opening_a_conversation_shows_it_oldest_first_and_marks_it_read(
    seller_client, conversation
):
    send(conversation, conversation.buyer, "First question")
    send(conversation, conversation.buyer, "Second question")
    assert selectors.unread_total(user=conversation.seller) == 2

    response = seller_client.get(url("conversation", conversation.pk))

    assert response.status_code == 200
    page = text(response)
    assert page.index("First question") < page.index("Second question")
    assert "Question about “Blue mug”" in page
    assert "Sam Buyer" in page
    assert selectors.unread_total(user=conversation.seller) == 0
    # The top bar rendered after the page was marked read: no badge left.
    assert "data-messages-badge" not in html(response)
    conversation.seller.refresh_from_db()
    assert conversation.seller.last_seen_at is not None


def test_the_header_links_to_the_listing_or_the_order(client):
    inquiry = ConversationFactory()
    client.force_login(inquiry.buyer)
    page = html(client.get(url("conversation", inquiry.pk)))
    assert f'href="{inquiry.listing.get_absolute_url()}"' in page

    order_conversation = OrderConversationFactory()
    client.force_login(order_conversation.buyer)
    page = html(client.get(url("conversation", order_conversation.pk)))
    assert f'href="{order_conversation.order.get_absolute_url()}"' in page
    assert f"Go to order #{order_conversation.order_id}" in page


def test_own_staff_and_other_messages_look_different(buyer_client, conversation):
    theirs = send(conversation, conversation.seller, "From the store")
    mine = send(conversation, conversation.buyer, "From me")
    staff = services.message_post_as_staff(
        conversation=conversation, staff=StaffFactory(), body="Please keep it friendly"
    )

    page = html(buyer_client.get(url("conversation", conversation.pk)))

    found = re.findall(r'<li class="([^"]*)" id="message-(\d+)"', page)
    classes = {int(pk): cls for cls, pk in found}
    assert classes == {
        theirs.pk: "message",
        mine.pk: "message message--own",
        staff.pk: "message message--staff",
    }
    assert re.search(r'class="chip message__staff-mark">Bazaar staff<', page)
    assert conversation.listing.store.name in page


def test_a_held_message_is_shown_to_its_sender_with_a_note_and_not_to_the_other_side(
    client, conversation, settings
):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True
    send(conversation, conversation.buyer, CONTACT)

    client.force_login(conversation.buyer)
    page = text(client.get(url("conversation", conversation.pk)))
    assert "jo@example.com" in page
    assert "Held for review" in page

    client.force_login(conversation.seller)
    page = text(client.get(url("conversation", conversation.pk)))
    assert "jo@example.com" not in page
    assert "Held for review" not in page


def test_attachments_are_listed_with_size_and_removed_ones_say_so(buyer_client, conversation):
    message = MessageFactory(conversation=conversation, sender=conversation.seller)
    kept = AttachmentFactory(message=message, name="proof.pdf", size=2048)
    AttachmentFactory(
        message=message, name="phone-number.png", state=AttachmentState.REMOVED, size=10
    )

    response = buyer_client.get(url("conversation", conversation.pk))

    page = text(response)
    assert "proof.pdf (2 KB)" in page
    assert f'href="{url("attachment", kept.pk)}"' in html(response)
    assert "“phone-number.png” was removed by Bazaar staff" in page
    assert html(response).count("/messages/attachments/") == 1


def test_a_long_conversation_shows_the_newest_fifty_with_a_link_to_earlier_ones(
    buyer_client, conversation, django_assert_max_num_queries
):
    for i in range(60):
        MessageFactory(conversation=conversation, body=f"Message number {i:02d}.")

    response = buyer_client.get(url("conversation", conversation.pk))

    shown = response.context["conversation_messages"]
    assert [m.body for m in shown][:1] == ["Message number 10."]
    assert shown[-1].body == "Message number 59."
    assert len(shown) == 50
    link = re.search(r'href="\?before=(\d+)">Show earlier messages', html(response))
    assert int(link.group(1)) == shown[0].pk

    earlier = buyer_client.get(url("conversation", conversation.pk), {"before": link.group(1)})

    assert [m.body for m in earlier.context["conversation_messages"]] == [
        f"Message number {i:02d}." for i in range(10)
    ]
    assert "Show earlier messages" not in text(earlier)
    assert "Show the newest messages" in text(earlier)


# --- Sending ------------------------------------------------------------------------------------


def test_sending_a_message_redirects_to_the_conversation_with_a_confirmation(
    buyer_client, conversation
):
    response = buyer_client.post(url("send", conversation.pk), {"body": "Can you do it in red?"})

    assert response["Location"] == url("conversation", conversation.pk)
    page, alerts = follow_messages(buyer_client, response)
    assert alerts == ["Message sent."]
    assert "Can you do it in red?" in text(page)
    message = Message.objects.get(conversation=conversation)
    assert message.sender == conversation.buyer and message.sender_role == SenderRole.BUYER
    assert selectors.unread_total(user=conversation.seller) == 1


def test_sending_a_pdf_stores_and_lists_it(buyer_client, conversation, tmp_path):
    response = buyer_client.post(
        url("send", conversation.pk), {"body": "The brief", "files": [pdf("Brief v2.pdf")]}
    )

    assert response.status_code == 302
    attachment = Attachment.objects.get(conversation=conversation)
    assert attachment.name == "Brief v2.pdf"
    assert attachment.state == AttachmentState.ATTACHED
    assert attachment.size == len(PDF)
    assert attachment_storage().open(attachment.key).read() == PDF
    assert len(stored_files(tmp_path)) == 1
    page = text(buyer_client.get(url("conversation", conversation.pk)))
    assert f"Brief v2.pdf ({len(PDF)} bytes)" in page


def test_a_file_alone_is_a_message(buyer_client, conversation):
    response = buyer_client.post(url("send", conversation.pk), {"body": "", "files": [pdf()]})

    assert response.status_code == 302
    assert Message.objects.get(conversation=conversation).attachments.count() == 1


def test_a_disguised_program_is_refused_next_to_the_files_field_and_nothing_is_kept(
    buyer_client, conversation, tmp_path
):
    disguised = SimpleUploadedFile("report.pdf", EXE, content_type="application/pdf")

    response = buyer_client.post(
        url("send", conversation.pk),
        {"body": "Here is the report", "files": [pdf("fine.pdf"), disguised]},
    )

    assert response.status_code == 200
    errors = field_errors(response, "files")
    assert len(errors) == 1 and "report.pdf" in errors[0]
    assert field_errors(response, "body") == []
    # What was typed stays; the files must be chosen again, and the page says so.
    assert re.search(r'name="body"[^>]*>\s*Here is the report</textarea>', html(response))
    assert "choose them again" in text(response)
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(tmp_path) == []


def test_too_many_files_are_refused(buyer_client, conversation, settings, tmp_path):
    settings.MESSAGING_ATTACHMENT_MAX_FILES = 2

    response = buyer_client.post(
        url("send", conversation.pk),
        {"body": "Three", "files": [pdf("a.pdf"), pdf("b.pdf"), pdf("c.pdf")]},
    )

    assert field_errors(response, "files") == ["Attach at most 2 files to one message."]
    assert not Message.objects.exists()
    assert stored_files(tmp_path) == []


def test_an_empty_message_is_refused_next_to_the_text(buyer_client, conversation):
    response = buyer_client.post(url("send", conversation.pk), {"body": "   "})

    assert response.status_code == 200
    assert field_errors(response, "body") == ["Write a message or attach a file."]
    assert 'aria-invalid="true"' in html(response)
    assert not Message.objects.exists()


def test_the_limits_are_shown_next_to_the_file_input(buyer_client, conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_FILES = 3

    page = html(buyer_client.get(url("conversation", conversation.pk)))

    assert re.search(r'<input type="file" name="files" multiple[^>]*id="id_files"', page)
    assert 'enctype="multipart/form-data"' in page
    help_text = re.search(r'id="id_files_helptext">(.*?)</div>', page, flags=re.S).group(1)
    assert "Up to 3 files, 16 MB each" in help_text
    assert "PDF" in help_text


def test_a_flagged_message_is_sent_with_a_warning_instead_of_a_confirmation(
    buyer_client, conversation
):
    response = buyer_client.post(url("send", conversation.pk), {"body": CONTACT})

    _, alerts = follow_messages(buyer_client, response)
    message = Message.objects.get(conversation=conversation)
    assert message.contact_flags and not message.held
    assert alerts == [services.message_flag_warning(message=message)]
    assert "an email address" in alerts[0]


# --- Nobody else --------------------------------------------------------------------------------


def test_someone_outside_the_conversation_gets_404_everywhere(client, conversation, tmp_path):
    message = send(conversation, conversation.buyer, "Private", files=[pdf()])
    attachment = message.attachments.get()
    client.force_login(UserFactory())

    assert client.get(url("conversation", conversation.pk)).status_code == 404
    assert client.post(url("send", conversation.pk), {"body": "Hi"}).status_code == 404
    assert client.get(url("attachment", attachment.pk)).status_code == 404
    assert "Private" not in html(client.get(INBOX))
    assert Message.objects.count() == 1


def test_staff_outside_the_conversation_get_404_on_its_page_too(client, conversation):
    client.force_login(StaffFactory())

    assert client.get(url("conversation", conversation.pk)).status_code == 404


def test_a_participant_downloads_through_a_fresh_signed_link(client, conversation, tmp_path):
    message = send(conversation, conversation.buyer, "", files=[pdf("plan.pdf")])
    attachment = message.attachments.get()
    client.force_login(conversation.seller)

    response = client.get(url("attachment", attachment.pk))

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(django_settings.SITE_URL + "/messages/files/")
    served = client.get(location.removeprefix(django_settings.SITE_URL))
    assert served.status_code == 200
    assert served["Content-Disposition"] == 'attachment; filename="plan.pdf"'
    assert served["Content-Type"] == "application/pdf"
    assert b"".join(served.streaming_content) == PDF


# --- Asking about a listing ---------------------------------------------------------------------


@pytest.fixture
def listing():
    return ListingFactory(title="Speckled bowl", store=seller_named("Clay Corner").store)


def test_asking_a_question_opens_a_conversation_and_asking_again_returns_to_it(client, listing):
    buyer = UserFactory()
    client.force_login(buyer)

    form = client.get(url("ask", listing.pk))
    assert form.status_code == 200
    assert "Ask Clay Corner a question" in text(form)
    assert "Speckled bowl" in text(form)

    response = client.post(
        url("ask", listing.pk), {"body": "Is it dishwasher safe?", "files": [pdf()]}
    )

    conversation = Conversation.objects.get(listing=listing, buyer=buyer)
    assert response["Location"] == conversation.get_absolute_url()
    page, alerts = follow_messages(client, response)
    assert alerts == [
        "Your question was sent to Clay Corner. We will let you know when they answer."
    ]
    assert "Is it dishwasher safe?" in text(page)
    assert selectors.unread_total(user=listing.store.owner) == 1

    again = client.get(url("ask", listing.pk))
    assert again.status_code == 302
    assert again["Location"] == conversation.get_absolute_url()


def test_an_empty_question_is_refused_next_to_the_text(client, listing):
    client.force_login(UserFactory())

    response = client.post(url("ask", listing.pk), {"body": ""})

    assert field_errors(response, "body") == ["Write a message or attach a file."]
    assert not Conversation.objects.exists()


def test_the_owner_cannot_ask_their_own_listing(client, listing):
    client.force_login(listing.store.owner)

    page = client.get(url("ask", listing.pk))
    assert "This is your own listing." in text(page)
    assert "<textarea" not in html(page)

    response = client.post(url("ask", listing.pk), {"body": "Hello me"})
    assert response.status_code == 200
    assert field_errors(response, "body") == ["This is your own listing: there is nobody to ask."]
    assert not Conversation.objects.exists()


def test_a_listing_not_on_sale_takes_no_questions(client):
    listing = ListingFactory(status=ListingStatus.ARCHIVED)
    client.force_login(StaffFactory())  # staff can see any listing, but not ask about this one

    page = client.get(url("ask", listing.pk))
    assert "This listing is not on sale, so it takes no questions." in text(page)

    response = client.post(url("ask", listing.pk), {"body": "Still for sale?"})
    assert field_errors(response, "body") == [
        "This listing is not on sale, so it takes no questions."
    ]

    client.force_login(UserFactory())
    assert client.get(url("ask", listing.pk)).status_code == 404


def test_asking_needs_a_login_and_comes_back_after_it(client, listing):
    response = client.get(url("ask", listing.pk))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url('ask', listing.pk)}"


def test_the_listing_page_offers_to_ask_the_seller(client, listing):
    ask = url("ask", listing.pk)

    anonymous = html(client.get(listing.get_absolute_url()))
    assert re.search(
        rf'href="{reverse("login")}\?next={re.escape(ask)}"[^>]*>Log in to ask',
        anonymous.replace("%2F", "/"),
    )

    client.force_login(UserFactory())
    signed_in = html(client.get(listing.get_absolute_url()))
    assert f'href="{ask}">Ask the seller a question<' in signed_in

    client.force_login(listing.store.owner)
    assert "Ask the seller" not in html(client.get(listing.get_absolute_url()))


# --- The order room -----------------------------------------------------------------------------


def test_the_order_page_shows_the_conversation_and_can_send_into_it(client):
    order = OrderFactory(funded=True)
    conversation = OrderConversationFactory(order=order)
    send(conversation, order.seller, "Thanks for your order! Any colour preference?")
    client.force_login(order.buyer)

    page = client.get(order.get_absolute_url())

    assert "Thanks for your order! Any colour preference?" in text(page)
    assert f'href="{conversation.get_absolute_url()}">Open the full conversation' in html(page)
    assert f'action="{url("send", conversation.pk)}"' in html(page)
    assert selectors.unread_total(user=order.buyer) == 0  # seen in the order room

    response = client.post(
        url("send", conversation.pk),
        {"body": "Green, please.", "next": order.get_absolute_url() + "#messages"},
    )

    assert response["Location"] == order.get_absolute_url() + "#messages"
    after, alerts = follow_messages(client, response)
    assert alerts == ["Message sent."]
    assert "Green, please." in text(after)
    assert selectors.unread_total(user=order.seller) == 1


def test_placing_an_order_opens_its_conversation_and_the_order_page_only_reads_it(
    client, stripe_sandbox, django_capture_on_commit_callbacks
):
    seller, buyer = SellerFactory(), UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, seller)  # a seller who can take payments
    listing = ListingFactory(store=seller.store)
    order = place_order(buyer=buyer, listing_id=listing.pk)
    conversation = Conversation.objects.get(order=order)
    assert {(p.user_id, p.role) for p in conversation.participants.all()} == {
        (buyer.pk, "buyer"),
        (seller.pk, "seller"),
    }
    client.force_login(order.seller)

    page = client.get(order.get_absolute_url())

    assert "No messages yet." in text(page)
    assert f'action="{url("send", conversation.pk)}"' in html(page)
    assert Conversation.objects.count() == 1


def test_an_order_page_never_opens_a_conversation(client):
    order = OrderFactory()  # made by hand, without the conversation placing an order opens
    client.force_login(order.seller)

    page = client.get(order.get_absolute_url())

    assert page.status_code == 200
    assert "Messages with" not in text(page)
    assert not Conversation.objects.exists()


def test_the_order_room_shows_the_latest_twenty(client):
    order = OrderFactory(funded=True)
    conversation = OrderConversationFactory(order=order)
    for i in range(25):
        MessageFactory(conversation=conversation, body=f"Line {i:02d}.")
    client.force_login(order.seller)

    page = text(client.get(order.get_absolute_url()))

    assert "Line 04." not in page
    assert "Line 05." in page and "Line 24." in page
    assert "See them all" in page


def test_sending_returns_only_to_pages_on_this_site(buyer_client, conversation):
    response = buyer_client.post(
        url("send", conversation.pk), {"body": "Hi", "next": "https://evil.example/"}
    )

    assert response["Location"] == url("conversation", conversation.pk)


@pytest.mark.parametrize("rows", [3, 30])
def test_a_conversation_costs_the_same_queries_for_3_and_30_messages(
    seller_client, conversation, rows, django_assert_max_num_queries
):
    for i in range(rows):
        message = MessageFactory(conversation=conversation, body=f"Message {i}")
        AttachmentFactory(message=message)

    # session, user, the conversation, its messages, their files; marking read (the newest id,
    # the seat, the message notifications, in savepoints) and "seen now"; the top bar's seller
    # check, bell and Messages badge.
    with django_assert_max_num_queries(17):
        response = seller_client.get(url("conversation", conversation.pk))

    assert len(response.context["conversation_messages"]) == rows
