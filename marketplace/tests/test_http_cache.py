"""Anonymous catalogue responses served from the cache (core/http_cache.py): no query on a hit,
304 on a matching ETag, stale as soon as the catalogue changes, and never for anyone signed in."""

import re
import time

import pytest
from django.conf import settings
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.handlers.base import BaseHandler
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.testing import api_client_for
from core import http_cache
from favourites.factories import ListingFavouriteFactory
from marketplace import services
from marketplace.factories import CategoryFactory, ListingFactory, ListingImageFactory
from marketplace.models import ListingStatus

pytestmark = pytest.mark.django_db

LISTINGS_API = "/api/v1/listings/"


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.BAZAAR_HTTP_CACHE_SECONDS = 60


@pytest.fixture
def listing():
    return ListingFactory(title="Walnut bowl", price_cents=4500, currency="usd", stock=5)


def _html(response):
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        lambda listing: reverse("home"),
        lambda listing: reverse("listing-list") + "?sort=price_asc&q=walnut",
        lambda listing: reverse("category", kwargs={"slug": listing.category.slug}),
        lambda listing: reverse("store", kwargs={"slug": listing.store.slug}),
        lambda listing: reverse("store-products", kwargs={"slug": listing.store.slug}),
        lambda listing: reverse("store-about", kwargs={"slug": listing.store.slug}),
        lambda listing: reverse("store-contact", kwargs={"slug": listing.store.slug}),
        lambda listing: LISTINGS_API,
        lambda listing: f"{LISTINGS_API}{listing.pk}/",
        lambda listing: "/api/v1/stores/",
        lambda listing: "/api/v1/categories/",
    ],
)
def test_a_second_anonymous_request_is_served_without_a_query(
    client, listing, django_assert_num_queries, path
):
    path = path(listing)
    first = client.get(path)
    assert first.status_code == 200

    with django_assert_num_queries(0):
        again = client.get(path)

    assert again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]
    assert "public" in again["Cache-Control"] and "max-age=60" in again["Cache-Control"]
    assert "Cookie" in again["Vary"]
    # Nothing of one visitor's session rides along: no cookie, no CSRF token in the page.
    assert not first.cookies and not again.cookies
    assert b"csrfmiddlewaretoken" not in first.content


def test_an_entry_answers_past_the_max_age_while_the_catalogue_is_unchanged(
    client, listing, django_assert_num_queries, settings
):
    # Clients revalidate after a second; the entry itself holds until the version changes.
    settings.BAZAAR_HTTP_CACHE_SECONDS = 1
    settings.BAZAAR_HTTP_CACHE_VERSION_SECONDS = 600
    first = client.get(LISTINGS_API, {"q": "walnut"})
    time.sleep(1.5)

    with django_assert_num_queries(0):
        again = client.get(LISTINGS_API, {"q": "walnut"})

    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert "max-age=1" in again["Cache-Control"]


def test_the_same_query_in_another_order_is_the_same_entry(
    client, listing, django_assert_num_queries
):
    client.get(reverse("listing-list"), {"q": "walnut", "sort": "price_asc"})

    with django_assert_num_queries(0):
        response = client.get(reverse("listing-list") + "?sort=price_asc&q=walnut")

    assert "Walnut bowl" in _html(response)


def test_if_none_match_is_a_304_without_a_query(client, listing, django_assert_num_queries):
    etag = client.get(reverse("listing-list"))["ETag"]

    with django_assert_num_queries(0):
        response = client.get(reverse("listing-list"), headers={"if-none-match": etag})

    assert response.status_code == 304
    assert response["ETag"] == etag
    assert not response.content


def test_the_api_varies_on_accept(api_client, listing):
    json = api_client.get(LISTINGS_API, headers={"accept": "application/json"})
    assert json["Content-Type"].startswith("application/json")
    assert "Accept" in json["Vary"]

    browsable = api_client.get(LISTINGS_API, headers={"accept": "text/html"})

    assert browsable["Content-Type"].startswith("text/html")  # not the cached JSON


