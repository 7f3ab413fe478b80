"""Forms of the order pages. They parse input; marketplace.orders and escrow.services decide."""

import uuid
from decimal import Decimal, InvalidOperation

from django import forms

from accounts.models import ADDRESS_FIELDS
from core.countries import COUNTRIES
from core.datetimes import validate_moment_in_bounds
from core.money import MoneyError, currency_exponent, to_minor_units
from escrow.models import DisputeReason
from escrow.services.bookings import PRODUCT_TAKES_NO_TIME
from escrow.shipping import TRACKING_NUMBER_MAX_LENGTH, Carrier
from marketplace.models import ListingKind


class OrderCreateForm(forms.Form):
    """Buy a listing. Stock and limits are the service's to check; its messages land here."""

    quantity = forms.IntegerField(
        min_value=1,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": "1"}),
    )
    # One key per rendered form: a double-click or a resubmitted page makes one order, not two.
    client_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    # A bookable service: the free slot's start (UTC, ISO 8601), the value of the slot's button.
    # Years 1970 to 2999 (core.datetimes): a time near datetime's own ends overflows the slots'
    # arithmetic.
    slot_start = forms.DateTimeField(
        required=False,
        widget=forms.HiddenInput,
        validators=[validate_moment_in_bounds],
        error_messages={"invalid": "Pick one of the times shown."},
    )

    def __init__(self, *args, listing=None, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("client_key", f"web-{uuid.uuid4()}")
        super().__init__(*args, **kwargs)
        self.listing = listing
        if listing is not None and listing.kind == ListingKind.SERVICE:
            # A service is booked once per order.
            self.fields["quantity"].widget = forms.HiddenInput()
        elif listing is not None and listing.stock:
            self.fields["quantity"].widget.attrs["max"] = str(listing.stock)
        if listing is not None and listing.kind == ListingKind.PRODUCT:
            # A product takes no time: whatever was sent (a date or not) is refused in those
            # words by clean_slot_start, not as "pick one of the times shown" (none are).
            self.fields["slot_start"] = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_slot_start(self):
        value = self.cleaned_data.get("slot_start")
        if self.listing is not None and self.listing.kind == ListingKind.PRODUCT:
            if value:
                raise forms.ValidationError(PRODUCT_TAKES_NO_TIME)
            return None
        return value

    @property
    def shows_quantity(self):
        return not self.fields["quantity"].widget.is_hidden

    @property
    def hidden_field_errors(self):
        """Messages about fields the buyer cannot see (a time sent for a product): shown as
        they are, since no field on the page is there to mark."""
        return [error for field in self.hidden_fields() for error in field.errors]

    @property
    def has_visible_field_errors(self):
        return any(field.errors for field in self.visible_fields())


class RescheduleForm(forms.Form):
    """The slot button pressed on the order page's week: its start (ISO 8601, UTC)."""

    slot_start = forms.DateTimeField(
        validators=[validate_moment_in_bounds],
        error_messages={
            "required": "Pick one of the times shown.",
            "invalid": "Pick one of the times shown.",
        },
    )


NEW_ADDRESS = "new"


class ShippingAddressForm(forms.Form):
    """Where a product is shipped, at checkout: one of the buyer's saved addresses or a new one
    (saved for next time if they like). The rules are accounts.services.shipping_address_clean's;
    its messages land next to these fields (SERVICE_FIELD_MAP)."""

    saved_address = forms.ChoiceField(
        label="Ship to", required=False, widget=forms.RadioSelect, choices=()
    )
    ship_name = forms.CharField(
        label="Full name",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "shipping name"}),
    )
    ship_line1 = forms.CharField(
        label="Address line 1",
        required=False,
        max_length=200,
        help_text="Street and number, or PO box.",
        widget=forms.TextInput(attrs={"autocomplete": "shipping address-line1"}),
    )
    ship_line2 = forms.CharField(
        label="Address line 2 (optional)",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "shipping address-line2"}),
    )
    ship_city = forms.CharField(
        label="Town or city",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "shipping address-level2"}),
    )
    ship_postal_code = forms.CharField(
        label="Postal code",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "shipping postal-code"}),
    )
    ship_region = forms.CharField(
        label="State, county or region (optional)",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "shipping address-level1"}),
    )
    ship_country = forms.ChoiceField(
        label="Country",
        required=False,
        choices=[("", "Choose a country"), *COUNTRIES],
        widget=forms.Select(attrs={"autocomplete": "shipping country"}),
    )
    save_address = forms.BooleanField(label="Save this address for next time", required=False)
    make_default = forms.BooleanField(label="Make it my default address", required=False)

    # Service field -> form field (escrow.services.order_create's ValidationFailed).
    SERVICE_FIELD_MAP = {
        "shipping_address": "ship_line1",
        "shipping_address_id": "saved_address",
        "save_address": "save_address",
        **{f"shipping_address.{name}": f"ship_{name}" for name in ADDRESS_FIELDS},
    }

    def __init__(self, *args, saved=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.saved = list(saved)
        field = self.fields["saved_address"]
        if self.saved:
            field.choices = [(str(a.pk), _address_line(a)) for a in self.saved] + [
                (NEW_ADDRESS, "A new address (below)")
            ]
            default = next((a for a in self.saved if a.is_default), self.saved[0])
            field.initial = str(default.pk)
        else:
            field.choices = [(NEW_ADDRESS, "A new address")]
            field.widget = forms.HiddenInput()
            field.initial = NEW_ADDRESS

    @property
    def shows_saved(self):
        return bool(self.saved)

    def clean_saved_address(self):
        value = self.cleaned_data.get("saved_address") or NEW_ADDRESS
        if value != NEW_ADDRESS and not any(str(a.pk) == value for a in self.saved):
            raise forms.ValidationError("Choose one of your addresses or a new one.")
        return value

    def order_kwargs(self):
        """What escrow.services.order_create takes for this address."""
        data = self.cleaned_data
        if data["saved_address"] != NEW_ADDRESS:
            return {
                "shipping_address_id": int(data["saved_address"]),
                "make_default": data["make_default"],
            }
        return {
            "shipping_address": {name: data[f"ship_{name}"] for name in ADDRESS_FIELDS},
            "save_address": data["save_address"],
            "make_default": data["make_default"],
        }


def _address_line(address):
    parts = [address.name, address.line1, address.line2, address.city, address.postal_code]
    line = ", ".join(p for p in parts if p) + f" ({address.country})"
    return f"{line} · default" if address.is_default else line


class OrderShipForm(forms.Form):
    """The seller's "Mark shipped": carrier and tracking number (escrow.shipping checks it)."""

    carrier = forms.ChoiceField(
        choices=[("", "Choose a carrier"), *Carrier.choices],
        help_text="Other: the buyer gets the number, without a tracking link.",
    )
    tracking_number = forms.CharField(
        max_length=TRACKING_NUMBER_MAX_LENGTH,
        help_text="As printed on the label: letters and digits.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class OrderDeliverForm(forms.Form):
    """A service (or a milestone of one) is marked delivered; a product is shipped instead
    (OrderShipForm), so nothing here speaks of parcels."""

    note = forms.CharField(
        label="Delivery note",
        required=False,
        max_length=5000,
        help_text="What you did, a download link or where to find the work. The buyer sees it.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class MoneyAmountField(forms.Field):
    """An amount as people type it, in the currency's units ("12.50", "12,50" or "12"), cleaned
    to a Decimal; RefundForm turns it into integer cents (core.money.to_minor_units)."""

    widget = forms.TextInput
    MAX_LENGTH = 20

    def __init__(self, *, currency, **kwargs):
        self.currency = currency
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        return super().widget_attrs(widget) | {
            "inputmode": "decimal" if currency_exponent(self.currency) else "numeric",
            "autocomplete": "off",
            "maxlength": str(self.MAX_LENGTH),
        }

    def _bad(self):
        return forms.ValidationError(
            f"Enter an amount in {self.currency.upper()}, like {_example(self.currency)}.",
            code="invalid",
        )

    def to_python(self, value):
        if value in self.empty_values:
            return None
        # Spaces are ignored; a comma without a point is a decimal comma ("12,50").
        text = "".join(str(value).split())
        if not text:
            return None
        if len(text) > self.MAX_LENGTH:
            raise self._bad()
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise self._bad() from exc
        if not amount.is_finite():
            raise self._bad()
        return amount


def _example(currency):
    return "12.50" if currency_exponent(currency) else "1250"


class RefundForm(forms.Form):
    """Refund (part of) an order to its buyer: the seller's page and the admin's action. The
    amount is typed in the order's currency; escrow.services.refund_create decides the rest
    (at most what is left, a reason given), its messages land next to these fields."""

    amount = forms.CharField()  # replaced in __init__, which knows the currency
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The buyer sees it with the refund on the order page.",
    )
    # One key per rendered form: a double click or a resubmitted page refunds once.
    client_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    # Service field -> form field, for escrow.services' ValidationFailed (core.forms).
    SERVICE_FIELD_MAP = {"amount_cents": "amount", "milestone": "milestone"}

    def __init__(self, *args, currency, milestones=None, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("client_key", f"web-{uuid.uuid4()}")
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"] = MoneyAmountField(
            currency=currency,
            label=f"Amount to refund ({currency.upper()})",
            help_text=f"In {currency.upper()}, for example {_example(currency)}.",
        )
        if milestones:
            # A milestone order is refunded one milestone at a time (refund_create).
            self.milestones = {str(m.pk): m for m in milestones}
            self.fields["milestone"] = forms.ChoiceField(
                label="Milestone",
                choices=[
                    (
                        str(m.pk),
                        f"{m.position}. {m.title} ({m.amount_display}, "
                        f"{m.get_status_display().lower()})",
                    )
                    for m in milestones
                ],
                help_text="A milestone not released yet is refunded in full.",
            )

    def clean_milestone(self):
        return self.milestones[self.cleaned_data["milestone"]]

    def clean_amount(self):
        """The amount in integer cents (minor units of the currency)."""
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("Refund more than nothing.", code="min_value")
        try:
            return to_minor_units(amount, self.currency)
        except MoneyError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc


# --- Disputes -----------------------------------------------------------------------------------


class DisputeOpenForm(forms.Form):
    """The buyer reports a problem. The service checks the order's state and the text."""

    reason = forms.ChoiceField(
        label="What is wrong?",
        choices=DisputeReason.choices,
        widget=forms.RadioSelect,
    )
    description = forms.CharField(
        label="Describe the problem",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What you expected, what you got, and what you have tried with the seller. "
        "The seller and Bazaar's team read it. Add photos or files in the order's "
        "conversation.",
    )
    # One key per rendered form: a double-click opens one dispute, not an error.
    client_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, reasons=None, **kwargs):
        """`reasons`: the ones this order offers (escrow.services.dispute_reasons_for). Only
        those are shown; another one posted anyway is refused by the service, next to the
        field, in its own words."""
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("client_key", f"web-{uuid.uuid4()}")
        super().__init__(*args, **kwargs)
        if reasons is not None:
            self.fields["reason"].widget.choices = [
                (value, label) for value, label in DisputeReason.choices if value in reasons
            ]


class DisputeRespondForm(forms.Form):
    response = forms.CharField(
        label="Your answer",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What happened from your side: when and how you delivered, what you offered "
        "the buyer. The buyer and Bazaar's team read it. Add tracking, photos or files in "
        "the order's conversation.",
    )


class MilestoneForm(forms.Form):
    """One row of the seller's milestone plan; the amount as people type it (currency units)."""

    title = forms.CharField(label="Title", max_length=140, required=False)
    amount = forms.CharField(
        label="Amount",
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    due_date = forms.DateField(
        label="Due date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, currency="usd", **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)

    @property
    def is_blank(self):
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not any(data.get(name) for name in ("title", "amount", "due_date"))

    def clean_amount(self):
        text = (self.cleaned_data.get("amount") or "").strip().replace(",", ".")
        if not text:
            return None
        try:
            return to_minor_units(Decimal(text), self.currency)
        except (InvalidOperation, MoneyError):
            digits = currency_exponent(self.currency)
            raise forms.ValidationError(
                f"Enter an amount like 12.50 (at most {digits} decimals)."
            ) from None


MAX_MILESTONE_ROWS = 20


def milestone_forms(data=None, *, rows, currency, initial=()):
    """The plan's rows: `rows` forms, prefixed m0, m1, ... (the service's field messages name
    them milestones.<n>.<field>)."""
    initial = list(initial)
    return [
        MilestoneForm(
            data,
            prefix=f"m{n}",
            currency=currency,
            initial=initial[n] if n < len(initial) else None,
        )
        for n in range(rows)
    ]
