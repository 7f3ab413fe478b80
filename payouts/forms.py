"""The payout request form of /seller/payouts/."""

from django import forms

from core.money import MoneyError, to_minor_units
from payouts import earnings
from payouts.earnings_forms import iso_date_field
from payouts.models import PayoutInterval, PayoutMethod, PayoutStatus, Weekday


class PayoutRequestForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount",
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text="What leaves your available balance.",
    )
    currency = forms.ChoiceField(label="Currency")
    method = forms.ChoiceField(
        label="Speed",
        choices=PayoutMethod.choices,
        initial=PayoutMethod.STANDARD,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, currencies=("usd",), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c.upper()) for c in currencies]

    def clean(self):
        cleaned = super().clean()
        amount, currency = cleaned.get("amount"), cleaned.get("currency")
        if amount is not None and currency:
            try:
                cleaned["amount_cents"] = to_minor_units(amount, currency)
            except MoneyError as exc:
                self.add_error("amount", str(exc))
        return cleaned


class PayoutScheduleForm(forms.Form):
    interval = forms.ChoiceField(
        label="Pay me out",
        choices=PayoutInterval.choices,
        widget=forms.RadioSelect,
    )
    weekly_anchor = forms.TypedChoiceField(
        label="Day of the week",
        choices=Weekday.choices,
        coerce=int,
        initial=Weekday.MONDAY,
        help_text="For weekly payouts.",
    )
    monthly_anchor = forms.IntegerField(
        label="Day of the month",
        min_value=1,
        max_value=31,
        initial=1,
        help_text="For monthly payouts; 29 to 31 mean the month's last day in shorter months.",
    )


class PayoutHistoryForm(forms.Form):
    """The payout history's filters (GET, also the API's query): `status`, `from`, `to`
    (YYYY-MM-DD, both included, the day the payout was requested). All optional."""

    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *PayoutStatus.choices],
    )

    def __init__(self, data=None):
        # "from" is a Python keyword: the date fields are added here, under the query's names.
        super().__init__(data)
        for name, label in (("from", "Requested from"), ("to", "Requested until")):
            self.fields[name] = iso_date_field(label)

    def clean(self):
        cleaned = super().clean()
        for name in ("from", "to"):
            day = cleaned.get(name)
            if day is not None and not earnings.EARLIEST <= day <= earnings.LATEST:
                self.add_error(
                    name,
                    f"Choose a date from {earnings.EARLIEST:%Y-%m-%d} to "
                    f"{earnings.LATEST:%Y-%m-%d}.",
                )
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start > end and not self.errors:
            self.add_error("to", "Choose a day on or after the first one.")
        return cleaned
