"""bench/browse's pieces that can break without anyone running the bench: the catalogue it
generates (through the same loader, COPY on PostgreSQL, on a tiny N) and its settings' bare view
and query-count header. Nothing here is timed; the bench itself prints figures."""

import importlib

from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from bench.browse_data import STORES, populate
from marketplace.models import Listing, ListingStatus, SearchTerm, Store


def _listing_indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [Listing._meta.db_table],
        )
        return sorted(cursor.fetchall())


def test_generated_catalogue_is_approved_varied_and_valid(db, api_client):
    indexes = _listing_indexes() if connection.vendor == "postgresql" else None
    populate(listings=50)

    listings = list(Listing.objects.select_related("store"))
    assert len(listings) == 50
    assert {listing.status for listing in listings} == {ListingStatus.APPROVED}
    assert len({listing.title for listing in listings}) >= 45
    assert len({listing.price_cents for listing in listings}) >= 45
    assert len({listing.created_at for listing in listings}) == 50
    assert len({listing.store_id for listing in listings}) >= 10
    for listing in listings:
        # The loader writes rows past the ORM: they must pass the model's own validation.
        listing.full_clean()

    if connection.vendor == "postgresql":
        # The vocabulary (typo tolerance) is filled after the load: every title's words are in.
        words = {word.lower() for listing in listings for word in listing.title.split()}
        known = set(SearchTerm.objects.filter(word__in=words).values_list("word", flat=True))
        assert {word for word in words if word.isalpha()} <= known
        # The loader drops the listings' indexes for the load: every one is back as it was.
        assert _listing_indexes() == indexes
        assert len(indexes) >= 5

    response = api_client.get("/api/v1/listings/")
    assert response.status_code == 200
    newest = Listing.objects.order_by("-created_at", "-id").first()
    assert response.json()["results"][0]["id"] == newest.pk

    populate(listings=10)  # a second load adds listings to the same stores and categories
    assert Listing.objects.count() == 60
    assert Store.objects.count() == STORES


def test_bench_settings_serve_the_bare_view_and_count_queries(db, api_client):
    bench_settings = importlib.import_module("bench.browse_settings")
    populate(listings=5)
    with override_settings(
        ROOT_URLCONF=bench_settings.ROOT_URLCONF, MIDDLEWARE=bench_settings.MIDDLEWARE
    ):
        bare = api_client.get("/bench/bare/")
        with CaptureQueriesContext(connection) as queries:
            listings = api_client.get("/api/v1/listings/")

    assert bare.status_code == 200
    assert len(bare.json()["results"]) == 20
    assert bare["X-Bench-Queries"] == "0"
    assert listings.status_code == 200
    assert int(listings["X-Bench-Queries"]) == len(queries.captured_queries) > 0
