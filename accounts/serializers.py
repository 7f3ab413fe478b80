"""API shapes for accounts: one Input serializer per write (parsing and type checks only; the
rules live in accounts.services) and Output serializers for what the API returns."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.countries import COUNTRY_CHOICES, UNKNOWN_COUNTRY_MESSAGE
from accounts.models import SellerProfile, ShippingAddress, User
from accounts.selectors import email_pending

# --- Input --------------------------------------------------------------------------------------


class TokenObtainInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, trim_whitespace=True)
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )


class SignupInputSerializer(serializers.Serializer):
    # The service checks the address and the password rules; here only the types.
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class MeUpdateInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150, allow_blank=True, required=False)
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        help_text="IANA time zone name, e.g. Europe/Berlin: times are shown to you in it.",
    )


COUNTRY_HELP = (
    "ISO 3166-1 alpha-2 code of the country you sell from, one of those where Stripe opens "
    "Express accounts (any case: pt is PT)."
)


class CountryField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": UNKNOWN_COUNTRY_MESSAGE})
        super().__init__(choices=COUNTRY_CHOICES, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class SellerOnboardInputSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=100)
    country = CountryField(help_text=COUNTRY_HELP)
    default_currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. usd.")
    bio = serializers.CharField(required=False, allow_blank=True, default="")
    store_name = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Name of the store to open; the display name when empty.",
    )


class SellerProfileUpdateInputSerializer(serializers.Serializer):
    # commission_bps is absent on purpose: the marketplace sets it, sellers cannot.
    display_name = serializers.CharField(max_length=100, required=False)
    country = CountryField(required=False, help_text=COUNTRY_HELP)
    default_currency = serializers.CharField(max_length=3, required=False)
    bio = serializers.CharField(required=False, allow_blank=True)


# --- Output -------------------------------------------------------------------------------------


class SellerProfileOutputSerializer(serializers.ModelSerializer):
    effective_commission_bps = serializers.IntegerField(
        read_only=True, help_text="The commission that applies: the override or the default."
    )
    store_slug = serializers.SerializerMethodField()

    class Meta:
        model = SellerProfile
        fields = (
            "display_name",
            "bio",
            "country",
            "default_currency",
            "commission_bps",
            "effective_commission_bps",
            "store_slug",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_store_slug(self, profile) -> str | None:
        store = getattr(profile.user, "store", None)
        return store.slug if store else None


class MeOutputSerializer(serializers.ModelSerializer):
    is_seller = serializers.BooleanField(read_only=True)
    email_verified = serializers.BooleanField(
        read_only=True,
        help_text="The email address is confirmed (or the user is staff): needed to sell and pay.",
    )
    pending_email = serializers.SerializerMethodField(
        help_text="A new address waiting for its link to be opened; `email` stays until then."
    )
    seller_profile = serializers.SerializerMethodField()
    store_slug = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "full_name",
            "time_zone",
            "email_verified",
            "pending_email",
            "is_seller",
            "seller_profile",
            "store_slug",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.EmailField(allow_null=True))
    def get_pending_email(self, user):
        return email_pending(user)

    @extend_schema_field(SellerProfileOutputSerializer(allow_null=True))
    def get_seller_profile(self, user):
        profile = getattr(user, "seller_profile", None)
        return SellerProfileOutputSerializer(profile).data if profile else None

    def get_store_slug(self, user) -> str | None:
        store = getattr(user, "store", None)
        return store.slug if store else None


TOKEN_HELP = "Send it as `Authorization: Token <token>`. Shown once: only its hash is kept."
EXPIRY_HELP = (
    "When the token stops working (BAZAAR_API_TOKEN_TTL_HOURS after sign-in); sign in again "
    "then. Logging out and a password change or reset end it earlier."
)


class EmailChangeInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class EmailChangeOutputSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True, help_text="The account's address, until then.")
    pending_email = serializers.EmailField(
        read_only=True, help_text="Where the link went; it becomes `email` once opened."
    )


class EmailResendOutputSerializer(serializers.Serializer):
    sent_to = serializers.EmailField(
        read_only=True, allow_null=True, help_text="Where the link went; null: nothing to confirm."
    )


class SignupOutputSerializer(serializers.Serializer):
    user = MeOutputSerializer(read_only=True)
    token = serializers.CharField(read_only=True, help_text=TOKEN_HELP)
    expiry = serializers.DateTimeField(read_only=True, help_text=EXPIRY_HELP)


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text=TOKEN_HELP)
    expiry = serializers.DateTimeField(read_only=True, help_text=EXPIRY_HELP)


class ShippingAddressOutputSerializer(serializers.ModelSerializer):
    """One of the buyer's saved shipping addresses (theirs only)."""

    class Meta:
        model = ShippingAddress
        fields = (
            "id",
            "name",
            "line1",
            "line2",
            "city",
            "postal_code",
            "region",
            "country",
            "is_default",
            "created_at",
        )
        read_only_fields = fields


class ShippingAddressFieldsSerializer(serializers.Serializer):
    """An address's lines, types only: the rules (required lines, lengths, a known country) are
    accounts.services.shipping_address_clean's, given back as field errors. Saving one here and
    giving one at checkout (escrow's order input) share it."""

    name = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Who the parcel is for."
    )
    line1 = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Street and number, or PO box."
    )
    line2 = serializers.CharField(required=False, allow_blank=True, default="")
    city = serializers.CharField(required=False, allow_blank=True, default="")
    postal_code = serializers.CharField(required=False, allow_blank=True, default="")
    region = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="State, county or region."
    )
    country = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="ISO 3166-1 alpha-2 code, e.g. US, DE, GB.",
    )


class ShippingAddressInputSerializer(ShippingAddressFieldsSerializer):
    """A buyer saves an address for next time."""

    make_default = serializers.BooleanField(
        required=False, default=False, help_text="Checkout offers it first."
    )
