"""The escrow back office: payments, releases, the ledger and reconciliation with Stripe.

Everything here is read-only: money rows are written by escrow.services in step with Stripe, and
the ledger is append-only. Staff act through actions that call the same services a buyer's or a
job's action does (release, retry a transfer, reconcile), and read the outcome in a message.
The Order admin (at the end) puts one order's money on one page.
"""

import logging
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum, Value
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import clock
from core.admin import (
    ReadOnlyAdmin,
    ReadOnlyInlineMixin,
    ReadOnlyStackedInline,
    ReadOnlyTabularInline,
    reason_confirmation,
)
from core.errors import DomainError, StripeUnavailable, ValidationFailed
from core.forms import add_domain_errors
from core.models import AuditEntry
from core.money import MoneyError, format_money, from_minor_units, to_minor_units
from core.timezones import format_local
from escrow import selectors, services
from escrow.forms import RefundForm
from escrow.models import (
    CHARGEBACK_EVIDENCE_TEXT_FIELDS,
    OPEN_DISPUTE_STATUSES,
    Booking,
    Chargeback,
    Dispute,
    DisputeResolution,
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    Milestone,
    Order,
    ReconciliationDifference,
    ReconciliationRun,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    ReleaseTrigger,
    StripeCustomer,
    TransferReversal,
)
from escrow.reconcile import DifferenceKind, reconcile
from escrow.services.dispute_notices import outcome_for_staff

logger = logging.getLogger(__name__)

# Past this many accounts in the totals table, the sellers' payables are shown as one line.
LEDGER_TOTALS_MAX_ROWS = 40


# --- Shared pieces ------------------------------------------------------------------------------


def order_link(order_id):
    """A link to the order's admin page, built from the id alone (no query per row)."""
    if not order_id:
        return "-"
    url = reverse("admin:escrow_order_change", args=[order_id])
    return format_html('<a href="{}">Order #{}</a>', url, order_id)


def can_move_escrow(request):
    """Staff who may change orders may release escrow and retry transfers."""
    return request.user.is_staff and request.user.has_perm("escrow.change_order")


def can_refund(request):
    """Finance staff (the permission to add refunds) may refund buyers; refund_create asks too."""
    return request.user.is_staff and request.user.has_perm("escrow.add_escrowrefund")


def _problem(modeladmin, request, order_id, exc):
    """A refusal becomes a warning next to the order; anything else an error, logged."""
    if isinstance(exc, DomainError | StripeUnavailable):
        modeladmin.message_user(request, f"Order #{order_id}: {exc.message}", messages.WARNING)
        return
    logger.exception("Admin escrow action failed for order %s", order_id)
    modeladmin.message_user(
        request,
        f"Order #{order_id}: something went wrong ({exc.__class__.__name__}); nothing more was "
        "done for it. The error is logged.",
        messages.ERROR,
    )


def _transfer_failed(modeladmin, request, release):
    modeladmin.message_user(
        request,
        f"Order #{release.order_id}: Stripe refused the transfer to the seller: "
        f"{release.failure_message or 'no reason given'} Retry it with “Retry the transfer to "
        "the seller”.",
        messages.WARNING,
    )


def release_orders(modeladmin, request, order_ids, *, reason):
    """Staff release: services.escrow_release(trigger=STAFF, reason=...) for each order, one
    outcome each. A refusal (an order not delivered, say) is an error next to that order."""
    already = set(
        EscrowRelease.objects.filter(order_id__in=order_ids).values_list("order_id", flat=True)
    )
    released = 0
    for order in Order.objects.filter(pk__in=order_ids).order_by("pk"):
        if order.pk in already:
            modeladmin.message_user(
                request, f"Order #{order.pk} was already released.", messages.INFO
            )
            continue
        try:
            decided = services.escrow_release(
                order=order, trigger=ReleaseTrigger.STAFF, actor=request.user, reason=reason
            )
        except DomainError as exc:
            modeladmin.message_user(request, f"Order #{order.pk}: {exc.message}", messages.ERROR)
            continue
        except Exception as exc:  # one order's failure must not stop the others, nor be a 500
            _problem(modeladmin, request, order.pk, exc)
            continue
        if decided.status == ReleaseStatus.TRANSFERRED:
            released += 1
        else:
            _transfer_failed(modeladmin, request, decided)
    if released:
        modeladmin.message_user(
            request,
            ngettext(
                "Released the escrow of %(count)d order to its seller.",
                "Released the escrow of %(count)d orders to their sellers.",
                released,
            )
            % {"count": released},
            messages.SUCCESS,
        )
    return released


def retry_transfers(modeladmin, request, order_ids):
    """services.release_transfer for each order whose release is pending or failed."""
    # An order released milestone by milestone has several: the one to retry is one not
    # transferred (one per click; the retry job takes the others too).
    releases = {}
    for r in EscrowRelease.objects.filter(order_id__in=order_ids).only("pk", "order_id", "status"):
        if r.order_id not in releases or releases[r.order_id].status == ReleaseStatus.TRANSFERRED:
            releases[r.order_id] = r
    retried = 0
    for order_id in sorted(order_ids):
        decided = releases.get(order_id)
        if decided is None:
            modeladmin.message_user(
                request,
                f"Order #{order_id} has not been released: there is no transfer to retry.",
                messages.WARNING,
            )
            continue
        if decided.status == ReleaseStatus.TRANSFERRED:
            modeladmin.message_user(
                request,
                f"Order #{order_id}: the transfer to the seller was already made.",
                messages.INFO,
            )
            continue
        try:
            decided = services.release_transfer(release_id=decided.pk)
        except Exception as exc:
            _problem(modeladmin, request, order_id, exc)
            continue
        if decided.status == ReleaseStatus.TRANSFERRED:
            retried += 1
        elif selectors.release_transfer_in_flight(decided):
            modeladmin.message_user(
                request,
                f"Order #{order_id}: the transfer to the seller is being made right now; "
                "look again in a few minutes.",
                messages.INFO,
            )
        else:
            _transfer_failed(modeladmin, request, decided)
    if retried:
        modeladmin.message_user(
            request,
            ngettext(
                "Made %(count)d transfer to the seller.",
                "Made %(count)d transfers to the sellers.",
                retried,
            )
            % {"count": retried},
            messages.SUCCESS,
        )
    return retried


class ReleaseReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=_(
            "Kept in the audit trail of each release: say why staff release this money before "
            "the buyer approves or the review window ends (the ticket, the buyer's message)."
        ),
        max_length=1000,
    )


# --- Stripe customers ---------------------------------------------------------------------------


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ("stripe_customer_id", "user", "created_at")
    search_fields = ("=stripe_customer_id", "user__email", "user__full_name")
    list_select_related = ("user",)
    fields = ("user", "stripe_customer_id", "created_at")
    readonly_fields = fields


# --- Payments -----------------------------------------------------------------------------------

PAYMENT_FIELDS = (
    "order_link",
    "kind",
    "status",
    "amount",
    "fee",
    "stripe_checkout_session_id",
    "stripe_payment_intent_id",
    "stripe_charge_id",
    "receipt",
    "failure_message",
    "created_at",
    "succeeded_at",
)


class PaymentDisplay:
    @admin.display(description=_("order"), ordering="order_id")
    def order_link(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj):
        return format_money(obj.amount_cents, obj.currency)

    @admin.display(description=_("Stripe fee"))
    def fee(self, obj):
        if obj.stripe_fee_cents is None:
            return "-"
        return format_money(obj.stripe_fee_cents, obj.currency)

    @admin.display(description=_("receipt"))
    def receipt(self, obj):
        if not obj.receipt_url:
            return "-"
        return format_html('<a href="{}" rel="noopener">Stripe receipt</a>', obj.receipt_url)


@admin.register(EscrowPayment)
class EscrowPaymentAdmin(PaymentDisplay, ReadOnlyAdmin):
    list_display = (
        "id",
        "order_link",
        "kind",
        "amount",
        "status",
        "fee",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "created_at",
    )
    list_filter = ("status", "kind", "currency")
    search_fields = (
        "=order__id",
        "=stripe_checkout_session_id",
        "=stripe_payment_intent_id",
        "=stripe_charge_id",
        "order__buyer__email",
    )
    date_hierarchy = "created_at"
    # client_secret is left out on purpose: it lets whoever holds it confirm the payment.
    fields = PAYMENT_FIELDS
    readonly_fields = PAYMENT_FIELDS


# --- Releases and reversals ---------------------------------------------------------------------

RELEASE_FIELDS = (
    "order_link",
    "trigger",
    "actor",
    "status",
    "gross",
    "commission",
    "fee_passed_on",
    "transfer",
    "amount_reversed",
    "destination_account",
    "source_charge",
    "stripe_transfer_id",
    "failure_message",
    "created_at",
    "transferred_at",
)


class ReleaseDisplay:
    @admin.display(description=_("order"), ordering="order_id")
    def order_link(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("gross"), ordering="gross_cents")
    def gross(self, obj):
        return format_money(obj.gross_cents, obj.currency)

    @admin.display(description=_("commission"), ordering="commission_cents")
    def commission(self, obj):
        return format_money(obj.commission_cents, obj.currency)

    @admin.display(description=_("Stripe fee passed on"))
    def fee_passed_on(self, obj):
        return format_money(obj.fee_passed_on_cents, obj.currency)

    @admin.display(description=_("transfer"), ordering="transfer_cents")
    def transfer(self, obj):
        return format_money(obj.transfer_cents, obj.currency)

    @admin.display(description=_("reversed"))
    def amount_reversed(self, obj):
        # The sum of the release's reversals (annotated by the admins' querysets).
        return format_money(obj.amount_reversed_cents, obj.currency)


class TransferReversalInline(ReadOnlyTabularInline):
    model = TransferReversal
    fields = ("stripe_reversal_id", "amount", "created_at")
    readonly_fields = fields

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return format_money(obj.amount_cents, obj.currency)


@admin.register(EscrowRelease)
class EscrowReleaseAdmin(ReleaseDisplay, ReadOnlyAdmin):
    list_display = (
        "order_link",
        "trigger",
        "gross",
        "commission",
        "transfer",
        "destination_account",
        "stripe_transfer_id",
        "status",
        "created_at",
    )
    list_filter = ("status", "trigger", "currency")
    search_fields = (
        "=order__id",
        "=stripe_transfer_id",
        "=destination_account",
        "order__seller__email",
    )
    date_hierarchy = "created_at"
    fields = RELEASE_FIELDS
    readonly_fields = RELEASE_FIELDS
    inlines = (TransferReversalInline,)
    actions = ("retry_transfer",)

    def get_queryset(self, request):
        return super().get_queryset(request).with_amount_reversed()

    def has_escrow_permission(self, request):
        return can_move_escrow(request)

    @admin.action(description=_("Retry the transfer to the seller"), permissions=["escrow"])
    def retry_transfer(self, request, queryset):
        retry_transfers(self, request, list(queryset.values_list("order_id", flat=True)))


@admin.register(TransferReversal)
class TransferReversalAdmin(ReadOnlyAdmin):
    list_display = ("stripe_reversal_id", "order_link", "amount", "created_at")
    search_fields = ("=stripe_reversal_id", "=release__stripe_transfer_id", "=release__order__id")
    list_select_related = ("release",)
    fields = ("stripe_reversal_id", "release", "amount", "created_at")
    readonly_fields = fields

    @admin.display(description=_("order"))
    def order_link(self, obj):
        return order_link(obj.release.order_id)

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj):
        return format_money(obj.amount_cents, obj.currency)


# --- Refunds ------------------------------------------------------------------------------------

REFUND_FIELDS = (
    "order_link",
    "initiator",
    "actor",
    "reason",
    "status",
    "amount",
    "after_release",
    "seller_share",
    "taken_back",
    "debt",
    "commission_share",
    "fee_share",
    "stripe_refund_id",
    "failure_message",
    "created_at",
    "succeeded_at",
)


class RefundDisplay:
    @admin.display(description=_("order"), ordering="order_id")
    def order_link(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj):
        return format_money(obj.amount_cents, obj.currency)

    @admin.display(description=_("seller's share"))
    def seller_share(self, obj):
        return format_money(obj.seller_share_cents, obj.currency) if obj.after_release else "-"

    @admin.display(description=_("taken back (reversal)"))
    def taken_back(self, obj):
        return format_money(obj.taken_back_cents, obj.currency) if obj.after_release else "-"

    @admin.display(description=_("seller's debt"), ordering="debt_cents")
    def debt(self, obj):
        return format_money(obj.debt_cents, obj.currency) if obj.debt_cents else "-"

    @admin.display(description=_("commission returned"))
    def commission_share(self, obj):
        return format_money(obj.commission_share_cents, obj.currency) if obj.after_release else "-"

    @admin.display(description=_("fee returned"))
    def fee_share(self, obj):
        return format_money(obj.fee_share_cents, obj.currency) if obj.after_release else "-"


