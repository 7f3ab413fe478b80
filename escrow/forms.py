"""Forms of the order pages and of disputes. They parse input; escrow.services decides."""

import uuid

from django import forms

from escrow.models import DisputeReason
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

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("client_key", f"web-{uuid.uuid4()}")
        super().__init__(*args, **kwargs)


class DisputeRespondForm(forms.Form):
    response = forms.CharField(
        label="Your answer",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What happened from your side: when and how you delivered, what you offered "
        "the buyer. The buyer and Bazaar's team read it. Add tracking, photos or files in "
        "the order's conversation.",
    )
