"""The demo data gives the first demo buyer something on their Saved page, once."""

from io import StringIO

import pytest
from django.core.management import call_command

from favourites.models import ListingFavourite, StoreFavourite

pytestmark = pytest.mark.django_db


def test_the_demo_buyer_has_saved_listings_and_a_store_and_a_second_run_adds_none():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    sam = "sam@bazaar.local"
    assert ListingFavourite.objects.filter(user__email=sam).count() == 2
    assert StoreFavourite.objects.filter(user__email=sam).count() == 1
    assert ListingFavourite.objects.count() == 2
