"""The messaging back office: conversations, the moderation queue and attachments.

Messages are evidence in disputes, so nothing here is edited by hand: staff read whole threads,
post into a conversation as Bazaar staff, decide on messages flagged for contact details, and
take files down, each through the same service a page would call (audit trail, delivery of
held messages, deletion of the stored file). Who may do what follows the model permissions:
changing conversations lets staff post, changing messages lets them review, changing
attachments lets them remove files.
"""

import logging

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import reason_confirmation
from core.errors import DomainError, ValidationFailed
from escrow.admin import ReadOnlyAdmin, ReadOnlyTabularInline, order_link
from messaging import contact_details, selectors, services
from messaging.files import human_size
from messaging.models import (
    Attachment,
    AttachmentState,
    Conversation,
    Message,
    Participant,
    ParticipantRole,
    Review,
)

logger = logging.getLogger(__name__)

SHORT_BODY_CHARS = 80
DEFAULT_REMOVAL_REASON = "Removed by staff"


# --- Shared pieces ------------------------------------------------------------------------------


def conversation_link(conversation):
    url = reverse("admin:messaging_conversation_change", args=[conversation.pk])
    return format_html('<a href="{}">{}</a>', url, conversation.subject)


def staff_download_url(attachment):
    """Where staff download a file: the access-checked door, in its staff mode."""
    return reverse("messaging:attachment", args=[attachment.pk]) + "?staff=1"


def attachment_status(attachment):
    """A file's state as staff need it: a download link, or when and why it was removed."""
    if attachment.state == AttachmentState.REMOVED:
        text = "Removed by staff"
        if attachment.removed_at:
            text += f" on {timezone.localtime(attachment.removed_at):%Y-%m-%d %H:%M}"
        if attachment.removed_reason:
            text += f": {attachment.removed_reason}"
        return text
    if attachment.state == AttachmentState.ATTACHED:
        return format_html('<a href="{}">Download</a>', staff_download_url(attachment))
    return attachment.get_state_display()


def flag_kinds(message):
    kinds = []
    for flag in message.contact_flags or ():
        if flag.get("kind") not in kinds:
            kinds.append(flag.get("kind"))
    return ", ".join(str(k) for k in kinds)


def flag_lines(message):
    """Each contact detail found, as staff need to judge it: what kind, and the text."""
    return [
        f"{contact_details.KIND_LABELS.get(flag.get('kind'), flag.get('kind'))}: "
        f"“{flag.get('text', '')}”"
        for flag in message.contact_flags or ()
    ]


def _refused(modeladmin, request, label, exc):
    """A service's refusal becomes a warning next to the row; anything else an error, logged."""
    if isinstance(exc, DomainError):
        modeladmin.message_user(request, f"{label}: {exc.message}", messages.WARNING)
        return
    logger.exception("Admin messaging action failed for %s", label)
    modeladmin.message_user(
        request,
        f"{label}: something went wrong ({exc.__class__.__name__}); nothing was changed for it. "
        "The error is logged.",
        messages.ERROR,
    )


# --- Conversations ------------------------------------------------------------------------------


class FlaggedFilter(admin.SimpleListFilter):
    title = _("flagged messages")
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return (
            ("waiting", _("Flagged, waiting for staff")),
            ("any", _("Has flagged messages")),
            ("none", _("No flagged messages")),
        )

    def queryset(self, request, queryset):
        flagged = Message.objects.filter(conversation=OuterRef("pk")).exclude(review=Review.NONE)
        if self.value() == "waiting":
            return queryset.filter(Exists(flagged.filter(review=Review.PENDING)))
        if self.value() == "any":
            return queryset.filter(Exists(flagged))
        if self.value() == "none":
            return queryset.filter(~Exists(flagged))
        return queryset


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data]
        return [super().clean(data, initial)] if data else []


class StaffPostForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        required=False,
        max_length=services.MAX_BODY_CHARS,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text=_("Both the buyer and the seller see it, marked as from Bazaar staff."),
    )
    files = MultipleFileField(label=_("Files"), required=False)


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    """Conversations open when a buyer asks or an order is placed; staff read and post here."""

    change_form_template = "admin/messaging/conversation/change_form.html"
    list_display = (
        "subject",
        "kind",
        "buyer",
        "seller",
        "order_column",
        "last_message_at",
        "message_count",
        "flagged_count",
    )
    list_filter = ("kind", FlaggedFilter)
    search_fields = ("buyer__email", "seller__email", "listing__title", "=order__id")
    list_select_related = ("listing", "buyer", "seller", "seller__store")
    date_hierarchy = "created_at"
    fields = (
        ("kind", "order_column"),
        "listing",
        ("buyer", "seller"),
        ("created_at", "last_message_at"),
        "read_state",
    )
    readonly_fields = (
        "kind",
        "order_column",
        "listing",
        "buyer",
        "seller",
        "created_at",
        "last_message_at",
        "read_state",
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _message_count=Count("messages"),
                _flagged_count=Count("messages", filter=~Q(messages__review=Review.NONE)),
                _waiting_count=Count("messages", filter=Q(messages__review=Review.PENDING)),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        # "42" or "#42" is an order number: match that order's conversation, not every email
        # with a 42 in it.
        term = search_term.strip().removeprefix("#")
        if term.isdigit():
            return queryset.filter(order_id=int(term)), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("subject"))
    def subject(self, obj):
        return obj.subject

    @admin.display(description=_("order"), ordering="order_id")
    def order_column(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("messages"), ordering="_message_count")
    def message_count(self, obj):
        return obj._message_count

    @admin.display(description=_("flagged"), ordering="_flagged_count")
    def flagged_count(self, obj):
        if obj._waiting_count:
            return f"{obj._flagged_count} ({obj._waiting_count} waiting)"
        return obj._flagged_count

    @admin.display(description=_("read up to"))
    def read_state(self, obj):
        seats = Participant.objects.filter(conversation=obj).select_related("user")
        lines = []
        for seat in sorted(seats, key=lambda s: s.role != ParticipantRole.BUYER):
            if seat.last_read_at is None:
                lines.append((seat.get_role_display(), seat.user, "has not read anything yet", ""))
            else:
                lines.append(
                    (
                        seat.get_role_display(),
                        seat.user,
                        f"message {seat.last_read_id}",
                        f" (at {seat.last_read_at:%Y-%m-%d %H:%M})",
                    )
                )
        return format_html_join(mark_safe("<br>"), "{} {}: {}{}", lines) or "-"

    # --- Change view: the thread and the staff post form ---------------------------------------

    def has_post_permission(self, request):
        return request.user.is_staff and request.user.has_perm("messaging.change_conversation")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/post/",
                self.admin_site.admin_view(self.post_view),
                name="messaging_conversation_post",
            ),
            *super().get_urls(),
        ]

    def thread(self, conversation):
        """Every message of the conversation, held ones included, as staff see them."""
        rows = list(
            selectors.messages_for_staff(conversation=conversation).select_related("reviewed_by")
        )
        for message in rows:
            # sender_name reads the store through the conversation: share the one loaded here.
            message.conversation = conversation
            message.sender_label = services.message_sender_name(message=message)
            message.flag_lines = flag_lines(message)
            message.admin_url = reverse("admin:messaging_message_change", args=[message.pk])
            message.files = [
                {
                    "attachment": a,
                    "size": human_size(a.size),
                    "status": attachment_status(a),
                    "admin_url": reverse("admin:messaging_attachment_change", args=[a.pk]),
                }
                for a in message.attachments.all()
            ]
        return rows

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        conversation = (
            Conversation.objects.select_related(
                "listing__store", "order", "buyer", "seller", "seller__store"
            )
            .filter(pk=object_id if str(object_id).isdigit() else None)
            .first()
        )
        if conversation is not None:
            thread = self.thread(conversation)
            extra_context.update(
                thread=thread,
                waiting_count=sum(m.review == Review.PENDING for m in thread),
                waiting_url=reverse("admin:messaging_message_changelist")
                + f"?conversation__id__exact={conversation.pk}&review__exact={Review.PENDING}",
                can_post=self.has_post_permission(request),
                post_url=reverse("admin:messaging_conversation_post", args=[conversation.pk]),
            )
            extra_context.setdefault("post_form", StaffPostForm())
        return super().change_view(request, object_id, form_url, extra_context)

    def post_view(self, request, object_id):
        """POST: staff write into the conversation; both sides see it and are told."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_post_permission(request):
            raise PermissionDenied
        conversation = get_object_or_404(
            Conversation.objects.select_related("listing__store", "order", "seller__store"),
            pk=object_id if str(object_id).isdigit() else None,
        )
        form = StaffPostForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                message = services.message_post_as_staff(
                    conversation=conversation,
                    staff=request.user,
                    body=form.cleaned_data["body"],
                    files=request.FILES.getlist("files"),
                )
            except ValidationFailed as exc:
                for field, errors in exc.errors.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    _("Posted as Bazaar staff. The buyer and the seller have been told."),
                    messages.SUCCESS,
                )
                change_url = reverse("admin:messaging_conversation_change", args=[conversation.pk])
                return HttpResponseRedirect(f"{change_url}#message-{message.pk}")
        self.message_user(
            request,
            _("Nothing was posted: fix the message below and send it again."),
            messages.ERROR,
        )
        # Show the conversation again with the typed text and the errors, as a plain page view.
        request.method = "GET"
        return self.change_view(request, str(conversation.pk), extra_context={"post_form": form})


# --- Messages -----------------------------------------------------------------------------------


class AttachmentInline(ReadOnlyTabularInline):
    model = Attachment
    fk_name = "message"
    verbose_name_plural = _("files")
    fields = ("file_name", "size_display", "content_type", "state", "status", "removed_by")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("removed_by")

    @admin.display(description=_("name"))
    def file_name(self, obj):
        url = reverse("admin:messaging_attachment_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.name)

    @admin.display(description=_("size"))
    def size_display(self, obj):
        return human_size(obj.size)

    @admin.display(description=_("file"))
    def status(self, obj):
        return attachment_status(obj)


def review_messages(modeladmin, request, queryset, verdict):
    """services.message_review for each message, one outcome line per kind of result."""
    decided = delivered = already = 0
    for message in queryset.order_by("pk"):
        before_review, before_held = message.review, message.held
        try:
            reviewed = services.message_review(message=message, staff=request.user, verdict=verdict)
        except Exception as exc:  # one message's refusal must not stop the others, nor be a 500
            _refused(modeladmin, request, f"Message {message.pk}", exc)
            continue
        if before_review == verdict:
            already += 1
            continue
        decided += 1
        if before_held and not reviewed.held:
            delivered += 1
    verdict_text = "nothing wrong" if verdict == Review.CLEARED else "breaks the rules"
    if decided:
        text = ngettext(
            "Marked %(count)d message as “%(verdict)s”.",
            "Marked %(count)d messages as “%(verdict)s”.",
            decided,
        ) % {"count": decided, "verdict": verdict_text}
        if delivered:
            text += " " + ngettext(
                "%(count)d held message was delivered.",
                "%(count)d held messages were delivered.",
                delivered,
            ) % {"count": delivered}
        modeladmin.message_user(request, text, messages.SUCCESS)
    if already:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d message was already marked “%(verdict)s”.",
                "%(count)d messages were already marked “%(verdict)s”.",
                already,
            )
            % {"count": already, "verdict": verdict_text},
            messages.INFO,
        )
    return decided


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """The moderation queue: filter “Flagged, waiting for staff” and clear or confirm."""

    change_list_template = "admin/messaging/message/change_list.html"
    list_display = (
        "id",
        "conversation_column",
        "sender_column",
        "sender_role",
        "short_body",
        "flags",
        "held",
        "review",
        "created_at",
    )
    list_display_links = ("id", "short_body")
    list_filter = ("review", "held", "sender_role")
    search_fields = ("body", "sender__email", "=conversation__order__id")
    list_select_related = ("conversation__listing__store", "conversation__seller__store", "sender")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    actions = ("clear_review", "confirm_review")
    inlines = (AttachmentInline,)
    fields = (
        "conversation_column",
        ("sender_column", "sender", "sender_role"),
        "created_at",
        "body",
        "flag_list",
        ("held", "review"),
        ("reviewed_by", "reviewed_at"),
    )
    readonly_fields = (
        "conversation_column",
        "sender_column",
        "sender",
        "sender_role",
        "created_at",
        "body",
        "flag_list",
        "held",
        "review",
        "reviewed_by",
        "reviewed_at",
    )

    @admin.display(description=_("conversation"), ordering="conversation_id")
    def conversation_column(self, obj):
        url = reverse("admin:messaging_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}#message-{}">{}</a>', url, obj.pk, obj.conversation.subject)

    @admin.display(description=_("shown as"))
    def sender_column(self, obj):
        return services.message_sender_name(message=obj)

    @admin.display(description=_("message"))
    def short_body(self, obj):
        return Truncator(" ".join(obj.body.split())).chars(SHORT_BODY_CHARS) or "(files only)"

    @admin.display(description=_("flags"))
    def flags(self, obj):
        return flag_kinds(obj) or "-"

    @admin.display(description=_("contact details found"))
    def flag_list(self, obj):
        lines = [(line,) for line in flag_lines(obj)]
        return format_html_join(mark_safe("<br>"), "{}", lines) or "-"

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "waiting_count": Message.objects.filter(review=Review.PENDING).count(),
            "waiting_query": f"?review__exact={Review.PENDING}",
        }
        return super().changelist_view(request, extra_context=extra_context)

    def has_review_permission(self, request):
        return request.user.is_staff and request.user.has_perm("messaging.change_message")

    @admin.action(
        description=_("Clear: nothing wrong (delivers held messages)"), permissions=["review"]
    )
    def clear_review(self, request, queryset):
        review_messages(self, request, queryset, Review.CLEARED)

    @admin.action(
        description=_("Confirm: breaks the rules (keeps held messages withheld)"),
        permissions=["review"],
    )
    def confirm_review(self, request, queryset):
        review_messages(self, request, queryset, Review.CONFIRMED)


# --- Attachments --------------------------------------------------------------------------------


class RemoveForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        initial=DEFAULT_REMOVAL_REASON,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text=_("Kept with the file's record for other staff; the file itself is deleted."),
    )


def remove_attachments(modeladmin, request, queryset, reason):
    removed = already = 0
    for attachment in queryset.order_by("created_at", "pk"):
        if attachment.state == AttachmentState.REMOVED:
            already += 1
            continue
        try:
            services.attachment_remove(attachment=attachment, staff=request.user, reason=reason)
        except Exception as exc:  # one file's failure must not stop the others, nor be a 500
            _refused(modeladmin, request, f"“{attachment.name}”", exc)
            continue
        removed += 1
    if removed:
        modeladmin.message_user(
            request,
            ngettext(
                "Removed %(count)d file: it is deleted from storage.",
                "Removed %(count)d files: they are deleted from storage.",
                removed,
            )
            % {"count": removed},
            messages.SUCCESS,
        )
    if already:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d file was already removed.",
                "%(count)d files were already removed.",
                already,
            )
            % {"count": already},
            messages.INFO,
        )
    return removed


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "conversation_column",
        "uploaded_by",
        "state",
        "size_display",
        "content_type",
        "created_at",
    )
    list_filter = ("state",)
    search_fields = ("name", "uploaded_by__email", "=conversation__order__id")
    list_select_related = ("conversation__listing", "uploaded_by")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ("remove_files",)
    # The storage key stays out: files are reached only through the access-checked download.
    fields = (
        "name",
        "download",
        "conversation_column",
        "message_column",
        "uploaded_by",
        ("state", "created_at"),
        ("size_display", "content_type"),
        ("removed_at", "removed_by"),
        "removed_reason",
    )
    readonly_fields = (
        "name",
        "download",
        "conversation_column",
        "message_column",
        "uploaded_by",
        "state",
        "created_at",
        "size_display",
        "content_type",
        "removed_at",
        "removed_by",
        "removed_reason",
    )

    @admin.display(description=_("conversation"), ordering="conversation_id")
    def conversation_column(self, obj):
        return conversation_link(obj.conversation)

    @admin.display(description=_("message"))
    def message_column(self, obj):
        if not obj.message_id:
            return "Not sent yet"
        url = reverse("admin:messaging_message_change", args=[obj.message_id])
        return format_html('<a href="{}">Message {}</a>', url, obj.message_id)

    @admin.display(description=_("size"), ordering="size")
    def size_display(self, obj):
        return human_size(obj.size)

    @admin.display(description=_("file"))
    def download(self, obj):
        return attachment_status(obj)

    def has_remove_permission(self, request):
        return request.user.is_staff and request.user.has_perm("messaging.change_attachment")

    @admin.action(description=_("Remove (delete the file)"), permissions=["remove"])
    def remove_files(self, request, queryset):
        form = RemoveForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            remove_attachments(self, request, queryset, form.cleaned_data["reason"])
            return None
        return reason_confirmation(
            self,
            request,
            queryset.select_related("conversation__listing", "uploaded_by"),
            form=form,
            title=_("Remove files"),
            action_name="remove_files",
            template="admin/messaging/attachment/remove_confirmation.html",
        )
