"""`{% order_conversation order %}`: an order's conversation in the order room, so escrow's pages
show it without importing messaging (messaging sits above escrow). Read-only: the order page
marks it read through escrow's `order_viewed` signal (messaging/receivers.py)."""

from django import template

from messaging import selectors
from messaging.forms import MessageForm
from messaging.views import messages_window, other_party_name

register = template.Library()

# The order room shows the newest messages of the order's conversation; the rest are on its page.
ORDER_ROOM_MESSAGES = 20


@register.inclusion_tag("messaging/includes/order_conversation.html", takes_context=True)
def order_conversation(context, order):
    user = context["request"].user
    conversation = selectors.conversation_of_order(user=user, order=order)
    if conversation is None:
        # Every order's conversation opens when the order is placed (and messaging's migration
        # 0003 opened them for older orders), so this is only ever an order made by hand.
        return {"conversation": None}
    shown, has_earlier = messages_window(
        conversation=conversation, user=user, limit=ORDER_ROOM_MESSAGES
    )
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "conversation": conversation,
        "conversation_messages": shown,
        "conversation_has_earlier": has_earlier,
        "other_party": other_party_name(conversation, user),
        "is_seller": order.seller_id == user.pk,
        "form": MessageForm(),
        "next": order.get_absolute_url() + "#messages",
    }


@register.simple_tag(takes_context=True)
def order_conversation_url(context, order):
    """Where the order's conversation is, for a link (the dispute page: "add your evidence")."""
    conversation = selectors.conversation_of_order(user=context["request"].user, order=order)
    if conversation is None:
        return order.get_absolute_url() + "#messages"
    return conversation.get_absolute_url()
