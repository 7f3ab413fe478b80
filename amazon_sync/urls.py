"""The seller's Amazon pages, at /seller/amazon/."""

from django.urls import path

from amazon_sync import views

app_name = "amazon_sync"

urlpatterns = [
    path("", views.home, name="home"),
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("listings/<int:pk>/", views.listing, name="listing"),
    path("listings/<int:pk>/publish/", views.listing_publish, name="listing-publish"),
    path("listings/<int:pk>/sync/", views.listing_sync, name="listing-sync"),
    path("listings/<int:pk>/delist/", views.listing_delist, name="listing-delist"),
    path("feeds/", views.feed_create, name="feed-create"),
    path("feeds/<int:pk>/", views.feed, name="feed"),
]
