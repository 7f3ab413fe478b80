from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse

from core.images import validate_image
from core.money import format_money
from marketplace.policies import DEFAULT_POLICY, CancellationPolicy, describe


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

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
    def approved(self):
        return self.filter(status=ListingStatus.APPROVED)


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
    stock = models.PositiveIntegerField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
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

    objects = ListingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["status", "price_cents"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_cents__gt=0), name="listing_price_positive"
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
    def cancellation_policy_text(self):
        """The effective policy in plain words for buyers."""
        return describe(self.effective_cancellation_policy, self.kind)


class ListingImage(models.Model):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="listing-images/", validators=[validate_image])
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.alt_text or self.image.name
