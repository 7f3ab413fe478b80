"""Paging of the browse pages (/listings/, category pages, a store's products): Previous and
Next by keyset cursor, a count that stops at BAZAAR_BROWSE_COUNT_CAP, the same queries deep in
the list as on its first page."""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.factories import SellerFactory
from marketplace.factories import CategoryFactory, ListingFactory

pytestmark = pytest.mark.django_db


def _html(response):
    assert response.status_code == 200
    return response.content.decode()


def _link(page, rel):
    match = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return html.unescape(match.group(1)) if match else None


def _titles(page):
    return re.findall(r"class=\"listing-card__title\">([^<]+)<", page)


def _walk(client, path, params):
    pages = [_html(client.get(path, params))]
    while next_url := _link(pages[-1], "next"):
        pages.append(_html(client.get(path + next_url)))
    return pages


def test_browse_walks_every_listing_once_keeping_filters_and_back(client, settings):
    settings.BAZAAR_PAGE_SIZE = 2
    for n in range(5):
        ListingFactory(title=f"Lamp {n}", price_cents=1000)  # one price: the id breaks ties
    ListingFactory(title="Chair")
    path = reverse("listing-list")

    pages = _walk(client, path, {"q": "lamp", "sort": "price_asc"})

    seen = [title for page in pages for title in _titles(page)]
    assert sorted(seen) == [f"Lamp {n}" for n in range(5)]
    assert len(pages) == 3
    assert _link(pages[0], "prev") is None
    next_url = _link(pages[0], "next")
    assert "q=lamp" in next_url and "sort=price_asc" in next_url and "cursor=" in next_url
    # Back from the last page to the first.
    back = _html(client.get(path + _link(pages[-1], "prev")))
    assert _titles(back) == _titles(pages[1])
    first = _html(client.get(path + _link(back, "prev")))
    assert _titles(first) == _titles(pages[0])


def test_a_mangled_cursor_or_old_page_number_shows_the_first_page(client, settings):
    settings.BAZAAR_PAGE_SIZE = 2
    for n in range(3):
        ListingFactory(title=f"Vase {n}")
    first = _html(client.get(reverse("listing-list")))

    for params in ({"cursor": "not-ours"}, {"page": "99"}, {"cursor": "x", "sort": "title"}):
        page = _html(client.get(reverse("listing-list"), {**params}))
        if "sort" not in params:
            assert _titles(page) == _titles(first)
        assert _link(page, "next") is not None


def test_the_count_stops_at_the_cap_with_a_bounded_query(client, settings):
    settings.BAZAAR_BROWSE_COUNT_CAP = 3
    ListingFactory.create_batch(5)

    with CaptureQueriesContext(connection) as captured:
        page = _html(client.get(reverse("listing-list")))

    assert "3+ listings" in page
    counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(")]
    assert len(counts) == 1
    assert "LIMIT 4" in counts[0]  # cap + 1 rows at most, never every matching row


def test_below_the_cap_the_count_is_exact(client, settings):
    settings.BAZAAR_BROWSE_COUNT_CAP = 3
    ListingFactory.create_batch(2)
    ListingFactory(title="Qwzxy", price_cents=1)  # a word no generated text has

    assert "3 listings" in _html(client.get(reverse("listing-list")))
    assert "1 listing<" in _html(client.get(reverse("listing-list"), {"q": "Qwzxy"})).replace(
        "\n", ""
    ).replace("    ", "")


def test_a_deep_page_runs_the_queries_of_the_first_and_no_offset(client, settings):
    settings.BAZAAR_PAGE_SIZE = 3
    ListingFactory.create_batch(30)
    path = reverse("listing-list")

    with CaptureQueriesContext(connection) as first_queries:
        page = _html(client.get(path, {"sort": "title"}))
    for _ in range(6):
        page = _html(client.get(path + _link(page, "next")))
    with CaptureQueriesContext(connection) as deep_queries:
        deep = _html(client.get(path + _link(page, "next")))

    assert len(_titles(deep)) == 3
    assert len(deep_queries) == len(first_queries)
    assert not any(" OFFSET " in q["sql"] for q in deep_queries.captured_queries)


def test_category_and_store_pages_page_by_cursor(client, settings):
    settings.BAZAAR_PAGE_SIZE = 2
    category = CategoryFactory()
    store = SellerFactory().store
    for n in range(5):
        ListingFactory(title=f"Bowl {n}", category=category, store=store)
    ListingFactory(title="Elsewhere")

    for path in (
        reverse("category", kwargs={"slug": category.slug}),
        reverse("store-products", kwargs={"slug": store.slug}),
    ):
        pages = _walk(client, path, {})
        seen = [title for page in pages for title in _titles(page)]
        assert sorted(seen) == [f"Bowl {n}" for n in range(5)], path
