"""Forms of the order pages. They parse input; marketplace.orders and escrow.services decide."""

import uuid

from django import forms

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

    @property
    def shows_quantity(self):
        return not self.fields["quantity"].widget.is_hidden


class OrderDeliverForm(forms.Form):
    note = forms.CharField(
        label="Delivery note",
        required=False,
        max_length=5000,
        help_text="Tracking number, download link or what you did. The buyer sees it.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