@admin.register(EscrowRefund)
class EscrowRefundAdmin(RefundDisplay, ReadOnlyAdmin):
    """Refunds, whoever started them. Read-only: a refund is made with the Order admin's "Refund
    the buyer…" (escrow.services.refund_create), never by editing a row."""

    list_display = (
        "id",
        "order_link",
        "amount",
        "initiator",
        "status",
        "after_release",
        "debt",
        "stripe_refund_id",
        "created_at",
    )
    list_filter = ("status", "initiator", "after_release", "currency")
    search_fields = ("=order__id", "=stripe_refund_id", "order__buyer__email", "reason")
    list_select_related = ()
    date_hierarchy = "created_at"
    fields = REFUND_FIELDS
    readonly_fields = REFUND_FIELDS


# --- The ledger ---------------------------------------------------------------------------------

SELLER_PAYABLES = "seller_payable"
SELLER_DEBTS = "seller_debt"
LEDGER_ACCOUNTS = [
    (LedgerAccount.STRIPE_BALANCE, _("Stripe balance")),
    (LedgerAccount.BUYER_FUNDS_HELD, _("Buyer funds held (escrow)")),
    (LedgerAccount.PLATFORM_COMMISSION, _("Platform commission")),
    (LedgerAccount.STRIPE_FEES, _("Stripe fees")),
    (LedgerAccount.STRIPE_FEES_RECOVERED, _("Stripe fees recovered")),
    (LedgerAccount.TRANSFER_REVERSALS, _("Transfer reversals")),
    (LedgerAccount.REFUNDS, _("Refunds")),
    (SELLER_PAYABLES, _("Seller payables (all sellers)")),
    (SELLER_DEBTS, _("Seller debts (all sellers)")),
]
# Accounts kept per seller: past LEDGER_TOTALS_MAX_ROWS rows, each kind is one line.
PER_SELLER = {
    LedgerAccount.seller_payable(""): SELLER_PAYABLES,
    LedgerAccount.seller_debt(""): SELLER_DEBTS,
}


def _per_seller_kind(account):
    return next((kind for prefix, kind in PER_SELLER.items() if account.startswith(prefix)), None)


class LedgerAccountFilter(admin.SimpleListFilter):
    """The platform's accounts, all sellers' payables or debts at once, or one exact account
    (?account=seller_payable:12, as the totals table links it)."""

    title = _("account")
    parameter_name = "account"

    def lookups(self, request, model_admin):
        return LEDGER_ACCOUNTS

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == SELLER_PAYABLES:
            return queryset.filter(account__startswith=LedgerAccount.seller_payable(""))
        if value == SELLER_DEBTS:
            return queryset.filter(account__startswith=LedgerAccount.seller_debt(""))
        return queryset.filter(account=value)


def ledger_totals(queryset):
    """Debits, credits and balance per account and currency of the entries in `queryset`,
    plus the per-currency sum of everything (zero when the books balance)."""
    rows = list(
        queryset.order_by()
        .values("account", "currency")
        .annotate(
            debits=Sum("amount_cents", filter=Q(amount_cents__gt=0), default=0),
            credits=Sum("amount_cents", filter=Q(amount_cents__lt=0), default=0),
            balance=Sum("amount_cents"),
        )
        .order_by("account", "currency")
    )
    if len(rows) > LEDGER_TOTALS_MAX_ROWS:
        merged = {}
        for row in rows:
            account = _per_seller_kind(row["account"]) or row["account"]
            into = merged.setdefault(
                (account, row["currency"]),
                {"account": account, "currency": row["currency"]}
                | {"debits": 0, "credits": 0, "balance": 0},
            )
            for name in ("debits", "credits", "balance"):
                into[name] += row[name]
        rows = list(merged.values())
    sums = {}
    for row in rows:
        currency = row["currency"]
        sums[currency] = sums.get(currency, 0) + row["balance"]
        row["filter_url"] = "?" + urlencode({LedgerAccountFilter.parameter_name: row["account"]})
        if row["account"] in PER_SELLER.values():
            row["account"] = f"{row['account']}:* (all sellers)"
        row["debits_display"] = format_money(row["debits"], currency)
        row["credits_display"] = format_money(-row["credits"], currency)
        row["balance_display"] = format_money(row["balance"], currency)
    books = [
        {
            "currency": currency.upper(),
            "sum": format_money(total, currency),
            "balanced": total == 0,
        }
        for currency, total in sorted(sums.items())
    ]
    return rows, books


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """The books. Filter by account and currency; the totals above the list are of every entry
    the filters select (all pages)."""

    change_list_template = "admin/escrow/ledgerentry/change_list.html"
    list_display = (
        "created_at",
        "transaction",
        "order_link",
        "account",
        "debit",
        "credit",
        "memo",
        "stripe_object_id",
    )
    list_filter = (LedgerAccountFilter, "currency")
    search_fields = ("=account", "=order__id", "=stripe_object_id", "=transaction_id", "memo")
    date_hierarchy = "created_at"
    fields = (
        "transaction_id",
        "order_link",
        "account",
        "debit",
        "credit",
        "currency",
        "memo",
        "stripe_object_id",
        "created_at",
    )
    readonly_fields = fields
    list_per_page = 100

    @admin.display(description=_("transaction"))
    def transaction(self, obj):
        return str(obj.transaction_id)[:8]

    @admin.display(description=_("order"), ordering="order_id")
    def order_link(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("debit"))
    def debit(self, obj):
        return format_money(obj.debit_cents, obj.currency) if obj.debit_cents else ""

    @admin.display(description=_("credit"))
    def credit(self, obj):
        return format_money(obj.credit_cents, obj.currency) if obj.credit_cents else ""

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            rows, books = ledger_totals(context["cl"].queryset)
            context["ledger_totals"] = rows
            context["ledger_books"] = books
        return response


# --- Reconciliation -----------------------------------------------------------------------------


