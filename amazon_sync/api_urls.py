"""The seller's Amazon channel, included from config/api_urls.py at /api/v1/seller/amazon/."""

from django.urls import path

from amazon_sync import api

urlpatterns = [
    path("", api.AmazonAccountApi.as_view(), name="api-amazon-account"),
    path("connect/", api.AmazonConnectApi.as_view(), name="api-amazon-connect"),
    path("disconnect/", api.AmazonDisconnectApi.as_view(), name="api-amazon-disconnect"),
    path("listings/", api.AmazonListingListApi.as_view(), name="api-amazon-listings"),
    path("listings/<int:pk>/", api.AmazonListingDetailApi.as_view(), name="api-amazon-listing"),
    path(
        "listings/<int:pk>/publish/",
        api.AmazonListingPublishApi.as_view(),
        name="api-amazon-listing-publish",
    ),
    path(
        "listings/<int:pk>/sync/",
        api.AmazonListingSyncApi.as_view(),
        name="api-amazon-listing-sync",
    ),
    path(
        "listings/<int:pk>/delist/",
        api.AmazonListingDelistApi.as_view(),
        name="api-amazon-listing-delist",
    ),
    path("feeds/", api.AmazonFeedListApi.as_view(), name="api-amazon-feeds"),
    path("feeds/<int:pk>/", api.AmazonFeedDetailApi.as_view(), name="api-amazon-feed"),
]
