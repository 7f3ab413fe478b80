# EscrowRelease.amount_reversed_cents kept a running total beside the TransferReversal rows it
# summed: two truths. The rows stay; the column goes, and the total is their sum
# (EscrowRelease.objects.with_amount_reversed()). No data is lost: every reversal booked has its
# row. Reversible: going back re-adds the column and fills it with each release's sum.

from django.db import migrations, models
from django.db.models import Sum


def fill_amount_reversed(apps, schema_editor):
    EscrowRelease = apps.get_model("escrow", "EscrowRelease")
    TransferReversal = apps.get_model("escrow", "TransferReversal")
    totals = TransferReversal.objects.values("release_id").annotate(total=Sum("amount_cents"))
    for row in totals.order_by():
        EscrowRelease.objects.filter(pk=row["release_id"]).update(
            amount_reversed_cents=row["total"]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("escrow", "0004_payment_status_cancelled_spelling"),
    ]

    operations = [
        # Backwards this runs after the column is back (operations reverse in reverse order).
        migrations.RunPython(migrations.RunPython.noop, fill_amount_reversed),
        migrations.RemoveField(
            model_name="escrowrelease",
            name="amount_reversed_cents",
        ),
    ]
