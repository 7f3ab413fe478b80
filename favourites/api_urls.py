"""Favourites endpoints, included from config/api_urls.py at /api/v1/favourites/."""

from django.urls import path

from favourites.api import (
    ListingFavouriteDetailApi,
    ListingFavouriteListApi,
    StoreFavouriteDetailApi,
    StoreFavouriteListApi,
)

urlpatterns = [
    path("listings/", ListingFavouriteListApi.as_view(), name="api-favourite-listings"),
    path(
        "listings/<int:listing_id>/",
        ListingFavouriteDetailApi.as_view(),
        name="api-favourite-listing",
    ),
    path("stores/", StoreFavouriteListApi.as_view(), name="api-favourite-stores"),
    path("stores/<slug:slug>/", StoreFavouriteDetailApi.as_view(), name="api-favourite-store"),
]
