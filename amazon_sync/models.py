"""A seller's Amazon account, each listing's copy on Amazon and the catalogue feeds sent there.

The SP-API itself is behind amazon_sync.spapi (the real client library, or the offline sandbox
chosen by settings). Every write is in amazon_sync.services.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from amazon_sync.crypto import decrypt, encrypt
from marketplace.models import Listing, Store


class AmazonAccount(models.Model):
    """The Amazon seller account a store publishes to, authorised through Login with Amazon.

    The refresh token lets Bazaar act for the seller on Amazon: it is stored encrypted
    (amazon_sync.crypto, keys from AMAZON_CREDENTIALS_KEYS) and deleted on disconnect.
    """

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="amazon_account")
    selling_partner_id = models.CharField(max_length=64)
    marketplace_id = models.CharField(max_length=32)
    region = models.CharField(max_length=4, default="NA")
    refresh_token_encrypted = models.BinaryField()
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    connected_at = models.DateTimeField()

    def __str__(self):
        return f"{self.store} on Amazon ({self.selling_partner_id})"

    @property
    def refresh_token(self):
        return decrypt(bytes(self.refresh_token_encrypted))

    @refresh_token.setter
    def refresh_token(self, value):
        self.refresh_token_encrypted = encrypt(value)


class SyncStatus(models.TextChoices):
    NOT_PUBLISHED = "not_published", "Not on Amazon"  # never sent, or sent and refused at once
    PENDING = "pending", "Pending"  # Amazon accepted it and is processing it: no ASIN yet
    LIVE = "live", "Live"  # on Amazon with an ASIN; price and stock kept in sync
    ERROR = "error", "Error"  # Amazon reported problems (issues): the seller must act
    DELISTED = "delisted", "Delisted"  # deleted from Amazon by the seller; may be published again


# The one place that says which sync status moves are allowed.
SYNC_TRANSITIONS = {
    SyncStatus.NOT_PUBLISHED: {SyncStatus.PENDING, SyncStatus.ERROR},
    SyncStatus.PENDING: {SyncStatus.LIVE, SyncStatus.ERROR, SyncStatus.DELISTED},
    SyncStatus.LIVE: {SyncStatus.PENDING, SyncStatus.ERROR, SyncStatus.DELISTED},
    SyncStatus.ERROR: {SyncStatus.PENDING, SyncStatus.LIVE, SyncStatus.DELISTED},
    SyncStatus.DELISTED: {SyncStatus.PENDING, SyncStatus.ERROR},
}
# On Amazon (or on its way there): price and stock changes are pushed.
SYNCED_STATUSES = (SyncStatus.PENDING, SyncStatus.LIVE, SyncStatus.ERROR)


class ProductType(models.TextChoices):
    """The Amazon product types a seller may publish as (Amazon's own names). Some ask for more
    than Bazaar knows of a listing (a material, a metal): Amazon then says which, and the
    seller sees it."""

    PRODUCT = "PRODUCT", "Generic product (no extra details)"
    HOME = "HOME", "Home (needs a material)"
    KITCHEN = "KITCHEN", "Kitchen (needs a material)"
    JEWELRY = "JEWELRY", "Jewellery (needs a metal type)"
    ART_AND_CRAFT_SUPPLY = "ART_AND_CRAFT_SUPPLY", "Art and craft supply"
    TOY_FIGURE = "TOY_FIGURE", "Toy figure (needs a manufacturer)"


class AmazonListing(models.Model):
    """A Bazaar listing's copy on Amazon, kept under one stable SKU.

    Debounce and order: each change in Bazaar raises `desired_seq`; a push records the
    `desired_seq` it sent as `pushed_seq`. A push whose number is below `desired_seq` leaves the
    work to the newer one, and one at or below `pushed_seq` has nothing to do: a duplicated or
    retried task never pushes twice, a late one never overwrites a newer value. What is pushed is
    absolute (Bazaar's price and stock at that moment), never a difference.
    """

    listing = models.OneToOneField(Listing, on_delete=models.CASCADE, related_name="amazon_listing")
    sku = models.CharField(max_length=40, unique=True)
    product_type = models.CharField(
        max_length=40, choices=ProductType.choices, default=ProductType.PRODUCT
    )
    status = models.CharField(
        max_length=20, choices=SyncStatus.choices, default=SyncStatus.NOT_PUBLISHED
    )
    asin = models.CharField(max_length=20, blank=True)
    # Amazon's messages about the listing ([{code, message, severity, attribute_names}]).
    issues = models.JSONField(default=list, blank=True)
    # Our own problem reaching Amazon (throttled too long, refused request), shown like an issue.
    last_error = models.TextField(blank=True)
    pushed_price_cents = models.PositiveIntegerField(null=True, blank=True)
    pushed_currency = models.CharField(max_length=3, blank=True)
    pushed_quantity = models.PositiveIntegerField(null=True, blank=True)
    desired_seq = models.PositiveBigIntegerField(default=0)
    pushed_seq = models.PositiveBigIntegerField(default=0)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["status", "submitted_at"])]

    def __str__(self):
        return f"{self.sku} ({self.get_status_display()})"

    @staticmethod
    def sku_for(listing_id):
        return f"BZ-{listing_id}"

    @property
    def has_unpushed_changes(self):
        return self.desired_seq > self.pushed_seq

    @property
    def problems(self):
        """Amazon's error messages, then ours: what the seller is shown."""
        messages = [i["message"] for i in self.issues if i.get("severity") == "ERROR"]
        return messages + ([self.last_error] if self.last_error else [])


class FeedStatus(models.TextChoices):
    SUBMITTING = "submitting", "Submitting"  # recorded; the feed is being sent to Amazon
    PROCESSING = "processing", "Processing"  # Amazon has it (feed_id) and works through it
    DONE = "done", "Done"  # Amazon's processing report is read: per-item results below
    FAILED = "failed", "Failed"  # the feed could not be sent, or Amazon gave up on it


FEED_TRANSITIONS = {
    FeedStatus.SUBMITTING: {FeedStatus.PROCESSING, FeedStatus.FAILED},
    FeedStatus.PROCESSING: {FeedStatus.DONE, FeedStatus.FAILED},
    FeedStatus.DONE: set(),
    FeedStatus.FAILED: set(),
}


class AmazonFeed(models.Model):
    """A bulk sync of a store's catalogue: one JSON listings feed, its report read back."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="amazon_feeds")
    status = models.CharField(
        max_length=20, choices=FeedStatus.choices, default=FeedStatus.SUBMITTING
    )
    feed_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Feed {self.feed_id or self.pk} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("amazon_sync:feed", kwargs={"pk": self.pk})


class FeedItemResult(models.TextChoices):
    SENT = "sent", "Sent"  # in the feed; Amazon has not reported on it yet
    ACCEPTED = "accepted", "Accepted"
    INVALID = "invalid", "Invalid"  # Amazon refused this item: see its issues


class AmazonFeedItem(models.Model):
    """One listing in a feed (its message id) and what Amazon's report said about it."""

    feed = models.ForeignKey(AmazonFeed, on_delete=models.CASCADE, related_name="items")
    amazon_listing = models.ForeignKey(
        AmazonListing, on_delete=models.CASCADE, related_name="feed_items"
    )
    message_id = models.PositiveIntegerField()
    sku = models.CharField(max_length=40)
    # What the feed told Amazon (recorded as pushed once Amazon accepts the item).
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    quantity = models.PositiveIntegerField()
    result = models.CharField(
        max_length=10, choices=FeedItemResult.choices, default=FeedItemResult.SENT
    )
    issues = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["message_id"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "message_id"], name="feed_item_message_once")
        ]

    def __str__(self):
        return f"{self.sku}: {self.get_result_display()}"

    @property
    def messages(self):
        return [i["message"] for i in self.issues]
