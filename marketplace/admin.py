"""The back office: staff review listings and look after stores, categories and the audit trail.

Every change of state goes through marketplace.services, exactly as a seller's own actions do, so
the rules (allowed status moves, audit entries, row locks) are the same whoever clicks.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import reason_confirmation
from core.errors import DomainError
from core.money import format_money
from marketplace import services
from marketplace.models import Category, Listing, ListingImage, ListingStatus, Store
from marketplace.policies import describe_all_html

# --- Categories ---------------------------------------------------------------------------------


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "listing_count", "approved_count")
    list_editable = ("position",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    ordering = ("position", "name")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _listing_count=Count("listings", distinct=True),
                _approved_count=Count(
                    "listings",
                    filter=Q(listings__status=ListingStatus.APPROVED),
                    distinct=True,
                ),
            )
        )

    @admin.display(description=_("listings"), ordering="_listing_count")
    def listing_count(self, obj):
        return obj._listing_count

    @admin.display(description=_("approved"), ordering="_approved_count")
    def approved_count(self, obj):
        return obj._approved_count


# --- Stores -------------------------------------------------------------------------------------


class StoreForm(forms.ModelForm):
    support_url = forms.URLField(
        required=False, max_length=200, assume_scheme="https", label=_("support URL")
    )

    class Meta:
        model = Store
        fields = services.STORE_EDITABLE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_cancellation_policy"].help_text = format_html(
            "{} {}",
            _("Applies to every listing of the store that does not choose its own."),
            describe_all_html(),
        )


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    """Stores open through seller onboarding; staff may correct their public texts here."""

    form = StoreForm
    list_display = ("name", "owner", "slug", "listing_count", "approved_count", "created_at")
    search_fields = ("name", "slug", "owner__email", "owner__full_name")
    list_select_related = ("owner",)
    ordering = ("name",)
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("owner", "name", "slug", "tagline", "logo")}),
        (_("Pages"), {"fields": ("description", "about")}),
        (_("Contact"), {"fields": ("contact_email", "contact_phone", "support_url")}),
        (_("Cancellations"), {"fields": ("default_cancellation_policy",)}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = ("owner", "slug", "created_at", "updated_at")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _listing_count=Count("listings", distinct=True),
                _approved_count=Count(
                    "listings",
                    filter=Q(listings__status=ListingStatus.APPROVED),
                    distinct=True,
                ),
            )
        )

    @admin.display(description=_("listings"), ordering="_listing_count")
    def listing_count(self, obj):
        return obj._listing_count

    @admin.display(description=_("approved"), ordering="_approved_count")
    def approved_count(self, obj):
        return obj._approved_count

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        # The form has already copied its values onto `obj`; hand the service the stored row and
        # the changed values so the audit entry records a true before/after.
        stored = Store.objects.get(pk=obj.pk)
        changes = {}
        for name in form.changed_data:
            if name not in services.STORE_EDITABLE_FIELDS:
                continue
            value = form.cleaned_data[name]
            if name == "logo" and value is False:  # "clear" ticked
                value = ""
            changes[name] = value
        if changes:
            services.store_update(store=stored, actor=request.user, **changes)


# --- Listings -----------------------------------------------------------------------------------


class ListingImageInline(admin.TabularInline):
    """Pictures as the seller uploaded them; staff may only remove one (an unsuitable photo)."""

    model = ListingImage
    extra = 0
    fields = ("preview", "alt_text", "position")
    readonly_fields = ("preview", "alt_text", "position")
    can_delete = True

    @admin.display(description=_("image"))
    def preview(self, obj):
        if not obj.image:
            return "-"
        return format_html(
            '<a href="{0}"><img src="{0}" alt="{1}" width="120" height="90"></a>',
            obj.image.url,
            obj.alt_text,
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text=_("The seller sees this text: say what to change so the listing can pass."),
        max_length=2000,
    )


def _run_for_each(modeladmin, request, queryset, *, service, target, verb, **kwargs):
    """Call `service` for each listing and tell staff what changed and what could not.

    One listing's refusal (say, approving a draft) must not stop the others, nor become a 500.
    """
    changed = unchanged = 0
    for listing in queryset.select_related("store"):
        before = listing.status
        try:
            listing = service(listing=listing, actor=request.user, **kwargs)
        except DomainError as exc:
            modeladmin.message_user(request, f"“{listing}”: {exc.message}", messages.ERROR)
            continue
        if before == target:
            unchanged += 1
        elif listing.status == target:
            changed += 1
    if changed:
        modeladmin.message_user(
            request,
            ngettext(
                "%(verb)s %(count)d listing.",
                "%(verb)s %(count)d listings.",
                changed,
            )
            % {"verb": verb, "count": changed},
            messages.SUCCESS,
        )
    if unchanged:
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d listing was already %(status)s.",
                "%(count)d listings were already %(status)s.",
                unchanged,
            )
            % {"count": unchanged, "status": ListingStatus(target).label.lower()},
            messages.INFO,
        )
    if not changed and not unchanged:
        modeladmin.message_user(request, _("No listing was changed."), messages.WARNING)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    """The review queue. Content is the seller's and status moves only through the actions."""

    list_display = ("title", "store", "kind", "price", "status", "submitted_at")
    list_filter = ("status", "kind", "category")
    search_fields = ("title", "description", "store__name")
    list_select_related = ("store",)
    inlines = (ListingImageInline,)
    actions = ("approve_listings", "reject_listings", "archive_listings")
    fieldsets = (
        (None, {"fields": ("title", "store", "category", "kind", "description")}),
        (_("Price"), {"fields": ("price", "stock", "duration_minutes", "cancellation")}),
        (
            _("Review"),
            {
                "fields": (
                    "status",
                    "submitted_at",
                    "reviewed_at",
                    "reviewed_by",
                    "rejection_reason",
                )
            },
        ),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )
    # Staff do not rewrite a seller's listing: the services only let the seller edit it, and a
    # status set by hand would skip the review rules and the audit trail.
    readonly_fields = (
        "title",
        "store",
        "category",
        "kind",
        "description",
        "price",
        "stock",
        "duration_minutes",
        "cancellation",
        "status",
        "submitted_at",
        "reviewed_at",
        "reviewed_by",
        "rejection_reason",
        "created_at",
        "updated_at",
    )

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj):
        return format_money(obj.price_cents, obj.currency)

    @admin.display(description=_("cancellation policy"))
    def cancellation(self, obj):
        # The seller chooses it (listing form, API); staff read what buyers are shown.
        source = _("the listing's own") if obj.cancellation_policy else _("the store's default")
        return format_html(
            "<strong>{}</strong> ({}). {}",
            obj.effective_cancellation_policy.label,
            source,
            obj.cancellation_policy_text,
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Archive instead: orders and the audit trail point at listings.
        return False

    def save_model(self, request, obj, form, change):
        # Every field is read-only here: saving would only rewrite the row and bump updated_at.
        pass

    def save_formset(self, request, form, formset, change):
        formset.save(commit=False)
        for listing_image in formset.deleted_objects:
            try:
                services.listing_image_remove(listing_image=listing_image, actor=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description=_("Approve selected listings"), permissions=["change"])
    def approve_listings(self, request, queryset):
        _run_for_each(
            self,
            request,
            queryset,
            service=services.listing_approve,
            target=ListingStatus.APPROVED,
            verb=_("Approved"),
        )

    @admin.action(description=_("Reject selected listings"), permissions=["change"])
    def reject_listings(self, request, queryset):
        form = RejectForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            _run_for_each(
                self,
                request,
                queryset,
                service=services.listing_reject,
                target=ListingStatus.REJECTED,
                verb=_("Rejected"),
                reason=form.cleaned_data["reason"],
            )
            return None
        return reason_confirmation(
            self,
            request,
            queryset.select_related("store"),
            form=form,
            title=_("Reject listings"),
            action_name="reject_listings",
            template="admin/marketplace/listing/reject_confirmation.html",
        )

    @admin.action(description=_("Archive selected listings"), permissions=["change"])
    def archive_listings(self, request, queryset):
        _run_for_each(
            self,
            request,
            queryset,
            service=services.listing_archive,
            target=ListingStatus.ARCHIVED,
            verb=_("Archived"),
        )
