"""The sandbox's own state: the sellers' listings as Amazon holds them, feed documents and feeds,
authorization codes handed out by the consent page, and what the control has asked for
(throttling). Kept in the database so the web process, workers and tests share it, and so it
follows a test's transaction."""

from django.db import models


class SandboxListing(models.Model):
    """One seller's listing (SKU) in one marketplace, as putListingsItem left it."""

    class State(models.TextChoices):
        # Accepted, being processed: no ASIN yet, not buyable.
        PENDING = "pending", "Pending"
        # An ASIN is assigned (by the control): buyable while it has stock.
        LIVE = "live", "Live"
        # Amazon found a problem after accepting it (the control's rejection): not buyable, the
        # issue says why.
        REJECTED = "rejected", "Rejected"

    seller_id = models.CharField(max_length=40)
    marketplace_id = models.CharField(max_length=20)
    sku = models.CharField(max_length=200)
    product_type = models.CharField(max_length=100)
    attributes = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    asin = models.CharField(max_length=10, blank=True)
    # Amazon's issues after processing (code, message, severity, attributeNames, categories).
    issues = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["seller_id", "marketplace_id", "sku"], name="amazon_sandbox_one_sku"
            )
        ]

    def __str__(self):
        return f"{self.seller_id}/{self.sku}"


class SandboxDocument(models.Model):
    """A feed document: a feed's input, uploaded to the URL createFeedDocument gave, or a
    processing report the sandbox wrote (gzip-compressed, as Amazon serves them)."""

    document_id = models.CharField(max_length=80, unique=True)
    seller_id = models.CharField(max_length=40)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField(null=True, blank=True)
    compressed = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.document_id


class SandboxFeed(models.Model):
    class Status(models.TextChoices):
        IN_QUEUE = "IN_QUEUE", "In queue"
        IN_PROGRESS = "IN_PROGRESS", "In progress"
        DONE = "DONE", "Done"
        # The input could not be read at all (not the JSON listings feed): nothing applied.
        FATAL = "FATAL", "Fatal"
        CANCELLED = "CANCELLED", "Cancelled"

    feed_id = models.CharField(max_length=20, unique=True)
    seller_id = models.CharField(max_length=40)
    feed_type = models.CharField(max_length=60)
    marketplace_ids = models.JSONField(default=list)
    input_document = models.ForeignKey(
        SandboxDocument, on_delete=models.PROTECT, related_name="input_feeds"
    )
    result_document = models.ForeignKey(
        SandboxDocument, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_QUEUE)
    created = models.DateTimeField(auto_now_add=True)
    processing_started = models.DateTimeField(null=True, blank=True)
    processing_ended = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.feed_id


class SandboxAuthorizationCode(models.Model):
    """A spapi_oauth_code the consent page handed out: exchanged once, within five minutes."""

    code = models.CharField(max_length=80, unique=True)
    selling_partner_id = models.CharField(max_length=40)
    application_id = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    used = models.BooleanField(default=False)

    def __str__(self):
        return self.code


class SandboxControl(models.Model):
    """What the control page, command or tests asked for; one row (pk=1)."""

    # The next N SP-API calls (of `throttle_operation` only, when set) are answered 429.
    throttle_remaining = models.PositiveIntegerField(default=0)
    throttle_operation = models.CharField(max_length=60, blank=True)
    # Each throttle order is new: a process remembers how many 429s it answered for it, so a 429
    # still counts when the caller's transaction rolls back (router._throttled).
    throttle_order = models.CharField(max_length=32, blank=True)
    throttle_total = models.PositiveIntegerField(default=0)

    def __str__(self):
        return "Amazon sandbox control"
