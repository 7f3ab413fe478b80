from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from accounts.connect import connect_account_refresh
from accounts.models import ConnectedAccount, SellerProfile, User
from accounts.services import email_mark_verified, seller_commission_set
from core.audit import audit_record
from core.errors import DomainError, StripeUnavailable

# Changing these decides who can sign in and what they may do: keep a trail of who changed them.
ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser")


class UserCreationForm(auth_forms.BaseUserCreationForm):
    """Email and password twice; emails are stored lower-case and unique whatever their case."""

    class Meta:
        model = User
        fields = ("email", "full_name")

    def clean_email(self):
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this email already exists."))
        return email


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self):
        email = (self.cleaned_data.get("email") or "").strip().lower()
        others = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(_("An account with this email already exists."))
        return email


class EmailConfirmedFilter(admin.SimpleListFilter):
    title = _("email confirmed")
    parameter_name = "email_confirmed"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")), ("no", _("No")))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(email_verified_at__isnull=self.value() == "no")
        return queryset


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name", "language", "time_zone")}),
        (
            _("Permissions"),
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined", "email_verified_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "password1", "password2"),
            },
        ),
    )
    list_display = (
        "email",
        "full_name",
        "is_staff",
        "is_active",
        "date_joined",
        "email_confirmed",
        "seller",
    )
    list_filter = ("is_staff", "is_superuser", "is_active", EmailConfirmedFilter, "groups")
    actions = ("mark_email_confirmed",)
    search_fields = ("email", "full_name")
    ordering = ("email",)
    # Set by the emailed link (or the action below), never typed in.
    readonly_fields = ("last_login", "date_joined", "email_verified_at")
    # The "is seller" column reads the reverse one-to-one; join it instead of one query per row.
    list_select_related = ("seller_profile",)

    @admin.display(boolean=True, description=_("email confirmed"), ordering="email_verified_at")
    def email_confirmed(self, obj):
        return obj.email_verified_at is not None

    @admin.action(description=_("Mark their email address as confirmed"))
    def mark_email_confirmed(self, request, queryset):
        # Staff vouch for the address (e.g. the person showed they receive mail there).
        users = list(queryset.filter(email_verified_at__isnull=True))
        for user in users:
            email_mark_verified(user=user, actor=request.user)
        self.message_user(
            request, _("Marked %(n)d email address(es) as confirmed.") % {"n": len(users)}
        )

    @admin.display(boolean=True, description=_("seller"), ordering="seller_profile")
    def seller(self, obj):
        return obj.is_seller

    def save_model(self, request, obj, form, change):
        before = {}
        if change:
            before = dict(User.objects.filter(pk=obj.pk).values(*ACCESS_FIELDS).first() or {})
        super().save_model(request, obj, form, change)
        if not change:
            audit_record(
                action="accounts.user.created_by_staff",
                actor=request.user,
                target=obj,
                after={"email": obj.email, **{f: getattr(obj, f) for f in ACCESS_FIELDS}},
            )
            return
        changed = [f for f in ACCESS_FIELDS if before.get(f) != getattr(obj, f)]
        if changed:
            audit_record(
                action="accounts.user_access.changed",
                actor=request.user,
                target=obj,
                before={f: before.get(f) for f in changed},
                after={f: getattr(obj, f) for f in changed},
            )


class SellerProfileForm(forms.ModelForm):
    class Meta:
        model = SellerProfile
        fields = ("commission_bps",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = settings.BAZAAR_COMMISSION_BPS
        self.fields["commission_bps"].help_text = _(
            "Commission override in basis points: 1000 = 10%%, 250 = 2.5%%. Leave empty to "
            "use the platform default (currently %(bps)s bps = %(percent)s%%). Applies to "
            "orders placed after the change."
        ) % {"bps": default, "percent": f"{default / 100:g}"}


@admin.register(SellerProfile)
class SellerProfileAdmin(admin.ModelAdmin):
    """Staff set a seller's commercial terms; the public profile belongs to the seller.

    Sellers are made by onboarding (accounts.services.seller_onboard), which also opens their
    store, so the admin does not add profiles; deleting one would leave a store without a seller.
    """

    form = SellerProfileForm
    list_display = (
        "display_name",
        "user",
        "country",
        "default_currency",
        "commission_bps",
        "effective_commission",
        "created_at",
    )
    list_filter = ("country", "default_currency")
    search_fields = ("display_name", "user__email", "user__full_name")
    list_select_related = ("user",)
    ordering = ("display_name",)
    fields = (
        "user",
        "display_name",
        "bio",
        "country",
        "default_currency",
        "commission_bps",
        "effective_commission",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "user",
        "display_name",
        "bio",
        "country",
        "default_currency",
        "effective_commission",
        "created_at",
        "updated_at",
    )

    @admin.display(description=_("effective commission"))
    def effective_commission(self, obj):
        bps = obj.effective_commission_bps
        source = _("override") if obj.commission_bps is not None else _("platform default")
        return f"{bps / 100:g}% ({source})"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # The commission moves only through accounts.services.seller_commission_set (checked, row
    # locked, audited); the form's other fields are read-only. A refusal is shown on the page and
    # the form comes back, never "changed successfully".
    REFUSED = "_commission_refused"

    def save_model(self, request, obj, form, change):
        try:
            seller_commission_set(
                profile=obj, commission_bps=form.cleaned_data["commission_bps"], actor=request.user
            )
        except DomainError as exc:
            setattr(request, self.REFUSED, True)
            self.message_user(request, exc.message, messages.ERROR)

    def log_change(self, request, obj, message):
        if not getattr(request, self.REFUSED, False):
            return super().log_change(request, obj, message)
        return None

    def response_change(self, request, obj):
        if getattr(request, self.REFUSED, False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(admin.ModelAdmin):
    """Sellers' Stripe Connect accounts, read-only: Stripe is the truth and webhooks keep these
    rows current. "Refresh from Stripe" reads the account again now."""

    list_display = (
        "stripe_account_id",
        "seller_profile",
        "charges_enabled",
        "payouts_enabled",
        "details_submitted",
        "disabled_reason",
        "current_deadline",
        "stripe_updated_at",
    )
    list_filter = ("charges_enabled", "payouts_enabled", "details_submitted", "disabled_reason")
    search_fields = (
        "stripe_account_id",
        "seller_profile__display_name",
        "seller_profile__user__email",
    )
    list_select_related = ("seller_profile",)
    ordering = ("-created_at",)
    actions = ("refresh_from_stripe",)
    readonly_fields = (
        "seller_profile",
        "stripe_account_id",
        "charges_enabled",
        "payouts_enabled",
        "details_submitted",
        "requirements_currently_due",
        "requirements_past_due",
        "requirements_eventually_due",
        "disabled_reason",
        "current_deadline",
        "capabilities",
        "business_profile",
        "stripe_updated_at",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Refresh from Stripe"))
    def refresh_from_stripe(self, request, queryset):
        done, failed = 0, []
        for connected in queryset:
            try:
                connect_account_refresh(stripe_account_id=connected.stripe_account_id)
            except StripeUnavailable as exc:
                failed.append(f"{connected.stripe_account_id}: {exc.message}")
            else:
                done += 1
        if done:
            self.message_user(request, _("Refreshed %(n)d account(s) from Stripe.") % {"n": done})
        for problem in failed:
            self.message_user(request, problem, level=messages.ERROR)
