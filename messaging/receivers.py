"""Messaging's answers to what escrow says happened (escrow.signals); connected in
MessagingConfig.ready. Escrow sits below messaging and never imports it."""

from django.dispatch import receiver

from escrow.signals import chargeback_evidence_wanted, dispute_opened, order_placed, order_viewed
from messaging import selectors, services


@receiver(order_placed, dispatch_uid="messaging.open_order_conversation")
def open_order_conversation(sender, order, **kwargs):
    """Every order has its conversation from the start, so pages and the API only read it."""
    services.conversation_open_for_order(order=order)


@receiver(order_viewed, dispatch_uid="messaging.read_order_conversation")
def read_order_conversation(sender, order, user, **kwargs):
    """The order room shows the conversation's newest messages: they are read."""
    conversation = selectors.conversation_of_order(user=user, order=order)
    if conversation is not None:
        services.conversation_mark_read(conversation=conversation, user=user)


@receiver(chargeback_evidence_wanted, dispatch_uid="messaging.order_conversation_transcript")
def order_conversation_transcript(sender, order, **kwargs):
    """The order's conversation for a card chargeback's evidence: every message as staff see it,
    with who sent it, when, and the names of its files."""
    return selectors.order_transcript(order=order)


@receiver(dispute_opened, dispatch_uid="messaging.note_dispute_opened")
def note_dispute_opened(sender, dispute, **kwargs):
    """The buyer's report goes into the order's conversation, where both sides and staff read
    it and add their evidence (photos, receipts, a parcel's tracking)."""
    order = dispute.order
    evidence = "photos, receipts, tracking" if order.is_product else "photos, receipts"
    services.order_note_post(
        order=order,
        author=dispute.opened_by,
        body=(
            f"Dispute opened: {dispute.get_reason_display()}\n\n{dispute.description}\n\n"
            f"Both sides: add {evidence} or anything else that shows what "
            "happened here, in this conversation. Bazaar's team reads it before deciding."
        ),
    )
