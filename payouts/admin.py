"""The back office's view of sellers' payouts (a list, failed first, with retry), balances
(read-only, from payouts.selectors.seller_balances: the same figures the seller's page and the
API show; linked from each seller profile's page) and payout schedules, where staff hold a
seller's payouts with the reason the seller reads, and lift the hold."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, Value, When
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin, reason_confirmation
from core.errors import DomainError, StripeUnavailable
from core.money import format_money
from payouts.models import Payout, PayoutSchedule, PayoutStatus, SellerBalance
from payouts.selectors import seller_balances
from payouts.services import (
    failure_words,
    payout_retry,
    payout_send,
    payouts_hold,
    payouts_unhold,
    schedule_words,
)

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


class HoldActionsMixin:
    """The hold / lift actions of an admin whose rows name a seller (`hold_actions_of`: the
    attribute holding the user), offered to staff who may change payout schedules."""

    hold_actions_of = "seller"

    def get_actions(self, request):
        # The rows are read-only; the hold actions are the payout schedules' change permission.
        actions = super().get_actions(request)
        if not request.user.has_perm("payouts.change_payoutschedule"):
            actions.pop("hold_payouts", None)
            actions.pop("unhold_payouts", None)
        return actions

    def _seller_of(self, row):
        return getattr(row, self.hold_actions_of)

    @admin.action(description="Hold the sellers' payouts (risk review)")
    def hold_payouts(self, request, queryset):
        return _hold(self, request, queryset, seller_of=self._seller_of)

    @admin.action(description="Lift the hold on the sellers' payouts")
    def unhold_payouts(self, request, queryset):
        _unhold(self, request, queryset, seller_of=self._seller_of)


@admin.register(SellerBalance)
class SellerBalanceAdmin(HoldActionsMixin, ReadOnlyAdmin):
    """Each seller's balances; staff hold or release a seller's payouts from the list."""

    list_display = ("display_name", "user", "default_currency", "payout_schedule", "payouts_held")
    search_fields = ("display_name", "user__email", "user__full_name")
    list_select_related = ("user", "user__payout_schedule")
    actions = ("hold_payouts", "unhold_payouts")
    hold_actions_of = "user"

    @admin.display(description="payout schedule")
    def payout_schedule(self, obj):
        schedule = getattr(obj.user, "payout_schedule", None)
        return schedule_words(schedule) if schedule else schedule_words(PayoutSchedule())

    @admin.display(description="payouts held", boolean=True)
    def payouts_held(self, obj):
        schedule = getattr(obj.user, "payout_schedule", None)
        return bool(schedule and schedule.held)

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
class PayoutAdmin(HoldActionsMixin, ReadOnlyAdmin):
    """Every payout, failed ones first. Actions call payouts.services (audited); the hold
    actions act on the chosen payouts' sellers."""

    list_display = (
        "id",
        "seller",
        "to_bank",
        "method",
        "status",
        "arrival_date",
        "created_at",
    )
    list_filter = (
        "status",
        "method",
        "currency",
        ("created_at", admin.DateFieldListFilter),
        ("seller", admin.RelatedOnlyFieldListFilter),
    )
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
    actions = ("retry_failed", "send_requested", "hold_payouts", "unhold_payouts")

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


# --- Schedules and holds ------------------------------------------------------------------------


class HoldForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        max_length=2000,
        help_text="The seller reads this on their payouts page and in an email: say what Bazaar "
        "is checking and what they can do.",
    )


def _hold(modeladmin, request, queryset, *, seller_of):
    form = HoldForm(request.POST if "post" in request.POST else None)
    if form.is_bound and form.is_valid():
        for seller in _sellers(queryset, seller_of):
            try:
                payouts_hold(seller=seller, reason=form.cleaned_data["reason"], actor=request.user)
            except DomainError as exc:
                modeladmin.message_user(request, f"{seller}: {exc.message}", messages.ERROR)
            else:
                modeladmin.message_user(
                    request, f"{seller}: payouts held; they are told why.", messages.SUCCESS
                )
        return None
    return reason_confirmation(
        modeladmin,
        request,
        queryset,
        form=form,
        title="Hold payouts",
        action_name="hold_payouts",
        template="admin/payouts/hold_confirmation.html",
    )


def _sellers(queryset, seller_of):
    """The sellers of the chosen rows, each once (several payouts may be one seller's)."""
    sellers = {}
    for row in queryset:
        seller = seller_of(row)
        sellers.setdefault(seller.pk, seller)
    return list(sellers.values())


def _unhold(modeladmin, request, queryset, *, seller_of):
    for seller in _sellers(queryset, seller_of):
        try:
            schedule = payouts_unhold(seller=seller, actor=request.user)
        except DomainError as exc:
            modeladmin.message_user(request, f"{seller}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                f"{seller}: payouts {'released' if not schedule.held else 'still held'}.",
                messages.SUCCESS,
            )


@admin.register(PayoutSchedule)
class PayoutScheduleAdmin(HoldActionsMixin, ReadOnlyAdmin):
    """Sellers' payout schedules, held ones first. The seller chooses the schedule; staff hold and
    release payouts through the actions (payouts.services, audited, the seller told)."""

    list_display = ("seller", "schedule", "held", "hold_reason", "held_at", "held_by")
    list_filter = ("held", "interval")
    search_fields = ("seller__email", "seller__full_name", "hold_reason")
    list_select_related = ("seller", "held_by")
    fields = (
        "seller",
        "schedule",
        "changed_at",
        "held",
        "hold_reason",
        "held_at",
        "held_by",
    )
    readonly_fields = fields
    actions = ("hold_payouts", "unhold_payouts")

    def get_ordering(self, request):
        return ("-held", "-held_at", "seller__email")

    @admin.display(description="schedule")
    def schedule(self, obj):
        return schedule_words(obj)
