"""The messaging back office through the admin's HTTP interface, as a member of staff uses it.

Messages are sent through the services (so flags, holds, files and notifications are real);
lists that only need rows use the factories. Files are real bytes in the per-test temporary
attachment storage the root conftest sets up.
"""

import pytest
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.factories import StaffFactory, UserFactory
from core.models import AuditEntry
from escrow.factories import OrderFactory
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
    Message,
    Review,
    SenderRole,
)
from messaging.storage import attachment_storage
from messaging.tests.samples import EXE, PDF
from notifications.models import Notification

pytestmark = pytest.mark.django_db

CONVERSATIONS_URL = reverse("admin:messaging_conversation_changelist")
MESSAGES_URL = reverse("admin:messaging_message_changelist")
ATTACHMENTS_URL = reverse("admin:messaging_attachment_changelist")
EVENT = "message.received"


@pytest.fixture
def staff():
    return StaffFactory()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def blocking(settings):
    settings.MESSAGING_BLOCK_CONTACT_DETAILS = True


def change_url(obj):
    return reverse(f"admin:messaging_{obj._meta.model_name}_change", args=[obj.pk])


def post_url(conversation):
    return reverse("admin:messaging_conversation_post", args=[conversation.pk])


def pdf(name="brief.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/octet-stream")


