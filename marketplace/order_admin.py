"""Orders in the back office: everything about one order's money on one page.

Read-only: an order's state moves only through escrow's services, here through the actions
("Release escrow now", "Retry the transfer to the seller"), so staff follow the same rules, row
locks, ledger bookings and audit trail as buyers and jobs. Imported at the bottom of
marketplace/admin.py.
"""

from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import ObjectDoesNotExist
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from escrow.admin import (
    PaymentDisplay,
    ReadOnlyInlineMixin,
    ReadOnlyStackedInline,
    ReadOnlyTabularInline,
    ReleaseDisplay,
    can_move_escrow,
    release_orders,
    retry_transfers,
)
from escrow.models import EscrowPayment, EscrowRelease, LedgerEntry, TransferReversal
from marketplace.models import AuditEntry, Order
from marketplace.money import format_money


class EscrowPaymentInline(PaymentDisplay, ReadOnlyTabularInline):
    model = EscrowPayment
    verbose_name_plural = _("payments")
    # client_secret stays out: whoever holds it can confirm the payment.
    fields = (
        "kind",
        "status",
        "amount",
        "fee",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "receipt",
        "failure_message",
        "created_at",
    )
    readonly_fields = fields


class EscrowReleaseInline(ReleaseDisplay, ReadOnlyStackedInline):
    model = EscrowRelease
    verbose_name_plural = _("release")
    fields = (
        ("trigger", "actor", "status"),
        ("gross", "commission", "fee_passed_on", "transfer", "amount_reversed"),
        ("destination_account", "stripe_transfer_id"),
        "failure_message",
        ("created_at", "transferred_at"),
    )
    readonly_fields = (
        "trigger",
        "actor",
        "status",
        "gross",
        "commission",
        "fee_passed_on",
        "transfer",
        "amount_reversed",
        "destination_account",
        "stripe_transfer_id",
        "failure_message",
        "created_at",
        "transferred_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class LedgerEntryInline(ReadOnlyTabularInline):
    model = LedgerEntry
    verbose_name_plural = _("ledger lines")
    fields = ("created_at", "account", "debit", "credit", "memo", "stripe_object_id", "txn")
    readonly_fields = fields

    @admin.display(description=_("debit"))
    def debit(self, obj):
        return format_money(obj.debit_cents, obj.currency) if obj.debit_cents else ""

    @admin.display(description=_("credit"))
    def credit(self, obj):
        return format_money(obj.credit_cents, obj.currency) if obj.credit_cents else ""

    @admin.display(description=_("transaction"))
    def txn(self, obj):
        return str(obj.transaction_id)[:8]


class OrderAuditInline(ReadOnlyInlineMixin, GenericTabularInline):
    """The order's timeline: every state change, who made it, before and after."""

    model = AuditEntry
    ct_field = "target_type"
    ct_fk_field = "target_id"
    verbose_name_plural = _("timeline (audit entries)")
    fields = ("created_at", "action", "actor", "before", "after")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor").order_by("created_at", "id")


ORDER_READONLY = (
    "id",
    "listing_title",
    "listing",
    "listing_kind",
    "buyer",
    "seller",
    "store",
    "status",
    "payment_error",
    "unit_price",
    "quantity",
    "total",
    "commission",
    "commission_terms",
    "seller_gets",
    "stripe_fee_payer",
    "created_at",
    "expires_at",
    "funded_at",
    "delivered_at",
    "review_deadline",
    "reminder_sent_at",
    "released_at",
    "closed_at",
    "delivery_note",
    "transfer_reversals",
)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "listing_title",
        "buyer",
        "seller",
        "total",
        "status",
        "funded_at",
        "review_deadline",
        "release_status",
    )
    list_filter = ("status", "currency")
    search_fields = ("=id", "listing_title", "buyer__email", "seller__email")
    list_select_related = ("buyer", "seller", "release")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("release_escrow_now", "retry_transfer")
    inlines = (EscrowPaymentInline, EscrowReleaseInline, LedgerEntryInline, OrderAuditInline)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("id", "status"),
                    ("listing_title", "listing", "listing_kind"),
                    ("buyer", "seller", "store"),
                    "payment_error",
                )
            },
        ),
        (
            _("Money"),
            {
                "fields": (
                    ("unit_price", "quantity", "total"),
                    ("commission", "commission_terms"),
                    ("seller_gets", "stripe_fee_payer"),
                )
            },
        ),
        (
            _("Dates"),
            {
                "fields": (
                    ("created_at", "expires_at"),
                    ("funded_at", "delivered_at", "review_deadline"),
                    ("reminder_sent_at", "released_at", "closed_at"),
                )
            },
        ),
        (_("Delivery"), {"fields": ("delivery_note",)}),
        (_("Transfer reversals"), {"fields": ("transfer_reversals",)}),
    )
    readonly_fields = ORDER_READONLY

    def get_queryset(self, request):
        # The changelist skips list_select_related once the queryset has a select_related.
        return (
            super()
            .get_queryset(request)
            .select_related("buyer", "seller", "store", "listing", "release")
        )

    def get_search_results(self, request, queryset, search_term):
        # "42" or "#42" is an order number: match the id alone, not every email with a 42.
        term = search_term.strip().removeprefix("#")
        if term.isdigit():
            return queryset.filter(pk=int(term)), False
        return super().get_search_results(request, queryset, search_term)

    # --- Columns and fields --------------------------------------------------------------------

    @admin.display(description=_("total"), ordering="total_cents")
    def total(self, obj):
        return format_money(obj.total_cents, obj.currency)

    @admin.display(description=_("unit price"))
    def unit_price(self, obj):
        return format_money(obj.unit_price_cents, obj.currency)

    @admin.display(description=_("commission"))
    def commission(self, obj):
        return format_money(obj.commission_cents, obj.currency)

    @admin.display(description=_("commission terms"))
    def commission_terms(self, obj):
        terms = f"{obj.commission_bps / 100:g}%"
        if obj.commission_fixed_cents:
            terms += f" + {format_money(obj.commission_fixed_cents, obj.currency)}"
        if obj.commission_min_cents:
            terms += f", at least {format_money(obj.commission_min_cents, obj.currency)}"
        return terms

    @admin.display(description=_("seller gets (before fees)"))
    def seller_gets(self, obj):
        return format_money(obj.seller_gets_cents, obj.currency)

    @admin.display(description=_("release"))
    def release_status(self, obj):
        try:
            release = obj.release  # select_related: no query, None cached when there is none
        except ObjectDoesNotExist:
            return "-"
        return release.get_status_display()

    @admin.display(description=_("reversals"))
    def transfer_reversals(self, obj):
        reversals = TransferReversal.objects.filter(release__order=obj).order_by("created_at")
        if not reversals:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r.stripe_reversal_id,
                    format_money(r.amount_cents, r.currency),
                    formats.localize(timezone.localtime(r.created_at)),
                )
                for r in reversals
            ),
        )
        return format_html(
            "<table><thead><tr><th>Stripe reversal</th><th>Amount</th><th>When</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    # --- Read-only -----------------------------------------------------------------------------

    def has_add_permission(self, request):
        return False  # orders are placed by buyers (marketplace.orders.order_create)

    def has_delete_permission(self, request, obj=None):
        return False  # payments, the ledger and the audit trail point at orders

    def save_model(self, request, obj, form, change):
        pass  # every field is read-only; state moves only through the actions

    def save_related(self, request, form, formsets, change):
        pass

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Actions -------------------------------------------------------------------------------

    def has_escrow_permission(self, request):
        return can_move_escrow(request)

    @admin.action(description=_("Release escrow now"), permissions=["escrow"])
    def release_escrow_now(self, request, queryset):
        release_orders(self, request, list(queryset.values_list("pk", flat=True)))

    @admin.action(description=_("Retry the transfer to the seller"), permissions=["escrow"])
    def retry_transfer(self, request, queryset):
        retry_transfers(self, request, list(queryset.values_list("pk", flat=True)))
