"""Reads of reviews for pages, the API and the catalogue's ratings.

Ratings are computed, not stored: a review counts once it is revealed (`reveals_at <= now`),
which happens by the clock alone, so a stored counter would need a job to catch each window's
end. The average and count are subqueries of the listing or store query itself, on an index
(store or listing, side, hidden, reveals_at): the same single query whatever the page shows.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, FloatField, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from core import clock
from escrow.selectors import order_reviews_open_at
from reviews.models import Review, ReviewSide


def _rating_subqueries(reviews, key, prefix=""):
    grouped = reviews.order_by().values(key)
    return {
        f"{prefix}rating_average": Subquery(
            grouped.annotate(value=Avg("rating")).values("value")[:1], output_field=FloatField()
        ),
        f"{prefix}rating_count": Coalesce(
            Subquery(
                grouped.annotate(value=Count("pk")).values("value")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        ),
    }


def _rated(now):
    """The reviews that make ratings: buyers' reviews of sellers, revealed, not hidden."""
    return Review.objects.public(now).filter(side=ReviewSide.BUYER)


def _figures_sql(key, count):
    table = Review._meta.db_table
    placeholders = ", ".join(["%s"] * count)
    return (
        f"SELECT {key}, AVG(rating), COUNT(*) FROM {table} "
        f"WHERE side = %s AND hidden = %s AND reveals_at <= %s AND {key} IN ({placeholders}) "
        f"GROUP BY {key}"
    )


def rate_listings(listings, *, now=None):
    """Set each listing's rating and its store's (marketplace/ratings.py) from the same reviews
    as `_rated`, in one query for the whole list (both groupings in one UNION ALL, on the
    (listing|store, side, hidden, reveals_at) indexes). Written in SQL: it runs for every
    catalogue page, and building the same union through the ORM cost more CPU than the rest of
    the page's queries together."""
    listing_ids = sorted({listing.pk for listing in listings})
    store_ids = sorted({listing.store_id for listing in listings})
    by_listing, by_store = {}, {}
    if listings:
        now = now or clock.now()
        common = [ReviewSide.BUYER, False, now]
        sql = (
            f"SELECT 0, * FROM ({_figures_sql('listing_id', len(listing_ids))}) AS l "
            f"UNION ALL SELECT 1, * FROM ({_figures_sql('store_id', len(store_ids))}) AS s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*common, *listing_ids, *common, *store_ids])
            for grouping, key, average, count in cursor.fetchall():
                (by_store if grouping else by_listing)[key] = (_average(average), count)
    for listing in listings:
        listing.rating_average, listing.rating_count = by_listing.get(listing.pk, (None, 0))
        listing.store_rating_average, listing.store_rating_count = by_store.get(
            listing.store_id, (None, 0)
        )


def _average(value):
    # PostgreSQL's AVG of integers is numeric (a Decimal here); SQLite's a float.
    return None if value is None else float(value)


def stores_with_ratings(queryset, *, now=None):
    """Stores annotated with their rating (marketplace/ratings.py)."""
    rated = _rated(now or clock.now())
    return queryset.annotate(**_rating_subqueries(rated.filter(store=OuterRef("pk")), "store"))


def store_reviews_public(*, store, now=None):
    """A store's revealed, visible buyer reviews, newest first, with author and listing joined."""
    return (
        _rated(now or clock.now())
        .filter(store_id=store.pk)
        .select_related("author", "listing")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class OrderReviews:
    """Where an order's reviews stand, for one of its parties."""

    opens_at: datetime | None  # None: the order is not released nor its dispute resolved
    window_ends_at: datetime | None
    mine: Review | None
    theirs: Review | None  # None while sealed (or hidden by staff), even when it exists
    theirs_sealed: bool  # the other side has reviewed; it is revealed later
    can_review: bool
    can_reply: bool  # the seller may reply to the buyer's review of them
    now: datetime | None  # None when the order is not completed (not needed then)

    @property
    def mine_revealed(self):
        return bool(self.mine and self.mine.is_revealed(self.now))


def window_for(opens_at):
    return opens_at + timedelta(days=settings.REVIEW_WINDOW_DAYS) if opens_at else None


def order_reviews_for(*, order, user, now=None):
    """The order's reviews as `user` (its buyer or seller) may see them: no query for an order
    not completed (nothing can be reviewed yet), else the reviews and the clock."""
    side = ReviewSide.BUYER if order.buyer_id == user.pk else ReviewSide.SELLER
    opens_at = order_reviews_open_at(order)
    if opens_at is None:
        # Reviews open with the release or the dispute's decision, which stay: none exist yet
        # (and without a window, the time does not matter).
        reviews = {}
    else:
        now = now or clock.now()
        reviews = {
            review.side: review
            for review in Review.objects.filter(order_id=order.pk).select_related(
                "author", "listing"
            )
        }
    mine = reviews.get(side)
    other = reviews.get(ReviewSide.SELLER if side == ReviewSide.BUYER else ReviewSide.BUYER)
    window_ends_at = window_for(opens_at)
    theirs = other if other and other.is_revealed(now) and not other.hidden else None
    return OrderReviews(
        opens_at=opens_at,
        window_ends_at=window_ends_at,
        mine=mine,
        theirs=theirs,
        theirs_sealed=bool(other and not other.is_revealed(now)),
        can_review=mine is None and opens_at is not None and now < window_ends_at,
        can_reply=bool(theirs and side == ReviewSide.SELLER and not theirs.reply),
        now=now,
    )


def review_for_seller_get(*, user, pk):
    """A buyer's review of `user` (as seller), revealed and visible; None otherwise."""
    return (
        _rated(clock.now())
        .filter(subject_id=user.pk, pk=pk)
        .select_related("author", "listing", "store")
        .first()
    )
