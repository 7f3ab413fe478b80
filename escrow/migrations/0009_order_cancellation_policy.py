# The cancellation policy an order's buyer agreed to (marketplace.policies), snapshotted by
# order_create. Orders placed before policies existed get Flexible, the default every store had.
# Its dependency is 0007 on the policy branch only: it belongs after ("escrow", "0008_refunds"),
# and the merge re-points it there.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('escrow', '0007_release_transfer_in_flight_since'),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='cancellation_policy',
            field=models.CharField(choices=[('flexible', 'Flexible'), ('moderate', 'Moderate'), ('strict', 'Strict')], default='flexible', max_length=10),
        ),
    ]
