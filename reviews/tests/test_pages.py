"""Review pages: the order room's reviews card, the review form, a store's reviews tab, the
seller's reply; and the ratings on listing and store pages."""

import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.html import strip_tags

from accounts.factories import UserFactory
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory
from notifications.models import Notification
from reviews import services
from reviews.factories import ReviewFactory
from reviews.models import Review
from reviews.views import REVIEWS_PER_PAGE

pytestmark = pytest.mark.django_db


def _html(response):
    return response.content.decode()


def _text(response):
    return " ".join(strip_tags(_html(response)).split())


def _field_errors(response, field):
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', _html(response))
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


def order_page(client, order):
    return client.get(reverse("order-detail", args=[order.pk]))


def test_the_order_page_offers_the_review_form_once_released(client, buyer, listing):
    client.force_login(buyer)
    delivered = OrderFactory(listing=listing, buyer=buyer, delivered=True)
    released = OrderFactory(listing=listing, buyer=buyer, released=True)

    assert "Leave a review" not in _html(order_page(client, delivered))
    page = order_page(client, released)
    assert "Leave a review" in _html(page)
    assert f'action="{reverse("order-review", args=[released.pk])}"' in _html(page)


def test_leaving_a_review_from_the_order_page(client, released_order, buyer, seller):
    client.force_login(buyer)

    done = client.post(
        reverse("order-review", args=[released_order.pk]),
        {"rating": "4", "text": "Packed with care"},
        follow=True,
    )

    assert (
        done.redirect_chain[-1][0] == reverse("order-detail", args=[released_order.pk]) + "#review"
    )
    assert "Your review is sealed" in _text(done)
    assert 'data-review-state="sealed"' in _html(done)
    assert "Packed with care" in _text(done)
    assert "Leave a review" not in _html(done)
    assert Review.objects.get().rating == 4
    # The seller learns there is one, not what it says.
    client.force_login(seller)
    seen = order_page(client, released_order)
    assert 'data-review-state="theirs-sealed"' in _html(seen)
    assert "Packed with care" not in _html(seen)
    assert Notification.objects.filter(recipient=seller, event_code="review.received").exists()


def test_a_missing_rating_is_an_error_next_to_the_field(client, released_order, buyer):
    client.force_login(buyer)

    page = client.post(reverse("order-review", args=[released_order.pk]), {"text": "Hm"})

    assert page.status_code == 200
    assert _field_errors(page, "rating") == ["This field is required."]
    assert not Review.objects.exists()


def test_a_second_review_is_refused_with_a_message(client, released_order, buyer):
    services.review_create(order=released_order, author=buyer, rating=5)
    client.force_login(buyer)

    page = client.post(
        reverse("order-review", args=[released_order.pk]), {"rating": "1"}, follow=True
    )

    assert "You have already reviewed this order." in _text(page)
    assert Review.objects.get().rating == 5


def test_once_both_are_in_each_reads_the_other(client, released_order, buyer, seller):
    services.review_create(order=released_order, author=buyer, rating=2, text="Chipped rim")
    services.review_create(order=released_order, author=seller, rating=5, text="Kind buyer")

    client.force_login(seller)
    for_seller = order_page(client, released_order)
    client.force_login(buyer)
    for_buyer = order_page(client, released_order)

    assert "Chipped rim" in _text(for_seller) and "Kind buyer" in _text(for_buyer)
    assert "Publish my reply" in _html(for_seller)
    assert "Publish my reply" not in _html(for_buyer)


def test_the_window_ends_and_the_lone_review_is_published(
    client, released_order, buyer, seller, stripe_sandbox
):
    services.review_create(order=released_order, author=buyer, rating=3, text="Late but good")
    client.force_login(seller)
    assert "Late but good" not in _html(order_page(client, released_order))

    stripe_sandbox.advance_clock(days=settings.REVIEW_WINDOW_DAYS, seconds=1)

    page = order_page(client, released_order)
    assert "Late but good" in _text(page)
    assert 'data-review-state="closed"' in _html(page)


def test_the_store_reviews_tab_lists_published_reviews_and_the_average(client, seller, listing):
    for rating, text in ((5, "Superb bowls"), (2, "Arrived cracked")):
        ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=rating, text=text)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), text="Not yet", sealed=True)
    ReviewFactory(
        order=OrderFactory(listing=listing, released=True), text="Rude words", hidden=True
    )

    page = client.get(reverse("store-reviews", args=[seller.store.slug]))

    text = _text(page)
    assert page.status_code == 200
    assert "Superb bowls" in text and "Arrived cracked" in text
    assert "Not yet" not in text and "Rude words" not in text
    assert "3.5 out of 5 · 2 reviews" in text
    assert 'aria-current="page">Reviews<' in _html(page)


