"""The sandbox's own state: every Stripe object it has made, idempotency results, the clock and
webhook deliveries. Kept in the database so the web process, workers and tests share it."""

from django.db import models


class SandboxObject(models.Model):
    """One Stripe object (account, payment_intent, charge, event...) as Stripe would return it."""

    stripe_id = models.CharField(max_length=80, unique=True)
    object_type = models.CharField(max_length=60, db_index=True)
    # The connected account the object lives on ("" = the platform), as Stripe-Account scopes it.
    account = models.CharField(max_length=80, blank=True, db_index=True)
    created = models.BigIntegerField(db_index=True)
    data = models.JSONField()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["object_type", "account", "-created", "-id"])]

    def __str__(self):
        return self.stripe_id


class SandboxIdempotencyKey(models.Model):
    """The first response given for an Idempotency-Key, replayed for a retry of the same request."""

    account = models.CharField(max_length=80, blank=True)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    params_fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    body = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="sandbox_idempotency_key")
        ]

    def __str__(self):
        return f"{self.method} {self.path} [{self.key}]"


class SandboxClock(models.Model):
    """How far the sandbox's clock runs ahead of the real one (a single row)."""

    offset_seconds = models.BigIntegerField(default=0)

    def __str__(self):
        return f"clock +{self.offset_seconds}s"


class SandboxWebhookDelivery(models.Model):
    """One event sent (or to be sent) to one webhook endpoint."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # queued, or held back by a test
        DELIVERED = "delivered", "Delivered"  # the endpoint answered 2xx
        FAILED = "failed", "Failed"  # the endpoint answered otherwise; can be sent again

    event_id = models.CharField(max_length=80, db_index=True)
    endpoint_id = models.CharField(max_length=80)
    url = models.URLField(max_length=2048)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.event_id} → {self.url} ({self.status})"


class SandboxSwitch(models.Model):
    """Switches tests and people flip: e.g. hold webhook deliveries back."""

    name = models.CharField(max_length=60, unique=True)
    on = models.BooleanField(default=False)

    def __str__(self):
        return f"{self.name}={'on' if self.on else 'off'}"
