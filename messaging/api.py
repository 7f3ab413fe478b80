"""Conversations and their messages for mobile clients, mounted at /api/v1/conversations/.

GET  /api/v1/conversations/                           your conversations, newest activity first
POST /api/v1/conversations/                           ask about a listing (opens the inquiry)
POST /api/v1/conversations/store/                     write to a store (its Contact page)
GET  /api/v1/conversations/unread-count/              unread messages in all your conversations
GET  /api/v1/conversations/for-order/{order_id}/      the conversation of one of your orders
GET  /api/v1/conversations/{id}/                      one of your conversations
GET  /api/v1/conversations/{id}/messages/             its messages, newest first (cursor pages)
POST /api/v1/conversations/{id}/messages/             write, with files or direct uploads
POST /api/v1/conversations/{id}/read/                 mark read
POST /api/v1/conversations/{id}/uploads/              start a direct upload of one file
POST /api/v1/conversations/{id}/uploads/{uuid}/confirm/  check a direct upload now
GET  /api/v1/attachments/{uuid}/                      a short-lived URL of an attached file
GET  /api/v1/attachments/{uuid}/download/             302 to that URL

Thin views: reads come from messaging.selectors, scoped to the person asking, so someone outside
a conversation gets a 404 (never a 403) and ids cannot be probed; every write is one call to
messaging.services, whose domain errors become 400/403 in core.api_errors.
"""

import uuid

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect
from django.utils.cache import add_never_cache_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import user_seen
from core.errors import ValidationFailed
from core.throttling import THROTTLED, ScopedRateThrottle
from escrow.selectors import order_for_participant_get
from marketplace.selectors import listing_public_queryset, store_list
from messaging import selectors, services
from messaging.models import Attachment, Conversation, ConversationKind
from messaging.serializers import (
    LISTING_NOT_AVAILABLE,
    AttachmentLinkOutputSerializer,
    ConversationDetailOutputSerializer,
    ConversationOutputSerializer,
    InquiryCreateInputSerializer,
    InquiryCreateWithFilesInputSerializer,
    MessageCreateInputSerializer,
    MessageCreateWithFilesInputSerializer,
    MessageOutputSerializer,
    MessageSentOutputSerializer,
    ReadInputSerializer,
    ReadOutputSerializer,
    StoreMessageInputSerializer,
    UnreadTotalOutputSerializer,
    UploadOutputSerializer,
    UploadStartInputSerializer,
    UploadStartOutputSerializer,
)

TAGS = ["messages"]
CONVERSATION_NOT_FOUND = "You have no conversation with this id."
ORDER_NOT_FOUND = "You have no order with this id."
UPLOAD_NOT_FOUND = "You have no unsent upload with this id in this conversation."
FILE_NOT_FOUND = "You have no file with this id."

UUID_PATTERN = r"[0-9a-fA-F-]{32,36}"

SEND_ERRORS = OpenApiResponse(
    description="Field messages: `body` (empty, too long), `files` (a file's type or size is "
    "not accepted, too many files), `upload_ids` (an upload is unknown, not uploaded yet or "
    "failed its check). Nothing is saved."
)

UPLOAD_HOWTO = (
    "A direct upload sends the file straight to storage instead of through this API, for "
    "large files and flaky connections:\n\n"
    "1. POST here with the file's name and size. The answer holds `upload.url` and "
    "`upload.fields`.\n"
    "2. POST the file to `upload.url` as multipart/form-data: every entry of `upload.fields` "
    "as a form field, as it is, then the file in a field named `file` (the last field). This is "
    "an S3 presigned POST in production; locally Bazaar's own signed upload URL behaves the "
    "same. Do not send your API token there. A file larger than `max_bytes` is refused, and "
    "the URL stops working after `expires_in` seconds.\n"
    "3. Either confirm it (POST .../uploads/{upload_id}/confirm/) to learn at once whether the "
    "file is accepted, or just pass its id in `upload_ids` when you send the message, which "
    "checks it then.\n\n"
    "The file's type is decided from its content when it is checked; a file that is not "
    "accepted is deleted, and you may start a new upload."
)


class ConversationPagination(PageNumberPagination):
    """Page-numbered; `limit` sets the page size."""

    page_size = 20
    page_size_query_param = "limit"
    page_size_query_description = "Conversations per page (at most 100)."
    max_page_size = 100


class MessagePagination(CursorPagination):
    """Newest first; follow `next` for older messages. A cursor stays right while new
    messages arrive, which page numbers would not."""

    ordering = "-id"
    page_size = 30
    page_size_query_param = "limit"
    page_size_query_description = "Messages per page (at most 100)."
    max_page_size = 100


