"""API shapes for the catalogue.

Input serializers parse and check types only (an integer is an integer, a category slug names a
category); the marketplace's rules live in marketplace.services and come back as field errors.
Output serializers render what the selectors fetched: they must not trigger queries per row.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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
    Listing,
    ListingImage,
    ListingKind,
    Store,
)
from marketplace.policies import CancellationPolicy

POLICY_CHOICE_ERROR = "Choose flexible, moderate or strict."

RATING_AVERAGE_HELP = (
    "The average rating (1 to 5, two decimals) of the {what}'s published buyer reviews; null "
    "before the first one. A review is published once both sides of the order have reviewed or "
    "the review window has ended, and staff may hide one."
)
RATING_COUNT_HELP = "How many published buyer reviews make the {what}'s average."


class RatingField(serializers.Field):
    """A rating figure annotated by the catalogue's selectors (marketplace/ratings.py); a row
    that was not read through them (just saved) has none yet and shows the empty figure."""

    def __init__(self, *, name, empty, **kwargs):
        self.annotation = name
        self.empty = empty
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, instance):
        return _rating(instance, self.annotation, self.empty)


@extend_schema_field(
    {"type": "number", "format": "double", "nullable": True, "minimum": 1, "maximum": 5}
)
class RatingAverageField(RatingField):
    def __init__(self, *, name="rating_average", what, **kwargs):
        super().__init__(
            name=name, empty=None, help_text=RATING_AVERAGE_HELP.format(what=what), **kwargs
        )


@extend_schema_field({"type": "integer", "minimum": 0})
class RatingCountField(RatingField):
    def __init__(self, *, name="rating_count", what, **kwargs):
        super().__init__(
            name=name, empty=0, help_text=RATING_COUNT_HELP.format(what=what), **kwargs
        )


# --- Output -------------------------------------------------------------------------------------


class CategoryOutputSerializer(serializers.ModelSerializer):
    listing_count = serializers.IntegerField(
        read_only=True, help_text="Approved listings in this category."
    )

    class Meta:
        model = Category
        fields = ("slug", "name", "description", "position", "listing_count")
        read_only_fields = fields


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ("slug", "name")
        read_only_fields = fields


class StoreRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ("slug", "name")
        read_only_fields = fields


class StoreOutputSerializer(serializers.ModelSerializer):
    listing_count = serializers.IntegerField(
        read_only=True, help_text="Approved listings in this store."
    )
    logo = serializers.ImageField(read_only=True, allow_null=True)
    # Declared for allow_blank, which a read-only model field loses: it may be left empty.
    support_url = serializers.URLField(
        read_only=True, allow_blank=True, help_text="Empty when the store has none."
    )
    default_cancellation_policy = serializers.ChoiceField(
        choices=CancellationPolicy.choices,
        read_only=True,
        help_text="The policy of every listing of the store that does not choose its own.",
    )
    rating_average = RatingAverageField(what="store")
    rating_count = RatingCountField(what="store")
    default_transit_days = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Days from shipping allowed for a parcel to arrive, for every product of the "
        "store that does not set its own; null: the site's default.",
    )

    class Meta:
        model = Store
        fields = (
            "slug",
            "name",
            "tagline",
            "description",
            "about",
            "support_url",
            "logo",
            "default_cancellation_policy",
            "default_transit_days",
            "listing_count",
            "rating_average",
            "rating_count",
            "created_at",
        )
        read_only_fields = fields


class StoreOwnerOutputSerializer(StoreOutputSerializer):
    """The store as its owner sees it after editing: with the contact details only Bazaar sees.
    Buyers reach a store through messaging (POST /api/v1/conversations/store/), so the public
    store never shows its email address or phone number."""

    contact_email = serializers.EmailField(
        read_only=True, allow_blank=True, help_text="Empty when the store gives none."
    )
    contact_phone = serializers.CharField(read_only=True, allow_blank=True)

    class Meta(StoreOutputSerializer.Meta):
        fields = (*StoreOutputSerializer.Meta.fields, "contact_email", "contact_phone")
        read_only_fields = fields


class ListingImageOutputSerializer(serializers.ModelSerializer):
    url = serializers.ImageField(source="image", read_only=True)

    class Meta:
        model = ListingImage
        fields = ("id", "url", "alt_text", "position")
        read_only_fields = fields


class ListingOutputSerializer(serializers.ModelSerializer):
    """A listing as buyers see it."""

    price_display = serializers.CharField(
        read_only=True, help_text='The price formatted for people, e.g. "US$12.50".'
    )
    in_stock = serializers.BooleanField(read_only=True)
    store = StoreRefSerializer(read_only=True)
    category = CategoryRefSerializer(read_only=True, allow_null=True)
    images = ListingImageOutputSerializer(many=True, read_only=True)
    cancellation_policy = serializers.ChoiceField(
        choices=CancellationPolicy.choices,
        source="effective_cancellation_policy",
        read_only=True,
        help_text="The policy a buyer ordering now agrees to: the listing's own, else the "
        "store's default.",
    )
    cancellation_policy_text = serializers.CharField(
        read_only=True, help_text="The cancellation policy in plain words for buyers."
    )
    rating_average = RatingAverageField(what="listing")
    rating_count = RatingCountField(what="listing")
    transit_days = serializers.IntegerField(
        source="effective_transit_days",
        read_only=True,
        help_text="Products: days from shipping allowed for the parcel to arrive before the "
        "buyer's review window starts (the listing's own, else its store's default, else the "
        "site's).",
    )

    class Meta:
        model = Listing
        fields = (
            "id",
            "title",
            "description",
            "kind",
            "price_cents",
            "currency",
            "price_display",
            "stock",
            "in_stock",
            "duration_minutes",
            "cancellation_policy",
            "cancellation_policy_text",
            "transit_days",
            "store",
            "category",
            "images",
            "rating_average",
            "rating_count",
            "created_at",
        )
        read_only_fields = fields

    def to_representation(self, listing):
        """The listing as DRF's fields would render it (tests/test_listing_shape.py
        compares the two for every serializer built on this one), written out by `written()`:
        catalogue lists render twenty of these per page, and building and walking DRF's fields
        (deep copies of the declared ones, ModelSerializer's field mapping, three nested
        serializers) cost a fifth of an uncached page's CPU. A field of a subclass's
        Meta.fields that its `written()` leaves out is rendered by DRF as usual."""
        data = self.written(listing)
        for name in self.Meta.fields:
            if name not in data:
                data[name] = _render(self.fields[name], listing)
        return {name: data[name] for name in self.Meta.fields}

    def written(self, listing):
        request = self.context.get("request")
        store, category = listing.store, listing.category
        return {
            "id": listing.pk,
            "title": listing.title,
            "description": listing.description,
            "kind": str(listing.kind),
            "price_cents": listing.price_cents,
            "currency": listing.currency,
            "price_display": listing.price_display,
            "stock": listing.stock,
            "in_stock": listing.in_stock,
            "duration_minutes": listing.duration_minutes,
            "cancellation_policy": str(listing.effective_cancellation_policy),
            "cancellation_policy_text": str(listing.cancellation_policy_text),
            "transit_days": listing.effective_transit_days,
            "store": {"slug": store.slug, "name": store.name},
            "category": {"slug": category.slug, "name": category.name} if category else None,
            "images": [_image(image, request) for image in listing.images.all()],
            "rating_average": _rating(listing, "rating_average", None),
            "rating_count": _rating(listing, "rating_count", 0),
            "created_at": _datetime(listing.created_at),
        }


def _datetime(value):
    return None if value is None else _DATETIME.to_representation(value)


def _image(image, request):
    url = image.image.url if image.image else None
    return {
        "id": image.pk,
        "url": request.build_absolute_uri(url) if url and request is not None else url,
        "alt_text": image.alt_text,
        "position": image.position,
    }


def _rating(instance, name, empty):
    value = getattr(instance, name, None)
    if value is None:
        return empty
    # An average may be a Decimal (PostgreSQL's AVG of integers is numeric).
    return value if isinstance(value, int) else round(float(value), 2)


def _render(field, instance):
    # One field as DRF's Serializer.to_representation renders it.
    attribute = field.get_attribute(instance)
    if attribute is None:
        return None
    return field.to_representation(attribute)


_DATETIME = serializers.DateTimeField()


class SellerListingOutputSerializer(ListingOutputSerializer):
    """A listing as its seller sees it: with its review status."""

    cancellation_policy_override = serializers.ChoiceField(
        choices=CancellationPolicy.choices,
        source="cancellation_policy",
        read_only=True,
        allow_blank=True,
        help_text="The listing's own policy as set; empty when it follows the store's default.",
    )

    class Meta(ListingOutputSerializer.Meta):
        fields = (
            *ListingOutputSerializer.Meta.fields,
            "cancellation_policy_override",
            "status",
            "rejection_reason",
            "submitted_at",
            "reviewed_at",
            "updated_at",
        )
        read_only_fields = fields

    def written(self, listing):
        data = super().written(listing)
        data.update(
            cancellation_policy_override=str(listing.cancellation_policy),
            status=str(listing.status),
            rejection_reason=listing.rejection_reason,
            submitted_at=_datetime(listing.submitted_at),
            reviewed_at=_datetime(listing.reviewed_at),
            updated_at=_datetime(listing.updated_at),
        )
        return data


class CategoryFacetSerializer(serializers.Serializer):
    slug = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True, min_value=1)


class KindFacetSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ListingKind.choices, read_only=True)
    label = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True, min_value=1)


class PriceBucketFacetSerializer(serializers.Serializer):
    min_cents = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Lowest price in it, minor units; null: none."
    )
    max_cents = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Where it ends, minor units, excluded; null: no top.",
    )
    label = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True, min_value=1)
    min_price = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The min_price filter value listing exactly these (major units); null: none.",
    )
    max_price = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The max_price filter value listing exactly these (major units); null: none.",
    )


class PriceFacetSerializer(serializers.Serializer):
    currency = serializers.CharField(
        read_only=True, help_text="The currency counted: the currency filter's, else the site's."
    )
    buckets = PriceBucketFacetSerializer(many=True, read_only=True)


class ListingFacetsOutputSerializer(serializers.Serializer):
    categories = CategoryFacetSerializer(
        many=True, read_only=True, help_text="Categories with at least one result."
    )
    kinds = KindFacetSerializer(many=True, read_only=True, help_text="Kinds with results.")
    price = PriceFacetSerializer(read_only=True)
    fuzzy = serializers.BooleanField(
        read_only=True,
        help_text="True when q matched nothing as typed and the results are those of "
        "corrected_query: each word the catalogue does not use replaced by its most similar "
        "one (a typo).",
    )
    corrected_query = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text='What was searched for instead of q when fuzzy ("walnut lamp" for "wallnut '
        'lamp"), lowercased; null otherwise. The list answers the same q with its results.',
    )


# --- Input --------------------------------------------------------------------------------------


class ListingInputSerializer(serializers.Serializer):
    """Create (all required fields) or PATCH (partial) a listing. Rules such as "a service needs
    a duration" or "the price is at least 1 cent" are the service's to enforce."""

    kind = serializers.ChoiceField(choices=ListingKind.choices)
    title = serializers.CharField(max_length=140)
    description = serializers.CharField()
    price_cents = serializers.IntegerField(
        help_text="Price in the currency's minor units (cents): 1250 is 12.50."
    )
    currency = serializers.CharField(
        max_length=3,
        required=False,
        help_text="ISO 4217 code, e.g. usd. Defaults to the seller's default currency.",
    )
    category = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Category.objects.all(),
        required=False,
        allow_null=True,
        error_messages={"does_not_exist": "Choose a category from the list."},
    )
    stock = serializers.IntegerField(
        required=False,
        allow_null=True,
        max_value=STOCK_MAX,
        error_messages={"max_value": STOCK_TOO_HIGH},
        help_text=f"Products only, at most {STOCK_MAX:,}; empty means not tracked.",
    )
    duration_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        max_value=DURATION_MINUTES_MAX,
        error_messages={"max_value": DURATION_TOO_LONG},
        help_text="Services only: how long the work takes, in minutes, at most "
        f"{DURATION_MINUTES_MAX:,} (a year).",
    )
    cancellation_policy = serializers.ChoiceField(
        choices=CancellationPolicy.choices,
        required=False,
        allow_blank=True,
        help_text="flexible, moderate or strict; empty (or left out) follows the store's default.",
        error_messages={"invalid_choice": POLICY_CHOICE_ERROR + " Empty follows the store's."},
    )
    transit_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=TRANSIT_DAYS_MAX,
        help_text="Products only: days from shipping allowed for the parcel to arrive (1 to "
        f"{TRANSIT_DAYS_MAX}); null follows the store's default, else the site's.",
    )


