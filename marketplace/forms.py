"""Forms of the catalogue pages. They parse input; the services decide what is allowed."""

from datetime import date, datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.html import format_html

from core.forms import currency_choices
from core.money import MoneyError, from_minor_units, to_minor_units
from core.timezones import time_zone_choices
from marketplace.models import (
    BUFFER_MINUTES_MAX,
    DURATION_MINUTES_MAX,
    DURATION_TOO_LONG,
    HORIZON_DAYS_MAX,
    MIN_NOTICE_MINUTES_MAX,
    STOCK_MAX,
    STOCK_TOO_HIGH,
    TRANSIT_DAYS_MAX,
    Category,
    ListingKind,
    Weekday,
)
from marketplace.policies import DEFAULT_POLICY, CancellationPolicy, describe_all_html


def _policy_help(lead):
    return format_html("{} {}", lead, describe_all_html())


class ListingForm(forms.Form):
    """A listing as a seller types it: the price in major units ("12.50"), not cents."""

    title = forms.CharField(max_length=140)
    kind = forms.ChoiceField(
        choices=ListingKind.choices,
        initial=ListingKind.PRODUCT,
        help_text="A product has stock; a service has a duration.",
    )
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(), required=False, empty_label="No category"
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))
    price = forms.DecimalField(
        min_value=Decimal("0"),
        max_digits=12,
        help_text="In the listing's currency, e.g. 12.50.",
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    currency = forms.ChoiceField(choices=currency_choices)
    stock = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=STOCK_MAX,
        error_messages={"max_value": STOCK_TOO_HIGH},
        help_text=f"Products only, at most {STOCK_MAX:,}. Leave empty if you do not count stock.",
    )
    duration_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=DURATION_MINUTES_MAX,
        error_messages={"max_value": DURATION_TOO_LONG},
        label="Duration (minutes)",
        help_text="Services only: how long the work takes, at most "
        f"{DURATION_MINUTES_MAX:,} minutes (a year).",
    )
    cancellation_policy = forms.ChoiceField(
        choices=[("", "Your store's default"), *CancellationPolicy.choices],
        required=False,
        label="Cancellation policy",
    )
    transit_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=TRANSIT_DAYS_MAX,
        label="Transit allowance (days)",
        help_text="Products only: days from shipping for the parcel to arrive. The buyer's "
        "review window starts after them unless the buyer confirms receipt sooner. Empty: "
        f"your store's default (else {settings.BAZAAR_DEFAULT_TRANSIT_DAYS} days).",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": "1"}),
    )

    # Service field -> form field, for errors raised by the catalogue services.
    SERVICE_FIELD_MAP = {"price_cents": "price"}

    @classmethod
    def initial_for(cls, listing):
        return {
            "title": listing.title,
            "kind": listing.kind,
            "category": listing.category_id,
            "description": listing.description,
            "price": from_minor_units(listing.price_cents, listing.currency),
            "currency": listing.currency,
            "stock": listing.stock,
            "duration_minutes": listing.duration_minutes,
            "cancellation_policy": listing.cancellation_policy,
            "transit_days": listing.transit_days,
        }

    def __init__(self, *args, store=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["cancellation_policy"]
        lead = "How much buyers get back if they cancel."
        if store is not None:
            default = CancellationPolicy(store.default_cancellation_policy)
            field.choices = [("", f"Your store's default ({default.label})"), *field.choices[1:]]
            lead += f" Your store's default is {default.label}."
        field.help_text = _policy_help(lead)

    def clean(self):
        cleaned = super().clean()
        price, currency = cleaned.get("price"), cleaned.get("currency")
        if price is not None and currency:
            try:
                cleaned["price_cents"] = to_minor_units(price, currency)
            except MoneyError as exc:
                self.add_error("price", str(exc))
        return cleaned

    def listing_fields(self):
        """The cleaned values, named as listing_create / listing_update take them."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "kind": data["kind"],
            "category": data["category"],
            "description": data["description"],
            "price_cents": data["price_cents"],
            "currency": data["currency"],
            "stock": data["stock"],
            "duration_minutes": data["duration_minutes"],
            "cancellation_policy": data["cancellation_policy"],
            "transit_days": data["transit_days"],
        }


class ListingImageForm(forms.Form):
    image = forms.ImageField(help_text="JPEG, PNG, GIF or WebP.")
    alt_text = forms.CharField(
        max_length=200,
        required=False,
        label="Description of the image",
        help_text="For people who cannot see it. Empty: the listing's title.",
    )


class StoreForm(forms.Form):
    name = forms.CharField(max_length=100, label="Store name")
    tagline = forms.CharField(max_length=160, required=False)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Shown on your store's home page.",
    )
    about = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Shown on your store's About page.",
    )
    # For Bazaar to reach the store; never shown to buyers, who write through messaging.
    contact_email = forms.EmailField(
        required=False, help_text="For Bazaar only: buyers write to you through Messages."
    )
    contact_phone = forms.CharField(
        max_length=40,
        required=False,
        label="Contact phone",
        help_text="For Bazaar only: not shown to buyers.",
    )
    support_url = forms.URLField(required=False, label="Support website", assume_scheme="https")
    logo = forms.ImageField(required=False)
    default_cancellation_policy = forms.ChoiceField(
        choices=CancellationPolicy.choices,
        initial=DEFAULT_POLICY,
        label="Cancellation policy",
        help_text=_policy_help(
            "How much buyers get back if they cancel, for every listing that does not choose "
            "its own. Orders already placed keep the policy they were placed under."
        ),
    )
    default_transit_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=TRANSIT_DAYS_MAX,
        label="Transit allowance (days)",
        help_text="For every product that does not set its own: days from shipping for the "
        "parcel to arrive before the buyer's review window starts. Empty: "
        f"{settings.BAZAAR_DEFAULT_TRANSIT_DAYS} days.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": "1"}),
    )

    FIELDS = (
        "name",
        "tagline",
        "description",
        "about",
        "contact_email",
        "contact_phone",
        "support_url",
        "default_cancellation_policy",
        "default_transit_days",
    )

    @classmethod
    def initial_for(cls, store):
        return {name: getattr(store, name) for name in (*cls.FIELDS, "logo")}

    def store_fields(self):
        """The cleaned values for store_update; the logo only when it was replaced or cleared."""
        fields = {name: self.cleaned_data[name] for name in self.FIELDS}
        logo = self.cleaned_data.get("logo")
        if logo is False:  # the "clear" box was ticked
            fields["logo"] = ""
        elif isinstance(logo, UploadedFile):
            fields["logo"] = logo
        return fields


# --- Availability of a service ------------------------------------------------------------------

HOURS_HELP = "e.g. 09:00-12:00, 13:00-17:00. Empty: not bookable that day."
EXCEPTIONS_HELP = (
    "One date per line: “2027-12-24 closed” for a day off, “2027-12-27 10:00-14:00” for extra "
    "hours. A day off and extra hours on the same date replace that day's hours."
)


def _parse_time(text):
    try:
        return datetime.strptime(text.strip(), "%H:%M").time()
    except ValueError:
        raise forms.ValidationError(f"“{text.strip()}” is not a time like 09:30.") from None


def _parse_range(text):
    start, sep, end = text.partition("-")
    if not sep:
        raise forms.ValidationError(f"“{text.strip()}” is not hours like 09:00-12:00.")
    return _parse_time(start), _parse_time(end)


class AvailabilityForm(forms.Form):
    """A service's availability as a seller types it: each weekday's hours as text, the
    exceptions one per line. The service checks overlaps and bounds."""

    time_zone = forms.ChoiceField(
        choices=time_zone_choices, help_text="The hours below are in this time zone."
    )
    buffer_minutes = forms.IntegerField(
        min_value=0,
        max_value=BUFFER_MINUTES_MAX,
        label="Buffer after each booking (minutes)",
        help_text="Kept free after each booking, e.g. to travel or prepare.",
    )
    horizon_days = forms.IntegerField(
        min_value=1, max_value=HORIZON_DAYS_MAX, label="Bookable up to (days ahead)"
    )
    min_notice_minutes = forms.IntegerField(
        min_value=0,
        max_value=MIN_NOTICE_MINUTES_MAX,
        label="Minimum notice (minutes)",
        help_text="A slot can be booked until this long before it starts.",
    )
    exceptions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Days off and extra hours",
        help_text=EXCEPTIONS_HELP,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for day in Weekday:
            self.fields[f"day_{day.value}"] = forms.CharField(
                required=False, label=day.label, help_text=HOURS_HELP if day.value == 0 else ""
            )

    @property
    def day_fields(self):
        return [self[f"day_{day.value}"] for day in Weekday]

    @classmethod
    def initial_for(cls, availability, user):
        if availability is None:
            return {
                "time_zone": user.time_zone,
                "buffer_minutes": 0,
                "horizon_days": 60,
                "min_notice_minutes": 60,
            }
        initial = {
            "time_zone": availability.time_zone,
            "buffer_minutes": availability.buffer_minutes,
            "horizon_days": availability.horizon_days,
            "min_notice_minutes": availability.min_notice_minutes,
            "exceptions": "\n".join(str(e) for e in availability.exceptions.all()),
        }
        for day in Weekday:
            initial[f"day_{day.value}"] = ", ".join(
                f"{w.start_time:%H:%M}-{w.end_time:%H:%M}"
                for w in availability.windows.all()
                if w.weekday == day.value
            )
        return initial

    def clean(self):
        cleaned = super().clean()
        windows = []
        for day in Weekday:
            text = cleaned.get(f"day_{day.value}") or ""
            try:
                for part in filter(None, (p.strip() for p in text.split(","))):
                    start, end = _parse_range(part)
                    windows.append({"weekday": day.value, "start_time": start, "end_time": end})
            except forms.ValidationError as exc:
                self.add_error(f"day_{day.value}", exc)
        exceptions = []
        for line in (cleaned.get("exceptions") or "").splitlines():
            line = line.strip()
            if not line:
                continue
            day_text, _, rest = line.partition(" ")
            try:
                day = date.fromisoformat(day_text)
            except ValueError:
                self.add_error("exceptions", f"“{day_text}” is not a date like 2027-12-24.")
                continue
            rest = rest.strip()
            if rest.lower() in ("", "closed"):
                exceptions.append({"date": day, "start_time": None, "end_time": None})
                continue
            try:
                start, end = _parse_range(rest)
            except forms.ValidationError as exc:
                self.add_error("exceptions", exc)
                continue
            exceptions.append({"date": day, "start_time": start, "end_time": end})
        cleaned["windows"] = windows
        cleaned["exception_list"] = exceptions
        return cleaned
