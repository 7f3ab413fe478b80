"""Conversations between a buyer and a seller, their messages and the files attached to them.

A conversation is either a buyer's inquiry about a listing (one per buyer and listing) or the
conversation of one order. Read state is a pointer per participant (the id of the last message
they have seen), so unread counts are always derived, never a second truth that can drift.
Attachments live in the private `attachments` storage under random keys; nothing here holds a
URL to them.
"""

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse


class ConversationKind(models.TextChoices):
    INQUIRY = "inquiry", "Question about a listing"  # a buyer asks a seller before buying
    ORDER = "order", "Order"  # the buyer and seller of one order
    # A buyer writes to a store from its Contact page (one per buyer and seller): Bazaar does
    # not publish sellers' email addresses, so this is how a buyer reaches a store.
    STORE = "store", "Message to a store"


class Conversation(models.Model):
    kind = models.CharField(max_length=10, choices=ConversationKind.choices)
    # The listing asked about or ordered; none for a message to a store.
    listing = models.ForeignKey(
        "marketplace.Listing",
        on_delete=models.PROTECT,
        related_name="conversations",
        null=True,
        blank=True,
    )
    order = models.OneToOneField(
        "escrow.Order",
        on_delete=models.PROTECT,
        related_name="conversation",
        null=True,
        blank=True,
    )
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conversations_as_buyer"
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conversations_as_seller"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The newest message both sides can see; the inbox is sorted by it.
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["listing", "buyer"],
                condition=models.Q(kind="inquiry"),
                name="one_inquiry_per_buyer_and_listing",
            ),
            models.UniqueConstraint(
                fields=["seller", "buyer"],
                condition=models.Q(kind="store"),
                name="one_store_conversation_per_buyer_and_seller",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="order", order__isnull=False)
                    | models.Q(kind__in=["inquiry", "store"], order__isnull=True)
                ),
                name="conversation_order_matches_kind",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="store", listing__isnull=True)
                    | (~models.Q(kind="store") & models.Q(listing__isnull=False))
                ),
                name="conversation_listing_matches_kind",
            ),
            models.CheckConstraint(
                condition=~models.Q(buyer=models.F("seller")),
                name="conversation_between_two_people",
            ),
        ]

    def __str__(self):
        return self.subject

    def get_absolute_url(self):
        return reverse("messaging:conversation", kwargs={"pk": self.pk})

    @property
    def subject(self):
        if self.kind == ConversationKind.ORDER:
            return f"Order #{self.order_id}: {self.listing.title}"
        if self.kind == ConversationKind.STORE:
            return f"Message to {self.store_name}"
        return f"Question about “{self.listing.title}”"

    @property
    def store(self):
        """The seller's store: the listing's, or (a message to a store) the seller's own."""
        return self.listing.store if self.listing_id else self.seller.store

    @property
    def store_name(self):
        return self.store.name


class ParticipantRole(models.TextChoices):
    BUYER = "buyer", "Buyer"
    SELLER = "seller", "Seller"


class Participant(models.Model):
    """A buyer or seller in a conversation, with how far they have read."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conversation_seats"
    )
    role = models.CharField(max_length=10, choices=ParticipantRole.choices)
    # Messages with a larger id than this are unread (message ids only grow).
    last_read_id = models.BigIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="one_seat_per_person"),
            models.UniqueConstraint(fields=["conversation", "role"], name="one_person_per_role"),
        ]

    def __str__(self):
        return f"{self.user} ({self.role}) in {self.conversation_id}"


class SenderRole(models.TextChoices):
    BUYER = "buyer", "Buyer"
    SELLER = "seller", "Seller"
    STAFF = "staff", "Bazaar staff"  # staff handling a dispute; both sides see it marked so
    # A note Bazaar writes into an order's conversation when something happens there (a dispute
    # opened); `sender` is the person whose action it records.
    NOTE = "note", "Bazaar note"


class Review(models.TextChoices):
    NONE = "", "Not flagged"
    PENDING = "pending", "Flagged, waiting for staff"  # contact details found before payment
    CLEARED = "cleared", "Checked, fine"  # staff saw nothing wrong; a held message is delivered
    CONFIRMED = "confirmed", "Checked, breaks the rules"  # staff agree; a held message stays held


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages_sent"
    )
    sender_role = models.CharField(max_length=10, choices=SenderRole.choices)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Contact details found before the order was paid: [{"kind": "email", "text": "..."}].
    contact_flags = models.JSONField(default=list, blank=True)
    review = models.CharField(max_length=10, choices=Review.choices, default="", blank=True)
    # Withheld from the other side until staff clear it (only when blocking is switched on).
    held = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["conversation", "id"]),
            models.Index(fields=["review"], name="message_review_idx"),
        ]

    def __str__(self):
        return f"Message {self.pk} in conversation {self.conversation_id}"


class AttachmentState(models.TextChoices):
    PENDING = "pending", "Upload handed out"  # a direct upload URL was given; nothing checked yet
    UPLOADED = "uploaded", "Uploaded and checked"  # in storage, size and type checked
    ATTACHED = "attached", "Attached"  # part of a message
    REMOVED = "removed", "Removed by staff"  # the stored file is deleted; the row stays as a note


class Attachment(models.Model):
    # Random, so neither ids nor storage keys can be guessed.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments", null=True, blank=True
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attachments_uploaded"
    )
    state = models.CharField(
        max_length=10, choices=AttachmentState.choices, default=AttachmentState.PENDING
    )
    # The object's key in the private `attachments` storage (never shown to anyone).
    key = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=200)  # sanitised file name shown and used on download
    content_type = models.CharField(max_length=100, blank=True)  # from the content, not the client
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    removed_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["state", "created_at"])]

    def __str__(self):
        return self.name

    @property
    def is_removed(self):
        return self.state == AttachmentState.REMOVED