def _changes(django_capture_on_commit_callbacks, change):
    with django_capture_on_commit_callbacks(execute=True):
        change()


def test_a_price_change_is_shown_at_once_and_the_old_etag_no_longer_matches(
    client, api_client, listing, django_capture_on_commit_callbacks
):
    page = client.get(reverse("listing-list"))
    api_before = api_client.get(LISTINGS_API).json()
    assert "45.00" in _html(page)

    _changes(
        django_capture_on_commit_callbacks,
        lambda: services.listing_update(
            listing=listing, actor=listing.store.owner, price_cents=3900
        ),
    )

    fresh = client.get(reverse("listing-list"), headers={"if-none-match": page["ETag"]})
    assert fresh.status_code == 200
    assert "39.00" in _html(fresh) and "45.00" not in _html(fresh)
    assert fresh["ETag"] != page["ETag"]
    api_after = api_client.get(LISTINGS_API).json()
    assert api_before["results"][0]["price_cents"] == 4500
    assert api_after["results"][0]["price_cents"] == 3900


def test_an_approved_listing_appears_at_once(client, listing, django_capture_on_commit_callbacks):
    pending = ListingFactory(title="Oak spoon", status=ListingStatus.PENDING_REVIEW)
    before = client.get(reverse("listing-list"))
    assert "Oak spoon" not in _html(before) and "ETag" in before

    _changes(
        django_capture_on_commit_callbacks,
        lambda: services.listing_approve(listing=pending, actor=StaffFactory()),
    )

    assert "Oak spoon" in _html(client.get(reverse("listing-list")))


def test_an_archived_listing_leaves_at_once(client, listing, django_capture_on_commit_callbacks):
    before = client.get(reverse("home"))
    assert "Walnut bowl" in _html(before) and "ETag" in before

    _changes(
        django_capture_on_commit_callbacks,
        lambda: services.listing_archive(listing=listing, actor=listing.store.owner),
    )

    assert "Walnut bowl" not in _html(client.get(reverse("home")))


def test_an_image_or_a_store_edit_makes_the_pages_stale(
    client, listing, django_capture_on_commit_callbacks
):
    store_page = reverse("store", kwargs={"slug": listing.store.slug})
    etag = client.get(store_page)["ETag"]

    _changes(django_capture_on_commit_callbacks, lambda: ListingImageFactory(listing=listing))
    after_image = client.get(store_page)
    assert after_image["ETag"] != etag

    _changes(
        django_capture_on_commit_callbacks,
        lambda: services.store_update(
            store=listing.store, actor=listing.store.owner, tagline="Turned by hand in Leeds"
        ),
    )
    assert "Turned by hand in Leeds" in _html(client.get(store_page))


def test_stock_taken_by_an_order_makes_the_api_stale(
    api_client, listing, django_capture_on_commit_callbacks
):
    detail = f"{LISTINGS_API}{listing.pk}/"
    before = api_client.get(detail)
    assert before.json()["stock"] == 5 and "ETag" in before

    # An order reserves stock with an UPDATE, which sends no post_save.
    _changes(
        django_capture_on_commit_callbacks,
        lambda: services.listing_stock_reserve(listing=listing, quantity=2),
    )

    assert api_client.get(detail).json()["stock"] == 3


def test_nothing_is_bumped_before_the_commit(client, listing):
    etag = client.get(reverse("listing-list"))["ETag"]

    # Inside the test's transaction the on-commit bump has not run: a request now could still
    # read the old rows, and must not cache them under a new version.
    services.listing_update(listing=listing, actor=listing.store.owner, price_cents=3900)

    assert client.get(reverse("listing-list"))["ETag"] == etag


# --- Signed in: never from the cache ------------------------------------------------------------


