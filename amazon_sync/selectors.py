"""Reads of the Amazon channel: for the seller's pages and API, the admin, and "which rows are
due" for the beat job."""

from django.db.models import F, Prefetch
from django.shortcuts import get_object_or_404

from amazon_sync.models import (
    SYNCED_STATUSES,
    AmazonAccount,
    AmazonFeed,
    AmazonFeedItem,
    AmazonListing,
    FeedStatus,
    SyncStatus,
)
from marketplace import selectors as catalogue


def account_for_seller(*, user):
    """The seller's connected Amazon account, or None."""
    return AmazonAccount.objects.filter(store__owner=user).first()


def listings_with_sync_for_seller(*, user):
    """Every listing of the seller's store with its Amazon copy (or None), in fixed queries."""
    return catalogue.listings_for_seller(user=user).select_related("amazon_listing")


def sync_of(listing):
    """A listing's AmazonListing, or None (read with listings_with_sync_for_seller: no query)."""
    return getattr(listing, "amazon_listing", None)


def listing_with_sync_for_seller_get(*, user, pk):
    """The seller's own listing with its Amazon copy, or 404 (another seller's does not exist)."""
    return get_object_or_404(listings_with_sync_for_seller(user=user), pk=pk)


def amazon_listing_for_seller_get(*, user, listing_pk):
    """The Amazon copy of the seller's own listing, or 404."""
    return get_object_or_404(
        AmazonListing.objects.select_related("listing__store"),
        listing_id=listing_pk,
        listing__store__owner=user,
    )


def feeds_for_seller(*, user):
    return AmazonFeed.objects.filter(store__owner=user).order_by("-created_at", "-id")


def feed_for_seller_get(*, user, pk):
    """A feed of the seller's with its items and their listings, or 404."""
    items = AmazonFeedItem.objects.select_related("amazon_listing__listing").order_by("message_id")
    return get_object_or_404(
        feeds_for_seller(user=user).prefetch_related(Prefetch("items", queryset=items)), pk=pk
    )


def sync_for_listings(listings):
    """{listing id: its AmazonListing} for a page of listings, in one query."""
    ids = [listing.pk for listing in listings]
    return {row.listing_id: row for row in AmazonListing.objects.filter(listing_id__in=ids)}


def sync_by_listing_for_seller(*, user):
    """{listing id: AmazonListing} of every listing of the seller's on Amazon, in one query."""
    return {
        row.listing_id: row
        for row in AmazonListing.objects.filter(listing__store__owner=user).only(
            "listing_id", "status", "asin", "sku"
        )
    }


def amazon_listings_due_for_refresh():
    """Listings Amazon is still processing (no ASIN yet): their ids."""
    return AmazonListing.objects.filter(
        status=SyncStatus.PENDING, listing__store__amazon_account__isnull=False
    ).values_list("pk", flat=True)


def feeds_due_for_poll():
    return AmazonFeed.objects.filter(status=FeedStatus.PROCESSING).values_list("pk", flat=True)


def amazon_listings_with_unpushed_changes(*, older_than):
    """(id, desired_seq) of listings on Amazon whose newest change was not pushed though it is
    older than `older_than` (its task was lost): the beat job queues the push again. A store
    that disconnected Amazon has nothing due."""
    return (
        AmazonListing.objects.filter(
            listing__store__amazon_account__isnull=False,
            status__in=SYNCED_STATUSES,
            desired_seq__gt=F("pushed_seq"),
            updated_at__lt=older_than,
        )
        .values_list("pk", "desired_seq")
        .order_by("pk")
    )
