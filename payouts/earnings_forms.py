"""The earnings page's form: the period and the range of dates (GET). payouts.earnings decides
what a valid range is; this parses the query string and puts its messages by the fields."""

from django import forms

from payouts import earnings


def iso_date_field(label):
    """An optional YYYY-MM-DD date (a date picker in browsers) between earnings.EARLIEST and
    LATEST, as the earnings range and the payout history take them."""
    return forms.DateField(
        required=False,
        label=label,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(
            attrs={
                "type": "date",
                "min": f"{earnings.EARLIEST:%Y-%m-%d}",
                "max": f"{earnings.LATEST:%Y-%m-%d}",
            },
            format="%Y-%m-%d",
        ),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )


class EarningsRangeForm(forms.Form):
    """`period`, `from` and `to` (YYYY-MM-DD). Left out, the range is the last 12 weeks or
    months; `max_days` bounds it (the CSV allows less than the chart)."""

    period = forms.ChoiceField(
        choices=[(value, value.capitalize()) for value, _ in earnings.PERIOD_CHOICES],
        required=False,
        label="Per",
    )

    def __init__(self, data=None, *, max_days=earnings.MAX_RANGE_DAYS):
        # "from" is a Python keyword: the date fields are added here, under the query's names.
        super().__init__(data)
        self.max_days = max_days
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = iso_date_field(label)

    def clean(self):
        cleaned = super().clean()
        period = cleaned.get("period") or "week"
        cleaned["period"] = period
        if self.errors:
            return cleaned
        start, end, errors = earnings.resolve_range(
            period, cleaned.get("from"), cleaned.get("to"), max_days=self.max_days
        )
        for name, message in errors.items():
            self.add_error(name, message)
        cleaned["from"], cleaned["to"] = start, end
        return cleaned