def run_action(client, url, action, rows, **extra):
    """Run an admin action and follow to the page that shows its messages."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(r.pk) for r in rows], "index": 0, **extra}
    response = client.post(url, data, follow=True)
    assert response.redirect_chain, "the action should redirect back to the list"
    return response


def texts_at(response, level):
    """The messages a person sees on this page (followed) or on the next one (redirect)."""
    shown = response.context["messages"] if response.context else None
    if shown is None:
        shown = get_messages(response.wsgi_request)
    return [str(m) for m in shown if m.level == level]


def staff_with(*codenames):
    """A member of staff who holds only these messaging permissions."""
    user = StaffFactory(is_superuser=False)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="messaging", codename__in=codenames)
    )
    return user


def flagged_message(conversation):
    return services.message_send(
        conversation=conversation, sender=conversation.buyer, body="mail me at jo@example.com"
    )


def seen_by(message, user):
    return (
        selectors.messages_for(conversation=message.conversation, user=user)
        .filter(pk=message.pk)
        .exists()
    )


# --- Lists --------------------------------------------------------------------------------------


def messaging_rows(count):
    for i in range(count):
        conversation = OrderConversationFactory() if i % 2 else ConversationFactory()
        MessageFactory(conversation=conversation)
        MessageFactory(conversation=conversation, sender=conversation.seller)
        MessageFactory(
            conversation=conversation,
            contact_flags=[{"kind": "email", "text": "jo@example.com"}],
            review=Review.PENDING,
            held=True,
        )
        AttachmentFactory(message=MessageFactory(conversation=conversation))


@pytest.mark.parametrize("model", ["conversation", "message", "attachment"])
@pytest.mark.parametrize("count", [2, 20])
def test_every_messaging_list_renders_with_flat_queries(
    staff_client, model, count, django_assert_max_num_queries
):
    messaging_rows(count)

    # Up to 8 for the page, and one for whether the staff member has a two-factor device.
    with django_assert_max_num_queries(9):
        response = staff_client.get(reverse(f"admin:messaging_{model}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= count


def test_the_conversation_list_counts_messages_and_flags(staff_client):
    order = OrderFactory(listing__title="Blue mug")
    conversation = OrderConversationFactory(order=order)
    MessageFactory.create_batch(2, conversation=conversation)
    flagged_message(conversation)
    ConversationFactory(listing__title="Tall vase")

    response = staff_client.get(CONVERSATIONS_URL)

    rows = {c.pk: c for c in response.context["cl"].result_list}
    assert rows[conversation.pk]._message_count == 3
    html = response.content.decode()
    assert f"Order #{order.pk}: Blue mug" in html
    assert "1 (1 waiting)" in html
    assert reverse("admin:escrow_order_change", args=[order.pk]) in html


def test_conversations_filter_by_flagged_messages_and_kind(staff_client):
    flagged = ConversationFactory()
    flagged_message(flagged)
    quiet = OrderConversationFactory()
    MessageFactory(conversation=quiet)

    def listed(query):
        response = staff_client.get(CONVERSATIONS_URL + query)
        return {c.pk for c in response.context["cl"].result_list}

    assert listed("?flagged=waiting") == {flagged.pk}
    assert listed("?flagged=any") == {flagged.pk}
    assert listed("?flagged=none") == {quiet.pk}
    assert listed("?kind__exact=order") == {quiet.pk}


def test_conversations_are_searchable_by_emails_title_and_order_number(staff_client):
    mug = OrderConversationFactory(
        order=OrderFactory(listing__title="Blue mug", buyer__email="ann@example.com")
    )
    vase = ConversationFactory(listing__title="Tall vase")

    def found(term):
        response = staff_client.get(CONVERSATIONS_URL, {"q": term})
        return {c.pk for c in response.context["cl"].result_list}

    assert found("ann@example") == {mug.pk}
    assert found(vase.seller.email) == {vase.pk}
    assert found("vase") == {vase.pk}
    assert found(f"#{mug.order_id}") == {mug.pk}


# --- A conversation's page ----------------------------------------------------------------------


def test_the_conversation_page_shows_the_whole_thread_read_only(staff_client, blocking):
    conversation = ConversationFactory()
    store = conversation.listing.store
    store.name = "Pottery Barnyard"
    store.save(update_fields=["name"])
    question = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="Is it <b>dishwasher</b> safe?",
        files=[pdf("photo-of-mine.pdf")],
    )
    services.message_send(conversation=conversation, sender=conversation.seller, body="Yes, it is.")
    held = flagged_message(conversation)

    response = staff_client.get(change_url(conversation))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Is it &lt;b&gt;dishwasher&lt;/b&gt; safe?" in html  # escaped, never rendered
    assert "Yes, it is." in html
    assert "Pottery Barnyard" in html  # the seller is shown as their store
    assert conversation.buyer.get_full_name() in html
    assert f'id="message-{held.pk}"' in html
    assert "Held: the other side does not see this message" in html
    assert "Flagged, waiting for staff" in html
    assert "Review the 1 flagged message waiting for staff" in html
    assert "jo@example.com" in html
    attachment = question.attachments.get()
    assert "photo-of-mine.pdf" in html
    assert reverse("messaging:attachment", args=[attachment.pk]) + "?staff=1" in html
    assert attachment.key not in html  # storage keys are never shown
    assert 'name="_save"' not in html
    assert 'id="staff-post"' in html


@pytest.mark.parametrize("count", [2, 20])
def test_a_long_thread_takes_no_more_queries(staff_client, count, django_assert_max_num_queries):
    conversation = ConversationFactory()
    for i in range(count):
        sender = conversation.seller if i % 2 else conversation.buyer
        AttachmentFactory(
            message=MessageFactory(conversation=conversation, sender=sender, body=f"Note {i}"),
            state=AttachmentState.REMOVED if i % 3 else AttachmentState.ATTACHED,
        )

    with django_assert_max_num_queries(11):
        response = staff_client.get(change_url(conversation))

    assert response.status_code == 200
    assert len(response.context["thread"]) == count
    assert f"Note {count - 1}" in response.content.decode()


def test_staff_post_appears_as_staff_and_tells_both_sides(staff_client, staff):
    conversation = ConversationFactory()

    response = staff_client.post(
        post_url(conversation),
        {"body": "Staff here: please keep talking on Bazaar.", "files": [pdf("rules.pdf")]},
        follow=True,
    )

    assert response.status_code == 200
    message = conversation.messages.get(sender=staff)
    assert message.sender_role == SenderRole.STAFF
    assert message.body == "Staff here: please keep talking on Bazaar."
    assert [a.name for a in message.attachments.all()] == ["rules.pdf"]
    assert texts_at(response, messages.SUCCESS) == [
        "Posted as Bazaar staff. The buyer and the seller have been told."
    ]
    assert "Bazaar staff" in response.content.decode()
    for person in (conversation.buyer, conversation.seller):
        notes = Notification.objects.filter(recipient=person, event_code=EVENT)
        assert notes.count() == 1
        assert notes.get().context["sender_name"] == "Bazaar staff"
        assert seen_by(message, person)


def test_a_refused_staff_post_keeps_the_text_and_says_why(staff_client):
    conversation = ConversationFactory()
    bad = SimpleUploadedFile("invoice.pdf", EXE, content_type="application/pdf")

    empty = staff_client.post(post_url(conversation), {"body": "  "})
    with_exe = staff_client.post(
        post_url(conversation), {"body": "See the attached invoice.", "files": [bad]}
    )

    assert empty.status_code == 200
    assert "Write a message or attach a file." in empty.content.decode()
    assert with_exe.status_code == 200
    html = with_exe.content.decode()
    assert "See the attached invoice." in html  # what staff typed is still in the form
    assert "invoice.pdf" in html
    assert texts_at(with_exe, messages.ERROR) == [
        "Nothing was posted: fix the message below and send it again."
    ]
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert not Notification.objects.exists()


def test_staff_who_may_only_look_cannot_post(client):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, body="Hello there")
    client.force_login(staff_with("view_conversation", "view_message"))

    page = client.get(change_url(conversation))
    response = client.post(post_url(conversation), {"body": "Let me in"})

    assert page.status_code == 200
    assert "Hello there" in page.content.decode()
    assert 'id="staff-post"' not in page.content.decode()
    assert response.status_code == 403
    assert conversation.messages.count() == 1


def test_conversations_cannot_be_added_or_deleted(staff_client):
    conversation = ConversationFactory()

    add = staff_client.get(reverse("admin:messaging_conversation_add"))
    delete = staff_client.get(
        reverse("admin:messaging_conversation_delete", args=[conversation.pk])
    )

    assert add.status_code == 403
    assert delete.status_code == 403
    assert Conversation.objects.filter(pk=conversation.pk).exists()


# --- Moderation: reviewing flagged messages -----------------------------------------------------


def test_clearing_a_held_message_delivers_it_to_the_other_side(staff_client, staff, blocking):
    conversation = ConversationFactory()
    held = flagged_message(conversation)
    assert held.held
    assert not seen_by(held, conversation.seller)

    response = run_action(staff_client, MESSAGES_URL, "clear_review", [held])

    held.refresh_from_db()
    assert held.review == Review.CLEARED
    assert not held.held
    assert held.reviewed_by == staff
    assert seen_by(held, conversation.seller)
    assert Notification.objects.filter(recipient=conversation.seller, event_code=EVENT).exists()
    assert texts_at(response, messages.SUCCESS) == [
        "Marked 1 message as “nothing wrong”. 1 held message was delivered."
    ]
    assert AuditEntry.objects.filter(action="messaging.message.cleared", actor=staff).exists()


def test_confirming_a_held_message_keeps_it_from_the_other_side(staff_client, staff, blocking):
    conversation = ConversationFactory()
    held = flagged_message(conversation)

    response = run_action(staff_client, MESSAGES_URL, "confirm_review", [held])

    held.refresh_from_db()
    assert held.review == Review.CONFIRMED
    assert held.held
    assert not seen_by(held, conversation.seller)
    assert seen_by(held, conversation.buyer)  # its sender still sees what they wrote
    assert not Notification.objects.filter(recipient=conversation.seller).exists()
    assert texts_at(response, messages.SUCCESS) == ["Marked 1 message as “breaks the rules”."]


def test_review_reports_unflagged_and_already_reviewed_messages(staff_client):
    conversation = ConversationFactory()
    plain = MessageFactory(conversation=conversation)
    flagged = flagged_message(conversation)
    done = flagged_message(conversation)
    run_action(staff_client, MESSAGES_URL, "clear_review", [done])

    response = run_action(staff_client, MESSAGES_URL, "clear_review", [plain, flagged, done])

    assert texts_at(response, messages.WARNING) == [
        f"Message {plain.pk}: This message was not flagged, so there is no review."
    ]
    assert texts_at(response, messages.SUCCESS) == ["Marked 1 message as “nothing wrong”."]
    assert texts_at(response, messages.INFO) == ["1 message was already marked “nothing wrong”."]
    plain.refresh_from_db()
    flagged.refresh_from_db()
    assert plain.review == Review.NONE
    assert flagged.review == Review.CLEARED


def test_the_message_list_leads_to_the_flagged_messages_waiting_for_staff(staff_client):
    conversation = ConversationFactory()
    waiting = flagged_message(conversation)
    cleared = flagged_message(conversation)
    run_action(staff_client, MESSAGES_URL, "clear_review", [cleared])
    MessageFactory(conversation=conversation)

    page = staff_client.get(MESSAGES_URL)
    queue = staff_client.get(MESSAGES_URL, {"review__exact": Review.PENDING})
    of_conversation = staff_client.get(
        MESSAGES_URL, {"conversation__id__exact": conversation.pk, "review__exact": "pending"}
    )

    assert "Flagged, waiting for staff (1)" in page.content.decode()
    assert [m.pk for m in queue.context["cl"].result_list] == [waiting.pk]
    assert [m.pk for m in of_conversation.context["cl"].result_list] == [waiting.pk]
    assert "email" in queue.content.decode()  # the flags column


def test_staff_who_may_only_look_get_no_review_actions(client, blocking):
    conversation = ConversationFactory()
    held = flagged_message(conversation)
    client.force_login(staff_with("view_message"))

    page = client.get(MESSAGES_URL)
    response = client.post(
        MESSAGES_URL, {"action": "clear_review", ACTION_CHECKBOX_NAME: [held.pk], "index": 0}
    )

    assert page.status_code == 200
    assert "clear_review" not in page.content.decode()
    assert response.status_code == 200  # the list again: the action is not offered
    held.refresh_from_db()
    assert held.held and held.review == Review.PENDING


def test_messages_cannot_be_edited_added_or_deleted(staff_client):
    message = MessageFactory(body="As written")

    page = staff_client.get(change_url(message))
    edit = staff_client.post(change_url(message), {"body": "Rewritten"})
    add = staff_client.get(reverse("admin:messaging_message_add"))
    delete = staff_client.get(reverse("admin:messaging_message_delete", args=[message.pk]))

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert edit.status_code == 403
    assert add.status_code == 403
    assert delete.status_code == 403
    message.refresh_from_db()
    assert message.body == "As written"


# --- Attachments --------------------------------------------------------------------------------


def test_removing_a_file_deletes_it_and_the_thread_says_so(client, staff_client, staff):
    conversation = ConversationFactory()
    message = services.message_send(
        conversation=conversation, sender=conversation.buyer, body="Here", files=[pdf()]
    )
    attachment = message.attachments.get()
    storage = attachment_storage()
    download = reverse("messaging:attachment", args=[attachment.pk])
    assert storage.exists(attachment.key)

    confirm = staff_client.post(
        ATTACHMENTS_URL,
        {"action": "remove_files", ACTION_CHECKBOX_NAME: [attachment.pk], "index": 0},
    )
    assert confirm.status_code == 200  # the confirmation page, with a reason to give
    assert "brief.pdf" in confirm.content.decode()
    assert storage.exists(attachment.key)

    response = run_action(
        staff_client,
        ATTACHMENTS_URL,
        "remove_files",
        [attachment],
        post="yes",
        reason="Contains a phone number",
    )

    attachment.refresh_from_db()
    assert attachment.state == AttachmentState.REMOVED
    assert attachment.removed_by == staff
    assert attachment.removed_reason == "Contains a phone number"
    assert not storage.exists(attachment.key)
    assert texts_at(response, messages.SUCCESS) == ["Removed 1 file: it is deleted from storage."]
    thread = staff_client.get(change_url(conversation)).content.decode()
    assert "Removed by staff on" in thread and "Contains a phone number" in thread
    assert download + "?staff=1" not in thread
    inline = staff_client.get(change_url(message)).content.decode()
    assert "Removed by staff" in inline
    client.force_login(conversation.seller)
    assert client.get(download).status_code == 404


def test_removing_an_already_removed_file_says_so(staff_client, staff):
    message = services.message_send(
        conversation=(c := ConversationFactory()), sender=c.buyer, body="", files=[pdf()]
    )
    attachment = services.attachment_remove(
        attachment=message.attachments.get(), staff=staff, reason="First time"
    )

    response = run_action(
        staff_client, ATTACHMENTS_URL, "remove_files", [attachment], post="yes", reason="Again"
    )

    attachment.refresh_from_db()
    assert attachment.removed_reason == "First time"
    assert texts_at(response, messages.INFO) == ["1 file was already removed."]


def test_the_staff_download_link_redirects_staff_who_may_view_files(client):
    conversation = ConversationFactory()
    message = services.message_send(
        conversation=conversation, sender=conversation.seller, body="Invoice", files=[pdf()]
    )
    attachment = message.attachments.get()
    link = reverse("messaging:attachment", args=[attachment.pk]) + "?staff=1"
    client.force_login(staff_with("view_attachment"))

    page = client.get(change_url(attachment))
    response = client.get(link)

    assert page.status_code == 200
    assert link in page.content.decode()
    assert attachment.key not in page.content.decode()
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    served = client.get(response["Location"])
    assert b"".join(served.streaming_content) == PDF

    client.force_login(staff_with("view_conversation"))
    assert client.get(link).status_code == 404


def test_staff_who_may_only_look_cannot_remove_files(client):
    message = services.message_send(
        conversation=(c := ConversationFactory()), sender=c.buyer, body="", files=[pdf()]
    )
    attachment = message.attachments.get()
    client.force_login(staff_with("view_attachment"))

    response = client.post(
        ATTACHMENTS_URL,
        {
            "action": "remove_files",
            ACTION_CHECKBOX_NAME: [attachment.pk],
            "index": 0,
            "post": "yes",
            "reason": "x",
        },
    )

    assert response.status_code == 200
    attachment.refresh_from_db()
    assert attachment.state == AttachmentState.ATTACHED
    assert attachment_storage().exists(attachment.key)


def test_attachments_cannot_be_added_or_deleted(staff_client):
    attachment = AttachmentFactory()

    add = staff_client.get(reverse("admin:messaging_attachment_add"))
    delete = staff_client.get(reverse("admin:messaging_attachment_delete", args=[attachment.pk]))

    assert add.status_code == 403
    assert delete.status_code == 403


# --- Outsiders ----------------------------------------------------------------------------------


def test_people_who_are_not_staff_cannot_reach_the_messaging_admin(client):
    conversation = ConversationFactory()
    message = MessageFactory(conversation=conversation)
    attachment = AttachmentFactory(message=message)
    client.force_login(conversation.buyer)

    pages = [
        CONVERSATIONS_URL,
        MESSAGES_URL,
        ATTACHMENTS_URL,
        change_url(conversation),
        change_url(message),
        change_url(attachment),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    posted = client.post(post_url(conversation), {"body": "I am staff now"})
    assert posted.status_code == 302
    assert conversation.messages.count() == 1
    staff_link = reverse("messaging:attachment", args=[attachment.pk]) + "?staff=1"
    assert client.get(staff_link).status_code == 404
    other = UserFactory()
    client.force_login(other)
    assert client.get(change_url(conversation)).status_code == 302
