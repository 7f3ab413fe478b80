"""Every write of favourites: saving and unsaving listings and stores, and the alerts people
who saved a listing get when its price drops or it comes back in stock.

Saving is idempotent: the unique constraints keep one row per person and listing (or store), and
saving again returns the row already there. Unsaving what was not saved does nothing. These are a
person's own bookmarks, like their notification settings: no audit entry.
"""

import logging

from django.db import transaction

from core.errors import ValidationFailed
from core.money import format_money
from favourites import selectors
from favourites.models import ListingFavourite, StoreFavourite
from marketplace.models import Listing, ListingKind, ListingStatus, Store
from notifications.services import notify

logger = logging.getLogger(__name__)

NOT_ON_SALE = "This listing is not on sale, so it cannot be saved."
NO_SUCH_STORE = "There is no such store."


@transaction.atomic
def listing_favourite_add(*, user, listing_id):
    """Save a listing for `user`. Returns (favourite, created). Only a listing on sale (approved)
    can be saved; anything else, or no such listing, is the same field error."""
    listing = Listing.objects.filter(pk=listing_id, status=ListingStatus.APPROVED).first()
    if listing is None:
        raise ValidationFailed({"listing_id": NOT_ON_SALE})
    return ListingFavourite.objects.get_or_create(user=user, listing=listing)


@transaction.atomic
def listing_favourite_remove(*, user, listing_id):
    """Unsave a listing (in any status). Returns True if it was saved."""
    deleted, _ = ListingFavourite.objects.filter(user=user, listing_id=listing_id).delete()
    return bool(deleted)


@transaction.atomic
def store_favourite_add(*, user, store_slug):
    """Save a store for `user`. Returns (favourite, created)."""
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        raise ValidationFailed({"store": NO_SUCH_STORE})
    return StoreFavourite.objects.get_or_create(user=user, store=store)


@transaction.atomic
def store_favourite_remove(*, user, store_slug):
    """Unsave a store. Returns True if it was saved."""
    deleted, _ = StoreFavourite.objects.filter(user=user, store__slug=store_slug).delete()
    return bool(deleted)


# --- Alerts to the people who saved a listing ---------------------------------------------------


def _alert_savers(listing, event_code, context):
    """Notify each person who saved `listing` (not its seller), each in their own transaction
    so one person's failure does not take back the others'. Returns how many were told."""
    context = {
        "listing_id": listing.pk,
        "listing_title": listing.title,
        "action_url": listing.get_absolute_url(),
    } | context
    told = 0
    for favourite in selectors.listing_savers_to_alert(listing=listing).iterator(chunk_size=500):
        with transaction.atomic():
            if notify(favourite.user, event_code, context) is not None:
                told += 1
    return told


def favourite_alerts_price_drop(*, listing_id, old_price_cents, currency):
    """The price of `listing_id` dropped from `old_price_cents`: tell who saved it, with the
    price it has now. Nothing if the listing is off sale, changed currency or no longer costs
    less than before (the seller raised it again before this ran)."""
    listing = Listing.objects.select_related("store").filter(pk=listing_id).first()
    if (
        listing is None
        or listing.status != ListingStatus.APPROVED
        or listing.currency != currency
        or listing.price_cents >= old_price_cents
    ):
        return 0
    return _alert_savers(
        listing,
        "favourite.price_dropped",
        {
            "old_price": format_money(old_price_cents, currency),
            "new_price": format_money(listing.price_cents, listing.currency),
        },
    )


def favourite_alerts_back_in_stock(*, listing_id):
    """`listing_id` came back in stock: tell who saved it. Nothing if it is off sale or sold
    out again by the time this runs."""
    listing = Listing.objects.select_related("store").filter(pk=listing_id).first()
    if (
        listing is None
        or listing.status != ListingStatus.APPROVED
        or listing.kind != ListingKind.PRODUCT
        or listing.stock == 0
    ):
        return 0
    return _alert_savers(
        listing,
        "favourite.back_in_stock",
        {
            "stock": "Plenty" if listing.stock is None else str(listing.stock),
            "price": listing.price_display,
        },
    )
