# Order.payment_error copied the failed payment's failure_message: two truths. The payment keeps
# it; the order's column goes, and Order.payment_error reads the latest failed payment's message
# (empty once the order is paid), as OrderQuerySet.with_payment_error() does for lists. Every
# message it held came from a failed payment of the order, so no data is lost. Reversible: going
# back re-adds the column and fills it for unpaid orders from their latest failed payment.

from django.db import migrations

PAID = ("funded", "delivered", "released")


def fill_payment_error(apps, schema_editor):
    Order = apps.get_model("escrow", "Order")
    EscrowPayment = apps.get_model("escrow", "EscrowPayment")
    failed = (
        EscrowPayment.objects.filter(status="failed")
        .exclude(order__status__in=PAID)
        .order_by("order_id", "-created_at", "-id")
        .values_list("order_id", "failure_message")
    )
    latest = {}
    for order_id, message in failed.iterator():
        latest.setdefault(order_id, message)
    for order_id, message in latest.items():
        Order.objects.filter(pk=order_id).update(payment_error=message)


class Migration(migrations.Migration):
    dependencies = [
        ("escrow", "0005_release_amount_reversed_derived"),
    ]

    operations = [
        # Backwards this runs after the column is back (operations reverse in reverse order).
        migrations.RunPython(migrations.RunPython.noop, fill_payment_error),
        migrations.RemoveField(
            model_name="order",
            name="payment_error",
        ),
    ]
