import pgtrigger
from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.query import ModelIterable
from django.urls import reverse

from core.images import validate_image
from core.money import format_money
from core.timezones import validate_time_zone
from marketplace import ratings
from marketplace.policies import DEFAULT_POLICY, CancellationPolicy, describe

# Bounds of a service's availability settings.
BUFFER_MINUTES_MAX = 24 * 60
HORIZON_DAYS_MAX = 365
MIN_NOTICE_MINUTES_MAX = 30 * 24 * 60
# The longest handling and transit allowance a product may give its parcel.
TRANSIT_DAYS_MAX = 90
# A service lasts at most a year and a product counts at most a million in stock: beyond
# them the integer columns overflow on PostgreSQL (2**31) and a slot's end overflows the
# clock, and nothing sold here is longer or more numerous.
DURATION_MINUTES_MAX = 525_600
DURATION_TOO_LONG = f"Give a duration of at most {DURATION_MINUTES_MAX:,} minutes (a year)."
STOCK_MAX = 1_000_000
STOCK_TOO_HIGH = f"Give a stock of at most {STOCK_MAX:,}."

# The text search configuration of listings' search vectors and of the queries matched against
# them (marketplace/search.py). English stems words, so "lamps" finds "lamp" and "ceramics"
# finds "ceramic", and drops words like "the"; the catalogue is written in English.
SEARCH_CONFIG = "english"

# A listing's search document: its title weighs most (A), its store's and category's names next
# (B), its description least (C). PostgreSQL computes it on every insert and on every update of
# these columns; the store and category triggers below refresh it when those names change.
LISTING_SEARCH_VECTOR = f"""
NEW.search_vector :=
    setweight(to_tsvector('{SEARCH_CONFIG}', coalesce(NEW.title, '')), 'A')
    || setweight(to_tsvector('{SEARCH_CONFIG}',
        coalesce((SELECT name FROM marketplace_store WHERE id = NEW.store_id), '') || ' '
        || coalesce((SELECT name FROM marketplace_category WHERE id = NEW.category_id), '')
    ), 'B')
    || setweight(to_tsvector('{SEARCH_CONFIG}', coalesce(NEW.description, '')), 'C');
RETURN NEW;
"""

# The longest word the vocabulary keeps: as long as a search word may be (marketplace/search.py).
SEARCH_TERM_MAX_LENGTH = 40
# The vocabulary the search corrects typos with (SearchTerm, marketplace/search.py): every word of
# a listing's title, description, store and category names, unstemmed ('simple' lowercases and
# splits like the search does), added when a listing is written. A word no listing uses any more
# stays: correcting to it finds nothing, which is what the typed word found too.
ADD_LISTING_WORDS = f"""
INSERT INTO marketplace_searchterm (word)
SELECT DISTINCT word
FROM unnest(tsvector_to_array(to_tsvector('simple',
    coalesce(NEW.title, '') || ' ' || coalesce(NEW.description, '') || ' '
    || coalesce((SELECT name FROM marketplace_store WHERE id = NEW.store_id), '') || ' '
    || coalesce((SELECT name FROM marketplace_category WHERE id = NEW.category_id), '')
))) AS word
WHERE char_length(word) <= {SEARCH_TERM_MAX_LENGTH}
ON CONFLICT (word) DO NOTHING;
RETURN NULL;
"""

# Setting a listing's title to itself fires its search vector trigger, which reads the new name:
# the document is written in one place only.
REFRESH_LISTINGS_OF = """
UPDATE marketplace_listing SET title = title WHERE {column} = NEW.id;
RETURN NULL;
"""


