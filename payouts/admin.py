"""The back office's view of sellers' balances: read-only, from payouts.selectors.seller_balances
(the same figures the seller's page and the API show). Linked from each seller profile's page."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin
from core.money import format_money
from payouts.models import SellerBalance
from payouts.selectors import seller_balances

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
