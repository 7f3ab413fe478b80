# The cancellation policy an order's buyer agreed to (marketplace.policies), snapshotted by
# order_create. Orders placed before policies existed get Flexible, the default every store had.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('escrow', '0008_refunds'),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='cancellation_policy',
            field=models.CharField(choices=[('flexible', 'Flexible'), ('moderate', 'Moderate'), ('strict', 'Strict')], default='flexible', max_length=10),
        ),
    ]
