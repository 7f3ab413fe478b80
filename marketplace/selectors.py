"""Reads of the catalogue that views, the API and other apps need."""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Prefetch, Q, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.shortcuts import get_object_or_404

from core.http_cache import catalogue_version, entry_seconds
from core.money import format_money, from_minor_units, to_minor_units
from marketplace.models import (
    Category,
    Listing,
    ListingImage,
    ListingKind,
    ListingStatus,
    ServiceAvailability,
    Store,
)
from marketplace.ratings import with_listing_ratings, with_store_ratings

# Where the browse page's price facet cuts, in major units of the currency it counts in.
PRICE_BUCKET_BOUNDS = (10, 25, 50, 100)


def _with_related(queryset):
    # Every list renders store, category, the first image and the rating: fetch them in fixed
    # queries (the rating is a subquery of the same one, marketplace/ratings.py). The search
    # vector (a kilobyte or more per listing) is the database's to search, never shown.
    return with_listing_ratings(
        queryset.select_related("store", "category")
        .prefetch_related(
            Prefetch("images", queryset=ListingImage.objects.order_by("position", "id"))
        )
        .defer("search_vector")
    )


def listing_public_queryset():
    """Listings buyers may see: approved ones only."""
    return _with_related(Listing.objects.approved())


# How many of the newest listings per home-page slot the stores take turns among.
HOME_CANDIDATES_PER_SLOT = 50


def listings_newest_by_store(*, limit):
    """The home page's newest listings, taken from the stores in turn: each store's newest first,
    then each store's second newest, and so on (newest first within a round). One busy seller
    cannot fill the page. The turns are taken among the newest HOME_CANDIDATES_PER_SLOT x `limit`
    listings. Two queries (listings with store and category, then images)."""
    newest_in_store = Window(
        RowNumber(),
        partition_by=[F("store_id")],
        order_by=[F("created_at").desc(), F("id").desc()],
    )
    # The stores take turns among the newest few hundred listings, not the whole catalogue:
    # ranking every approved listing by store read all of them (620 ms at 100,000) to show
    # eight, where the newest rows come straight off the (status, created_at) index.
    newest = (
        Listing.objects.approved()
        .order_by("-created_at", "-id")
        .values("pk")[: limit * HOME_CANDIDATES_PER_SLOT]
    )
    return list(
        listing_public_queryset()
        .filter(pk__in=newest)
        .annotate(store_rank=newest_in_store)
        .order_by("store_rank", "-created_at", "-id")[:limit]
    )


def listing_public_get(*, pk):
    return get_object_or_404(listing_public_queryset(), pk=pk)


def listing_visible_get(*, pk, user):
    """A listing page: public when approved; its seller and staff see it in any status."""
    listing = get_object_or_404(_with_related(Listing.objects.all()), pk=pk)
    if listing.status == ListingStatus.APPROVED:
        return listing
    if user.is_authenticated and (user.is_staff or listing.store.owner_id == user.pk):
        return listing
    raise Http404("No such listing.")


def listings_for_seller(*, user):
    """Every listing of the user's store, any status; empty for a non-seller."""
    return _with_related(Listing.objects.filter(store__owner=user)).order_by("-updated_at", "-id")


def listing_for_seller_get(*, user, pk):
    """The seller's own listing, or 404: someone else's listing does not exist for them."""
    return get_object_or_404(listings_for_seller(user=user), pk=pk)


def category_list():
    return Category.objects.annotate(
        listing_count=Count("listings", filter=Q(listings__status=ListingStatus.APPROVED))
    ).order_by("position", "name")


def category_list_counted():
    """category_list() as a list, kept until the catalogue changes (the version every cached page
    follows, core/http_cache.py): counting each category's listings reads every approved listing
    (90 ms at 100,000), and the home page asked it of every visitor the response cache could not
    answer (signed in, or a URL it had not seen)."""
    return _kept_for_this_catalogue("category-counts", lambda: list(category_list()))


def category_choices():
    """(slug, name) of every category, in the pickers' order, kept until the catalogue changes
    (as category_list_counted): the browse form's category picker asked the database for them on
    every page the response cache could not answer."""
    return _kept_for_this_catalogue(
        "category-choices",
        lambda: list(Category.objects.order_by("position", "name").values_list("slug", "name")),
    )


def _kept_for_this_catalogue(name, read):
    """What `read()` returns, kept in the cache under `name` until the catalogue changes (the
    version every cached page follows, core/http_cache.py); read every time when that cache is
    off."""
    ttl = entry_seconds()
    if ttl <= 0:
        return read()
    return cache.get_or_set(f"{name}:{catalogue_version()}", read, ttl)


def store_list():
    """Stores with their number of approved listings and their rating (marketplace/ratings.py)."""
    return with_store_ratings(
        Store.objects.annotate(
            listing_count=Count("listings", filter=Q(listings__status=ListingStatus.APPROVED))
        )
    ).order_by("name")


def store_public_get(*, slug):
    return get_object_or_404(store_list(), slug=slug)


def store_for_owner(*, user):
    return Store.objects.filter(owner=user).first() if user.is_authenticated else None


