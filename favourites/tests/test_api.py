"""/api/v1/favourites/ and the `is_favourite` flag on the catalogue's listings and stores."""

import pytest
from django.urls import reverse

from accounts.factories import UserFactory
from favourites.factories import ListingFavouriteFactory, StoreFavouriteFactory
from favourites.models import ListingFavourite, StoreFavourite
from marketplace.factories import ListingFactory, ListingImageFactory, StoreFactory
from marketplace.models import ListingStatus

pytestmark = pytest.mark.django_db

LISTINGS = reverse("api-favourite-listings")
STORES = reverse("api-favourite-stores")


def listing_url(listing_id):
    return reverse("api-favourite-listing", kwargs={"listing_id": listing_id})


def store_url(slug):
    return reverse("api-favourite-store", kwargs={"slug": slug})


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def test_saving_a_listing_twice_keeps_one_and_answers_201_then_200(api, user):
    listing = ListingFactory(title="Blue mug")

    first = api.post(LISTINGS, {"listing_id": listing.pk}, format="json")
    second = api.post(LISTINGS, {"listing_id": listing.pk}, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["listing"]["title"] == "Blue mug"
    assert "saved_at" in first.json()
    assert ListingFavourite.objects.filter(user=user, listing=listing).count() == 1


@pytest.mark.parametrize(
    "status", [ListingStatus.DRAFT, ListingStatus.PENDING_REVIEW, ListingStatus.ARCHIVED]
)
def test_a_listing_not_on_sale_cannot_be_saved(api, status):
    listing = ListingFactory(status=status)

    response = api.post(LISTINGS, {"listing_id": listing.pk}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "listing_id": ["This listing is not on sale, so it cannot be saved."]
    }
    assert not ListingFavourite.objects.exists()


@pytest.mark.parametrize(
    "body", [{}, {"listing_id": "mug"}, {"listing_id": 0}, {"listing_id": 9999}]
)
def test_bad_input_is_a_400_with_field_messages(api, body):
    response = api.post(LISTINGS, body, format="json")

    assert response.status_code == 400
    assert "listing_id" in response.json()


def test_unsaving_is_a_204_saved_or_not(api, user):
    favourite = ListingFavouriteFactory(user=user)

    assert api.delete(listing_url(favourite.listing_id)).status_code == 204
    assert api.delete(listing_url(favourite.listing_id)).status_code == 204
    assert not ListingFavourite.objects.exists()


def test_a_person_sees_and_removes_only_their_own_favourites(api, user):
    mine = ListingFavouriteFactory(user=user)
    theirs = ListingFavouriteFactory()
    my_store = StoreFavouriteFactory(user=user)
    their_store = StoreFavouriteFactory()

    listings = api.get(LISTINGS).json()
    stores = api.get(STORES).json()
    api.delete(listing_url(theirs.listing_id))
    api.delete(store_url(their_store.store.slug))

    assert [row["listing"]["id"] for row in listings["results"]] == [mine.listing_id]
    assert [row["store"]["slug"] for row in stores["results"]] == [my_store.store.slug]
    assert ListingFavourite.objects.filter(pk=theirs.pk).exists()
    assert StoreFavourite.objects.filter(pk=their_store.pk).exists()


def test_the_list_leaves_out_listings_no_longer_on_sale(api, user):
    on_sale = ListingFavouriteFactory(user=user)
    ListingFavouriteFactory(user=user, listing=ListingFactory(status=ListingStatus.ARCHIVED))

    body = api.get(LISTINGS).json()

    assert [row["listing"]["id"] for row in body["results"]] == [on_sale.listing_id]


def test_stores_save_idempotently_and_unknown_ones_are_a_400(api, user):
    store = StoreFactory()

    assert api.post(STORES, {"store": store.slug}, format="json").status_code == 201
    assert api.post(STORES, {"store": store.slug}, format="json").status_code == 200
    missing = api.post(STORES, {"store": "no-such-store"}, format="json")
    assert missing.status_code == 400
    assert missing.json() == {"store": ["There is no such store."]}
    assert StoreFavourite.objects.filter(user=user).count() == 1
    assert api.delete(store_url(store.slug)).status_code == 204
    assert not StoreFavourite.objects.exists()


def test_anonymous_callers_get_401(api_client):
    assert api_client.get(LISTINGS).status_code == 401
    assert api_client.post(STORES, {"store": "x"}, format="json").status_code == 401
    assert api_client.delete(listing_url(1)).status_code == 401


@pytest.mark.parametrize("rows", [1, 12])
def test_the_lists_query_count_stays_flat(api, user, django_assert_max_num_queries, rows):
    for _ in range(rows):
        favourite = ListingFavouriteFactory(user=user)
        ListingImageFactory(listing=favourite.listing)
        StoreFavouriteFactory(user=user)

    # session user (force_authenticate: none), count, page (listing, store, category), images,
    # and the clock for the published ratings (a sandbox row in tests)
    with django_assert_max_num_queries(4):
        assert len(api.get(LISTINGS).json()["results"]) == rows
    # count, page, stores with their listing counts, the clock for their ratings
    with django_assert_max_num_queries(4):
        assert len(api.get(STORES).json()["results"]) == rows


# --- is_favourite on the catalogue --------------------------------------------------------------


def test_listings_say_whether_the_signed_in_person_saved_them(api, user):
    saved, other = ListingFactory(), ListingFactory()
    ListingFavouriteFactory(user=user, listing=saved)
    ListingFavouriteFactory(listing=other)  # someone else's

    rows = {
        row["id"]: row["is_favourite"] for row in api.get("/api/v1/listings/").json()["results"]
    }
    detail = api.get(f"/api/v1/listings/{saved.pk}/").json()

    assert rows == {saved.pk: True, other.pk: False}
    assert detail["is_favourite"] is True
    assert api.get(f"/api/v1/listings/{other.pk}/").json()["is_favourite"] is False


def test_stores_say_whether_the_signed_in_person_saved_them(api, user):
    saved, other = StoreFactory(), StoreFactory()
    StoreFavouriteFactory(user=user, store=saved)

    rows = {
        row["slug"]: row["is_favourite"] for row in api.get("/api/v1/stores/").json()["results"]
    }

    assert rows == {saved.slug: True, other.slug: False}
    assert api.get(f"/api/v1/stores/{saved.slug}/").json()["is_favourite"] is True


def test_anonymous_visitors_see_is_favourite_false(api_client):
    listing = ListingFavouriteFactory().listing

    row = api_client.get("/api/v1/listings/").json()["results"][0]

    assert row["id"] == listing.pk
    assert row["is_favourite"] is False


@pytest.mark.parametrize("rows", [1, 9])
def test_is_favourite_adds_no_query_per_listing(api, user, django_assert_max_num_queries, rows):
    for _ in range(rows):
        ListingFavouriteFactory(user=user, listing=ListingImageFactory().listing)
        ListingFactory()

    # count, page (EXISTS inline, store and category joined), images, the ratings' clock
    with django_assert_max_num_queries(4):
        body = api.get("/api/v1/listings/").json()

    assert sum(row["is_favourite"] for row in body["results"]) == rows


def test_the_api_index_links_to_the_saved_collections(api_client):
    links = api_client.get("/api/v1/").json()["links"]

    assert links["favourite_listings"] == "http://testserver" + LISTINGS
    assert links["favourite_stores"] == "http://testserver" + STORES
