"""Ratings of listings and stores: the catalogue shows them, but the reviews behind them belong
to the reviews app, which sits above marketplace and so cannot be imported from here.

Instead the app that owns reviews registers, once at startup (its AppConfig.ready), how to
annotate a queryset of listings and one of stores with `rating_average` (a float, or None
without a rating) and `rating_count`. The catalogue's selectors call `with_listing_ratings` and
`with_store_ratings`: the figures come in the same query as the rows (subqueries, never a query
per row). Until something registers, nothing is rated.
"""

from django.db.models import FloatField, IntegerField, Value

_annotators = {}


def register(*, listings, stores):
    """`listings(queryset)` and `stores(queryset)` return the queryset annotated with
    rating_average and rating_count (and, for listings, store_rating_average and
    store_rating_count: the listing's store's figures)."""
    _annotators["listings"] = listings
    _annotators["stores"] = stores


def _unrated(queryset, prefixes):
    return queryset.annotate(
        **{
            name: value
            for prefix in prefixes
            for name, value in (
                (f"{prefix}rating_average", Value(None, output_field=FloatField())),
                (f"{prefix}rating_count", Value(0, output_field=IntegerField())),
            )
        }
    )


def with_listing_ratings(queryset):
    annotate = _annotators.get("listings")
    return annotate(queryset) if annotate else _unrated(queryset, ("", "store_"))


def with_store_ratings(queryset):
    annotate = _annotators.get("stores")
    return annotate(queryset) if annotate else _unrated(queryset, ("",))