def _no_store(response):
    # Counts, lists and signed URLs change every minute; no browser or proxy may cache them.
    add_never_cache_headers(response)
    return response


def _renamed_upload_errors(exc):
    # The services call direct uploads "uploads"; this API's request field is `upload_ids`.
    errors = {("upload_ids" if field == "uploads" else field): m for field, m in exc.errors.items()}
    return ValidationFailed(errors)


def _conversation_get(user, pk):
    try:
        return selectors.conversation_for(user=user, pk=pk)
    except Conversation.DoesNotExist:
        raise NotFound(CONVERSATION_NOT_FOUND) from None


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Your conversations, newest activity first"),
    retrieve=extend_schema(
        tags=TAGS,
        summary="One of your conversations",
        responses={
            200: ConversationDetailOutputSerializer,
            404: OpenApiResponse(description=CONVERSATION_NOT_FOUND),
        },
    ),
)
class ConversationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = (IsAuthenticated,)
    serializer_class = ConversationOutputSerializer
    pagination_class = ConversationPagination
    filter_backends = ()
    parser_classes = (JSONParser, MultiPartParser, FormParser)
    lookup_value_regex = r"\d+"
    queryset = Conversation.objects.none()  # for the schema; requests use the selectors
    throttle_classes = (ScopedRateThrottle,)

    @property
    def throttle_scope(self):
        # Writing is limited per person (BAZAAR_RATE_MESSAGES, shared with the pages).
        return "messages" if self.action in ("create", "message_send", "store_message") else None

    def get_queryset(self):
        return selectors.conversations_for(user=self.request.user)

    def get_object(self):
        return _conversation_get(self.request.user, self.kwargs["pk"])

    def list(self, request, *args, **kwargs):
        # The inbox: conversations with a message to read (an order's opens empty).
        page = self.paginate_queryset(selectors.inbox_for(user=request.user))
        body = self.get_serializer(page, many=True).data
        return _no_store(self.get_paginated_response(body))

    def retrieve(self, request, pk=None):
        conversation = self.get_object()
        body = ConversationDetailOutputSerializer(conversation, context={"request": request})
        return _no_store(Response(body.data))

    def _sent(self, message):
        # Read back as the messages list shows it (attachments in order, the sender's name).
        conversation = _conversation_get(self.request.user, message.conversation_id)
        message = selectors.messages_for(conversation=conversation, user=self.request.user).get(
            pk=message.pk
        )
        message.conversation = conversation
        body = MessageSentOutputSerializer(message, context={"request": self.request}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        summary="Ask a seller about a listing",
        description=(
            "Sends your message to the listing's seller. The first question opens the "
            "conversation; later ones continue it (its id is `conversation_id`). Attach files "
            "as in POST /api/v1/conversations/{id}/messages/; direct uploads need the "
            "conversation, so they work from the second message on.\n\n"
            "When `warning` is not empty, show it to the sender."
        ),
        request={
            "multipart/form-data": InquiryCreateWithFilesInputSerializer,
            "application/json": InquiryCreateInputSerializer,
        },
        responses={
            201: MessageSentOutputSerializer,
            400: OpenApiResponse(
                description="Field messages: `listing` (unknown or not on sale, your own), "
                "and as for sending a message. Nothing is saved."
            ),
            429: THROTTLED,
        },
    )
    def create(self, request):
        data = InquiryCreateWithFilesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        listing = self._listing_to_ask_about(request.user, fields["listing"])
        try:
            message = services.inquiry_send(
                listing=listing,
                buyer=request.user,
                body=fields["body"],
                files=fields["files"],
                upload_ids=fields["upload_ids"],
            )
        except ValidationFailed as exc:
            # The service refuses a seller's own listing under `body`; here the field at fault
            # is `listing`.
            if listing.store.owner_id == request.user.pk:
                raise ValidationFailed({"listing": exc.errors.get("body", [])}) from None
            raise _renamed_upload_errors(exc) from None
        return self._sent(message)

    @staticmethod
    def _listing_to_ask_about(user, listing_id):
        listing = listing_public_queryset().filter(pk=listing_id).first()
        if listing is not None:
            return listing
        # A listing taken off sale still hears from a buyer who already asked about it.
        conversation = (
            selectors.conversations_for(user=user)
            .filter(kind=ConversationKind.INQUIRY, listing_id=listing_id, buyer=user)
            .first()
        )
        if conversation is None:
            raise ValidationFailed({"listing": LISTING_NOT_AVAILABLE})
        return conversation.listing

    @extend_schema(
        tags=TAGS,
        summary="Write to a store (its Contact page's “Message the seller”)",
        description=(
            "Bazaar does not publish sellers' email addresses: buyers reach a store through "
            "messaging. The first message opens the conversation (kind `store`); later ones "
            "continue it (its id is `conversation_id`). Messages are checked for contact "
            "details like any other.\n\nWhen `warning` is not empty, show it to the sender."
        ),
        request=StoreMessageInputSerializer,
        responses={
            201: MessageSentOutputSerializer,
            400: OpenApiResponse(
                description="Field messages: `store` (unknown, or your own), `body` (empty or "
                "too long). Nothing is saved."
            ),
            429: THROTTLED,
        },
    )
    @action(detail=False, methods=["post"], url_path="store")
    def store_message(self, request):
        data = StoreMessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        store = store_list().filter(slug=data.validated_data["store"]).first()
        if store is None:
            raise ValidationFailed({"store": "There is no store with this slug."})
        if store.owner_id == request.user.pk:
            raise ValidationFailed(
                {"store": "This is your own store: there is nobody to write to."}
            )
        message = services.store_message_send(
            store=store, buyer=request.user, body=data.validated_data["body"]
        )
        return self._sent(message)

    @extend_schema(
        tags=TAGS,
        summary="How many messages wait for you, in all your conversations (the app polls this)",
        responses={200: UnreadTotalOutputSerializer},
    )
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        # The app polls this only while it is open: the person is online, so no emails.
        user_seen(user=request.user)
        body = {"unread_total": selectors.unread_total(user=request.user)}
        return _no_store(Response(UnreadTotalOutputSerializer(body).data))

    @extend_schema(
        tags=TAGS,
        summary="The conversation of one of your orders (opened when the order is placed)",
        parameters=[OpenApiParameter("order_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={
            200: ConversationDetailOutputSerializer,
            404: OpenApiResponse(description=ORDER_NOT_FOUND),
        },
    )
    @action(detail=False, methods=["get"], url_path=r"for-order/(?P<order_id>\d+)")
    def for_order(self, request, order_id=None):
        try:
            order = order_for_participant_get(user=request.user, pk=order_id)
        except Http404:
            raise NotFound(ORDER_NOT_FOUND) from None
        # Opened when the order was placed (escrow's order_placed signal): reading never writes.
        conversation = selectors.conversation_of_order(user=request.user, order=order)
        if conversation is None:
            raise NotFound(ORDER_NOT_FOUND)
        body = ConversationDetailOutputSerializer(conversation, context={"request": request})
        return _no_store(Response(body.data))

    @extend_schema(
        tags=TAGS,
        summary="Messages of a conversation, newest first",
        description=(
            "Cursor-paginated, newest first: the first page holds the latest messages; follow "
            "`next` for older ones. To catch up after a pause, load the first page again.\n\n"
            "Your own messages held for staff review are shown to you with `held` true; the "
            "other side does not see them. Reading messages does not mark them read: POST "
            ".../read/ when they are on screen."
        ),
        responses={
            200: MessageOutputSerializer(many=True),
            404: OpenApiResponse(description=CONVERSATION_NOT_FOUND),
        },
    )
    @action(detail=True, methods=["get"], pagination_class=MessagePagination)
    def messages(self, request, pk=None):
        conversation = self.get_object()
        page = self.paginate_queryset(
            selectors.messages_for(conversation=conversation, user=request.user)
        )
        for message in page:
            # The conversation read above has the listing and store `sender_name` shows.
            message.conversation = conversation
        body = MessageOutputSerializer(page, many=True, context={"request": request}).data
        return _no_store(self.get_paginated_response(body))

    @extend_schema(
        tags=TAGS,
        summary="Write in a conversation",
        description=(
            "Text in `body`, files in `files` (multipart; repeat the field for each file) "
            "and/or direct uploads in `upload_ids`. Every file is checked by its content "
            "before anything is saved: if one is refused, nothing is sent.\n\n"
            "When `warning` is not empty, show it to the sender: the message seems to share "
            "contact or payment details before the order is paid."
        ),
        request={
            "multipart/form-data": MessageCreateWithFilesInputSerializer,
            "application/json": MessageCreateInputSerializer,
        },
        responses={
            201: MessageSentOutputSerializer,
            400: SEND_ERRORS,
            403: OpenApiResponse(description="Only the buyer and the seller can write here"),
            404: OpenApiResponse(description=CONVERSATION_NOT_FOUND),
            429: THROTTLED,
        },
    )
    @messages.mapping.post
    def message_send(self, request, pk=None):
        conversation = self.get_object()
        data = MessageCreateWithFilesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            message = services.message_send(
                conversation=conversation, sender=request.user, **data.validated_data
            )
        except ValidationFailed as exc:
            raise _renamed_upload_errors(exc) from None
        return self._sent(message)

    @extend_schema(
        tags=TAGS,
        summary="Mark a conversation read",
        request=ReadInputSerializer,
        responses={
            200: ReadOutputSerializer,
            404: OpenApiResponse(description=CONVERSATION_NOT_FOUND),
        },
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        conversation = self.get_object()
        data = ReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.conversation_mark_read(
            conversation=conversation,
            user=request.user,
            up_to_id=data.validated_data.get("up_to_id"),
        )
        body = {
            "unread_count": self.get_object().unread_count,
            "unread_total": selectors.unread_total(user=request.user),
        }
        return _no_store(Response(ReadOutputSerializer(body).data))

    @extend_schema(
        tags=TAGS,
        summary="Start a direct upload of one file",
        description=UPLOAD_HOWTO,
        request=UploadStartInputSerializer,
        responses={
            201: UploadStartOutputSerializer,
            400: OpenApiResponse(
                description="Field messages: `size` (empty or too large), `filename` (missing, "
                "or too many unsent uploads)"
            ),
            403: OpenApiResponse(description="Only the buyer and the seller can attach files"),
            404: OpenApiResponse(description=CONVERSATION_NOT_FOUND),
        },
    )
    @action(detail=True, methods=["post"])
    def uploads(self, request, pk=None):
        conversation = self.get_object()
        data = UploadStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attachment, form = services.upload_start(
            conversation=conversation, user=request.user, **data.validated_data
        )
        body = {
            "id": attachment.pk,
            "upload": form,
            "max_bytes": settings.MESSAGING_ATTACHMENT_MAX_BYTES,
            "expires_in": settings.MESSAGING_UPLOAD_URL_EXPIRY,
        }
        response = Response(UploadStartOutputSerializer(body).data, status=status.HTTP_201_CREATED)
        return _no_store(response)

    @extend_schema(
        tags=TAGS,
        summary="Check a direct upload now",
        description=(
            "Reads the uploaded file back from storage and checks its size and type. Optional: "
            "sending the message with the upload's id checks it too. A refused file is deleted "
            "(400 with the reason in `uploads`); start a new upload for another file."
        ),
        request=None,
        parameters=[OpenApiParameter("upload_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={
            200: UploadOutputSerializer,
            400: OpenApiResponse(
                description="`uploads`: the file has not arrived yet, or is not accepted"
            ),
            404: OpenApiResponse(description=UPLOAD_NOT_FOUND),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=rf"uploads/(?P<upload_id>{UUID_PATTERN})/confirm",
    )
    def upload_confirm(self, request, pk=None, upload_id=None):
        conversation = self.get_object()
        try:
            upload = selectors.upload_for(user=request.user, pk=uuid.UUID(upload_id))
        except (Attachment.DoesNotExist, ValueError):
            raise NotFound(UPLOAD_NOT_FOUND) from None
        if upload.conversation_id != conversation.pk:
            raise NotFound(UPLOAD_NOT_FOUND)
        upload = services.upload_confirm(attachment=upload)
        return Response(UploadOutputSerializer(upload).data)


# --- Attachments --------------------------------------------------------------------------------


def _attachment_get(user, pk):
    try:
        return selectors.attachment_for(user=user, pk=pk)
    except Attachment.DoesNotExist:
        raise NotFound(FILE_NOT_FOUND) from None


class AttachmentApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=TAGS,
        operation_id="attachments_retrieve",
        summary="A short-lived URL of a file attached to one of your messages",
        description=(
            "For clients that fetch the file themselves. The URL works without your token and "
            "stops working after `expires_in` seconds: ask again for a new one."
        ),
        responses={
            200: AttachmentLinkOutputSerializer,
            404: OpenApiResponse(description=FILE_NOT_FOUND),
        },
    )
    def get(self, request, pk):
        attachment = _attachment_get(request.user, pk)
        body = {
            "id": attachment.pk,
            "name": attachment.name,
            "size": attachment.size,
            "content_type": attachment.content_type,
            "url": services.attachment_download_url(attachment=attachment),
            "expires_in": settings.MESSAGING_ATTACHMENT_URL_EXPIRY,
        }
        return _no_store(Response(AttachmentLinkOutputSerializer(body).data))


class AttachmentDownloadApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=TAGS,
        operation_id="attachments_download",
        summary="Download a file attached to one of your messages",
        description=(
            "Redirects (302) to a fresh short-lived URL of the file, which answers with the "
            "file as a download. Follow the redirect without sending your token."
        ),
        responses={
            302: OpenApiResponse(description="Location: the file's short-lived URL"),
            404: OpenApiResponse(description=FILE_NOT_FOUND),
        },
    )
    def get(self, request, pk):
        attachment = _attachment_get(request.user, pk)
        response = redirect(services.attachment_download_url(attachment=attachment))
        response["Cache-Control"] = "private, no-store"
        return response
