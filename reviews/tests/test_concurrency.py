"""Races on one order's reviews, with real row locks (PostgreSQL only; see
escrow/tests/test_concurrency.py for why SQLite cannot race)."""

import pytest
from django.db import connection

from core import clock
from core.errors import ValidationFailed
from core.testing import race
from reviews import services
from reviews.models import Review

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL's row locks (set DATABASE_URL): SQLite ignores "
        "select_for_update and serialises every writer, so these races cannot happen there.",
    ),
]


def test_buyer_and_seller_reviewing_at_once_publish_both(released_order, buyer, seller):
    """Neither may miss the other: whoever comes second (under the order's lock) opens both."""
    outcomes, crashes = race(
        lambda: services.review_create(order=released_order, author=buyer, rating=4),
        lambda: services.review_create(order=released_order, author=seller, rating=5),
    )

    assert not crashes, crashes
    now = clock.now()
    reviews = list(Review.objects.filter(order=released_order))
    assert len(reviews) == 2
    assert all(review.reveals_at <= now for review in reviews)


def test_the_same_side_twice_at_once_makes_one_review(released_order, buyer):
    outcomes, crashes = race(
        *(
            lambda: services.review_create(order=released_order, author=buyer, rating=3)
            for _ in range(4)
        )
    )

    assert not crashes, crashes
    assert Review.objects.filter(order=released_order).count() == 1
    assert sum(isinstance(o, ValidationFailed) for o in outcomes) == 3
