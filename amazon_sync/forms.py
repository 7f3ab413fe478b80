from django import forms

from amazon_sync.models import ProductType


class PublishForm(forms.Form):
    product_type = forms.ChoiceField(
        label="Amazon product type",
        choices=ProductType.choices,
        initial=ProductType.PRODUCT,
        help_text="Amazon's category for the item; it decides which details Amazon asks for.",
    )
