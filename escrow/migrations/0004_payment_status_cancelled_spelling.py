# One spelling in our own code: an abandoned payment is "cancelled", like a cancelled order.
# (Stripe's own values, such as a PaymentIntent's status "canceled", are Stripe's and unchanged.)
# Stored "canceled" payment rows are renamed; reversible.

from django.db import migrations, models


def to_cancelled(apps, schema_editor):
    EscrowPayment = apps.get_model("escrow", "EscrowPayment")
    EscrowPayment.objects.filter(status="canceled").update(status="cancelled")


def to_canceled(apps, schema_editor):
    EscrowPayment = apps.get_model("escrow", "EscrowPayment")
    EscrowPayment.objects.filter(status="cancelled").update(status="canceled")


class Migration(migrations.Migration):
    dependencies = [
        ("escrow", "0003_payment_status_duplicate"),
    ]

    operations = [
        migrations.AlterField(
            model_name="escrowpayment",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("duplicate", "Paid twice: to refund"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=12,
            ),
        ),
        migrations.RunPython(to_cancelled, to_canceled),
    ]
