from django.conf import settings
from django.db import models

from notifications.events import EmailMode, Level


class Notification(models.Model):
    """One thing a person should learn about, shown in-app; maybe emailed too."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event_code = models.CharField(max_length=60, db_index=True)  # e.g. "listing.approved"
    level = models.CharField(max_length=10, choices=Level.CHOICES, default=Level.INFO)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    action_url = models.CharField(max_length=500, blank=True)
    # What the event was raised with; the email is rendered from it later, in Celery.
    context = models.JSONField(default=dict, blank=True)
    is_read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    # Waiting for the recipient's next daily digest email.
    digest_pending = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"]),
            models.Index(fields=["recipient", "is_read"]),
        ]

    def __str__(self):
        return f"{self.event_code} for {self.recipient}"


class NotificationPreference(models.Model):
    """A person's email choice for one event; no row means the event's default."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event_code = models.CharField(max_length=60)
    email_mode = models.CharField(max_length=10, choices=EmailMode.CHOICES)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "event_code"], name="one_preference_per_event")
        ]

    def __str__(self):
        return f"{self.user}: {self.event_code} → {self.email_mode}"


class EmailDelivery(models.Model):
    """One email to send: a single notification or a digest of several. Failures stay here."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # waiting for (another) attempt by a drain
        SENT = "sent", "Sent"  # the mail backend accepted it
        FAILED = "failed", "Failed"  # every retry failed; staff can retry from admin

    class Kind(models.TextChoices):
        SINGLE = "single", "Single notification"
        DIGEST = "digest", "Digest"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_deliveries"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SINGLE)
    notification = models.ForeignKey(
        Notification,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="email_deliveries",
    )
    digest_of = models.ManyToManyField(Notification, blank=True, related_name="digests")
    event_code = models.CharField(max_length=60)
    to_email = models.EmailField()
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # After a failed attempt: no drain tries it again before this (the retries' backoff).
    not_before = models.DateTimeField("next attempt", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "email deliveries"
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # What the drains read, oldest first: the queued emails alone, however many were sent.
            models.Index(
                fields=["id"],
                condition=models.Q(status="queued"),
                name="notif_email_queued_idx",
            ),
        ]

    def __str__(self):
        return f"{self.kind} email to {self.to_email} ({self.status})"
