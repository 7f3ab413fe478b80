"""API shapes of conversations, messages and attachments.

Input serializers parse types only; the rules (length, number and kind of files, who may write)
live in messaging.services and come back as field errors. Output serializers render what
messaging.selectors fetched: nothing here may query per row. A message's conversation must be
the one the view read (with its listing and store), which `sender_name` needs.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escrow.serializers import MAX_ID
from messaging import services
from messaging.models import (
    AttachmentState,
    ConversationKind,
    ParticipantRole,
    SenderRole,
)

ATTACHED_FILE_COPY = "Sent a file"
LISTING_NOT_AVAILABLE = "This listing is not available."


# --- Input --------------------------------------------------------------------------------------


def _upload_ids_field():
    return serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        help_text="Ids of direct uploads (POST .../uploads/) to attach; repeat the field in a "
        "multipart form.",
    )


def _files_field():
    return serializers.ListField(
        # Empty files and every other rule are checked by the service, with its own message.
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Files to attach (multipart only): repeat the field `files` for each file. "
        "PDF, images, Office and text documents; see the 400 messages for the limits.",
    )


class MessageCreateInputSerializer(serializers.Serializer):
    """A message as JSON: text and direct uploads."""

    body = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text=f"The message text, at most {services.MAX_BODY_CHARS} characters. May be "
        "empty when files are attached.",
    )
    upload_ids = _upload_ids_field()


class MessageCreateWithFilesInputSerializer(MessageCreateInputSerializer):
    """A message as a multipart form: text, files and direct uploads."""

    files = _files_field()


class InquiryCreateInputSerializer(MessageCreateInputSerializer):
    listing = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="The id of the listing to ask about. A second question about the same "
        "listing continues the conversation you already have.",
        error_messages={
            "min_value": LISTING_NOT_AVAILABLE,
            "max_value": LISTING_NOT_AVAILABLE,
        },
    )


class InquiryCreateWithFilesInputSerializer(InquiryCreateInputSerializer):
    files = _files_field()


class StoreMessageInputSerializer(serializers.Serializer):
    store = serializers.SlugField(
        max_length=100, help_text="The store's slug, as in /api/v1/stores/{slug}/."
    )
    body = serializers.CharField(
        help_text=f"What you want to tell or ask the store, at most {services.MAX_BODY_CHARS} "
        "characters. A second message continues the conversation you already have with it.",
    )


class ReadInputSerializer(serializers.Serializer):
    up_to_id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Mark read up to and including this message id (the newest one shown). "
        "Everything when left out.",
    )


class UploadStartInputSerializer(serializers.Serializer):
    filename = serializers.CharField(
        max_length=1000, help_text="The file's name on the device, e.g. receipt.pdf."
    )
    size = serializers.IntegerField(
        min_value=0, max_value=MAX_ID, help_text="The file's size in bytes."
    )


# --- Output -------------------------------------------------------------------------------------


class ListingRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)


class PersonRefSerializer(serializers.Serializer):
    name = serializers.CharField(
        read_only=True, help_text="The store's name for a seller, the person's name for a buyer."
    )
    # The same choice set as an order's `role`, so the schema has one RoleEnum for both.
    role = serializers.ChoiceField(choices=list(ParticipantRole.values), read_only=True)


class ParticipantOutputSerializer(PersonRefSerializer):
    is_me = serializers.BooleanField(read_only=True)


def _person(conversation, role):
    if role == ParticipantRole.SELLER:
        return {"name": conversation.store_name, "role": role}
    return {"name": services.buyer_display_name(user=conversation.buyer), "role": role}


def _preview(body):
    if body is None:
        return ""
    if not body:
        return ATTACHED_FILE_COPY
    text = " ".join(body.split())
    limit = services.PREVIEW_CHARS
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConversationOutputSerializer(serializers.Serializer):
    """A conversation as one of its two people sees it (from selectors.conversations_for)."""

    id = serializers.IntegerField(read_only=True)
    # Plain strings: an enum named "kind" or "role" would clash in the schema with listings'
    # and orders' choice sets of the same name.
    kind = serializers.CharField(
        read_only=True,
        help_text=f"{ConversationKind.INQUIRY}: a question about a listing; "
        f"{ConversationKind.ORDER}: the conversation of an order; "
        f"{ConversationKind.STORE}: a message to a store (from its Contact page).",
    )
    subject = serializers.CharField(read_only=True)
    listing = ListingRefSerializer(
        read_only=True, allow_null=True, help_text="null for a message to a store."
    )
    order_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The order, for an order's conversation."
    )
    other_party = serializers.SerializerMethodField()
    unread_count = serializers.IntegerField(
        read_only=True, min_value=0, help_text="Messages from the other side you have not read."
    )
    last_message_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_message_preview = serializers.SerializerMethodField(
        help_text="The start of the newest message, or “Sent a file”; empty before the first."
    )

    def _me(self, conversation):
        return self.context["request"].user.pk

    @extend_schema_field(PersonRefSerializer)
    def get_other_party(self, conversation):
        if self._me(conversation) == conversation.seller_id:
            return _person(conversation, ParticipantRole.BUYER)
        return _person(conversation, ParticipantRole.SELLER)

    @extend_schema_field(OpenApiTypes.STR)
    def get_last_message_preview(self, conversation):
        return _preview(conversation.last_body)


class ConversationDetailOutputSerializer(ConversationOutputSerializer):
    participants = serializers.SerializerMethodField()

    @extend_schema_field(ParticipantOutputSerializer(many=True))
    def get_participants(self, conversation):
        me = self._me(conversation)
        return [
            _person(conversation, ParticipantRole.BUYER) | {"is_me": me == conversation.buyer_id},
            _person(conversation, ParticipantRole.SELLER) | {"is_me": me == conversation.seller_id},
        ]


class AttachmentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    size = serializers.IntegerField(read_only=True, help_text="Bytes.")
    content_type = serializers.CharField(read_only=True)
    removed = serializers.BooleanField(
        source="is_removed",
        read_only=True,
        help_text="Staff took the file down: it can no longer be downloaded.",
    )
    download_url = serializers.SerializerMethodField(
        help_text="GET it (signed in) to be redirected to the file; null once removed."
    )

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download_url(self, attachment):
        if attachment.state == AttachmentState.REMOVED:
            return None
        path = reverse("api-attachment-download", kwargs={"pk": attachment.pk})
        return self.context["request"].build_absolute_uri(path)


class SenderOutputSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    role = serializers.CharField(
        read_only=True,
        help_text="buyer, seller, staff (Bazaar staff handling a dispute) or note (a note "
        "Bazaar wrote, e.g. when a dispute opened).",
    )


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    sender = serializers.SerializerMethodField()
    is_mine = serializers.SerializerMethodField()
    body = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    held = serializers.BooleanField(
        read_only=True,
        help_text="Your message is held for staff review: the other side does not see it yet.",
    )
    attachments = AttachmentOutputSerializer(many=True, read_only=True)

    @extend_schema_field(SenderOutputSerializer)
    def get_sender(self, message):
        return {"name": services.message_sender_name(message=message), "role": message.sender_role}

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_mine(self, message):
        # A note is Bazaar's, whoever's action it records.
        return (
            message.sender_id == self.context["request"].user.pk
            and message.sender_role != SenderRole.NOTE
        )


class MessageSentOutputSerializer(MessageOutputSerializer):
    conversation_id = serializers.IntegerField(read_only=True)
    warning = serializers.SerializerMethodField(
        help_text="Show this to the sender when not empty: the message seems to share contact "
        "or payment details before the order is paid, and staff will review it."
    )

    @extend_schema_field(OpenApiTypes.STR)
    def get_warning(self, message):
        return services.message_flag_warning(message=message)


class ReadOutputSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField(
        min_value=0, help_text="Unread messages left in this conversation."
    )
    unread_total = serializers.IntegerField(
        min_value=0, help_text="Unread messages left in all your conversations."
    )


class UnreadTotalOutputSerializer(serializers.Serializer):
    unread_total = serializers.IntegerField(
        min_value=0, help_text="Unread messages in all your conversations."
    )


class UploadFormSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="POST the file here, as multipart/form-data.")
    fields = serializers.DictField(
        child=serializers.CharField(),
        help_text="Form fields to send, as they are, before the file (may be empty).",
    )


class UploadStartOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The upload's id: confirm it or pass it in upload_ids.")
    upload = UploadFormSerializer()
    max_bytes = serializers.IntegerField(help_text="The largest file the upload accepts.")
    expires_in = serializers.IntegerField(help_text="Seconds until the upload URL expires.")


class UploadOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True, help_text="The name it will be shown under.")
    size = serializers.IntegerField(read_only=True, help_text="Bytes, as stored.")
    content_type = serializers.CharField(read_only=True, help_text="Detected from the content.")
    state = serializers.CharField(
        read_only=True, help_text="uploaded: in storage and checked, ready to send."
    )


class AttachmentLinkOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")
    content_type = serializers.CharField()
    url = serializers.URLField(help_text="Fetch the file here, without your token.")
    expires_in = serializers.IntegerField(help_text="Seconds until the URL stops working.")
