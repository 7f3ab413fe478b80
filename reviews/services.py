"""Every write about reviews: one function each, one transaction, an audit entry.

`review_create` locks the order's row (escrow.selectors.order_locked) so that the buyer and the
seller reviewing at the same moment cannot both miss each other: the second one in reveals both.
"""

from django.db import transaction
from django.urls import reverse
from django.utils import formats

from core import clock
from core.audit import audit_record
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from escrow.selectors import order_locked, order_reviews_open_at
from notifications.services import notify
from reviews.models import (
    HIDE_REASON_MAX_LENGTH,
    RATING_MAX,
    RATING_MIN,
    REPLY_MAX_LENGTH,
    TEXT_MAX_LENGTH,
    Review,
    ReviewSide,
)
from reviews.selectors import window_for

ALREADY_REVIEWED = "You have already reviewed this order."
NOT_YET = (
    "You can review this order once it is completed: when the payment is released to the "
    "seller, or Bazaar has decided its dispute."
)
WINDOW_OVER = "The time to review this order is over."
ALREADY_REPLIED = "You have already replied to this review."


def _clean_text(value, *, field, max_length, required=False):
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed({field: "Write something."})
    if len(text) > max_length:
        raise ValidationFailed({field: f"Keep it to {max_length} characters (it has {len(text)})."})
    return text


def _check_rating(rating):
    if isinstance(rating, bool) or not isinstance(rating, int):
        raise ValidationFailed({"rating": f"Choose a rating from {RATING_MIN} to {RATING_MAX}."})
    if not RATING_MIN <= rating <= RATING_MAX:
        raise ValidationFailed({"rating": f"Choose a rating from {RATING_MIN} to {RATING_MAX}."})


def review_create(*, order, author, rating, text=""):
    """The order's buyer or seller reviews the other, once, within the review window.

    Raises NotAllowed (403) for anyone else, InvalidTransition (409) before the order is
    completed or after the window, ValidationFailed (400) for a bad rating or text and a second
    review from the same side.
    """
    _check_rating(rating)
    text = _clean_text(text, field="text", max_length=TEXT_MAX_LENGTH)
    with transaction.atomic():
        order = order_locked(pk=order.pk)
        if author.pk == order.buyer_id:
            side, subject_id = ReviewSide.BUYER, order.seller_id
        elif author.pk == order.seller_id:
            side, subject_id = ReviewSide.SELLER, order.buyer_id
        else:
            raise NotAllowed("Only the order's buyer and seller can review it.")
        reviews = {r.side: r for r in Review.objects.select_for_update().filter(order=order)}
        if side in reviews:
            raise ValidationFailed({"detail": ALREADY_REVIEWED})
        opens_at = order_reviews_open_at(order)
        if opens_at is None:
            raise InvalidTransition(NOT_YET)
        now = clock.now()
        window_ends_at = window_for(opens_at)
        if now >= window_ends_at:
            raise InvalidTransition(WINDOW_OVER)
        other = reviews.get(ReviewSide.SELLER if side == ReviewSide.BUYER else ReviewSide.BUYER)
        # Sealed until the window ends, unless the other side is already in: then both open.
        reveals_at = now if other else window_ends_at
        review = Review.objects.create(
            order=order,
            side=side,
            author=author,
            subject_id=subject_id,
            store_id=order.store_id,
            listing_id=order.listing_id,
            rating=rating,
            text=text,
            created_at=now,
            window_ends_at=window_ends_at,
            reveals_at=reveals_at,
        )
        if other and other.reveals_at > now:
            other.reveals_at = now
            other.save(update_fields=["reveals_at"])
        audit_record(
            action="reviews.review.created",
            actor=author,
            target=review,
            after={
                "order": order.pk,
                "side": str(side),
                "rating": rating,
                "reveals_at": reveals_at,
            },
        )
        recipient = order.seller if side == ReviewSide.BUYER else order.buyer
        notify(
            recipient,
            "review.received",
            {
                "order_id": order.pk,
                "listing_title": order.listing_title,
                "author_role": "buyer" if side == ReviewSide.BUYER else "seller",
                "when": (
                    "You can read it now on the order's page."
                    if other
                    else "You will read it once you have reviewed them too, or on "
                    f"{formats.date_format(reveals_at, 'j F Y')} when the review window ends."
                ),
                "action_url": reverse("order-detail", kwargs={"pk": order.pk}) + "#review",
            },
        )
    return review


def review_reply(*, review, seller, text):
    """The seller replies publicly, once, to a buyer's revealed review of them."""
    text = _clean_text(text, field="reply", max_length=REPLY_MAX_LENGTH, required=True)
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=review.pk)
        if review.side != ReviewSide.BUYER or review.subject_id != seller.pk:
            raise NotAllowed("Only the seller reviewed can reply to this review.")
        if review.hidden or not review.is_revealed(clock.now()):
            raise InvalidTransition("You can reply once the review is published.")
        if review.reply:
            raise ValidationFailed({"reply": ALREADY_REPLIED})
        review.reply = text
        review.replied_at = clock.now()
        review.save(update_fields=["reply", "replied_at"])
        audit_record(
            action="reviews.review.replied",
            actor=seller,
            target=review,
            after={"reply": text, "replied_at": review.replied_at},
        )
    return review


def review_hide(*, review, actor, reason):
    """Staff hide a review (with the reason they give): it leaves every list and rating. Hiding
    a hidden review again changes nothing."""
    reason = _clean_text(reason, field="reason", max_length=HIDE_REASON_MAX_LENGTH, required=True)
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=review.pk)
        if review.hidden:
            return review, False
        review.hidden = True
        review.hidden_reason = reason
        review.hidden_at = clock.now()
        review.hidden_by = actor
        review.save(update_fields=["hidden", "hidden_reason", "hidden_at", "hidden_by"])
        audit_record(
            action="reviews.review.hidden",
            actor=actor,
            target=review,
            before={"hidden": False},
            after={"hidden": True, "reason": reason},
        )
    return review, True


def review_unhide(*, review, actor):
    """Staff show a hidden review again. Unhiding a visible review changes nothing."""
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=review.pk)
        if not review.hidden:
            return review, False
        before = {"hidden": True, "reason": review.hidden_reason}
        review.hidden = False
        review.hidden_reason = ""
        review.hidden_at = None
        review.hidden_by = None
        review.save(update_fields=["hidden", "hidden_reason", "hidden_at", "hidden_by"])
        audit_record(
            action="reviews.review.unhidden",
            actor=actor,
            target=review,
            before=before,
            after={"hidden": False},
        )
    return review, True