def _name_changed_trigger(column):
    return pgtrigger.Trigger(
        name="refresh_listing_search",
        when=pgtrigger.After,
        operation=pgtrigger.UpdateOf("name"),
        condition=pgtrigger.Q(old__name__df=pgtrigger.F("new__name")),
        func=REFRESH_LISTINGS_OF.format(column=column),
    )


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"
        triggers = [_name_changed_trigger("category_id")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("category", kwargs={"slug": self.slug})


class Store(models.Model):
    """A seller's storefront; its Home, Products, About and Contact pages come from these fields."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store"
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    tagline = models.CharField(max_length=160, blank=True)
    description = models.TextField(blank=True, help_text="Shown on the store's home page.")
    about = models.TextField(blank=True, help_text="Shown on the store's About page.")
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    support_url = models.URLField(blank=True)
    logo = models.ImageField(upload_to="store-logos/", blank=True, validators=[validate_image])
    default_cancellation_policy = models.CharField(
        max_length=10,
        choices=CancellationPolicy.choices,
        default=DEFAULT_POLICY,
        help_text="Applies to every listing of the store that does not choose its own.",
    )
    # Days a shipped parcel is given to arrive, for every product of the store that does not
    # set its own (Listing.transit_days). Null: BAZAAR_DEFAULT_TRANSIT_DAYS.
    default_transit_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(TRANSIT_DAYS_MAX)],
        help_text="Products: days allowed for a parcel to arrive. Empty: the site's default.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        triggers = [_name_changed_trigger("store_id")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("store", kwargs={"slug": self.slug})


class ListingKind(models.TextChoices):
    PRODUCT = "product", "Product"  # a thing with stock, shipped or downloaded
    SERVICE = "service", "Service"  # bookable work with a duration


class ListingStatus(models.TextChoices):
    DRAFT = "draft", "Draft"  # being written; only the seller sees it
    PENDING_REVIEW = "pending_review", "Pending review"  # submitted; staff decide
    APPROVED = "approved", "Approved"  # public: buyers can see and buy it
    REJECTED = "rejected", "Rejected"  # staff said no, with a reason; seller may edit and resubmit
    ARCHIVED = "archived", "Archived"  # withdrawn by the seller; hidden, kept for history


# The one place that says which status moves are allowed.
LISTING_TRANSITIONS = {
    ListingStatus.DRAFT: {ListingStatus.PENDING_REVIEW, ListingStatus.ARCHIVED},
    ListingStatus.PENDING_REVIEW: {
        ListingStatus.APPROVED,
        ListingStatus.REJECTED,
        ListingStatus.DRAFT,  # the seller withdraws it to keep editing
    },
    ListingStatus.APPROVED: {ListingStatus.ARCHIVED, ListingStatus.PENDING_REVIEW},
    ListingStatus.REJECTED: {ListingStatus.PENDING_REVIEW, ListingStatus.ARCHIVED},
    ListingStatus.ARCHIVED: {ListingStatus.DRAFT},
}


class ListingQuerySet(models.QuerySet):
    # Set by with_ratings(): the rows fetched come with their rating figures.
    _with_ratings = False

    def approved(self):
        return self.filter(status=ListingStatus.APPROVED)

    def with_ratings(self):
        """Listings that arrive with rating_average, rating_count, store_rating_average and
        store_rating_count (marketplace/ratings.py): one more query when the rows are fetched,
        for those rows only, like a prefetch_related."""
        clone = self._chain()
        clone._with_ratings = True
        return clone

    def _clone(self):
        clone = super()._clone()
        clone._with_ratings = self._with_ratings
        return clone

    def _fetch_all(self):
        fetched = self._result_cache is None
        super()._fetch_all()
        if fetched and self._with_ratings and issubclass(self._iterable_class, ModelIterable):
            ratings.rate_listings(self._result_cache)


class Listing(models.Model):
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="listings")
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="listings", null=True, blank=True
    )
    kind = models.CharField(max_length=10, choices=ListingKind.choices)
    title = models.CharField(max_length=140)
    description = models.TextField()
    price_cents = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    currency = models.CharField(max_length=3)
    # Products count stock; services have a duration instead. Null stock = not tracked.
    stock = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(STOCK_MAX, message=STOCK_TOO_HIGH)],
    )
    duration_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[
            MinValueValidator(1),
            MaxValueValidator(DURATION_MINUTES_MAX, message=DURATION_TOO_LONG),
        ],
    )
    status = models.CharField(
        max_length=20, choices=ListingStatus.choices, default=ListingStatus.DRAFT
    )
    # Empty: the store's default applies (effective_cancellation_policy), so changing the default
    # changes every listing that did not choose its own.
    cancellation_policy = models.CharField(
        max_length=10,
        choices=CancellationPolicy.choices,
        blank=True,
        help_text="Empty: the store's default cancellation policy.",
    )
    # Products: days from shipping the buyer is given to receive the parcel before their review
    # window starts (unless they confirm receipt first). Null: BAZAAR_DEFAULT_TRANSIT_DAYS.
    transit_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(TRANSIT_DAYS_MAX)],
        help_text="Products: days allowed for the parcel to arrive. Empty: the store's default.",
    )
    rejection_reason = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Written by PostgreSQL only (the trigger in Meta, LISTING_SEARCH_VECTOR); its GIN index and
    # the title's trigram index are made by migration 0008. Empty on SQLite, which searches
    # without it (marketplace/search.py).
    search_vector = SearchVectorField(null=True, editable=False)

    objects = ListingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # One per sort of the catalogue (marketplace/filters.py, scanned backwards for the
        # opposite direction), ending with the id that breaks ties, so a page is read in index
        # order from where its cursor points (core/pagination.py) and never sorted.
        indexes = [
            models.Index(fields=["status", "-created_at", "-id"], name="listing_status_newest"),
            models.Index(fields=["status", "price_cents", "id"], name="listing_status_price"),
            models.Index(fields=["status", "title", "id"], name="listing_status_title"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_cents__gt=0), name="listing_price_positive"
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="listing_search_vector",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert
                | pgtrigger.UpdateOf("title", "description", "store_id", "category_id"),
                func=LISTING_SEARCH_VECTOR,
            ),
            # After the row is written: a listing whose insert fails adds no words. A store or
            # category rename reaches it too, through the refresh triggers' title = title.
            pgtrigger.Trigger(
                name="listing_search_terms",
                when=pgtrigger.After,
                operation=pgtrigger.Insert
                | pgtrigger.UpdateOf("title", "description", "store_id", "category_id"),
                func=ADD_LISTING_WORDS,
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("listing-detail", kwargs={"pk": self.pk})

    @property
    def price_display(self):
        return format_money(self.price_cents, self.currency)

    @property
    def seller(self):
        return self.store.owner

    @property
    def is_public(self):
        return self.status == ListingStatus.APPROVED

    @property
    def is_editable(self):
        return self.status != ListingStatus.ARCHIVED

    @property
    def in_stock(self):
        return self.kind == ListingKind.SERVICE or self.stock is None or self.stock > 0

    @property
    def effective_cancellation_policy(self):
        """The listing's own policy, else its store's default (read the store with it)."""
        return CancellationPolicy(
            self.cancellation_policy or self.store.default_cancellation_policy
        )

    @property
    def effective_transit_days(self):
        """The days a shipped parcel is given to arrive: the listing's own, else its store's
        default, else the site's (read the store with it)."""
        return (
            self.transit_days
            or self.store.default_transit_days
            or settings.BAZAAR_DEFAULT_TRANSIT_DAYS
        )

    @property
    def cancellation_policy_text(self):
        """The effective policy in plain words for buyers."""
        return describe(self.effective_cancellation_policy, self.kind)


class SearchTerm(models.Model):
    """A word some listing uses (title, description, store or category name), lowercased and
    unstemmed: the vocabulary a misspelt search word is corrected against. Written by
    PostgreSQL only (the listing_search_terms trigger on Listing); its trigram index is made by
    migration 0009. Empty on SQLite, which has no typo tolerance."""

    word = models.CharField(max_length=SEARCH_TERM_MAX_LENGTH, unique=True)

    def __str__(self):
        return self.word


class ListingImage(models.Model):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="listing-images/", validators=[validate_image])
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.alt_text or self.image.name


