from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class AuditEntry(models.Model):
    """Append-only record of every state change: who did what to which record, before/after."""

    # <app>.<entity>.<past-tense verb>, e.g. "marketplace.listing.approved".
    action = models.CharField(max_length=100, db_index=True)
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
        # Kept from when the audit trail lived in marketplace/: the move changed no data.
        db_table = "marketplace_auditentry"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self):
        return f"{self.action} on {self.target_type.model} {self.target_id}"


class WebhookProcessing(models.Model):
    """Bazaar's bookkeeping for one stored, verified Stripe webhook (dj-stripe's
    WebhookEventTrigger) until it is processed: when the re-queue job may queue it again and
    whether Bazaar gave up on it. No row: nothing has gone wrong with it yet."""

    trigger = models.OneToOneField(
        "djstripe.WebhookEventTrigger",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="bazaar_processing",
    )
    requeued = models.PositiveIntegerField(default=0)  # times the re-queue job queued it
    failures = models.PositiveIntegerField(default=0)  # processing runs that raised
    # The re-queue job leaves it alone until then: a task for it was queued, or is retrying.
    not_before = models.DateTimeField(null=True, blank=True)
    # Its processing failed every retry: staff look at it (dj-stripe's trigger admin shows the
    # error and can reprocess it); the job never queues it again.
    gave_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook processing"
        verbose_name_plural = "webhook processing"

    def __str__(self):
        return f"webhook trigger {self.trigger_id}"
