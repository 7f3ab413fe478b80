# Bazaar's bookkeeping beside dj-stripe's stored webhooks: when the re-queue job may queue a
# stored, unprocessed event again, and whether Bazaar gave up on it. A new table only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0002_audit_actions_namespaced'),
        ('djstripe', '0003_2_11'),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookProcessing',
            fields=[
                ('trigger', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='bazaar_processing', serialize=False, to='djstripe.webhookeventtrigger')),
                ('requeued', models.PositiveIntegerField(default=0)),
                ('failures', models.PositiveIntegerField(default=0)),
                ('not_before', models.DateTimeField(blank=True, null=True)),
                ('gave_up_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'webhook processing',
                'verbose_name_plural': 'webhook processing',
            },
        ),
    ]
