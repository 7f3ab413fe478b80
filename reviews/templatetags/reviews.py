"""`{% order_review order %}`: the order's reviews in the order room (escrow's page shows it
without importing reviews, which sits above escrow): the form while the viewer may review,
their own review, the other side's once revealed, and the seller's reply form."""

from django import template

from reviews import selectors
from reviews.forms import ReplyForm, ReviewForm

register = template.Library()


@register.inclusion_tag("reviews/includes/order_review.html", takes_context=True)
def order_review(context, order):
    user = context["request"].user
    state = selectors.order_reviews_for(order=order, user=user)
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "order": order,
        "state": state,
        "is_seller": order.seller_id == user.pk,
        "form": ReviewForm() if state.can_review else None,
        "reply_form": ReplyForm() if state.can_reply else None,
    }
