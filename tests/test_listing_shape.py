"""The listing serializers write their rows out by hand (for speed): each must render exactly
what DRF's own fields render, key order included, for every kind of listing."""

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from amazon_sync.serializers import SellerListingWithAmazonOutputSerializer
from favourites.selectors import listings_with_favourite_flag
from favourites.serializers import ListingWithFavouriteOutputSerializer
from marketplace import selectors
from marketplace.factories import (
    CategoryFactory,
    ListingFactory,
    ListingImageFactory,
    ServiceListingFactory,
)
from marketplace.models import Listing, ListingStatus
from marketplace.serializers import ListingOutputSerializer, SellerListingOutputSerializer
from reviews.factories import ReviewFactory

pytestmark = pytest.mark.django_db

SERIALIZERS = (
    ListingOutputSerializer,
    ListingWithFavouriteOutputSerializer,
    SellerListingOutputSerializer,
    SellerListingWithAmazonOutputSerializer,
)


@pytest.fixture
def listings():
    product = ListingFactory(
        status=ListingStatus.APPROVED,
        category=CategoryFactory(),
        stock=3,
        cancellation_policy="strict",
        transit_days=9,
    )
    ListingImageFactory(listing=product, position=1, alt_text="The back")
    ListingImageFactory(listing=product, position=0, alt_text="")
    sold_out = ListingFactory(status=ListingStatus.APPROVED, stock=0, category=None)
    service = ServiceListingFactory(status=ListingStatus.APPROVED, category=None)
    for rating in (5, 4, 4):
        ReviewFactory(order__listing=product, order__store=product.store, rating=rating)
    ReviewFactory(order__listing=service, order__store=service.store, rating=2)
    draft = ListingFactory(status=ListingStatus.DRAFT, stock=None)
    return [product, sold_out, service, draft]


def drf_rendering(serializer, listing):
    # DRF's own field-by-field rendering, on the same (bound) serializer.
    return serializers.ModelSerializer.to_representation(serializer, listing)


@pytest.mark.parametrize("serializer_class", SERIALIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("with_request", [True, False], ids=["request", "no-request"])
def test_each_listing_renders_as_drf_renders_it(serializer_class, with_request, listings):
    context = {"request": APIRequestFactory().get("/api/v1/listings/")} if with_request else {}
    rows = list(
        listings_with_favourite_flag(
            selectors._with_related(Listing.objects.filter(pk__in=[r.pk for r in listings])),
            user=AnonymousUser(),
        ).order_by("pk")
    )
    assert len(rows) == 4
    serializer = serializer_class(rows, many=True, context=context)
    rendered = serializer.data
    child = serializer_class(context=context)
    for row, data in zip(rows, rendered, strict=True):
        expected = drf_rendering(child, row)
        assert list(data.items()) == list(expected.items())
    # The figures are really there: the product's three reviews, the images in order.
    product = rendered[0]
    assert (product["rating_average"], product["rating_count"]) == (4.33, 3)
    assert [image["alt_text"] for image in product["images"]] == ["", "The back"]
    assert rendered[1]["category"] is None and rendered[1]["in_stock"] is False


def test_a_listing_just_saved_renders_its_empty_rating(listings):
    listing = ListingFactory(status=ListingStatus.APPROVED)  # not read through a selector
    data = ListingOutputSerializer(listing).data
    assert data == drf_rendering(ListingOutputSerializer(), listing)
    assert (data["rating_average"], data["rating_count"]) == (None, 0)
