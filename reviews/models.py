"""Reviews: after an order is released (or its dispute resolved) its buyer and its seller may
each review the other once, within settings.REVIEW_WINDOW_DAYS.

Double-blind: a review stays sealed until both sides are in or the window ends. `reveals_at`
holds that moment (the window's end, brought forward to the second review's arrival), so
"revealed" is `reveals_at <= now`: no job flips anything, and one indexed comparison answers it.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

RATING_MIN = 1
RATING_MAX = 5
TEXT_MAX_LENGTH = 2000
REPLY_MAX_LENGTH = 2000
HIDE_REASON_MAX_LENGTH = 500


class ReviewSide(models.TextChoices):
    # Who wrote it: the buyer reviews the seller (these make the store's and listings' ratings),
    # the seller reviews the buyer.
    BUYER = "buyer", "Buyer's review of the seller"
    SELLER = "seller", "Seller's review of the buyer"


class ReviewQuerySet(models.QuerySet):
    def revealed(self, now):
        return self.filter(reveals_at__lte=now)

    def public(self, now):
        """What anyone may read: revealed and not hidden by staff."""
        return self.revealed(now).filter(hidden=False)


class Review(models.Model):
    order = models.ForeignKey("escrow.Order", on_delete=models.PROTECT, related_name="reviews")
    side = models.CharField(max_length=10, choices=ReviewSide.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews_written"
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews_received"
    )
    # The order's store and listing, copied so a store's or listing's rating is one indexed
    # aggregate without joining orders.
    store = models.ForeignKey("marketplace.Store", on_delete=models.PROTECT, related_name="reviews")
    listing = models.ForeignKey(
        "marketplace.Listing", on_delete=models.PROTECT, related_name="reviews"
    )
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(RATING_MIN), MaxValueValidator(RATING_MAX)]
    )
    text = models.TextField(max_length=TEXT_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField()
    # The end of the order's review window, and when this review becomes readable by the other
    # side and the public (the window's end, or the moment the second review arrived).
    window_ends_at = models.DateTimeField()
    reveals_at = models.DateTimeField()
    # Staff hide a review with a reason: it leaves every list and rating until they unhide it.
    hidden = models.BooleanField(default=False)
    hidden_reason = models.CharField(max_length=HIDE_REASON_MAX_LENGTH, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The seller's one public reply to a buyer's review of them.
    reply = models.TextField(max_length=REPLY_MAX_LENGTH, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["store", "side", "hidden", "reveals_at"], name="review_store_rating"
            ),
            models.Index(
                fields=["listing", "side", "hidden", "reveals_at"], name="review_listing_rating"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["order", "side"], name="one_review_per_order_side"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=RATING_MIN, rating__lte=RATING_MAX),
                name="review_rating_1_to_5",
            ),
        ]

    def __str__(self):
        return f"{self.rating}★ by {self.author} on order #{self.order_id}"

    @property
    def author_name(self):
        """How the review signs: the author's first name (never their email address)."""
        if self.author.full_name:
            return self.author.full_name.split(" ")[0]
        return "A buyer" if self.side == ReviewSide.BUYER else "The seller"

    @property
    def stars(self):
        return "★" * self.rating + "☆" * (RATING_MAX - self.rating)

    def is_revealed(self, now):
        return self.reveals_at <= now