def test_a_signed_in_buyer_never_gets_the_anonymous_page(client, listing):
    buyer = UserFactory()
    ListingFavouriteFactory(user=buyer, listing=listing)
    anonymous = _html(client.get(reverse("listing-list")))
    assert "Walnut bowl" in anonymous and "is-saved" not in anonymous

    client.force_login(buyer)
    signed_in = client.get(reverse("listing-list"))

    assert "is-saved" in _html(signed_in)  # their own favourite, not the cached page
    assert "no-store" in signed_in["Cache-Control"] and "private" in signed_in["Cache-Control"]
    assert "public" not in signed_in["Cache-Control"]
    assert "ETag" not in signed_in


def test_a_signed_in_page_is_never_served_to_anyone_else(client, listing):
    buyer = UserFactory()
    ListingFavouriteFactory(user=buyer, listing=listing)
    client.force_login(buyer)
    assert "is-saved" in _html(client.get(reverse("listing-list")))

    client.logout()
    other = UserFactory()
    anonymous = _html(client.get(reverse("listing-list")))
    client.force_login(other)
    someone_else = _html(client.get(reverse("listing-list")))

    assert "is-saved" not in anonymous and "is-saved" not in someone_else
    assert buyer.email not in anonymous


def test_an_api_token_is_never_answered_from_the_cache(api_client, listing):
    buyer = UserFactory()
    ListingFavouriteFactory(user=buyer, listing=listing)
    anonymous = api_client.get(LISTINGS_API)
    assert anonymous.json()["results"][0]["is_favourite"] is False

    signed_in = api_client_for(buyer).get(LISTINGS_API)

    assert signed_in.json()["results"][0]["is_favourite"] is True
    assert "no-store" in signed_in["Cache-Control"]
    # A bad token is still refused, not answered with the cached list.
    stranger = api_client_for(UserFactory())
    stranger.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert stranger.get(LISTINGS_API).status_code == 401


def test_the_sellers_own_listings_are_never_cached(listing):
    seller = SellerFactory()
    draft = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)
    client = api_client_for(seller)

    response = client.get("/api/v1/seller/listings/")

    assert [row["id"] for row in response.json()["results"]] == [draft.pk]
    assert "ETag" not in response


def test_a_page_with_a_message_waiting_is_not_served_from_the_cache(client, listing):
    cached = client.get(reverse("listing-list"))
    assert "ETag" in cached
    storage = CookieStorage(HttpRequest())
    carrier = HttpResponse()
    storage._store([Message(constants.SUCCESS, "Your listing was saved.")], carrier)
    client.cookies["messages"] = carrier.cookies["messages"].value

    with_message = client.get(reverse("listing-list"))

    assert "Your listing was saved." in _html(with_message)
    assert "no-store" in with_message["Cache-Control"] and "ETag" not in with_message
    assert "Your listing was saved." not in _html(client.get(reverse("listing-list")))


def test_errors_are_not_cached(client):
    missing = reverse("store", kwargs={"slug": "no-such-store"})
    assert client.get(missing).status_code == 404
    assert "ETag" not in client.get(missing)


def test_turned_off_every_request_renders(client, listing, settings):
    settings.BAZAAR_HTTP_CACHE_SECONDS = 0
    client.get(reverse("listing-list"))

    response = client.get(reverse("listing-list"))

    assert "ETag" not in response and "public" not in response.get("Cache-Control", "")