# --- Availability of a bookable service ---------------------------------------------------------


class ServiceAvailability(models.Model):
    """When buyers may book a service listing: weekly hours and exceptions in `time_zone` (the
    seller's when it was set up), slots of the listing's duration with a buffer after each, no
    sooner than the minimum notice and no further ahead than the horizon.

    marketplace.availability turns it into free slots; escrow's bookings say which are taken.
    A service without one is ordered without a time, as before bookings existed.
    """

    listing = models.OneToOneField(Listing, on_delete=models.CASCADE, related_name="availability")
    # The weekly hours and exceptions are wall-clock times in this IANA zone.
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    # Kept free after each booking (travel, preparation); another booking cannot start in it.
    buffer_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(BUFFER_MINUTES_MAX)]
    )
    # How far ahead buyers may book.
    horizon_days = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(HORIZON_DAYS_MAX)]
    )
    # How long before a slot starts it can still be booked.
    min_notice_minutes = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(MIN_NOTICE_MINUTES_MAX)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "service availabilities"

    def __str__(self):
        return f"Availability of {self.listing}"


class Weekday(models.IntegerChoices):
    # datetime.date.weekday()'s numbering.
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class AvailabilityWindow(models.Model):
    """Weekly hours: on `weekday`, from `start_time` to `end_time` (wall clock, the
    availability's zone). Several per day, never overlapping (checked by the service)."""

    availability = models.ForeignKey(
        ServiceAvailability, on_delete=models.CASCADE, related_name="windows"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="availability_window_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class AvailabilityException(models.Model):
    """One date that differs from the weekly hours: closed all day (no times), or extra hours
    (start and end). A closed day with extra hours on the same date replaces that day's hours."""

    availability = models.ForeignKey(
        ServiceAvailability, on_delete=models.CASCADE, related_name="exceptions"
    )
    date = models.DateField()
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["date", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start_time__isnull=True, end_time__isnull=True)
                | models.Q(
                    start_time__isnull=False,
                    end_time__isnull=False,
                    end_time__gt=models.F("start_time"),
                ),
                name="availability_exception_closed_or_hours",
            ),
        ]

    def __str__(self):
        if self.closed:
            return f"{self.date:%Y-%m-%d} closed"
        return f"{self.date:%Y-%m-%d} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    @property
    def closed(self):
        return self.start_time is None