class ReconciliationDifferenceInline(ReadOnlyTabularInline):
    model = ReconciliationDifference
    fields = (
        "kind_label",
        "order_link",
        "stripe_object_id",
        "ours_cents",
        "stripe_cents",
        "message",
    )
    readonly_fields = fields

    @admin.display(description=_("kind"))
    def kind_label(self, obj):
        return _kind_label(obj.kind)

    @admin.display(description=_("order"))
    def order_link(self, obj):
        return order_link(obj.order_id)


def _kind_label(kind):
    try:
        return DifferenceKind(kind).label
    except ValueError:
        return kind


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    """Runs of escrow.reconcile (daily job, `manage.py reconcile`, or the button here)."""

    change_list_template = "admin/escrow/reconciliationrun/change_list.html"
    list_display = ("started_at", "finished_at", "orders_checked", "difference_count", "result")
    date_hierarchy = "started_at"
    fields = ("started_at", "finished_at", "orders_checked", "difference_count")
    readonly_fields = fields
    inlines = (ReconciliationDifferenceInline,)

    @admin.display(description=_("result"), boolean=True)
    def result(self, obj):
        if obj.finished_at is None:
            return None
        return obj.difference_count == 0

    def has_run_permission(self, request):
        return request.user.is_staff and request.user.has_perm("escrow.add_reconciliationrun")

    def get_urls(self):
        return [
            path(
                "run/",
                self.admin_site.admin_view(self.run_view),
                name="escrow_reconciliationrun_run",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run": self.has_run_permission(request)}
        return super().changelist_view(request, extra_context=extra_context)

    def run_view(self, request):
        """POST: run a reconciliation now and open its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        changelist = reverse("admin:escrow_reconciliationrun_changelist")
        if not self.has_run_permission(request):
            self.message_user(request, _("You may not run a reconciliation."), messages.ERROR)
            return HttpResponseRedirect(changelist)
        run = reconcile()
        count = run.difference_count
        self.message_user(
            request,
            ngettext(
                "Reconciliation finished: %(orders)d orders checked, %(count)d difference.",
                "Reconciliation finished: %(orders)d orders checked, %(count)d differences.",
                count,
            )
            % {"orders": run.orders_checked, "count": count},
            messages.SUCCESS if count == 0 else messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:escrow_reconciliationrun_change", args=[run.pk]))


@admin.register(ReconciliationDifference)
class ReconciliationDifferenceAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "kind_label",
        "order_link",
        "stripe_object_id",
        "ours_cents",
        "stripe_cents",
        "message",
    )
    list_filter = ("kind",)
    search_fields = ("=order__id", "=stripe_object_id", "message")
    list_select_related = ("run",)
    fields = (
        "run",
        "kind",
        "order_link",
        "stripe_object_id",
        "ours_cents",
        "stripe_cents",
        "message",
    )
    readonly_fields = fields

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, obj):
        return _kind_label(obj.kind)

    @admin.display(description=_("order"), ordering="order_id")
    def order_link(self, obj):
        return order_link(obj.order_id)


# --- Orders: everything about one order's money on one page -------------------------------------
# Read-only: an order's state moves only through escrow's services, here through the actions
# ("Release escrow now", confirmed on a page with a reason; "Retry the transfer to the seller"),
# so staff follow the same rules, row locks, ledger bookings and audit trail as buyers and jobs.


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
    verbose_name_plural = _("releases")
    fields = (
        ("trigger", "actor", "status", "milestone"),
        ("gross", "commission", "fee_passed_on", "transfer", "amount_reversed"),
        ("destination_account", "stripe_transfer_id"),
        "failure_message",
        ("created_at", "transferred_at"),
    )
    readonly_fields = (
        "trigger",
        "actor",
        "status",
        "milestone",
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
        return super().get_queryset(request).select_related("actor").with_amount_reversed()


class EscrowRefundInline(RefundDisplay, ReadOnlyTabularInline):
    model = EscrowRefund
    verbose_name_plural = _("refunds")
    fields = (
        "created_at",
        "initiator",
        "actor",
        "reason",
        "status",
        "amount",
        "after_release",
        "taken_back",
        "debt",
        "stripe_refund_id",
        "failure_message",
    )
    readonly_fields = fields

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
    "refunded",
    "shipping_address_display",
    "transit_days",
    "carrier",
    "tracking",
    "shipped_at",
    "received_at",
)


class MilestoneInline(ReadOnlyTabularInline):
    """The order's milestones; staff release or refund one from Escrow → Milestones."""

    model = Milestone
    verbose_name_plural = _("milestones")
    fields = (
        "milestone_link",
        "title",
        "amount",
        "commission",
        "due_date",
        "status",
        "delivered_at",
        "review_deadline",
        "released_at",
    )
    readonly_fields = fields
    ordering = ("position",)

    @admin.display(description=_("milestone"))
    def milestone_link(self, obj):
        url = reverse("admin:escrow_milestone_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.position)

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return format_money(obj.amount_cents, obj.currency)

    @admin.display(description=_("commission"))
    def commission(self, obj):
        return format_money(obj.commission_cents, obj.currency)


class BookingInline(ReadOnlyStackedInline):
    """The order's booked time (UTC, and in the seller's zone)."""

    model = Booking
    fk_name = "order"
    verbose_name_plural = _("booking")
    fields = (
        "booking_link",
        "status",
        "starts_at",
        "ends_at",
        "blocked_until",
        "seller_local_time",
        "proposed_starts_at",
        "proposed_by",
    )
    readonly_fields = fields

    @admin.display(description=_("booking"))
    def booking_link(self, obj):
        url = reverse("admin:escrow_booking_change", args=[obj.pk])
        return format_html('<a href="{}">#{}</a>', url, obj.pk)

    @admin.display(description=_("in the seller's zone"))
    def seller_local_time(self, obj):
        return format_local(obj.starts_at, obj.time_zone)


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    """Booked times of service orders. They change only with their order (payment, expiry,
    cancellation, release) or when buyer and seller agree on another time."""

    list_display = (
        "id",
        "order_link",
        "seller",
        "starts_at",
        "ends_at",
        "seller_local_time",
        "status",
    )
    list_filter = ("status", ("seller", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=order__id", "seller__email", "order__buyer__email", "order__listing_title")
    list_select_related = ("order", "seller")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at", "-id")
    fields = (
        "order_link",
        "seller",
        "status",
        "starts_at",
        "ends_at",
        "blocked_until",
        "time_zone",
        "seller_local_time",
        "proposed_starts_at",
        "proposed_by",
        "proposed_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description=_("order"), ordering="order_id")
    def order_link(self, obj):
        url = reverse("admin:escrow_order_change", args=[obj.order_id])
        return format_html('<a href="{}">#{} {}</a>', url, obj.order_id, obj.order.listing_title)

    @admin.display(description=_("in the seller's zone"))
    def seller_local_time(self, obj):
        return format_local(obj.starts_at, obj.time_zone)


@admin.register(Milestone)
class MilestoneAdmin(ReadOnlyAdmin):
    """Milestones of service orders. Staff release a delivered one, or refund one not released,
    through the services (audited; a refusal is a message, never an error page)."""

    list_display = (
        "__str__",
        "order_link",
        "amount",
        "status",
        "due_date",
        "review_deadline",
        "released_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("=order__id", "title", "order__seller__email", "order__buyer__email")
    list_select_related = ("order",)
    fields = (
        "order_link",
        "position",
        "title",
        "amount",
        "commission",
        "due_date",
        "status",
        "delivered_at",
        "delivery_note",
        "review_deadline",
        "released_at",
        "created_at",
    )
    readonly_fields = fields
    actions = ("release_milestone", "refund_milestone")

    @admin.display(description=_("order"))
    def order_link(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return format_money(obj.amount_cents, obj.currency)

    @admin.display(description=_("commission"))
    def commission(self, obj):
        return format_money(obj.commission_cents, obj.currency)

    def has_escrow_permission(self, request):
        return can_move_escrow(request)

    def has_refund_permission(self, request):
        return can_refund(request)

    def _one(self, request, queryset):
        chosen = list(queryset.order_by("pk")[:2])
        if len(chosen) != 1:
            self.message_user(
                request, _("Choose one milestone: each is decided on its own."), messages.WARNING
            )
            return None
        return chosen[0]

    @admin.action(
        description=_("Release this delivered milestone to the seller"), permissions=["escrow"]
    )
    def release_milestone(self, request, queryset):
        milestone = self._one(request, queryset)
        if milestone is None:
            return
        try:
            decided = services.milestone_release_by_staff(
                milestone=milestone,
                actor=request.user,
                reason=f"Released by {request.user.email} from the admin.",
            )
        except Exception as exc:  # a refusal, or anything else: a message, never a 500
            _problem(self, request, milestone.order_id, exc)
            return
        if decided.status == ReleaseStatus.TRANSFERRED:
            self.message_user(
                request,
                f"Order #{milestone.order_id}: “{milestone.title}” released, "
                f"{decided.transfer_display} transferred to the seller.",
                messages.SUCCESS,
            )
        else:
            _transfer_failed(self, request, decided)

    @admin.action(
        description=_("Refund this milestone to the buyer (in full)"), permissions=["refund"]
    )
    def refund_milestone(self, request, queryset):
        milestone = self._one(request, queryset)
        if milestone is None:
            return
        try:
            refund = services.milestone_refund(
                milestone=milestone,
                actor=request.user,
                initiator=RefundInitiator.STAFF,
                reason=f"Refunded by Bazaar's team ({request.user.email}).",
            )
        except Exception as exc:  # a refusal, or anything else: a message, never a 500
            _problem(self, request, milestone.order_id, exc)
            return
        level = messages.SUCCESS if refund.status == RefundStatus.SUCCEEDED else messages.WARNING
        self.message_user(
            request,
            f"Order #{milestone.order_id}: “{milestone.title}” refund of "
            f"{refund.amount_display} is {refund.get_status_display().lower()}.",
            level,
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
        "refunded",
    )
    list_filter = ("status", "currency")
    search_fields = ("=id", "listing_title", "buyer__email", "seller__email")
    list_select_related = ("buyer", "seller")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("release_escrow_now", "retry_transfer", "refund_buyer")
    inlines = (
        EscrowPaymentInline,
        BookingInline,
        MilestoneInline,
        EscrowReleaseInline,
        EscrowRefundInline,
        LedgerEntryInline,
        OrderAuditInline,
    )
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
                    "refunded",
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
        (
            _("Shipping (products)"),
            {
                "fields": (
                    "shipping_address_display",
                    ("carrier", "tracking"),
                    ("transit_days", "shipped_at", "received_at"),
                )
            },
        ),
        (_("Transfer reversals"), {"fields": ("transfer_reversals",)}),
    )
    readonly_fields = ORDER_READONLY

    def get_queryset(self, request):
        # The changelist skips list_select_related once the queryset has a select_related.
        return (
            super()
            .get_queryset(request)
            .select_related("buyer", "seller", "store", "listing")
            .with_release()
            .with_payment_error()
            .with_refunded_cents()
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

    @admin.display(description=_("last payment error"))
    def payment_error(self, obj):
        # Why the last attempt was declined, read from that payment (annotated above): Stripe's
        # own words and codes for staff, then what the buyer was told.
        if not obj.payment_error_detail:
            return "-"
        return format_html(
            '{}<br><span class="help">{} {}</span>',
            obj.payment_error_detail,
            _("The buyer is told:"),
            obj.payment_error,
        )

    @admin.display(description=_("seller gets (before fees)"))
    def seller_gets(self, obj):
        return format_money(obj.seller_gets_cents, obj.currency)

    @admin.display(description=_("refunded"))
    def refunded(self, obj):
        # Refunds pending or made of the order's payment (annotated above).
        if not obj.refunded_cents:
            return "-"
        if obj.partly_refunded:
            return f"{format_money(obj.refunded_cents, obj.currency)} (part)"
        return format_money(obj.refunded_cents, obj.currency)

    @admin.display(description=_("release"))
    def release_status(self, obj):
        release = obj.release  # with_release(): no query
        if release is None:
            if obj.has_milestone_plan:
                return _("by milestone")
            return "-"
        return release.get_status_display()

    @admin.display(description=_("ship to"))
    def shipping_address_display(self, obj):
        address = obj.shipping_address
        if not address:
            return "-"
        lines = [
            address["name"],
            address["line1"],
            address["line2"],
            " ".join(p for p in (address["city"], address["postal_code"]) if p),
            address["region"],
            obj.shipping_country_name,
        ]
        return format_html_join("", "{}<br>", ((line,) for line in lines if line))

    @admin.display(description=_("tracking number"))
    def tracking(self, obj):
        if not obj.tracking_number:
            return "-"
        if obj.tracking_url:
            return format_html(
                '<a href="{}" rel="noopener noreferrer">{}</a>',
                obj.tracking_url,
                obj.tracking_number,
            )
        return obj.tracking_number

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

    @admin.action(description=_("Release escrow now…"), permissions=["escrow"])
    def release_escrow_now(self, request, queryset):
        """First a page listing what each release would move, with a required reason; the money
        moves only when staff confirm it there."""
        order_ids = list(queryset.values_list("pk", flat=True))
        form = ReleaseReasonForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            release_orders(self, request, order_ids, reason=form.cleaned_data["reason"])
            return None
        return reason_confirmation(
            self,
            request,
            selectors.orders_release_preview(order_ids=order_ids),
            form=form,
            title=_("Release escrow to the sellers"),
            action_name="release_escrow_now",
            template="admin/escrow/order/release_confirmation.html",
        )

    @admin.action(description=_("Retry the transfer to the seller"), permissions=["escrow"])
    def retry_transfer(self, request, queryset):
        retry_transfers(self, request, list(queryset.values_list("pk", flat=True)))

    def has_refund_permission(self, request):
        return can_refund(request)

    @admin.action(description=_("Refund the buyer…"), permissions=["refund"])
    def refund_buyer(self, request, queryset):
        """An intermediate page (amount, reason, what is left to refund), then
        services.refund_create(initiator=STAFF) for the one order chosen."""
        chosen = list(queryset.order_by("pk")[:2])
        if len(chosen) != 1:
            self.message_user(
                request,
                _("Choose one order to refund: the amount is for one order."),
                messages.WARNING,
            )
            return None
        order = chosen[0]
        quote = selectors.order_refund_quote(order)
        initial = {}
        if quote.can_refund:
            initial["amount"] = from_minor_units(quote.refundable_cents, quote.currency)
        form = RefundForm(
            request.POST if "post" in request.POST else None,
            currency=order.currency,
            initial=initial,
        )
        if form.is_bound and form.is_valid():
            try:
                refund = services.refund_create(
                    order=order,
                    amount_cents=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    initiator=RefundInitiator.STAFF,
                    actor=request.user,
                    client_key=form.cleaned_data["client_key"],
                )
            except ValidationFailed as exc:  # the amount or the reason: shown next to it
                add_domain_errors(form, exc, RefundForm.SERVICE_FIELD_MAP)
            except Exception as exc:  # a refusal, or anything else: a message, never a 500
                self._refund_refused(request, order, exc)
                return None
            else:
                self._refund_outcome(request, refund)
                return None
        return reason_confirmation(
            self,
            request,
            queryset.filter(pk=order.pk),
            form=form,
            title=_("Refund the buyer"),
            action_name="refund_buyer",
            template="admin/escrow/order/refund_confirmation.html",
            extra_context={"quote": quote},
        )

    def _refund_refused(self, request, order, exc):
        if isinstance(exc, DomainError | StripeUnavailable):
            text = f"Order #{order.pk}: nothing was refunded. {exc.message}"
        else:
            logger.exception("Admin refund failed for order %s", order.pk)
            text = (
                f"Order #{order.pk}: something went wrong ({exc.__class__.__name__}); nothing "
                "was refunded. The error is logged."
            )
        self.message_user(request, text, messages.ERROR)

    def _refund_outcome(self, request, refund):
        order_id, amount = refund.order_id, refund.amount_display
        if refund.status == RefundStatus.SUCCEEDED:
            text = f"Order #{order_id}: refunded {amount} to the buyer."
            if refund.after_release:
                text += (
                    f" {format_money(refund.taken_back_cents, refund.currency)} was taken back "
                    "from the seller's Stripe balance"
                )
                if refund.debt_cents:
                    text += (
                        f"; {format_money(refund.debt_cents, refund.currency)} it could not "
                        "cover is the seller's debt, recovered from their next releases"
                    )
                text += "."
            self.message_user(request, text, messages.SUCCESS)
        elif refund.status == RefundStatus.PENDING:
            self.message_user(
                request,
                f"Order #{order_id}: the refund of {amount} is on its way; Stripe has not "
                f"confirmed it yet ({refund.failure_message or 'no answer'}). Bazaar retries "
                "it automatically.",
                messages.WARNING,
            )
        else:
            self.message_user(
                request,
                f"Order #{order_id}: Stripe could not refund {amount}: "
                f"{refund.failure_message or 'no reason given'}. Nothing was refunded.",
                messages.ERROR,
            )


# --- Card chargebacks ---------------------------------------------------------------------------


class ChargebackEvidenceForm(forms.ModelForm):
    """The evidence draft, one field per Stripe evidence field (kept in Chargeback.evidence)."""

    product_description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    customer_name = forms.CharField(required=False, max_length=5000)
    customer_email_address = forms.CharField(required=False, max_length=5000)
    service_date = forms.CharField(required=False, max_length=5000, help_text=_("YYYY-MM-DD"))
    shipping_date = forms.CharField(required=False, max_length=5000, help_text=_("YYYY-MM-DD"))
    refund_policy = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    cancellation_policy = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    uncategorized_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}), required=False, max_length=20000
    )

    class Meta:
        model = Chargeback
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in CHARGEBACK_EVIDENCE_TEXT_FIELDS:
            self.fields[name].initial = (self.instance.evidence or {}).get(name, "")


@admin.register(Chargeback)
class ChargebackAdmin(admin.ModelAdmin):
    """Chargebacks as Stripe reports them, and Bazaar's answer: draft the evidence (from the
    order and its conversation), edit it here, submit it to Stripe."""

    form = ChargebackEvidenceForm
    list_display = (
        "stripe_dispute_id",
        "order_link",
        "amount",
        "reason",
        "status",
        "evidence_due_by",
        "evidence_submitted_at",
        "seller_share",
    )
    list_filter = ("status", "reason", "currency")
    search_fields = ("=stripe_dispute_id", "=order__id", "order__seller__email")
    date_hierarchy = "created_at"
    readonly_fields = (
        "stripe_dispute_id",
        "order_link",
        "amount",
        "reason",
        "status",
        "evidence_due_by",
        "seller_share",
        "reversed",
        "debt",
        "returned",
        "evidence_file",
        "evidence_submitted_at",
        "evidence_submitted_by",
        "created_at",
        "closed_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "stripe_dispute_id",
                    "order_link",
                    "amount",
                    "reason",
                    "status",
                    "evidence_due_by",
                    "created_at",
                    "closed_at",
                )
            },
        ),
        (
            _("The seller's share"),
            {"fields": ("seller_share", "reversed", "debt", "returned")},
        ),
        (
            _("Evidence (a draft until submitted)"),
            {
                "fields": (
                    *CHARGEBACK_EVIDENCE_TEXT_FIELDS,
                    "evidence_file",
                    "evidence_submitted_at",
                    "evidence_submitted_by",
                ),
                "description": _(
                    "“Draft the evidence” fills these from the order and attaches the order's "
                    "conversation as a PDF. Edit them, save, then “Submit the evidence to "
                    "Stripe”: Stripe takes one submission."
                ),
            },
        ),
    )
    actions = ("draft_evidence", "submit_evidence")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and (obj.evidence_submitted_at or not obj.is_open):
            return (*self.readonly_fields, *CHARGEBACK_EVIDENCE_TEXT_FIELDS)
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        evidence = {
            name: form.cleaned_data.get(name, "") for name in CHARGEBACK_EVIDENCE_TEXT_FIELDS
        }
        try:
            services.chargeback_evidence_update(
                chargeback=obj, actor=request.user, evidence=evidence
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    @admin.display(description=_("order"))
    def order_link(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj):
        return format_money(obj.amount_cents, obj.currency)

    @admin.display(description=_("seller's share"))
    def seller_share(self, obj):
        return format_money(obj.seller_share_cents, obj.currency)

    @admin.display(description=_("reversed from the seller"))
    def reversed(self, obj):
        return format_money(obj.reversed_cents, obj.currency)

    @admin.display(description=_("owed by the seller"))
    def debt(self, obj):
        return format_money(obj.debt_cents, obj.currency)

    @admin.display(description=_("given back to the seller"))
    def returned(self, obj):
        return format_money(obj.returned_cents, obj.currency)

    @admin.display(description=_("conversation file"))
    def evidence_file(self, obj):
        return obj.evidence_file_id or "-"

    @admin.action(description=_("Draft the evidence from the order"), permissions=["change"])
    def draft_evidence(self, request, queryset):
        for chargeback in queryset:
            try:
                services.chargeback_evidence_draft(chargeback=chargeback, actor=request.user)
            except (DomainError, StripeUnavailable) as exc:
                self.message_user(
                    request, f"{chargeback.stripe_dispute_id}: {exc.message}", messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    _("%(id)s: evidence drafted. Check it, then submit it.")
                    % {"id": chargeback.stripe_dispute_id},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Submit the evidence to Stripe"), permissions=["change"])
    def submit_evidence(self, request, queryset):
        for chargeback in queryset:
            try:
                done = services.chargeback_evidence_submit(
                    chargeback=chargeback, actor=request.user
                )
            except (DomainError, StripeUnavailable) as exc:
                self.message_user(
                    request, f"{chargeback.stripe_dispute_id}: {exc.message}", messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    _("%(id)s: evidence submitted; Stripe says %(status)s.")
                    % {"id": done.stripe_dispute_id, "status": done.get_status_display().lower()},
                    messages.SUCCESS,
                )


# --- Disputes: staff read both sides and decide -------------------------------------------------
# Read-only like the rest: a dispute moves only through escrow.services (the "Resolve…" page calls
# dispute_resolve). Support staff read disputes (escrow.view_dispute); finance staff and
# superusers resolve them (escrow.resolve_dispute).

DISPUTE_AGE_DAYS = (3, 7, 14)


class DisputeEscalatedFilter(admin.SimpleListFilter):
    title = _("escalated")
    parameter_name = "escalated"

    def lookups(self, request, model_admin):
        return (("yes", _("Escalated")), ("no", _("Not escalated")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(escalated_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(escalated_at__isnull=True)
        return queryset


class DisputeOpenForFilter(admin.SimpleListFilter):
    """Open disputes by age: "open > 3 days" and so on."""

    title = _("open for")
    parameter_name = "open_for"

    def lookups(self, request, model_admin):
        return [
            (str(days), _("Open > %(days)d days") % {"days": days}) for days in DISPUTE_AGE_DAYS
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        since = clock.now() - timedelta(days=int(value))
        return queryset.filter(status__in=OPEN_DISPUTE_STATUSES, created_at__lte=since)


class DisputeAuditInline(ReadOnlyInlineMixin, GenericTabularInline):
    """Who did what: every step of the dispute, its actor, before and after."""

    model = AuditEntry
    ct_field = "target_type"
    ct_fk_field = "target_id"
    verbose_name_plural = _("who did what (audit entries)")
    fields = ("created_at", "action", "actor", "before", "after")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor").order_by("created_at", "id")


class DisputeResolveForm(forms.Form):
    resolution = forms.ChoiceField(
        label=_("Decision"), choices=DisputeResolution.choices, widget=forms.RadioSelect
    )
    refund = forms.CharField(
        label=_("Refund to the buyer"),
        required=False,
        help_text=_("Amount in the order's currency, e.g. 30.00. 0 for none."),
    )
    release = forms.CharField(
        label=_("Release to the seller"),
        required=False,
        help_text=_("Before Bazaar's commission, e.g. 20.00. 0 for none."),
    )
    note = forms.CharField(
        label=_("Why"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        max_length=5000,
        help_text=_("The buyer and the seller both read it."),
    )

    def __init__(self, *args, currency, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def _cents(self, name):
        value = (self.cleaned_data.get(name) or "").strip() or "0"
        try:
            cents = to_minor_units(value, self.currency)
        except MoneyError as exc:
            raise forms.ValidationError(str(exc)) from None
        if cents < 0:
            raise forms.ValidationError(_("Enter an amount of 0 or more."))
        return cents

    def clean_refund(self):
        return self._cents("refund")

    def clean_release(self):
        return self._cents("release")


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    change_form_template = "admin/escrow/dispute/change_form.html"
    list_display = (
        "id",
        "order_column",
        "status_column",
        "reason",
        "buyer",
        "seller",
        "age",
        "response_due_at",
        "resolve_by",
        "resolution",
        "resolved_by",
    )
    list_filter = (
        "status",
        DisputeEscalatedFilter,
        DisputeOpenForFilter,
        "reason",
        "resolution",
    )
    search_fields = ("=id", "=order__id", "order__buyer__email", "order__seller__email")
    list_select_related = ("order__buyer", "order__seller", "resolved_by")
    date_hierarchy = "created_at"
    inlines = (DisputeAuditInline,)
    fieldsets = (
        (None, {"fields": (("order_column", "status_column"), ("buyer", "seller"))}),
        (
            _("The buyer's report"),
            {"fields": (("reason", "opened_by", "created_at"), "description")},
        ),
        (_("The seller's answer"), {"fields": ("responded_at", "response")}),
        (
            _("Deadlines"),
            {"fields": (("response_due_at", "resolve_by", "escalated_at"),)},
        ),
        (
            _("Money"),
            {"fields": (("order_total", "held"), "conversation")},
        ),
        (
            _("Decision"),
            {
                "fields": (
                    ("resolution", "refund_amount", "release_amount"),
                    ("resolved_by", "resolved_at"),
                    "resolution_note",
                    "refund",
                    "closed_at",
                )
            },
        ),
    )
    readonly_fields = (
        "order_column",
        "status_column",
        "buyer",
        "seller",
        "reason",
        "opened_by",
        "created_at",
        "description",
        "responded_at",
        "response",
        "response_due_at",
        "resolve_by",
        "escalated_at",
        "order_total",
        "held",
        "conversation",
        "resolution",
        "refund_amount",
        "release_amount",
        "resolved_by",
        "resolved_at",
        "resolution_note",
        "refund",
        "closed_at",
    )

    class Media:
        css = {"all": ("css/admin_disputes.css",)}

    # --- Columns and fields --------------------------------------------------------------------

    @admin.display(description=_("order"), ordering="order_id")
    def order_column(self, obj):
        return order_link(obj.order_id)

    @admin.display(description=_("status"), ordering="status")
    def status_column(self, obj):
        if obj.escalated_at and obj.is_open:
            return format_html(
                '{} <span class="dispute-flag dispute-flag--escalated">{}</span>',
                obj.get_status_display(),
                _("Escalated"),
            )
        return obj.get_status_display()

    @admin.display(description=_("buyer"))
    def buyer(self, obj):
        return obj.order.buyer

    @admin.display(description=_("seller"))
    def seller(self, obj):
        return obj.order.seller

    def get_queryset(self, request):
        # Bazaar's clock (the sandbox's in development) read once per page, not once per row.
        return super().get_queryset(request).annotate(_now=Value(clock.now()))

    @admin.display(description=_("open for"), ordering="created_at")
    def age(self, obj):
        end = obj.closed_at or getattr(obj, "_now", None) or clock.now()
        days = max((end - obj.created_at).days, 0)
        return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}

    @admin.display(description=_("order total"))
    def order_total(self, obj):
        return format_money(obj.order.total_cents, obj.order.currency)

    @admin.display(description=_("held now"))
    def held(self, obj):
        return format_html(
            '<span class="dispute-held">{}</span>',
            format_money(selectors.order_held_cents(obj.order), obj.order.currency),
        )

    @admin.display(description=_("evidence"))
    def conversation(self, obj):
        # The order's conversation in messaging's admin (its search takes an order number).
        url = (
            reverse("admin:messaging_conversation_changelist")
            + "?"
            + urlencode({"q": obj.order_id})
        )
        return format_html('<a href="{}">The order\'s conversation (messages, files)</a>', url)

    @admin.display(description=_("refunded"))
    def refund_amount(self, obj):
        return format_money(obj.refund_cents, obj.order.currency) if obj.resolution else "-"

    @admin.display(description=_("released"))
    def release_amount(self, obj):
        return format_money(obj.release_cents, obj.order.currency) if obj.resolution else "-"

    # --- Resolving -----------------------------------------------------------------------------

    def has_resolve_permission(self, request):
        return services.may_resolve(request.user)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="escrow_dispute_resolve",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dispute = self._dispute(object_id)
        extra_context = dict(extra_context or {})
        if dispute is not None:
            extra_context.update(
                can_resolve=dispute.is_open and self.has_resolve_permission(request),
                resolve_url=reverse("admin:escrow_dispute_resolve", args=[dispute.pk]),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _dispute(self, object_id):
        return (
            Dispute.objects.select_related("order__buyer", "order__seller")
            .filter(pk=object_id if str(object_id).isdigit() else None)
            .first()
        )

    def resolve_view(self, request, object_id):
        """The decision: release, refund or split what is held, with a note both sides read."""
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        dispute = self._dispute(object_id)
        if dispute is None:
            raise Http404("No such dispute.")
        change_url = reverse("admin:escrow_dispute_change", args=[dispute.pk])
        order = dispute.order
        if not dispute.is_open:
            self.message_user(
                request,
                _("This dispute is %(status)s: there is nothing to decide.")
                % {"status": dispute.get_status_display().lower()},
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        held = selectors.order_held_cents(order)
        if request.method == "POST":
            form = DisputeResolveForm(request.POST, currency=order.currency)
            if form.is_valid():
                try:
                    services.dispute_resolve(
                        dispute=dispute,
                        actor=request.user,
                        resolution=form.cleaned_data["resolution"],
                        refund_cents=form.cleaned_data["refund"],
                        release_cents=form.cleaned_data["release"],
                        note=form.cleaned_data["note"],
                    )
                except ValidationFailed as exc:
                    add_domain_errors(
                        form,
                        exc,
                        field_map={"refund_cents": "refund", "release_cents": "release"},
                    )
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    dispute.refresh_from_db()
                    self.message_user(
                        request,
                        _("Dispute #%(id)s resolved: %(outcome)s")
                        % {
                            "id": dispute.pk,
                            "outcome": outcome_for_staff(dispute, order),
                        },
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(change_url)
        else:
            currency = order.currency
            form = DisputeResolveForm(
                currency=currency,
                initial={
                    "refund": str(from_minor_units(0, currency)),
                    "release": str(from_minor_units(held, currency)),
                },
            )
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": _("Resolve dispute #%(id)s") % {"id": dispute.pk},
            "subtitle": None,
            "opts": opts,
            "app_label": opts.app_label,
            "original": dispute,
            "dispute": dispute,
            "order": order,
            "held": format_money(held, order.currency),
            "form": form,
            "change_url": change_url,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/escrow/dispute/resolve.html", context)