def availability_for_listing(*, listing_id):
    """A service listing's availability with its windows and exceptions (3 queries), or None
    when the service is ordered without a time."""
    return (
        ServiceAvailability.objects.filter(listing_id=listing_id, listing__kind=ListingKind.SERVICE)
        .prefetch_related("windows", "exceptions")
        .first()
    )


# --- Facets of a browse or search ---------------------------------------------------------------


@dataclass(frozen=True)
class PriceBucket:
    """Listings priced from `min_cents` (included) to `max_cents` (excluded; None: no top).
    `min_price` and `max_price` are the browse filter's values that list exactly them."""

    min_cents: int | None
    max_cents: int | None
    label: str
    count: int
    min_price: str | None
    max_price: str | None


def _price_buckets(currency):
    cuts = [to_minor_units(bound, currency) for bound in PRICE_BUCKET_BOUNDS]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def _price_bucket_label(low, high, currency):
    if low is None:
        return f"Under {format_money(high, currency)}"
    if high is None:
        return f"{format_money(low, currency)} and over"
    return f"{format_money(low, currency)} to {format_money(high, currency)}"


def _major(cents, currency):
    return None if cents is None else str(from_minor_units(cents, currency))


def listing_facets(queryset, *, currency=None, cache_as=None):
    """How many of `queryset`'s listings (a browse or search, filters applied) fall in each
    category, each kind and each price bucket of `currency` (default: the site's): what each
    filter choice would leave. One query, whatever the number of categories or buckets: grouped by
    category, counting kinds and buckets with conditional aggregates in each group.

    Returns {"categories": [{slug, name, count}], "kinds": [{kind, label, count}],
    "price": {"currency", "buckets": [PriceBucket]}}, leaving out what counts nothing.
    """
    currency = currency or settings.BAZAAR_DEFAULT_CURRENCY
    # Grouping and counting need none of the list's ordering, related rows or images.
    rows = queryset.order_by().select_related(None).prefetch_related(None)
    ttl = entry_seconds()
    if cache_as is None or ttl <= 0:
        return _count_facets(rows, currency)
    # `cache_as` names the filters that made `queryset` (filter_values): their counts hold until
    # the catalogue changes (the version every cached page follows, core/http_cache.py), whoever
    # asks. Counting the unfiltered catalogue reads every listing (77 ms at 100,000), and a page
    # the response cache cannot answer (a signed-in visitor, a new query parameter) paid it.
    name = hashlib.sha256(repr((currency, cache_as)).encode()).hexdigest()
    key = f"listing-facets:{catalogue_version()}:{name}"
    return cache.get_or_set(key, lambda: _count_facets(rows, currency), ttl)


def facet_cache_name(filterset, **scope):
    """What identifies a browse's facet counts: the value of each of the filterset's filters
    (whatever else the URL carries; the order does not change a count) and the page's own scope
    (a category page's category)."""
    values = getattr(filterset.form, "cleaned_data", {})
    names = sorted(name for name in filterset.filters if name != "sort")
    return (
        tuple((name, str(values.get(name) or "")) for name in names),
        tuple(sorted(scope.items())),
    )


def _count_facets(rows, currency):
    buckets = _price_buckets(currency)
    counts = {f"kind_{kind}": Count("pk", filter=Q(kind=kind)) for kind in ListingKind.values}
    for index, (low, high) in enumerate(buckets):
        in_bucket = Q(currency=currency)
        if low is not None:
            in_bucket &= Q(price_cents__gte=low)
        if high is not None:
            in_bucket &= Q(price_cents__lt=high)
        counts[f"bucket_{index}"] = Count("pk", filter=in_bucket)
    # One pass over the matches (a broad search's are thousands of rows, each read from the
    # table): per category (listings without one are a group of their own), the category's
    # count and its kinds and buckets, which add up to the kinds' and buckets' totals.
    groups = list(
        rows.values("category__slug", "category__name", "category__position")
        .annotate(count=Count("pk"), **counts)
        .order_by("category__position", "category__name")
    )
    categories = [
        {"slug": row["category__slug"], "name": row["category__name"], "count": row["count"]}
        for row in groups
        if row["category__slug"] is not None
    ]
    totals = {name: sum(row[name] for row in groups) for name in counts}
    kinds = [
        {"kind": kind, "label": label, "count": totals[f"kind_{kind}"]}
        for kind, label in ListingKind.choices
        if totals[f"kind_{kind}"]
    ]
    price_buckets = [
        PriceBucket(
            min_cents=low,
            max_cents=high,
            label=_price_bucket_label(low, high, currency),
            count=totals[f"bucket_{index}"],
            min_price=_major(low, currency),
            # The filter's maximum is included: the bucket's top, one minor unit below its end.
            max_price=_major(None if high is None else high - 1, currency),
        )
        for index, (low, high) in enumerate(buckets)
        if totals[f"bucket_{index}"]
    ]
    return {
        "categories": categories,
        "kinds": kinds,
        "price": {"currency": currency, "buckets": price_buckets},
    }
