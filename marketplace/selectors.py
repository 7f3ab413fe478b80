"""Reads of the catalogue that views, the API and other apps need."""

from django.db.models import Count, F, Prefetch, Q, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.shortcuts import get_object_or_404

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


def _with_related(queryset):
    # Every list renders store, category, the first image and the rating: fetch them in fixed
    # queries (the rating is a subquery of the same one, marketplace/ratings.py).
    return with_listing_ratings(
        queryset.select_related("store", "category").prefetch_related(
            Prefetch("images", queryset=ListingImage.objects.order_by("position", "id"))
        )
    )


def listing_public_queryset():
    """Listings buyers may see: approved ones only."""
    return _with_related(Listing.objects.approved())


def listings_newest_by_store(*, limit):
    """The home page's newest listings, taken from the stores in turn: each store's newest first,
    then each store's second newest, and so on (newest first within a round). One busy seller
    cannot fill the page. Two queries (listings with store and category, then images)."""
    newest_in_store = Window(
        RowNumber(),
        partition_by=[F("store_id")],
        order_by=[F("created_at").desc(), F("id").desc()],
    )
    return list(
        listing_public_queryset()
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
