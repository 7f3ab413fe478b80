from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse

from marketplace.money import format_money


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
    logo = models.ImageField(upload_to="store-logos/", blank=True)
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


class ListingImage(models.Model):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="listing-images/")
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.alt_text or self.image.name


class AuditEntry(models.Model):
    """Append-only record of every state change: who did what to which record, before/after."""

    action = models.CharField(max_length=100, db_index=True)  # e.g. "listing.approved"
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    target_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    target_id = models.CharField(max_length=64)
    target = GenericForeignKey("target_type", "target_id")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self):
        return f"{self.action} on {self.target_type.model} {self.target_id}"


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Awaiting payment"  # stock reserved; buyer has not paid
    FUNDED = "funded", "Paid, held in escrow"  # the platform holds the buyer's money
    DELIVERED = (
        "delivered",
        "Delivered, in review",
    )  # seller delivered; buyer reviews until deadline
    RELEASED = "released", "Completed"  # money released to the seller minus commission
    CANCELLED = "cancelled", "Cancelled"  # called off before payment; stock returned
    EXPIRED = "expired", "Expired"  # not paid in time; stock returned


# The one place that says which order moves are allowed. A payment that arrives after an order
# expired or was cancelled still funds it: money received is never ignored.
ORDER_TRANSITIONS = {
    OrderStatus.PENDING_PAYMENT: {
        OrderStatus.FUNDED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    },
    OrderStatus.FUNDED: {OrderStatus.DELIVERED, OrderStatus.RELEASED},
    OrderStatus.DELIVERED: {OrderStatus.RELEASED},
    OrderStatus.RELEASED: set(),
    OrderStatus.CANCELLED: {OrderStatus.FUNDED},
    OrderStatus.EXPIRED: {OrderStatus.FUNDED},
}


class Order(models.Model):
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_placed"
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_received"
    )
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="orders")
    # Snapshots: what the buyer agreed to, whatever happens to the listing later.
    listing_title = models.CharField(max_length=140)
    listing_kind = models.CharField(max_length=10, choices=ListingKind.choices)
    unit_price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    total_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    commission_bps = models.PositiveIntegerField()
    commission_fixed_cents = models.PositiveIntegerField(default=0)
    commission_min_cents = models.PositiveIntegerField(default=0)
    commission_cents = models.PositiveIntegerField()
    stripe_fee_payer = models.CharField(max_length=10, default="platform")
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    payment_error = models.CharField(max_length=300, blank=True)
    stock_reserved = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_note = models.TextField(blank=True)
    review_deadline = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The API client's Idempotency-Key for creating this order, so a retry returns it.
    client_key = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["buyer", "-created_at"]),
            models.Index(fields=["seller", "-created_at"]),
            models.Index(fields=["status", "review_deadline"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_cents=models.F("unit_price_cents") * models.F("quantity")),
                name="order_total_is_price_times_quantity",
            ),
            models.CheckConstraint(
                condition=models.Q(commission_cents__lte=models.F("total_cents")),
                name="order_commission_within_total",
            ),
            models.UniqueConstraint(
                fields=["buyer", "client_key"],
                condition=~models.Q(client_key=""),
                name="order_client_key_per_buyer",
            ),
        ]

    def __str__(self):
        return f"Order #{self.pk} {self.listing_title}"

    def get_absolute_url(self):
        return reverse("order-detail", kwargs={"pk": self.pk})

    @property
    def total_display(self):
        return format_money(self.total_cents, self.currency)

    @property
    def commission_display(self):
        return format_money(self.commission_cents, self.currency)

    @property
    def seller_gets_cents(self):
        return self.total_cents - self.commission_cents

    @property
    def transfer_group(self):
        return f"order-{self.pk}"
