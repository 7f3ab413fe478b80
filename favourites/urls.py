"""Pages of favourites, at /favourites/."""

from django.urls import path

from favourites import views

app_name = "favourites"

urlpatterns = [
    path("", views.saved, name="saved"),
    path("listings/<int:pk>/save/", views.listing_save, name="listing-save"),
    path("listings/<int:pk>/unsave/", views.listing_unsave, name="listing-unsave"),
    path("stores/<slug:slug>/save/", views.store_save, name="store-save"),
    path("stores/<slug:slug>/unsave/", views.store_unsave, name="store-unsave"),
]