class ListingImageInputSerializer(serializers.Serializer):
    image = serializers.ImageField()
    alt_text = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class StoreUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    tagline = serializers.CharField(max_length=160, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    about = serializers.CharField(required=False, allow_blank=True)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    contact_phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    support_url = serializers.URLField(max_length=200, required=False, allow_blank=True)
    logo = serializers.ImageField(required=False)
    default_cancellation_policy = serializers.ChoiceField(
        choices=CancellationPolicy.choices,
        required=False,
        help_text="The policy of every listing that does not choose its own.",
        error_messages={"invalid_choice": POLICY_CHOICE_ERROR},
    )
    default_transit_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=TRANSIT_DAYS_MAX,
        help_text="Days from shipping allowed for a parcel to arrive, for every product that "
        "does not set its own; null follows the site's default.",
    )


# --- Availability of a service ------------------------------------------------------------------


@extend_schema_field(
    {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "09:00"}
)
class WallTimeField(serializers.TimeField):
    """A wall-clock time as "HH:MM" (no zone: the availability's zone applies)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class AvailabilityWindowSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(
        min_value=0, max_value=6, help_text="0 = Monday ... 6 = Sunday."
    )
    start_time = WallTimeField(help_text="Wall clock in the availability's time zone, e.g. 09:00.")
    end_time = WallTimeField(help_text="After start_time, e.g. 17:00.")


class AvailabilityExceptionSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="A date in the years 1970 to 2999 (YYYY-MM-DD).")
    start_time = WallTimeField(
        allow_null=True,
        required=False,
        default=None,
        help_text="Extra hours from; null with end_time null: closed all day.",
    )
    end_time = WallTimeField(allow_null=True, required=False, default=None)


class AvailabilitySerializer(serializers.Serializer):
    """A service's availability as the seller sets it (PUT replaces all of it) and reads it."""

    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        help_text="IANA zone the hours are in, e.g. Europe/Berlin. Default: your time zone.",
    )
    buffer_minutes = serializers.IntegerField(
        min_value=0,
        max_value=BUFFER_MINUTES_MAX,
        default=0,
        help_text="Kept free after each booking.",
    )
    horizon_days = serializers.IntegerField(
        min_value=1,
        max_value=HORIZON_DAYS_MAX,
        default=60,
        help_text="How many days ahead buyers may book.",
    )
    min_notice_minutes = serializers.IntegerField(
        min_value=0,
        max_value=MIN_NOTICE_MINUTES_MAX,
        default=60,
        help_text="How long before its start a slot can still be booked.",
    )
    windows = AvailabilityWindowSerializer(many=True, max_length=100)
    exceptions = AvailabilityExceptionSerializer(many=True, max_length=400, required=False)
