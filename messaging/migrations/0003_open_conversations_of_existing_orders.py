# Every order now has its conversation from the moment it is placed (escrow's order_placed
# signal) instead of being opened by whoever first looked at it, so pages and the API only read.
# This opens the missing ones for orders placed before, with the buyer's and seller's seats.

from django.db import migrations


def open_missing(apps, schema_editor):
    Order = apps.get_model("escrow", "Order")
    Conversation = apps.get_model("messaging", "Conversation")
    Participant = apps.get_model("messaging", "Participant")
    db = schema_editor.connection.alias
    orders = Order.objects.using(db).filter(conversation__isnull=True).order_by("pk")
    for order in orders.iterator():
        conversation = Conversation.objects.using(db).create(
            kind="order",
            order=order,
            listing_id=order.listing_id,
            buyer_id=order.buyer_id,
            seller_id=order.seller_id,
        )
        Participant.objects.using(db).bulk_create(
            [
                Participant(conversation=conversation, user_id=order.buyer_id, role="buyer"),
                Participant(conversation=conversation, user_id=order.seller_id, role="seller"),
            ]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_order_moved_to_escrow"),
        ("escrow", "0002_order"),
    ]

    operations = [
        # Backwards: the conversations stay (they may hold messages by then).
        migrations.RunPython(open_missing, migrations.RunPython.noop),
    ]