def test_the_store_reviews_tab_is_paginated(client, seller, listing):
    for _ in range(REVIEWS_PER_PAGE + 1):
        ReviewFactory(order=OrderFactory(listing=listing, released=True))

    first = client.get(reverse("store-reviews", args=[seller.store.slug]))
    second = client.get(reverse("store-reviews", args=[seller.store.slug]), {"page": 2})

    assert _html(first).count('class="review"') == REVIEWS_PER_PAGE
    assert _html(second).count('class="review"') == 1
    assert "Page 1 of 2" in _text(first)


def test_the_seller_replies_from_the_store_page_once(client, seller, listing):
    review = ReviewFactory(order=OrderFactory(listing=listing, released=True))
    store_reviews = reverse("store-reviews", args=[seller.store.slug])
    client.force_login(seller)
    assert "Publish my reply" in _html(client.get(store_reviews))

    done = client.post(
        reverse("review-reply", args=[review.pk]),
        {"reply": "Thank you!", "next": store_reviews},
        follow=True,
    )
    again = client.post(reverse("review-reply", args=[review.pk]), {"reply": "Again"}, follow=True)

    assert done.redirect_chain[-1][0] == store_reviews
    assert "Reply from the seller" in _text(done) and "Thank you!" in _text(done)
    assert "Publish my reply" not in _html(done)
    assert "already replied" in _text(again)
    review.refresh_from_db()
    assert review.reply == "Thank you!"


def test_an_empty_reply_is_an_error_next_to_the_field(client, seller, listing):
    review = ReviewFactory(order=OrderFactory(listing=listing, released=True))
    client.force_login(seller)

    page = client.post(reverse("review-reply", args=[review.pk]), {"reply": "  "})

    assert page.status_code == 200
    assert _field_errors(page, "reply") == ["This field is required."]


def test_nobody_else_replies(client, listing):
    review = ReviewFactory(order=OrderFactory(listing=listing, released=True))
    client.force_login(UserFactory())

    assert client.post(reverse("review-reply", args=[review.pk]), {"reply": "x"}).status_code == 404


def test_listing_and_store_pages_show_the_published_buyer_average(client, seller, listing):
    other = ListingFactory(store=seller.store)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=5)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=4)
    ReviewFactory(order=OrderFactory(listing=other, released=True), rating=1)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=1, sealed=True)

    listing_page = _html(client.get(listing.get_absolute_url()))
    store_page = _text(client.get(reverse("store", args=[seller.store.slug])))
    browse = _text(client.get(reverse("listing-list")))

    listing_rating = re.search(
        r'listing-detail__rating" data-rating-count="2">(.*?)</p>', listing_page, re.S
    )
    assert "4.5 out of 5 · 2 reviews" in strip_tags(listing_rating.group(1))
    store_rating = re.search(
        r'store-mini__rating" data-store-rating-count="3">(.*?)</p>', listing_page, re.S
    )
    assert "3.3 out of 5 · 3 reviews" in strip_tags(store_rating.group(1))
    assert "3.3 out of 5 · 3 reviews" in store_page
    assert "4.5 out of 5 · 2 reviews" in browse and "1.0 out of 5 · 1 review" in browse


def test_staff_hiding_a_review_takes_it_out_of_the_average(client, seller, listing):
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=5)
    low = ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=1)
    assert "3.0 out of 5 · 2 reviews" in _text(client.get(listing.get_absolute_url()))

    services.review_hide(review=low, actor=UserFactory(is_staff=True), reason="Abusive")

    assert "5.0 out of 5 · 1 review" in _text(client.get(listing.get_absolute_url()))


@pytest.mark.parametrize("rows", [3, 30])
def test_the_store_reviews_page_query_count_is_flat(
    client, seller, listing, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        ReviewFactory(order=OrderFactory(listing=listing, released=True), reply="Thanks")

    # the store (with its rating), the clock twice (the store's rating, the reviews), count,
    # page (author and listing joined)
    with django_assert_max_num_queries(5):
        response = client.get(reverse("store-reviews", args=[seller.store.slug]))

    assert _html(response).count('class="review"') == min(rows, REVIEWS_PER_PAGE)


@pytest.mark.parametrize("rows", [3, 30])
def test_the_listing_list_page_with_ratings_is_flat(
    client, listing, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        ReviewFactory(order=OrderFactory(listing=ListingFactory(), released=True))

    # the clock, count, page (store, category, ratings as subqueries), images, category choices,
    # and the facets (categories, then kinds and price buckets)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("listing-list"))

    assert _text(response).count("1 review") == min(rows, settings.BAZAAR_PAGE_SIZE)


def test_the_review_page_of_an_order_not_completed_sends_back_with_why(client, buyer, listing):
    order = OrderFactory(listing=listing, buyer=buyer, funded=True)
    client.force_login(buyer)

    page = client.post(reverse("order-review", args=[order.pk]), {"rating": "5"}, follow=True)

    assert page.redirect_chain[-1][0] == reverse("order-detail", args=[order.pk]) + "#review"
    assert "once it is completed" in _text(page)
    assert not Review.objects.exists()
