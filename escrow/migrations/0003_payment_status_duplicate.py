# A second payment of an order already paid (the buyer paid in two tabs) was stored as
# "canceled", which means abandoned, with a note in failure_message. It gets its own state,
# "duplicate" (paid twice: to refund). Existing second payments are the "canceled" rows with
# succeeded_at set (Stripe took the money); the note the state now says is cleared. Reversible.

from django.db import migrations, models

SECOND_PAYMENT_NOTE = "Second payment for an order already paid: refund it."


def mark_duplicates(apps, schema_editor):
    EscrowPayment = apps.get_model("escrow", "EscrowPayment")
    second = EscrowPayment.objects.filter(status="canceled", succeeded_at__isnull=False)
    second.filter(failure_message=SECOND_PAYMENT_NOTE).update(failure_message="")
    second.update(status="duplicate")


def unmark_duplicates(apps, schema_editor):
    EscrowPayment = apps.get_model("escrow", "EscrowPayment")
    duplicates = EscrowPayment.objects.filter(status="duplicate")
    duplicates.filter(failure_message="").update(failure_message=SECOND_PAYMENT_NOTE)
    duplicates.update(status="canceled")


class Migration(migrations.Migration):
    dependencies = [
        ("escrow", "0002_order"),
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
                    ("canceled", "Canceled"),
                ],
                default="pending",
                max_length=12,
            ),
        ),
        migrations.RunPython(mark_duplicates, unmark_duplicates),
    ]
