"""The back office's view of sellers' payouts (a list, failed first, with retry) and balances:
read-only, from payouts.selectors.seller_balances
(the same figures the seller's page and the API show). Linked from each seller profile's page."""

from django.contrib import admin, messages
from django.db.models import Case, Value, When
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin
from core.errors import DomainError, StripeUnavailable
from core.money import format_money
from payouts.models import Payout, PayoutStatus, SellerBalance
from payouts.selectors import seller_balances
from payouts.services import failure_words, payout_retry, payout_send

# (label, CurrencyBalance attribute) in the order the seller's page shows them.
FIGURES = (
    ("In escrow", "in_escrow_cents"),
    ("Being transferred", "transferring_cents"),
    ("On the way (pending at Stripe)", "on_the_way_cents"),
    ("Available at Stripe", "available_cents"),
    ("Paid out (lifetime)", "paid_out_cents"),
    ("Lifetime earnings", "lifetime_earnings_cents"),
    ("Owed to Bazaar", "debt_cents"),
)


@admin.register(SellerBalance)
class SellerBalanceAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "user", "default_currency")
    search_fields = ("display_name", "user__email", "user__full_name")
    list_select_related = ("user",)
    ordering = ("display_name",)
    fields = ("seller_profile", "user", "balances")
    readonly_fields = ("seller_profile", "user", "balances")

    @admin.display(description="seller profile")
    def seller_profile(self, obj):
        url = reverse("admin:accounts_sellerprofile_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.display_name)

    @admin.display(description="balances")
    def balances(self, obj):
        balances = seller_balances(seller=obj.user)
        notes = []
        if balances.stripe_error:
            notes.append(balances.stripe_error)
        elif not balances.has_stripe_account:
            notes.append("No Stripe account: nothing can be paid out yet.")
        if not balances.paid_out_complete:
            notes.append("More paid payouts than one read follows: paid out is at least this.")
        tables = []
        for row in balances.currencies:
            cells = format_html_join(
                "",
                '<tr><th scope="row">{}</th><td data-figure="{}">{}</td></tr>',
                (
                    (label, name, _figure(getattr(row, name), row.currency))
                    for label, name in FIGURES
                ),
            )
            pending = format_html_join(
                "",
                "<li>{} {}</li>",
                (
                    (
                        format_money(p.amount_cents, p.currency),
                        f"available on {p.available_on:%Y-%m-%d}"
                        if p.available_on
                        else "date not listed",
                    )
                    for p in row.on_the_way
                ),
            )
            tables.append(
                format_html(
                    '<table data-currency="{}"><caption>{}</caption><tbody>{}</tbody></table>{}',
                    row.currency,
                    row.currency.upper(),
                    cells,
                    format_html("<ul>{}</ul>", pending) if row.on_the_way else "",
                )
            )
        return format_html(
            "{}{}",
            format_html_join("", "<p>{}</p>", ((note,) for note in notes)),
            format_html_join("", "{}", ((table,) for table in tables)),
        )


def _figure(cents, currency):
    return "unknown (Stripe not read)" if cents is None else format_money(cents, currency)


# --- Payouts ------------------------------------------------------------------------------------


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    """Every payout, failed ones first. Actions call payouts.services (audited)."""

    list_display = (
        "id",
        "seller",
        "to_bank",
        "method",
        "status",
        "arrival_date",
        "created_at",
    )
    list_filter = ("status", "method", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("seller__email", "stripe_payout_id", "stripe_account_id")
    list_select_related = ("seller",)
    readonly_fields = (
        "seller",
        "stripe_account_id",
        "stripe_payout_id",
        "currency",
        "amount_cents",
        "fee_cents",
        "method",
        "status",
        "arrival_date",
        "failure_code",
        "failure_message",
        "failure_words",
        "requested_by",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    actions = ("retry_failed", "send_requested")

    def get_ordering(self, request):
        failed_first = Case(When(status=PayoutStatus.FAILED, then=Value(0)), default=Value(1))
        return (failed_first.asc(), "-created_at", "-id")

    @admin.display(description="to the bank", ordering="amount_cents")
    def to_bank(self, obj):
        text = format_money(obj.bank_cents, obj.currency)
        if obj.fee_cents:
            text += f" (fee {format_money(obj.fee_cents, obj.currency)})"
        return text

    @admin.display(description="why it failed, as the seller reads it")
    def failure_words(self, obj):
        return failure_words(obj.failure_code) if obj.status == PayoutStatus.FAILED else ""

    @admin.action(description="Pay the selected failed payouts out again")
    def retry_failed(self, request, queryset):
        for payout in queryset.select_related("seller"):
            try:
                again = payout_retry(payout=payout, actor=request.user)
            except (DomainError, StripeUnavailable) as exc:
                self.message_user(request, f"Payout #{payout.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Payout #{payout.pk} paid out again as payout #{again.pk} "
                    f"({again.get_status_display().lower()}).",
                    messages.SUCCESS,
                )

    @admin.action(description="Send the selected requested payouts to Stripe again")
    def send_requested(self, request, queryset):
        for payout in queryset.filter(status=PayoutStatus.REQUESTED):
            try:
                sent = payout_send(payout=payout)
            except DomainError as exc:
                self.message_user(request, f"Payout #{payout.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Payout #{payout.pk}: {sent.get_status_display().lower()}.",
                    messages.SUCCESS,
                )
