"""The reviews API: an order's reviews, reviewing, replying, a store's reviews; and the ratings
the catalogue's listing and store endpoints carry."""

import pytest
from django.conf import settings

from accounts.factories import SellerFactory, UserFactory
from accounts.testing import api_client_for
from core.testing import assert_matches_api_schema
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory
from reviews import services
from reviews.factories import ReviewFactory
from reviews.models import Review

pytestmark = pytest.mark.django_db


def review_url(order):
    return f"/api/v1/orders/{order.pk}/review/"


def test_the_buyer_reviews_the_order_and_sees_it_sealed(released_order, buyer, seller):
    client = api_client_for(buyer)

    made = client.post(review_url(released_order), {"rating": 4, "text": "Good"}, format="json")

    assert made.status_code == 201, made.json()
    assert_matches_api_schema(made, "/api/v1/orders/{id}/review/", "POST")
    assert (made.json()["rating"], made.json()["side"]) == (4, "buyer")
    mine = client.get(review_url(released_order))
    assert_matches_api_schema(mine, "/api/v1/orders/{id}/review/", "GET")
    assert mine.json()["mine"]["text"] == "Good"
    assert mine.json()["can_review"] is False
    theirs = api_client_for(seller).get(review_url(released_order)).json()
    assert (theirs["theirs"], theirs["theirs_sealed"], theirs["can_review"]) == (None, True, True)
    assert "Good" not in str(theirs)


def test_a_second_review_is_a_400_with_a_message(released_order, buyer):
    client = api_client_for(buyer)
    client.post(review_url(released_order), {"rating": 4}, format="json")

    again = client.post(review_url(released_order), {"rating": 1}, format="json")

    assert again.status_code == 400
    assert again.json() == {"detail": ["You have already reviewed this order."]}
    assert Review.objects.count() == 1


def test_bad_input_is_a_400_with_field_messages(released_order, buyer):
    response = api_client_for(buyer).post(
        review_url(released_order), {"rating": 9, "text": "x" * 2001}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()) == {"rating", "text"}


def test_someone_outside_the_order_gets_a_404(released_order):
    client = api_client_for(UserFactory())

    assert client.get(review_url(released_order)).status_code == 404
    assert client.post(review_url(released_order), {"rating": 5}, format="json").status_code == 404
    assert not Review.objects.exists()


def test_an_order_not_released_is_a_409(buyer, listing):
    order = OrderFactory(listing=listing, buyer=buyer, delivered=True)

    response = api_client_for(buyer).post(review_url(order), {"rating": 5}, format="json")

    assert response.status_code == 409
    assert "completed" in response.json()["detail"]


def test_after_the_window_it_is_a_409(released_order, buyer, stripe_sandbox):
    stripe_sandbox.advance_clock(days=settings.REVIEW_WINDOW_DAYS, seconds=1)

    response = api_client_for(buyer).post(review_url(released_order), {"rating": 5}, format="json")

    assert response.status_code == 409
    assert "over" in response.json()["detail"]


def test_the_seller_replies_once_over_the_api(released_order, buyer, seller):
    services.review_create(order=released_order, author=buyer, rating=3)
    client = api_client_for(seller)
    url = review_url(released_order) + "reply/"
    sealed = client.post(url, {"reply": "Thanks"}, format="json")
    services.review_create(order=released_order, author=seller, rating=5)

    replied = client.post(url, {"reply": "Thanks"}, format="json")
    again = client.post(url, {"reply": "Thanks again"}, format="json")
    by_buyer = api_client_for(buyer).post(url, {"reply": "Me too"}, format="json")

    assert sealed.status_code == 409
    assert replied.status_code == 200 and replied.json()["reply"] == "Thanks"
    assert_matches_api_schema(replied, "/api/v1/orders/{id}/review/reply/", "POST")
    assert again.status_code == 400 and "reply" in again.json()
    assert by_buyer.status_code == 403


def test_a_store_lists_its_published_reviews(seller, listing, api_client):
    shown = ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=4)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), sealed=True)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), hidden=True)
    ReviewFactory()  # another store's

    response = api_client.get(f"/api/v1/stores/{seller.store.slug}/reviews/")

    assert response.status_code == 200
    assert_matches_api_schema(response, "/api/v1/stores/{slug}/reviews/", "GET")
    assert [row["id"] for row in response.json()["results"]] == [shown.pk]
    assert api_client.get("/api/v1/stores/no-such-store/reviews/").status_code == 404


def test_listing_and_store_endpoints_carry_the_published_buyer_average(seller, listing, api_client):
    other_listing = ListingFactory(store=seller.store)
    for rating, on in ((5, listing), (4, listing), (2, other_listing)):
        ReviewFactory(order=OrderFactory(listing=on, released=True), rating=rating)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=1, sealed=True)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=1, hidden=True)
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=1, side="seller")

    one = api_client.get(f"/api/v1/listings/{listing.pk}/").json()
    store = api_client.get(f"/api/v1/stores/{seller.store.slug}/").json()
    listed = {row["id"]: row for row in api_client.get("/api/v1/listings/").json()["results"]}

    assert (one["rating_average"], one["rating_count"]) == (4.5, 2)
    assert (store["rating_average"], store["rating_count"]) == (3.67, 3)
    assert listed[other_listing.pk]["rating_average"] == 2.0
    unrated = api_client.get(f"/api/v1/listings/{ListingFactory().pk}/").json()
    assert (unrated["rating_average"], unrated["rating_count"]) == (None, 0)


@pytest.mark.parametrize("rows", [3, 30])
def test_the_store_reviews_list_query_count_stays_flat(
    seller, listing, api_client, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        ReviewFactory(order=OrderFactory(listing=listing, released=True), reply="Thank you")

    # the store (with its rating), the clock, page (author and listing joined): no count
    with django_assert_max_num_queries(4):
        response = api_client.get(f"/api/v1/stores/{seller.store.slug}/reviews/", {"page_size": 50})

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_the_listing_list_with_ratings_stays_flat(api_client, django_assert_max_num_queries, rows):
    for _ in range(rows):
        seller = SellerFactory()
        ReviewFactory(order=OrderFactory(listing=ListingFactory(store=seller.store), released=True))

    # page (store and category in it), images, the clock and the page's ratings: no count
    with django_assert_max_num_queries(4):
        response = api_client.get("/api/v1/listings/", {"page_size": 50})

    assert [row["rating_count"] for row in response.json()["results"]] == [1] * rows
