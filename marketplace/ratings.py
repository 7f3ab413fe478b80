"""Ratings of listings and stores: the catalogue shows them, but the reviews behind them belong
to the reviews app, which sits above marketplace and so cannot be imported from here.

Instead the app that owns reviews registers, once at startup (its AppConfig.ready):

- `listings(rows)`: sets `rating_average` (a float, or None without a rating), `rating_count`,
  `store_rating_average` and `store_rating_count` on each listing of a list, in one query for
  the whole list. The catalogue's selectors mark a queryset with `with_listing_ratings` and the
  figures arrive with its rows (ListingQuerySet.with_ratings), for the page's rows only: never
  a query per row, and not a subquery per row in the listing query either, which cost a quarter
  of an uncached catalogue page's CPU to build and compile.
- `stores(queryset)`: returns the queryset annotated with `rating_average` and `rating_count`
  (subqueries of the store query itself).

Until something registers, nothing is rated.
"""

from django.db.models import FloatField, IntegerField, Value

_registered = {}


def register(*, listings, stores):
    _registered["listings"] = listings
    _registered["stores"] = stores


def rate_listings(listings):
    """Set the four rating figures on each listing of `listings` (a list)."""
    rate = _registered.get("listings")
    if rate is not None:
        rate(listings)
        return
    for listing in listings:
        listing.rating_average = listing.store_rating_average = None
        listing.rating_count = listing.store_rating_count = 0


def with_listing_ratings(queryset):
    """`queryset` (of listings), whose rows come with their rating figures."""
    return queryset.with_ratings()


def with_store_ratings(queryset):
    annotate = _registered.get("stores")
    if annotate is not None:
        return annotate(queryset)
    return queryset.annotate(
        rating_average=Value(None, output_field=FloatField()),
        rating_count=Value(0, output_field=IntegerField()),
    )
