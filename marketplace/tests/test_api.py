"""The catalogue API at /api/v1/: categories, stores, public listings, the seller's listings."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.factories import SellerFactory, UserFactory
from accounts.testing import api_client_for
from core.testing import assert_matches_api_schema
from marketplace.factories import (
    CategoryFactory,
    ListingFactory,
    ListingImageFactory,
    ServiceListingFactory,
    StoreFactory,
)
from marketplace.models import Listing, ListingImage, ListingKind, ListingStatus

pytestmark = pytest.mark.django_db

LISTINGS = "/api/v1/listings/"
SELLER_LISTINGS = "/api/v1/seller/listings/"
NOT_PUBLIC = [
    ListingStatus.DRAFT,
    ListingStatus.PENDING_REVIEW,
    ListingStatus.REJECTED,
    ListingStatus.ARCHIVED,
]


def client_for(user):
    """A client that signs in the way a mobile app does: with an API token."""
    return api_client_for(user)


def ids(response):
    return [row["id"] for row in response.json()["results"]]


def png_upload(name="photo.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def seller():
    return SellerFactory()


@pytest.fixture
def seller_client(seller):
    return client_for(seller)


@pytest.fixture
def category():
    return CategoryFactory(slug="pottery", name="Pottery")


def new_listing_body(**overrides):
    return {
        "kind": "product",
        "title": "Blue teapot",
        "description": "Stoneware, holds a litre.",
        "price_cents": 4250,
        "currency": "usd",
        "stock": 3,
    } | overrides


# --- Public listings ----------------------------------------------------------------------------


def test_anonymous_list_shows_only_approved_listings(api_client):
    approved = ListingFactory()
    for status in NOT_PUBLIC:
        ListingFactory(status=status)

    response = api_client.get(LISTINGS)

    assert response.status_code == 200
    assert ids(response) == [approved.pk]


@pytest.mark.parametrize("status", NOT_PUBLIC)
def test_listing_not_approved_is_404_on_detail(api_client, status):
    listing = ListingFactory(status=status)

    response = api_client.get(f"{LISTINGS}{listing.pk}/")

    assert response.status_code == 404


def test_listing_not_approved_is_404_even_for_its_seller_on_public_detail():
    listing = ListingFactory(status=ListingStatus.DRAFT)

    response = client_for(listing.store.owner).get(f"{LISTINGS}{listing.pk}/")

    assert response.status_code == 404


def test_listing_detail_shows_price_store_category_and_images(api_client, category):
    listing = ListingFactory(category=category, price_cents=1250, currency="usd", stock=4)
    ListingImageFactory(listing=listing, alt_text="The teapot from above")

    response = api_client.get(f"{LISTINGS}{listing.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["price_cents"] == 1250
    assert body["currency"] == "usd"
    assert body["price_display"] == "US$12.50"
    assert body["kind"] == "product"
    assert body["stock"] == 4
    assert body["duration_minutes"] is None
    assert body["store"] == {"slug": listing.store.slug, "name": listing.store.name}
    assert body["category"] == {"slug": "pottery", "name": "Pottery"}
    assert len(body["images"]) == 1
    assert body["images"][0]["alt_text"] == "The teapot from above"
    assert body["images"][0]["url"].startswith("http://testserver/media/listing-images/")
    assert body["created_at"]
    assert "status" not in body


def test_listing_detail_with_non_numeric_id_is_404_not_500(api_client):
    assert api_client.get(f"{LISTINGS}abc/").status_code == 404


def test_service_listing_shows_duration(api_client):
    listing = ServiceListingFactory(duration_minutes=90)

    body = api_client.get(f"{LISTINGS}{listing.pk}/").json()

    assert body["kind"] == "service"
    assert body["duration_minutes"] == 90
    assert body["stock"] is None


def test_search_by_q_matches_title_and_description(api_client):
    teapot = ListingFactory(title="Blue teapot", description="Stoneware")
    ListingFactory(title="Wool scarf", description="Knitted")
    mug = ListingFactory(title="Mug", description="Matches the teapot")

    response = api_client.get(LISTINGS, {"q": "teapot"})

    assert sorted(ids(response)) == sorted([teapot.pk, mug.pk])


def test_filter_by_category_kind_and_store(api_client, category):
    in_category = ListingFactory(category=category)
    other = ListingFactory()
    service = ServiceListingFactory(store=other.store)

    assert ids(api_client.get(LISTINGS, {"category": "pottery"})) == [in_category.pk]
    assert ids(api_client.get(LISTINGS, {"kind": "service"})) == [service.pk]
    by_store = ids(api_client.get(LISTINGS, {"store": other.store.slug}))
    assert sorted(by_store) == sorted([other.pk, service.pk])


def test_filter_by_price_range_in_major_units(api_client):
    cheap = ListingFactory(price_cents=500)
    middle = ListingFactory(price_cents=1500)
    ListingFactory(price_cents=5000)

    assert ids(api_client.get(LISTINGS, {"max_price": "10"})) == [cheap.pk]
    assert ids(api_client.get(LISTINGS, {"min_price": "10", "max_price": "20"})) == [middle.pk]


def test_sort_by_price(api_client):
    middle = ListingFactory(price_cents=1500)
    cheap = ListingFactory(price_cents=500)
    dear = ListingFactory(price_cents=5000)

    assert ids(api_client.get(LISTINGS, {"sort": "price_asc"})) == [cheap.pk, middle.pk, dear.pk]
    assert ids(api_client.get(LISTINGS, {"sort": "price_desc"})) == [dear.pk, middle.pk, cheap.pk]


def test_unknown_category_filter_is_a_400_naming_the_field(api_client):
    ListingFactory()

    response = api_client.get(LISTINGS, {"category": "no-such-category"})

    assert response.status_code == 400
    assert "category" in response.json()


def test_bad_price_filter_is_a_400_not_a_500(api_client):
    response = api_client.get(LISTINGS, {"min_price": "cheap"})

    assert response.status_code == 400
    assert "min_price" in response.json()


def test_list_is_paginated_by_cursor_without_a_count(api_client):
    store = SellerFactory().store
    ListingFactory.create_batch(25, store=store)

    first = api_client.get(LISTINGS).json()
    assert set(first) == {"next", "previous", "results"}  # no count: it would read every row
    assert len(first["results"]) == 20
    assert "cursor=" in first["next"]
    assert first["previous"] is None

    second = api_client.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert not set(ids_of(first)) & set(ids_of(second))
    assert api_client.get(second["previous"]).json()["results"] == first["results"]


def ids_of(page):
    return [row["id"] for row in page["results"]]


def _listings_with_images(count):
    store = SellerFactory().store
    for listing in ListingFactory.create_batch(count, store=store):
        ListingImageFactory(listing=listing)
        ListingImageFactory(listing=listing)


@pytest.mark.parametrize("rows", [3, 30])
def test_public_list_query_count_stays_flat(api_client, django_assert_max_num_queries, rows):
    _listings_with_images(rows)
    # Each listing in its own category: the category join must not turn into a query per row.
    # page (store + category joined), images, the clock and the page's ratings (reviews): no
    # count (keyset pagination, core/pagination.py)
    with django_assert_max_num_queries(4):
        response = api_client.get(LISTINGS, {"page_size": 50})
    assert response.status_code == 200
    assert len(response.json()["results"]) == rows
    assert all(len(row["images"]) == 2 for row in response.json()["results"])


@pytest.mark.parametrize("rows", [3, 30])
def test_seller_list_query_count_stays_flat(django_assert_max_num_queries, rows):
    _listings_with_images(rows)
    owner = Listing.objects.first().store.owner
    client = client_for(owner)
    # token + user, the account's other tokens (expired ones are deleted), seller profile,
    # store, page, images, and the clock and the page's ratings (reviews)
    with django_assert_max_num_queries(8):
        response = client.get(SELLER_LISTINGS, {"page_size": 50})
    assert response.status_code == 200
    assert len(response.json()["results"]) == rows


# --- Categories ---------------------------------------------------------------------------------


def test_categories_list_with_approved_listing_counts(api_client, category):
    ListingFactory.create_batch(2, category=category)
    ListingFactory(category=category, status=ListingStatus.DRAFT)

    response = api_client.get("/api/v1/categories/")

    assert response.status_code == 200
    rows = {row["slug"]: row for row in response.json()["results"]}
    assert rows["pottery"]["listing_count"] == 2
    assert rows["pottery"]["name"] == "Pottery"


def test_category_detail_by_slug(api_client, category):
    ListingFactory(category=category)

    response = api_client.get("/api/v1/categories/pottery/")

    assert response.status_code == 200
    assert response.json()["listing_count"] == 1
    assert api_client.get("/api/v1/categories/nothing-here/").status_code == 404


@pytest.mark.parametrize("rows", [3, 30])
def test_category_list_query_count_stays_flat(api_client, django_assert_max_num_queries, rows):
    CategoryFactory.create_batch(rows)
    with django_assert_max_num_queries(2):  # count, page with the annotated listing count
        response = api_client.get("/api/v1/categories/", {"page_size": 50})
    assert len(response.json()["results"]) == rows


# --- Stores -------------------------------------------------------------------------------------


def test_stores_list_and_detail_are_public(api_client):
    store = StoreFactory(name="Clay Corner", slug="clay-corner")
    ListingFactory(store=store)
    ListingFactory(store=store, status=ListingStatus.DRAFT)

    listing = api_client.get("/api/v1/stores/")
    detail = api_client.get("/api/v1/stores/clay-corner/")

    assert listing.status_code == 200
    assert "clay-corner" in [row["slug"] for row in listing.json()["results"]]
    assert detail.status_code == 200
    assert detail.json()["name"] == "Clay Corner"
    assert detail.json()["listing_count"] == 1
    assert api_client.get("/api/v1/stores/no-such-store/").status_code == 404


def test_a_store_without_a_support_site_answers_as_the_schema_says(api_client):
    # It may be left empty; the schema documented it as a URI only, which an app generated
    # from it would refuse (found by tests/test_api_schema.py). The contact email is not
    # public at all: buyers write to a store through messaging (#15).
    StoreFactory(slug="quiet-store", contact_email="", support_url="")

    detail = api_client.get("/api/v1/stores/quiet-store/")

    assert "contact_email" not in detail.json()
    assert detail.json()["support_url"] == ""
    assert_matches_api_schema(detail, "/api/v1/stores/{slug}/", "GET")
    assert_matches_api_schema(api_client.get("/api/v1/stores/"), "/api/v1/stores/", "GET")


@pytest.mark.parametrize("rows", [3, 30])
def test_store_list_query_count_stays_flat(api_client, django_assert_max_num_queries, rows):
    StoreFactory.create_batch(rows)
    # count, page (ratings as subqueries), and the clock (reviews)
    with django_assert_max_num_queries(3):
        response = api_client.get("/api/v1/stores/", {"page_size": 50})
    assert len(response.json()["results"]) == rows


def test_owner_edits_their_store(seller, seller_client):
    url = f"/api/v1/stores/{seller.store.slug}/"

    response = seller_client.patch(url, {"tagline": "Made by hand", "name": "Clay Corner"})

    assert response.status_code == 200
    assert response.json()["tagline"] == "Made by hand"
    seller.store.refresh_from_db()
    assert seller.store.name == "Clay Corner"
    assert seller.store.tagline == "Made by hand"


def test_store_edit_field_errors(seller, seller_client):
    url = f"/api/v1/stores/{seller.store.slug}/"

    bad_email = seller_client.patch(url, {"contact_email": "not-an-email"})
    blank_name = seller_client.patch(url, {"name": "   "})

    assert bad_email.status_code == 400
    assert list(bad_email.json()) == ["contact_email"]
    assert blank_name.status_code == 400
    assert "name" in blank_name.json()


def test_someone_else_cannot_edit_a_store(seller):
    other = client_for(SellerFactory())
    url = f"/api/v1/stores/{seller.store.slug}/"
    before = seller.store.tagline

    response = other.patch(url, {"tagline": "Hijacked"})

    assert response.status_code == 403
    seller.store.refresh_from_db()
    assert seller.store.tagline == before


def test_anonymous_cannot_edit_a_store(api_client, seller):
    response = api_client.patch(f"/api/v1/stores/{seller.store.slug}/", {"tagline": "x"})

    assert response.status_code == 401


# --- The seller's listings ----------------------------------------------------------------------


def test_seller_creates_a_draft_listing(seller, seller_client, category):
    response = seller_client.post(
        SELLER_LISTINGS, new_listing_body(category="pottery"), format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["price_cents"] == 4250
    assert body["price_display"] == "US$42.50"
    assert body["category"] == {"slug": "pottery", "name": "Pottery"}
    listing = Listing.objects.get(pk=body["id"])
    assert listing.store == seller.store
    assert listing.status == ListingStatus.DRAFT
    assert listing.category == category
    # A draft is not public.
    assert APIClient().get(f"{LISTINGS}{listing.pk}/").status_code == 404


def test_seller_creates_a_service_listing(seller_client):
    body = new_listing_body(kind="service", stock=None, duration_minutes=45)

    response = seller_client.post(SELLER_LISTINGS, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["duration_minutes"] == 45
    assert Listing.objects.get(pk=response.json()["id"]).kind == ListingKind.SERVICE


def test_currency_defaults_to_the_sellers_currency(seller, seller_client):
    seller.seller_profile.default_currency = "eur"
    seller.seller_profile.save()
    body = new_listing_body()
    del body["currency"]

    response = seller_client.post(SELLER_LISTINGS, body, format="json")

    assert response.status_code == 201
    assert response.json()["currency"] == "eur"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"price_cents": "abc"}, "price_cents"),
        ({"price_cents": 12.5}, "price_cents"),
        ({"price_cents": -5}, "price_cents"),
        ({"price_cents": 0}, "price_cents"),
        ({"price_cents": 10**30}, "price_cents"),
        ({"title": ""}, "title"),
        ({"kind": "vehicle"}, "kind"),
        ({"currency": "xyz"}, "currency"),
        ({"category": "no-such-category"}, "category"),
        ({"stock": "many"}, "stock"),
        ({"kind": "service", "stock": None}, "duration_minutes"),
        ({"kind": "service", "stock": None, "duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 30}, "duration_minutes"),
    ],
)
def test_create_with_bad_input_gives_field_errors(seller_client, overrides, field):
    response = seller_client.post(SELLER_LISTINGS, new_listing_body(**overrides), format="json")

    assert response.status_code == 400
    body = response.json()
    assert field in body
    assert isinstance(body[field], list)
    assert all(isinstance(message, str) and message for message in body[field])
    assert not Listing.objects.exists()


def test_create_without_title_names_the_missing_field(seller_client):
    body = new_listing_body()
    del body["title"]

    response = seller_client.post(SELLER_LISTINGS, body, format="json")

    assert response.status_code == 400
    assert response.json()["title"] == ["This field is required."]


def test_create_with_bad_input_as_a_form_post_is_a_400(seller_client):
    response = seller_client.post(SELLER_LISTINGS, new_listing_body(price_cents="abc"))

    assert response.status_code == 400
    assert "price_cents" in response.json()


def test_seller_list_has_own_listings_in_every_status(seller, seller_client):
    mine = [ListingFactory(store=seller.store, status=status) for status in ListingStatus.values]
    ListingFactory()  # someone else's

    response = seller_client.get(SELLER_LISTINGS)

    assert response.status_code == 200
    assert sorted(ids(response)) == sorted(listing.pk for listing in mine)
    assert {row["status"] for row in response.json()["results"]} == set(ListingStatus.values)


def test_seller_list_filters_by_status(seller, seller_client):
    draft = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)
    ListingFactory(store=seller.store)

    response = seller_client.get(SELLER_LISTINGS, {"status": "draft"})

    assert ids(response) == [draft.pk]


def test_seller_edits_a_draft(seller, seller_client):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)

    response = seller_client.patch(
        f"{SELLER_LISTINGS}{listing.pk}/", {"title": "Green teapot", "price_cents": 999}
    )

    assert response.status_code == 200, response.json()
    listing.refresh_from_db()
    assert listing.title == "Green teapot"
    assert listing.price_cents == 999
    assert response.json()["price_display"] == "US$9.99"


def test_editing_an_approved_listings_title_sends_it_back_to_review(seller, seller_client):
    listing = ListingFactory(store=seller.store)

    response = seller_client.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"title": "New title"})

    assert response.json()["status"] == "pending_review"
    assert APIClient().get(f"{LISTINGS}{listing.pk}/").status_code == 404


def test_edit_with_bad_input_gives_field_errors_and_changes_nothing(seller, seller_client):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT, price_cents=2500)

    response = seller_client.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"price_cents": "abc"})
    negative = seller_client.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"price_cents": -1})

    assert response.status_code == 400
    assert "price_cents" in response.json()
    assert negative.status_code == 400
    assert "price_cents" in negative.json()
    listing.refresh_from_db()
    assert listing.price_cents == 2500


def test_seller_submits_withdraws_archives_and_restores(seller, seller_client):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)
    url = f"{SELLER_LISTINGS}{listing.pk}/"

    assert seller_client.post(f"{url}submit/").json()["status"] == "pending_review"
    assert seller_client.post(f"{url}withdraw/").json()["status"] == "draft"
    assert seller_client.post(f"{url}archive/").json()["status"] == "archived"
    assert seller_client.post(f"{url}restore/").json()["status"] == "draft"
    listing.refresh_from_db()
    assert listing.status == ListingStatus.DRAFT


@pytest.mark.parametrize(
    ("status", "move"),
    [
        (ListingStatus.ARCHIVED, "submit"),
        (ListingStatus.APPROVED, "withdraw"),
        (ListingStatus.DRAFT, "restore"),
    ],
)
def test_illegal_transition_is_a_409(seller, seller_client, status, move):
    listing = ListingFactory(store=seller.store, status=status)

    response = seller_client.post(f"{SELLER_LISTINGS}{listing.pk}/{move}/")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["detail"]
    listing.refresh_from_db()
    assert listing.status == status


def test_editing_an_archived_listing_is_a_409(seller, seller_client):
    listing = ListingFactory(store=seller.store, status=ListingStatus.ARCHIVED)

    response = seller_client.patch(f"{SELLER_LISTINGS}{listing.pk}/", {"title": "Back"})

    assert response.status_code == 409
    listing.refresh_from_db()
    assert listing.title != "Back"


def test_delete_is_not_offered(seller, seller_client):
    listing = ListingFactory(store=seller.store)

    response = seller_client.delete(f"{SELLER_LISTINGS}{listing.pk}/")

    assert response.status_code == 405
    assert Listing.objects.filter(pk=listing.pk).exists()


def test_a_seller_cannot_see_or_touch_another_sellers_listing(seller_client):
    theirs = ListingFactory(status=ListingStatus.DRAFT, title="Theirs")
    url = f"{SELLER_LISTINGS}{theirs.pk}/"

    assert seller_client.get(url).status_code == 404
    assert seller_client.patch(url, {"title": "Mine now"}).status_code == 404
    assert seller_client.post(f"{url}submit/").status_code == 404
    assert seller_client.post(f"{url}archive/").status_code == 404
    assert seller_client.post(f"{url}images/", {"image": png_upload()}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Theirs"
    assert theirs.status == ListingStatus.DRAFT
    assert not theirs.images.exists()


def test_a_non_seller_is_told_to_become_a_seller():
    client = client_for(UserFactory())

    response = client.get(SELLER_LISTINGS)
    create = client.post(SELLER_LISTINGS, new_listing_body(), format="json")

    assert response.status_code == 403
    assert "/api/v1/me/seller-profile/" in response.json()["detail"]
    assert create.status_code == 403
    assert not Listing.objects.exists()


def test_anonymous_seller_endpoints_are_401(api_client):
    assert api_client.get(SELLER_LISTINGS).status_code == 401
    assert api_client.post(SELLER_LISTINGS, new_listing_body()).status_code == 401


def test_seller_uploads_and_removes_an_image(seller, seller_client):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)
    url = f"{SELLER_LISTINGS}{listing.pk}/images/"

    upload = seller_client.post(url, {"image": png_upload(), "alt_text": "Side view"})

    assert upload.status_code == 201, upload.json()
    image = ListingImage.objects.get(listing=listing)
    assert upload.json()["id"] == image.pk
    assert upload.json()["alt_text"] == "Side view"
    assert upload.json()["url"].startswith("http://testserver/media/listing-images/")
    detail = seller_client.get(f"{SELLER_LISTINGS}{listing.pk}/").json()
    assert [row["id"] for row in detail["images"]] == [image.pk]

    removed = seller_client.delete(f"{url}{image.pk}/")

    assert removed.status_code == 204
    assert not ListingImage.objects.filter(pk=image.pk).exists()


def test_upload_that_is_not_an_image_is_a_400(seller, seller_client):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)
    text = SimpleUploadedFile("notes.png", b"not an image at all", content_type="image/png")

    response = seller_client.post(f"{SELLER_LISTINGS}{listing.pk}/images/", {"image": text})

    assert response.status_code == 400
    assert "image" in response.json()
    assert not listing.images.exists()


def test_image_limit_is_a_field_error(seller, seller_client, settings):
    settings.BAZAAR_MAX_LISTING_IMAGES = 1
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)
    ListingImageFactory(listing=listing)

    response = seller_client.post(f"{SELLER_LISTINGS}{listing.pk}/images/", {"image": png_upload()})

    assert response.status_code == 400
    assert "image" in response.json()
    assert listing.images.count() == 1


def test_cannot_remove_an_image_through_another_listing(seller, seller_client):
    mine = ListingFactory(store=seller.store)
    theirs_image = ListingImageFactory()

    response = seller_client.delete(f"{SELLER_LISTINGS}{mine.pk}/images/{theirs_image.pk}/")

    assert response.status_code == 404
    assert ListingImage.objects.filter(pk=theirs_image.pk).exists()
