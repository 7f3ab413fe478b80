"""An index of the stored, verified webhooks not yet processed (dj-stripe's table; core's drains
and re-queue job read it, core/stripe_webhooks.py). Partial: it holds only the events waiting,
so finding the next one reads a handful of entries however many millions were processed."""

from django.db import migrations

INDEX = "core_webhook_trigger_pending"


class Migration(migrations.Migration):
    dependencies = [("core", "0003_webhook_processing")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON djstripe_webhookeventtrigger (id) "
            "WHERE valid AND NOT processed",
            f"DROP INDEX IF EXISTS {INDEX}",
        ),
    ]
