"""Forms of the account pages. They parse input; accounts.services decides what is allowed."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from accounts.countries import COUNTRY_CHOICES, UNKNOWN_COUNTRY_MESSAGE
from core.forms import currency_choices
from core.timezones import time_zone_choices


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class SignupForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    full_name = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not only digits and not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    # Service field -> form field, for errors raised by accounts.services.user_signup.
    SERVICE_FIELD_MAP = {"password": "password1"}

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are not the same.")
        return cleaned


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    time_zone = forms.ChoiceField(
        choices=time_zone_choices,
        help_text="Bookings and deadlines are shown to you in this time zone.",
    )


class EmailChangeForm(forms.Form):
    email = forms.EmailField(
        label="New email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="We send a link to the new address; your current one stays until you open it.",
    )


class CountryChoiceField(forms.ChoiceField):
    """The country select; a code typed in any case ("us") is the same country."""

    def to_python(self, value):
        return super().to_python(value).upper()


class SellerOnboardForm(forms.Form):
    display_name = forms.CharField(
        max_length=100, help_text="The name buyers see on your listings and messages."
    )
    store_name = forms.CharField(
        max_length=100, required=False, help_text="Empty: the same as your display name."
    )
    country = CountryChoiceField(
        choices=[("", "Choose your country")] + COUNTRY_CHOICES,
        help_text="Where you sell from: Stripe pays sellers in these countries.",
        widget=forms.Select(attrs={"autocomplete": "country"}),
        error_messages={"invalid_choice": UNKNOWN_COUNTRY_MESSAGE},
    )
    default_currency = forms.ChoiceField(
        choices=currency_choices, help_text="New listings start in this currency."
    )
    bio = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="A few words about you and what you sell.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_currency"].initial = settings.BAZAAR_DEFAULT_CURRENCY


class TwoFactorConfirmForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from your app",
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )
