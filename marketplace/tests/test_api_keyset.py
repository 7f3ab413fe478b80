"""Keyset (cursor) pagination of the catalogue's API lists (core/pagination.py): every row once
in every sort, ties included, forwards and back; cursors that are not ours are a 400; a deep
page costs the queries page 1 costs."""

from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection
from django.db.models import ExpressionWrapper, FloatField
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.factories import SellerFactory
from accounts.testing import api_client_for
from core.pagination import keyset_page
from marketplace.factories import ListingFactory, ListingImageFactory
from marketplace.filters import SORTS
from marketplace.models import Listing

pytestmark = pytest.mark.django_db

LISTINGS = "/api/v1/listings/"


@pytest.fixture
def tied_catalogue():
    """17 listings whose prices, titles and creation times repeat, so every sort has ties that
    only the id breaks."""
    store = SellerFactory().store
    moments = [timezone.now() - timedelta(days=n) for n in range(3)]
    woods = ["amber", "birch", "cedar", "dune", "ember"]
    for n in range(17):
        listing = ListingFactory(
            store=store, price_cents=500 + 100 * (n % 4), title=f"Lamp {woods[n % 5]}"
        )
        Listing.objects.filter(pk=listing.pk).update(created_at=moments[n % 3])
    return list(Listing.objects.values_list("pk", flat=True))


def _walk(client, url, params=None, direction="next"):
    pages = []
    body = client.get(url, params).json()
    pages.append(body)
    while body[direction]:
        response = client.get(body[direction])
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(body)
    return pages


def _ids(pages):
    return [row["id"] for page in pages for row in page["results"]]


# Relevance orders by a search's rank: without a search it falls back to newest, and with one
# it is walked in test_an_order_by_an_annotation_pages_too.
PLAIN_SORTS = {"relevance": SORTS["newest"]} | {k: v for k, v in SORTS.items() if k != "relevance"}


@pytest.mark.parametrize("sort", sorted(PLAIN_SORTS))
def test_every_sort_shows_every_listing_once_in_its_order_and_back(
    api_client, tied_catalogue, sort
):
    expected = list(
        Listing.objects.approved().order_by(*PLAIN_SORTS[sort]).values_list("pk", flat=True)
    )

    forwards = _walk(api_client, LISTINGS, {"sort": sort, "page_size": 4})

    assert _ids(forwards) == expected
    assert len(forwards) == 5 and [len(p["results"]) for p in forwards] == [4, 4, 4, 4, 1]
    assert forwards[0]["previous"] is None and forwards[-1]["next"] is None

    # From the last page back to the first, through the `previous` links.
    backwards = [forwards[-1]]
    while backwards[-1]["previous"]:
        backwards.append(api_client.get(backwards[-1]["previous"]).json())
    assert [p["results"] for p in reversed(backwards)] == [p["results"] for p in forwards]
    assert backwards[-1]["previous"] is None
    assert backwards[-1]["next"] is not None


def test_the_default_order_is_newest_first_without_a_sort(api_client, tied_catalogue):
    expected = list(Listing.objects.order_by("-created_at", "-id").values_list("pk", flat=True))

    assert _ids(_walk(api_client, LISTINGS, {"page_size": 5})) == expected


def test_filters_stay_with_the_cursor(api_client, tied_catalogue):
    pages = _walk(api_client, LISTINGS, {"q": "Lamp cedar", "sort": "price_asc", "page_size": 2})

    assert _ids(pages) == list(
        Listing.objects.filter(title="Lamp cedar")
        .order_by("price_cents", "id")
        .values_list("pk", flat=True)
    )
    assert all("q=Lamp" in page["next"] for page in pages[:-1])


def test_a_new_listing_does_not_shift_the_next_page(api_client, tied_catalogue):
    first = api_client.get(LISTINGS, {"page_size": 5}).json()
    ListingFactory()  # newest: it would push every offset page one row along

    second = api_client.get(first["next"]).json()

    expected = list(Listing.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert [row["id"] for row in second["results"]] == expected[6:11]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        signing.dumps({"o": "-created_at,-pk", "v": ["x", 1], "b": False}, salt="other"),
        # Signed with the right salt but a value that is no date: still a 400, not a 500.
        signing.dumps(
            {"o": "-created_at,-pk", "v": ["not a date", 1], "b": False},
            salt="core.pagination.cursor",
            compress=True,
        ),
        signing.dumps(
            {"o": "-created_at,-pk", "v": [None, 1], "b": False},
            salt="core.pagination.cursor",
            compress=True,
        ),
        signing.dumps([1, 2], salt="core.pagination.cursor", compress=True),
    ],
    # Signed values carry a timestamp: named ids keep every xdist worker collecting the same tests.
    ids=["garbage", "empty", "other-salt", "not-a-date", "null-value", "not-a-dict"],
)
def test_a_bad_cursor_is_a_400_naming_it(api_client, tied_catalogue, cursor):
    response = api_client.get(LISTINGS, {"cursor": cursor})

    if cursor == "":
        assert response.status_code == 200  # an empty cursor is the first page
        return
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_a_tampered_cursor_is_a_400(api_client, tied_catalogue):
    cursor = api_client.get(LISTINGS, {"page_size": 3}).json()["next"].split("cursor=")[1]
    cursor = cursor.split("&")[0]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")

    response = api_client.get(LISTINGS, {"cursor": tampered})

    assert response.status_code == 400
    assert "cursor" in response.json()


def test_a_cursor_of_another_sort_is_a_400(api_client, tied_catalogue):
    newest = api_client.get(LISTINGS, {"page_size": 3}).json()["next"]

    response = api_client.get(newest + "&sort=price_asc")

    assert response.status_code == 400
    assert "another sort order" in response.json()["cursor"][0]


def test_a_page_number_is_a_400_pointing_to_the_cursor(api_client, tied_catalogue):
    response = api_client.get(LISTINGS, {"page": 2})

    assert response.status_code == 400
    assert "cursor" in response.json()["page"][0]


@pytest.mark.parametrize("page_size", ["0", "-3", "many"])
def test_a_bad_page_size_is_a_400(api_client, page_size):
    response = api_client.get(LISTINGS, {"page_size": page_size})

    assert response.status_code == 400
    assert "page_size" in response.json()


def _queries(client, url, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return response.json(), [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("sort", ["newest", "price_asc", "title"])
def test_a_deep_page_runs_the_queries_page_one_runs_and_no_offset_or_count(api_client, sort):
    store = SellerFactory().store
    for listing in ListingFactory.create_batch(60, store=store):
        ListingImageFactory(listing=listing)

    first, first_sql = _queries(api_client, LISTINGS, {"sort": sort, "page_size": 5})
    body = first
    for _ in range(8):
        body = api_client.get(body["next"]).json()
    deep, deep_sql = _queries(api_client, body["next"])

    assert len(deep["results"]) == 5
    assert len(first_sql) == len(deep_sql) <= 4
    for sql in first_sql + deep_sql:
        assert " OFFSET " not in sql.upper()
        # The ratings count reviews; nothing counts the listings.
        assert not sql.upper().startswith("SELECT COUNT(")


def test_the_sellers_own_listings_are_paged_by_cursor_too():
    seller = SellerFactory()
    ListingFactory.create_batch(7, store=seller.store)
    client = api_client_for(seller)

    pages = _walk(client, "/api/v1/seller/listings/", {"page_size": 3})

    assert sorted(_ids(pages)) == sorted(Listing.objects.values_list("pk", flat=True))
    assert len(_ids(pages)) == 7


def test_stores_are_paged_by_cursor(api_client):
    for _ in range(5):
        SellerFactory()
    stores = _walk(api_client, "/api/v1/stores/", {"page_size": 2})

    names = [row["name"] for page in stores for row in page["results"]]
    assert names == sorted(names) and len(names) == len(set(names)) >= 5


def test_an_order_by_an_annotation_pages_too(tied_catalogue):
    # The search's relevance sort orders by an annotation ("-rank", "-id"): the cursor carries
    # the annotation's value and the WHERE compares it like a column.
    queryset = Listing.objects.annotate(
        rank=ExpressionWrapper(Cast("price_cents", FloatField()) / 3.0, output_field=FloatField())
    ).order_by("-rank", "-id")
    expected = list(queryset.values_list("pk", flat=True))

    seen, cursor = [], None
    for _ in range(10):
        page = keyset_page(queryset, cursor=cursor, page_size=4)
        seen += [row.pk for row in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    assert seen == expected
    back = keyset_page(queryset, cursor=page.previous_cursor, page_size=4)
    assert [row.pk for row in back.rows] == expected[-5:-1]


def _plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans")
@pytest.mark.parametrize("sort", ["newest", "oldest", "price_asc", "price_desc", "title"])
def test_a_deep_page_is_read_from_its_cursor_not_through_the_rows_before_it(api_client, sort):
    store = SellerFactory().store
    for n in range(90):
        ListingFactory(store=store, price_cents=1000 + 7 * n, title=f"Lamp {n:03d}")
    body = api_client.get(LISTINGS, {"sort": sort, "page_size": 5}).json()
    for _ in range(12):
        body = api_client.get(body["next"]).json()
    _, queries = _queries(api_client, body["next"])
    rows_sql = queries[0]
    assert '"marketplace_listing"' in rows_sql.split(" FROM ")[1][:40]

    with connection.cursor() as cursor:
        # A table this small would be read whole: ask for the plan a catalogue's size gets.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {rows_sql}")
        plan = cursor.fetchone()[0][0]["Plan"]

    nodes = list(_plan_nodes(plan))
    listing_scans = [n for n in nodes if n.get("Relation Name") == "marketplace_listing"]
    assert [n["Node Type"] for n in listing_scans] == ["Index Scan"]
    # It starts at the cursor: of the 65 rows up to it, only the cursor's own row (the bound's
    # value) is read and dropped; nothing is sorted.
    assert listing_scans[0].get("Rows Removed by Filter", 0) <= 1
    assert not any("Sort" in n["Node Type"] for n in nodes)
