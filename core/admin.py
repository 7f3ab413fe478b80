"""The back office's shared pieces: the audit trail's admin, read-only admins for rows that
services write, and the confirmation page of actions that ask staff for a reason (reject
listings, remove files; templates/admin/action_with_reason.html, extended per action)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.models import AuditEntry, WebhookProcessing
from core.stripe_webhooks import webhook_processing_resume

# --- Read-only admins ---------------------------------------------------------------------------


class SelectedIdsCheckedMixin:
    """An action posted with an id that is not one (a forged or mangled form: "abc", or 10**20,
    beyond the column's range) is refused with a message; Django's admin would raise filtering
    by it (ValueError; SQLite's OverflowError), a 500."""

    def response_action(self, request, queryset):
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.run_validators(pk.to_python(value))  # the type, then the database's range
        except ValidationError:
            self.message_user(request, _("Choose the rows from the list."), messages.WARNING)
            return None
        return super().response_action(request, queryset)


class ReadOnlyAdmin(SelectedIdsCheckedMixin, admin.ModelAdmin):
    """Rows written by services (often in step with Stripe): people look, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInlineMixin:
    """An inline of rows services write: shown, never added, changed or deleted by hand."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyTabularInline(ReadOnlyInlineMixin, admin.TabularInline):
    show_change_link = False


class ReadOnlyStackedInline(ReadOnlyInlineMixin, admin.StackedInline):
    pass


# --- Actions that ask for a reason --------------------------------------------------------------


def reason_confirmation(
    modeladmin, request, queryset, *, form, title, action_name, template, extra_context=None
):
    """The intermediate page of an action: the chosen rows and the reason form (`extra_context`:
    what the action's own template shows beside them)."""
    opts = modeladmin.model._meta
    context = {
        **(extra_context or {}),
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "queryset": queryset,
        "form": form,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "objects_name": capfirst(opts.verbose_name_plural),
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, template, context)


# --- Audit trail --------------------------------------------------------------------------------


class AuditAppFilter(admin.SimpleListFilter):
    """The app an action belongs to: the first part of <app>.<entity>.<past-tense verb>."""

    title = _("app")
    parameter_name = "app"

    def lookups(self, request, model_admin):
        actions = AuditEntry.objects.order_by().values_list("action", flat=True).distinct()
        apps = sorted({action.split(".", 1)[0] for action in actions if "." in action})
        return [(app, app) for app in apps]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=f"{self.value()}.")
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Append-only: staff read the trail, nobody edits or deletes it."""

    list_display = ("created_at", "action", "actor", "target_link")
    list_filter = (AuditAppFilter, "action", "target_type")
    search_fields = ("action", "actor__email", "target_id")
    list_select_related = ("actor", "target_type")
    date_hierarchy = "created_at"
    fields = ("created_at", "action", "actor", "target_link", "before", "after")
    readonly_fields = fields

    @admin.display(description=_("target"))
    def target_link(self, obj):
        # Built from the content type and id alone: no query per row for the target itself.
        label = f"{obj.target_type.model} #{obj.target_id}"
        try:
            url = reverse(
                f"admin:{obj.target_type.app_label}_{obj.target_type.model}_change",
                args=[obj.target_id],
            )
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookProcessing)
class WebhookProcessingAdmin(ReadOnlyAdmin):
    """Stripe events stored but not processed yet: re-queued after a broker outage, retrying, or
    given up on after every retry failed (dj-stripe's webhook event trigger shows the error)."""

    list_display = (
        "trigger_link",
        "event_type",
        "requeued",
        "failures",
        "not_before",
        "gave_up_at",
    )
    list_filter = (("gave_up_at", admin.EmptyFieldListFilter), "trigger__processed")
    list_select_related = ("trigger__event",)
    actions = ("process_again",)

    @admin.display(description=_("webhook"))
    def trigger_link(self, obj):
        url = reverse("admin:djstripe_webhookeventtrigger_change", args=[obj.trigger_id])
        return format_html('<a href="{}">#{}</a>', url, obj.trigger_id)

    @admin.display(description=_("event"))
    def event_type(self, obj):
        event = obj.trigger.event
        return event.type if event else "-"

    def has_resume_permission(self, request):
        return request.user.has_perm("core.change_webhookprocessing")

    @admin.action(description=_("Process again (after fixing what failed)"), permissions=["resume"])
    def process_again(self, request, queryset):
        resumed = webhook_processing_resume(trigger_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"{resumed} webhook(s) will be processed again within a minute.",
            messages.SUCCESS,
        )
