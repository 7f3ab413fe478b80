"""Reads of what people saved, for the Saved page, the API, the heart buttons and the alerts."""

from django.db.models import Exists, OuterRef, Prefetch, Value

from favourites.models import ListingFavourite, StoreFavourite
from marketplace import selectors as catalogue
from marketplace.models import ListingImage, ListingStatus


def listing_favourites_for(*, user):
    """The user's saved listings that are still on sale, newest saved first, each with its
    listing, store, category and images read in fixed queries."""
    return (
        ListingFavourite.objects.filter(user=user, listing__status=ListingStatus.APPROVED)
        .select_related("listing__store", "listing__category")
        .prefetch_related(
            Prefetch("listing__images", queryset=ListingImage.objects.order_by("position", "id"))
        )
        .order_by("-created_at", "-id")
    )


def store_favourites_for(*, user):
    """The user's saved stores, newest saved first, with their approved listing counts."""
    return (
        StoreFavourite.objects.filter(user=user)
        .prefetch_related(Prefetch("store", queryset=catalogue.store_list()))
        .order_by("-created_at", "-id")
    )


def listings_with_favourite_flag(queryset, *, user):
    """Annotate `is_favourite` (did `user` save it?) with one EXISTS, no query per row."""
    if not user.is_authenticated:
        return queryset.annotate(is_favourite=Value(False))
    saved = ListingFavourite.objects.filter(user=user, listing=OuterRef("pk"))
    return queryset.annotate(is_favourite=Exists(saved))


def stores_with_favourite_flag(queryset, *, user):
    if not user.is_authenticated:
        return queryset.annotate(is_favourite=Value(False))
    saved = StoreFavourite.objects.filter(user=user, store=OuterRef("pk"))
    return queryset.annotate(is_favourite=Exists(saved))


def saved_listing_ids(*, user):
    """Ids of every listing the user saved (one query): the heart buttons of a page."""
    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        ListingFavourite.objects.filter(user=user).values_list("listing_id", flat=True)
    )


def saved_store_ids(*, user):
    if not user.is_authenticated:
        return frozenset()
    return frozenset(StoreFavourite.objects.filter(user=user).values_list("store_id", flat=True))


def listing_savers_to_alert(*, listing):
    """Who saved `listing` and may hear about it: active people other than its seller."""
    return (
        ListingFavourite.objects.filter(listing=listing, user__is_active=True)
        .exclude(user_id=listing.store.owner_id)
        .select_related("user")
        .order_by("id")
    )
