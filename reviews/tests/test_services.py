"""The rules of reviews, through reviews.services and the selectors the pages and API read."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.factories import UserFactory
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.models import AuditEntry
from escrow.factories import DisputeFactory, OrderFactory
from escrow.models import DisputeStatus, OrderStatus
from notifications.models import Notification
from reviews import selectors, services
from reviews.models import Review, ReviewSide

pytestmark = pytest.mark.django_db


def test_buyer_and_seller_each_review_the_other_once(released_order, buyer, seller):
    by_buyer = services.review_create(order=released_order, author=buyer, rating=4, text=" Good ")
    by_seller = services.review_create(order=released_order, author=seller, rating=5)

    assert (by_buyer.side, by_buyer.subject, by_buyer.text) == (ReviewSide.BUYER, seller, "Good")
    assert (by_seller.side, by_seller.subject) == (ReviewSide.SELLER, buyer)
    assert by_buyer.store_id == released_order.store_id
    for author in (buyer, seller):
        with pytest.raises(ValidationFailed) as refused:
            services.review_create(order=released_order, author=author, rating=1)
        assert "already reviewed" in refused.value.message
    assert Review.objects.count() == 2
    assert AuditEntry.objects.filter(action="reviews.review.created").count() == 2


def test_someone_outside_the_order_cannot_review_it(released_order):
    with pytest.raises(NotAllowed):
        services.review_create(order=released_order, author=UserFactory(), rating=5)

    assert not Review.objects.exists()


@pytest.mark.parametrize("rating", [0, 6, "5", None, True])
def test_a_rating_is_a_whole_number_from_1_to_5(released_order, buyer, rating):
    with pytest.raises(ValidationFailed) as refused:
        services.review_create(order=released_order, author=buyer, rating=rating)

    assert "rating" in refused.value.errors


def test_the_text_is_length_limited(released_order, buyer):
    with pytest.raises(ValidationFailed) as refused:
        services.review_create(order=released_order, author=buyer, rating=5, text="x" * 2001)

    assert "text" in refused.value.errors


@pytest.mark.parametrize("traits", [{"funded": True}, {"delivered": True}, {}])
def test_an_order_is_not_reviewed_before_its_release(buyer, listing, traits):
    order = OrderFactory(listing=listing, buyer=buyer, **traits)

    with pytest.raises(InvalidTransition):
        services.review_create(order=order, author=buyer, rating=5)
    assert selectors.order_reviews_for(order=order, user=buyer).can_review is False


def test_a_resolved_dispute_opens_reviews_even_when_the_buyer_was_refunded(buyer, listing):
    order = OrderFactory(listing=listing, buyer=buyer, delivered=True, status=OrderStatus.DISPUTED)
    dispute = DisputeFactory(order=order)
    with pytest.raises(InvalidTransition):
        services.review_create(order=order, author=buyer, rating=2)

    order.status = OrderStatus.REFUNDED
    order.save()
    dispute.status = DisputeStatus.RESOLVED
    dispute.resolution = "refund"
    dispute.resolved_at = timezone.now()
    dispute.save()

    review = services.review_create(order=order, author=buyer, rating=2)
    assert review.window_ends_at == dispute.resolved_at + timedelta(
        days=settings.REVIEW_WINDOW_DAYS
    )


def test_the_window_closes_review_window_days_after_release(
    released_order, buyer, seller, stripe_sandbox
):
    stripe_sandbox.advance_clock(days=settings.REVIEW_WINDOW_DAYS - 1)
    services.review_create(order=released_order, author=seller, rating=5)

    stripe_sandbox.advance_clock(days=1, seconds=1)

    with pytest.raises(InvalidTransition) as refused:
        services.review_create(order=released_order, author=buyer, rating=5)
    assert "over" in refused.value.message
    assert selectors.order_reviews_for(order=released_order, user=buyer).can_review is False


def test_a_review_is_sealed_until_the_other_side_reviews(released_order, buyer, seller):
    services.review_create(order=released_order, author=buyer, rating=3, text="Slow but fine")

    for_seller = selectors.order_reviews_for(order=released_order, user=seller)
    for_buyer = selectors.order_reviews_for(order=released_order, user=buyer)
    assert (for_seller.theirs, for_seller.theirs_sealed) == (None, True)
    assert for_buyer.mine.text == "Slow but fine" and not for_buyer.mine_revealed
    assert not selectors.store_reviews_public(store=released_order.store).exists()

    services.review_create(order=released_order, author=seller, rating=5)

    for_seller = selectors.order_reviews_for(order=released_order, user=seller)
    for_buyer = selectors.order_reviews_for(order=released_order, user=buyer)
    assert for_seller.theirs.text == "Slow but fine" and not for_seller.theirs_sealed
    assert for_buyer.theirs.rating == 5
    assert [r.text for r in selectors.store_reviews_public(store=released_order.store)] == [
        "Slow but fine"
    ]


def test_a_lone_review_is_revealed_when_the_window_ends(
    released_order, buyer, seller, stripe_sandbox
):
    services.review_create(order=released_order, author=buyer, rating=4, text="Nice mug")
    stripe_sandbox.advance_clock(days=settings.REVIEW_WINDOW_DAYS - 1)
    assert selectors.order_reviews_for(order=released_order, user=seller).theirs is None

    stripe_sandbox.advance_clock(days=1, seconds=1)

    assert selectors.order_reviews_for(order=released_order, user=seller).theirs.text == "Nice mug"
    assert selectors.store_reviews_public(store=released_order.store).count() == 1


def test_the_other_side_is_told_a_review_came_but_not_what_it_says(released_order, buyer, seller):
    services.review_create(order=released_order, author=buyer, rating=1, text="Secret words")

    note = Notification.objects.get(recipient=seller, event_code="review.received")
    assert f"order #{released_order.pk}" in note.title
    assert "Secret words" not in note.title + note.message + str(note.context)
    assert "once you have reviewed them too" in note.message

    services.review_create(order=released_order, author=seller, rating=5)
    told_buyer = Notification.objects.get(recipient=buyer, event_code="review.received")
    assert "read it now" in told_buyer.message


def test_the_seller_replies_once_to_a_published_review(released_order, buyer, seller):
    review = services.review_create(order=released_order, author=buyer, rating=2)
    with pytest.raises(InvalidTransition):
        services.review_reply(review=review, seller=seller, text="Too early")
    services.review_create(order=released_order, author=seller, rating=4)

    with pytest.raises(NotAllowed):
        services.review_reply(review=review, seller=buyer, text="Not mine to answer")
    services.review_reply(review=review, seller=seller, text=" Sorry about the delay. ")
    with pytest.raises(ValidationFailed) as again:
        services.review_reply(review=review, seller=seller, text="And another thing")

    review.refresh_from_db()
    assert review.reply == "Sorry about the delay."
    assert "reply" in again.value.errors
    assert AuditEntry.objects.filter(action="reviews.review.replied").count() == 1


def test_staff_hide_with_a_reason_and_unhide(released_order, buyer, seller):
    review = services.review_create(order=released_order, author=buyer, rating=1)
    services.review_create(order=released_order, author=seller, rating=5)
    staff = UserFactory(is_staff=True)
    with pytest.raises(ValidationFailed):
        services.review_hide(review=review, actor=staff, reason="  ")

    _, hidden = services.review_hide(review=review, actor=staff, reason="Personal details")
    _, again = services.review_hide(review=review, actor=staff, reason="Twice")

    assert (hidden, again) == (True, False)
    assert not selectors.store_reviews_public(store=released_order.store).exists()
    assert selectors.order_reviews_for(order=released_order, user=seller).theirs is None
    assert selectors.order_reviews_for(order=released_order, user=buyer).mine.hidden

    _, shown = services.review_unhide(review=review, actor=staff)
    assert shown
    assert selectors.store_reviews_public(store=released_order.store).count() == 1
    assert list(
        AuditEntry.objects.filter(action__startswith="reviews.review.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "reviews.review.created",
        "reviews.review.created",
        "reviews.review.hidden",
        "reviews.review.unhidden",
    ]
