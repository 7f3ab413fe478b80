"""A review changes the ratings the cached anonymous catalogue shows (core/http_cache.py)."""

import pytest

from accounts.factories import StaffFactory
from escrow.factories import OrderFactory
from reviews.factories import ReviewFactory
from reviews.services import review_hide

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.BAZAAR_HTTP_CACHE_SECONDS = 60


def test_a_new_review_shows_in_the_cached_ratings_at_once(
    api_client, seller, listing, django_capture_on_commit_callbacks
):
    store = f"/api/v1/stores/{seller.store.slug}/"
    detail = f"/api/v1/listings/{listing.pk}/"
    cached = api_client.get(store)
    assert cached.json()["rating_count"] == 0 and "ETag" in cached
    assert api_client.get(detail).json()["rating_count"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=4)

    assert api_client.get(store).json()["rating_count"] == 1
    assert api_client.get(detail).json()["rating_average"] == 4


def test_hiding_a_review_takes_it_out_of_the_cached_ratings(
    api_client, seller, listing, django_capture_on_commit_callbacks
):
    review = ReviewFactory(order=OrderFactory(listing=listing, released=True))
    store = f"/api/v1/stores/{seller.store.slug}/"
    cached = api_client.get(store)
    assert cached.json()["rating_count"] == 1 and "ETag" in cached

    with django_capture_on_commit_callbacks(execute=True):
        review_hide(review=review, actor=StaffFactory(), reason="Abusive language")

    assert api_client.get(store).json()["rating_count"] == 0
