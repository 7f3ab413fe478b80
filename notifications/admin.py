from django.contrib import admin, messages

from core.errors import DomainError
from notifications import services
from notifications.models import EmailDelivery, Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "recipient", "event_code", "level", "is_read", "created_at")
    list_filter = ("event_code", "level", "is_read")
    search_fields = ("title", "message", "recipient__email")
    list_select_related = ("recipient",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request):
        return False  # raised by the marketplace's events only (notifications.services.notify)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "event_code", "email_mode", "updated_at")
    list_filter = ("event_code", "email_mode")
    search_fields = ("user__email",)
    list_select_related = ("user",)


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "to_email",
        "kind",
        "event_code",
        "status",
        "attempts",
        "not_before",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "kind", "event_code")
    search_fields = ("to_email", "subject", "last_error")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in EmailDelivery._meta.fields] + ["digest_of"]
    actions = ["retry_failed"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send the selected failed emails again")
    def retry_failed(self, request, queryset):
        queued, refused = 0, []
        for delivery in queryset:
            try:
                services.email_delivery_retry(delivery_id=delivery.pk)
                queued += 1
            except DomainError as exc:
                refused.append(f"{delivery.to_email}: {exc.message}")
        if queued:
            self.message_user(request, f"{queued} email(s) queued again.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)
