# Cancellation policies (marketplace.policies): every existing store gets Flexible as its
# default and every existing listing follows its store (empty). Two new columns with defaults.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('marketplace', '0004_images_share_one_validator'),
    ]

    operations = [
        migrations.AddField(
            model_name='listing',
            name='cancellation_policy',
            field=models.CharField(blank=True, choices=[('flexible', 'Flexible'), ('moderate', 'Moderate'), ('strict', 'Strict')], help_text="Empty: the store's default cancellation policy.", max_length=10),
        ),
        migrations.AddField(
            model_name='store',
            name='default_cancellation_policy',
            field=models.CharField(choices=[('flexible', 'Flexible'), ('moderate', 'Moderate'), ('strict', 'Strict')], default='flexible', help_text='Applies to every listing of the store that does not choose its own.', max_length=10),
        ),
    ]
