"""The sandbox's own state: every Stripe object it has made, idempotency results, the clock and
webhook deliveries. Kept in the database so the web process, workers and tests share it."""

from django.db import models
from django.utils import timezone


class SandboxObject(models.Model):
    """One Stripe object (account, payment_intent, charge, event...) as Stripe would return it."""

    stripe_id = models.CharField(max_length=80, unique=True)
    object_type = models.CharField(max_length=60, db_index=True)
    # The connected account the object lives on ("" = the platform), as Stripe-Account scopes it.
    account = models.CharField(max_length=80, blank=True, db_index=True)
    created = models.BigIntegerField(db_index=True)
    data = models.JSONField()
    # When the sandbox's clock must next act on the object by itself (sandbox time, Unix
    # seconds: a balance transaction settles, a payout moves on...), or None if nothing will
    # happen to it. Set on every save by the rule registered for its type (DUE_RULES, filled
    # through core.due_rule), so that a request finds "nothing due" in one indexed query
    # instead of every clock job looking at every object.
    due_at = models.BigIntegerField(null=True, blank=True)

    # object_type -> fn(data, account) -> due_at; see core.due_rule.
    DUE_RULES = {}

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["object_type", "account", "-created", "-id"]),
            models.Index(
                fields=["due_at"],
                name="sandbox_object_due_at",
                condition=models.Q(due_at__isnull=False),
            ),
        ]

    def __str__(self):
        return self.stripe_id

    def save(self, *args, **kwargs):
        rule = self.DUE_RULES.get(self.object_type)
        self.due_at = rule(self.data, self.account) if rule else None
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "due_at"}
        super().save(*args, **kwargs)


class SandboxIdempotencyKey(models.Model):
    """One Idempotency-Key, as Stripe keeps it.

    A POST claims its key before it runs: the row is inserted (unique per API key, account and
    key) with no status yet, meaning "in flight", and a concurrent request with the same key is
    answered 409 idempotency_key_in_use. The first response is written into the row in the same
    transaction as the objects the request made, and later requests with the key get it replayed.
    A request that crashed deletes its claim; one whose process died leaves it, and it is taken
    over once older than router.IN_FLIGHT_TIMEOUT.
    """

    # Stripe scopes keys per API key and per account (the Stripe-Account header). The secret key
    # itself is never stored, only its SHA-256.
    api_key_hash = models.CharField(max_length=64, blank=True)
    account = models.CharField(max_length=80, blank=True)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=255)
    params_fingerprint = models.CharField(max_length=64)
    # The request that claimed the key: replays name it in their Original-Request header.
    request_id = models.CharField(max_length=40, blank=True)
    # None while the first request is in flight; then its HTTP status and JSON body.
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.TextField(blank=True)
    # When the running request claimed the key (real time: an in-flight claim goes stale by the
    # wall clock, whatever the sandbox's clock says).
    started = models.DateTimeField(default=timezone.now)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key_hash", "account", "key"], name="sandbox_idempotency_key_scope"
            )
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
    # A failed delivery's next try (sandbox time, Unix seconds: delivery.retry_at), or None
    # once Stripe would have given up.
    next_attempt_at = models.BigIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="sandbox_delivery_next_attempt",
                condition=models.Q(next_attempt_at__isnull=False),
            )
        ]

    def __str__(self):
        return f"{self.event_id} → {self.url} ({self.status})"


class SandboxSwitch(models.Model):
    """Switches tests and people flip: e.g. hold webhook deliveries back. A counting one
    (control.rate_limit) keeps how many more requests it applies to in `remaining`."""

    name = models.CharField(max_length=60, unique=True)
    on = models.BooleanField(default=False)
    remaining = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name}={'on' if self.on else 'off'}"


class SandboxFile(models.Model):
    """The bytes of a file uploaded through POST /v1/files; its Stripe `file` object is a
    SandboxObject with the same id. Kept apart so listing objects never reads file contents."""

    stripe_id = models.CharField(max_length=80, unique=True)
    content = models.BinaryField()

    def __str__(self):
        return self.stripe_id