def test_facet_counts_are_counted_once_per_catalogue_version(
    client, listing, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    first = client.get("/api/v1/listings/facets/", {"_": "1"}).json()
    assert [c["count"] for c in first["kinds"]] == [1]

    # A URL the response cache has never seen (another parameter, another order) still takes its
    # counts from the facet cache: only the clock is read (a sandbox row in tests).
    with django_assert_max_num_queries(1):
        again = client.get("/api/v1/listings/facets/", {"_": "2", "sort": "title"}).json()
    assert again == first

    _changes(
        django_capture_on_commit_callbacks,
        lambda: ListingFactory(store=listing.store, title="Oak spoon"),
    )

    assert client.get("/api/v1/listings/facets/", {"_": "3"}).json()["kinds"][0]["count"] == 2
    kinds = client.get("/api/v1/listings/facets/", {"_": "4", "q": "spoon"}).json()["kinds"]
    assert kinds[0]["count"] == 1


def test_home_category_counts_are_counted_once_per_catalogue_version(
    client, listing, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    pill = '<span class="category-pill__count">{}</span>'
    assert pill.format(1) in _html(client.get(reverse("home"), {"_": "1"}))

    # A home URL the response cache has never seen reads the newest listings, their images, the
    # clock and their ratings, but not the categories' counts (every approved listing read, for
    # each visitor).
    with django_assert_max_num_queries(4):
        assert pill.format(1) in _html(client.get(reverse("home"), {"_": "2"}))

    _changes(
        django_capture_on_commit_callbacks,
        lambda: ListingFactory(store=listing.store, category=listing.category, title="Oak spoon"),
    )

    assert pill.format(2) in _html(client.get(reverse("home"), {"_": "3"}))


def test_the_category_picker_is_read_once_per_catalogue_version(
    client, listing, django_capture_on_commit_callbacks
):
    def picker(number):
        with CaptureQueriesContext(connection) as captured:
            html = _html(client.get(reverse("listing-list"), {"_": str(number)}))
        asked = [q["sql"] for q in captured if q["sql"].startswith('SELECT "marketplace_category"')]
        return re.findall(
            r'<option value="([^"]*)"', html.split('name="category"')[1].split("</select>")[0]
        ), asked

    slug = listing.category.slug
    assert picker(1)[0] == ["", slug]

    # A browse URL the response cache has never seen takes the picker's options from the cache:
    # no query for the categories (the listings' query joins them, for the cards).
    options, asked = picker(2)
    assert options == ["", slug] and asked == []

    _changes(
        django_capture_on_commit_callbacks, lambda: CategoryFactory(slug="zz-new", position=99)
    )

    assert picker(3)[0] == ["", slug, "zz-new"]


# --- Answered in front of the middleware (core.http_cache.FrontCacheMiddleware) -----------------

FRONT_PATHS = [
    lambda listing: reverse("home"),
    lambda listing: reverse("listing-list") + "?q=walnut",
    lambda listing: LISTINGS_API + "?q=walnut",
    lambda listing: f"{LISTINGS_API}{listing.pk}/",
]


@pytest.fixture(autouse=True)
def _front_paths_unseen(monkeypatch):
    # Which paths the front looks up is learned per process: each test starts from none.
    monkeypatch.setattr(http_cache, "_front_paths", {})


def _twice(client, path, **kwargs):
    """The first answer for a path teaches the front to look it up; the second is stored."""
    client.get(path, **kwargs)
    return client.get(path, **kwargs)


@pytest.fixture
def nothing_resolved(monkeypatch):
    """Makes resolving a URL fail the request: what the front answers never reaches the view."""

    def resolve_request(self, request):
        raise AssertionError(f"{request.path} went through the middleware to its view")

    monkeypatch.setattr(BaseHandler, "resolve_request", resolve_request)


@pytest.mark.parametrize("path", FRONT_PATHS)
def test_a_hit_is_answered_before_the_middleware_with_every_header_of_the_first(
    client, listing, path, request
):
    path = path(listing)
    first = _twice(client, path)
    assert first.status_code == 200

    request.getfixturevalue("nothing_resolved")
    again = client.get(path)

    assert again.status_code == 200 and again.content == first.content
    per_request = {"X-Request-ID", "Date"}
    assert {k: v for k, v in again.items() if k not in per_request} == {
        k: v for k, v in first.items() if k not in per_request
    }
    assert again["X-Request-ID"] != first["X-Request-ID"]
    for header in ("Content-Security-Policy", "X-Frame-Options", "Content-Language", "ETag"):
        assert again[header]


def test_if_none_match_is_a_304_in_front(client, listing, nothing_resolved_after_first):
    etag = nothing_resolved_after_first(client, reverse("listing-list"))["ETag"]

    response = client.get(reverse("listing-list"), headers={"if-none-match": etag})

    assert response.status_code == 304 and not response.content
    assert response["ETag"] == etag
    assert "public" in response["Cache-Control"] and "Cookie" in response["Vary"]


@pytest.fixture
def nothing_resolved_after_first(monkeypatch):
    """Gets the path once, then makes resolving any URL fail the request."""

    def first(client, path):
        response = _twice(client, path)
        assert response.status_code == 200
        monkeypatch.setattr(
            BaseHandler,
            "resolve_request",
            lambda self, request: pytest.fail(f"{request.path} reached its view"),
        )
        return response

    return first


@pytest.fixture
def resolved(monkeypatch):
    """The paths resolved, that is the requests that went through the middleware to a view."""
    paths = []
    original = BaseHandler.resolve_request

    def resolve_request(self, request):
        paths.append(request.path)
        return original(self, request)

    monkeypatch.setattr(BaseHandler, "resolve_request", resolve_request)
    return paths


def test_a_visitor_with_a_session_cookie_goes_through_the_middleware(client, listing, resolved):
    path = reverse("listing-list")
    _twice(client, path)
    client.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session"

    response = client.get(path)

    assert response.status_code == 200 and "Walnut bowl" in _html(response)
    assert resolved == [path, path, path]


@pytest.mark.parametrize("headers", [{"accept": "text/html"}, {"authorization": "Token x"}])
def test_the_front_answers_only_the_same_request(api_client, listing, resolved, headers):
    _twice(api_client, LISTINGS_API)

    api_client.get(LISTINGS_API, headers=headers)

    assert resolved == [LISTINGS_API] * 3


def test_a_host_not_allowed_is_a_400_not_an_error(client):
    response = client.get(reverse("listing-list"), headers={"host": "evil.example"})

    assert response.status_code == 400


def test_a_query_spelt_to_collide_with_another_is_another_entry(client, listing, resolved):
    # One parameter named "q=walnut&sort" must not be taken for q=walnut and sort=newest.
    ListingFactory(title="Steel kettle")
    poisoned = reverse("listing-list") + "?q%3Dwalnut%26sort=newest"
    _twice(client, poisoned)
    _twice(client, poisoned)

    page = _html(client.get(reverse("listing-list") + "?q=walnut&sort=newest"))

    assert "Walnut bowl" in page and "Steel kettle" not in page


def test_a_weak_or_wildcard_if_none_match_is_a_304(client, listing):
    etag = _twice(client, reverse("listing-list"))["ETag"]

    for sent in (f"W/{etag}", "*"):
        response = client.get(reverse("listing-list"), headers={"if-none-match": sent})
        assert response.status_code == 304, sent


def test_pages_never_cached_are_not_looked_up(client, listing, monkeypatch):
    looked_up = []
    monkeypatch.setattr(http_cache, "_front_lookup", lambda key: looked_up.append(key))

    for _ in range(3):
        assert client.get(reverse("login")).status_code == 200
        assert client.get("/health/").status_code in (200, 503)

    assert looked_up == []


def test_an_unreachable_cache_never_fails_a_page_that_does_not_need_it(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "core.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    http_cache._front_paths[reverse("login")] = None

    response = client.get(reverse("login"))

    assert response.status_code == 200


def test_a_wildcard_if_none_match_never_turns_a_missing_page_into_a_304(client, api_client):
    for path in ("/api/v1/listings/999999/", reverse("store", kwargs={"slug": "no-such-store"})):
        response = client.get(path, headers={"if-none-match": "*"})
        assert response.status_code == 404, path


def test_the_paths_learnt_are_bounded_in_number_and_length(monkeypatch):
    monkeypatch.setattr(http_cache, "_FRONT_PATHS_MAX", 3)
    for n in range(5):
        http_cache._front_path_seen(f"/api/v1/listings/{n}/")
    http_cache._front_path_seen("/api/v1/listings/" + "0" * 500 + "1/")

    # The first learnt went first; the overlong path was never kept.
    assert list(http_cache._front_paths) == [f"/api/v1/listings/{n}/" for n in (2, 3, 4)]
