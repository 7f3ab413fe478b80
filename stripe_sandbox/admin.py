"""The sandbox in the admin: its objects (read only), webhook deliveries (send again) and clock.

The clock moves, and held deliveries go out, from the control page (stripe_sandbox:control),
linked from this app's admin pages.
"""

import json
from datetime import UTC, datetime

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.utils.html import format_html
from django.utils.translation import ngettext

from stripe_sandbox import control, core
from stripe_sandbox.models import SandboxClock, SandboxObject, SandboxWebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """The sandbox writes these rows; people only look (or act through the sandbox's controls)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SandboxObject)
class SandboxObjectAdmin(ReadOnlyAdmin):
    list_display = ("stripe_id", "object_type", "owner", "created_at")
    list_filter = ("object_type",)
    search_fields = ("stripe_id", "=account")
    fields = ("stripe_id", "object_type", "owner", "created_at", "pretty_data")
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="account", ordering="account")
    def owner(self, obj):
        return obj.account or "platform"

    @admin.display(description="created (sandbox time)", ordering="created")
    def created_at(self, obj):
        return datetime.fromtimestamp(obj.created, tz=UTC)

    @admin.display(description="data")
    def pretty_data(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))


@admin.register(SandboxWebhookDelivery)
class SandboxWebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "event_id",
        "event_type",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "created",
    )
    list_filter = ("status",)
    search_fields = ("=event_id", "url")
    readonly_fields = (
        "event_id",
        "event_type",
        "endpoint_id",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "last_response",
        "created",
    )
    fields = readonly_fields
    actions = ["deliver_again"]

    def get_queryset(self, request):
        event_type = SandboxObject.objects.filter(stripe_id=OuterRef("event_id")).values(
            "data__type"
        )[:1]
        return super().get_queryset(request).annotate(_event_type=Subquery(event_type))

    @admin.display(description="event type")
    def event_type(self, obj):
        return obj._event_type

    @admin.action(description="Deliver the selected events again")
    def deliver_again(self, request, queryset):
        statuses = control.deliver(list(queryset.order_by("id")))
        accepted = sum(1 for status in statuses if 200 <= status < 300)
        refused = len(statuses) - accepted
        if accepted:
            self.message_user(
                request,
                ngettext(
                    "%(count)d delivery was accepted by its endpoint.",
                    "%(count)d deliveries were accepted by their endpoints.",
                    accepted,
                )
                % {"count": accepted},
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                ngettext(
                    "%(count)d delivery was refused; it is marked failed and can be sent again.",
                    "%(count)d deliveries were refused; they are marked failed and can be sent "
                    "again.",
                    refused,
                )
                % {"count": refused},
                messages.ERROR,
            )


@admin.register(SandboxClock)
class SandboxClockAdmin(ReadOnlyAdmin):
    """The clock is moved forward from the control page (it never moves back)."""

    list_display = ("__str__", "offset_hours", "sandbox_now")
    change_list_template = "admin/stripe_sandbox/sandboxclock/change_list.html"

    @admin.display(description="hours ahead")
    def offset_hours(self, obj):
        return round(obj.offset_seconds / 3600, 2)

    @admin.display(description="sandbox time now")
    def sandbox_now(self, obj):
        return datetime.fromtimestamp(core.now(), tz=UTC)
