# A release's transfer request in flight: only the caller that set it sends one to Stripe, until
# its answer is recorded or ESCROW_TRANSFER_TIMEOUT_SECONDS pass. A new nullable column only.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('escrow', '0006_order_payment_error_derived'),
    ]

    operations = [
        migrations.AddField(
            model_name='escrowrelease',
            name='transfer_in_flight_since',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
