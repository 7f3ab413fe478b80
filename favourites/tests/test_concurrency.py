"""Races with real row locks and constraints (PostgreSQL only, like escrow's concurrency tests).

A double click (or two devices) saving the same listing at once keeps one row and answers both
without an error. Two orders of a sold-out listing called off at once bring it back in stock
once: the stock row is read under its lock, so only the first sees the 0.
"""

import pytest
from django.db import connection

from accounts.factories import UserFactory
from core.testing import race
from escrow.services.orders import order_cancel_unpaid
from escrow.testing import place_order
from favourites import services
from favourites.factories import ListingFavouriteFactory
from favourites.models import ListingFavourite
from marketplace.factories import ListingFactory
from notifications.models import Notification

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL's row locks (set DATABASE_URL): SQLite serialises every "
        "writer, so these races cannot happen there.",
    ),
]

THREADS = 8


def test_saving_the_same_listing_at_once_keeps_one_row_and_fails_nobody():
    user, listing = UserFactory(), ListingFactory()

    outcomes, crashes = race(
        *[lambda: services.listing_favourite_add(user=user, listing_id=listing.pk)] * THREADS
    )

    assert crashes == []
    assert ListingFavourite.objects.filter(user=user, listing=listing).count() == 1
    assert sum(created for _, created in outcomes) == 1


def test_two_orders_called_off_at_once_bring_a_sold_out_listing_back_once(listing):
    # `listing` (escrow.testing): 5 in stock, its seller can take payments.
    first, second = UserFactory(), UserFactory()
    saver = ListingFavouriteFactory(listing=listing).user
    orders = [
        place_order(buyer=first, listing_id=listing.pk, quantity=2),
        place_order(buyer=second, listing_id=listing.pk, quantity=3),
    ]
    listing.refresh_from_db()
    assert listing.stock == 0

    _, crashes = race(
        *[
            lambda order=order: order_cancel_unpaid(order=order, actor=order.buyer)
            for order in orders
        ]
    )

    assert crashes == []
    listing.refresh_from_db()
    assert listing.stock == 5
    alerts = Notification.objects.filter(recipient=saver, event_code="favourite.back_in_stock")
    assert alerts.count() == 1
