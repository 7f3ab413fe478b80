"""Server-rendered pages of the catalogue. URL names are a contract: other apps reverse them."""

from django.urls import path

from marketplace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("listings/", views.listing_list, name="listing-list"),
    path("listings/<int:pk>/", views.listing_detail, name="listing-detail"),
    path("categories/<slug:slug>/", views.category_detail, name="category"),
    # Store pages
    path("stores/<slug:slug>/", views.store_home, name="store"),
    path("stores/<slug:slug>/products/", views.store_products, name="store-products"),
    path("stores/<slug:slug>/about/", views.store_about, name="store-about"),
    path("stores/<slug:slug>/contact/", views.store_contact, name="store-contact"),
    # Seller dashboard
    path("seller/", views.seller_dashboard, name="seller-dashboard"),
    path("seller/store/", views.seller_store_edit, name="seller-store-edit"),
    path("seller/listings/new/", views.seller_listing_create, name="seller-listing-create"),
    path("seller/listings/<int:pk>/edit/", views.seller_listing_edit, name="seller-listing-edit"),
    path(
        "seller/listings/<int:pk>/submit/",
        views.seller_listing_submit,
        name="seller-listing-submit",
    ),
    path(
        "seller/listings/<int:pk>/withdraw/",
        views.seller_listing_withdraw,
        name="seller-listing-withdraw",
    ),
    path(
        "seller/listings/<int:pk>/archive/",
        views.seller_listing_archive,
        name="seller-listing-archive",
    ),
    path(
        "seller/listings/<int:pk>/restore/",
        views.seller_listing_restore,
        name="seller-listing-restore",
    ),
    path(
        "seller/listings/<int:pk>/availability/",
        views.seller_listing_availability,
        name="seller-listing-availability",
    ),
    path(
        "seller/listings/<int:pk>/images/",
        views.seller_listing_images,
        name="seller-listing-images",
    ),
    path(
        "seller/listings/<int:pk>/images/<int:image_pk>/delete/",
        views.seller_listing_image_delete,
        name="seller-listing-image-delete",
    ),
]
