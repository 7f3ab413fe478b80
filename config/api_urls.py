"""The REST API, mounted at /api/v1/. Its OpenAPI schema is at schema/, browsable at docs/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from accounts.api import (
    EmailChangeApi,
    EmailResendApi,
    LogoutAllApi,
    LogoutApi,
    MeApi,
    SellerProfileApi,
    ShippingAddressDefaultApi,
    ShippingAddressDetailApi,
    ShippingAddressListApi,
    SignupApi,
    TokenObtainApi,
)
from amazon_sync.api import SellerListingWithAmazonViewSet
from config.api_docs import ApiDocsView, ApiIndexView
from escrow.api import ListingAvailabilityApi, ListingSlotsApi, SellerBookingsApi
from favourites.api import ListingWithFavouriteViewSet, StoreWithFavouriteViewSet
from marketplace.api import CategoryViewSet
from payouts.api import SellerBalanceApi, SellerPayoutListApi, SellerPayoutScheduleApi
from payouts.earnings_api import SellerEarningsApi, SellerEarningsExportApi
from reviews.api import OrderReviewApi, OrderReviewReplyApi, StoreReviewListApi

router = SimpleRouter()
router.register("categories", CategoryViewSet, basename="api-category")
# Stores and listings carry `is_favourite` for the signed-in person (favourites.api).
router.register("stores", StoreWithFavouriteViewSet, basename="api-store")
router.register("listings", ListingWithFavouriteViewSet, basename="api-listing")
# The seller's listings carry their Amazon sync status (amazon_sync.api).
router.register("seller/listings", SellerListingWithAmazonViewSet, basename="api-seller-listing")

urlpatterns = [
    path("", ApiIndexView.as_view(), name="api-index"),
    path("auth/token/", TokenObtainApi.as_view(), name="api-auth-token"),
    path("auth/logout/", LogoutApi.as_view(), name="api-auth-logout"),
    path("auth/logout-all/", LogoutAllApi.as_view(), name="api-auth-logout-all"),
    path("auth/signup/", SignupApi.as_view(), name="api-auth-signup"),
    path("me/", MeApi.as_view(), name="api-me"),
    path("me/email/", EmailChangeApi.as_view(), name="api-me-email"),
    path("me/email/resend/", EmailResendApi.as_view(), name="api-me-email-resend"),
    path("me/seller-profile/", SellerProfileApi.as_view(), name="api-me-seller-profile"),
    path(
        "me/shipping-addresses/",
        ShippingAddressListApi.as_view(),
        name="api-me-shipping-addresses",
    ),
    path(
        "me/shipping-addresses/<int:pk>/",
        ShippingAddressDetailApi.as_view(),
        name="api-me-shipping-address",
    ),
    path(
        "me/shipping-addresses/<int:pk>/default/",
        ShippingAddressDefaultApi.as_view(),
        name="api-me-shipping-address-default",
    ),
    path("seller/connect/", include("accounts.connect_api")),
    path("seller/amazon/", include("amazon_sync.api_urls")),
    path("seller/balance/", SellerBalanceApi.as_view(), name="api-seller-balance"),
    path("seller/payouts/", SellerPayoutListApi.as_view(), name="api-seller-payouts"),
    path(
        "seller/payout-schedule/",
        SellerPayoutScheduleApi.as_view(),
        name="api-seller-payout-schedule",
    ),
    path("seller/earnings/", SellerEarningsApi.as_view(), name="api-seller-earnings"),
    path("seller/bookings/", SellerBookingsApi.as_view(), name="api-seller-bookings"),
    # Buyers' free slots, before the router's listings/ routes (which have no availability/):
    # the seller edits a service's hours at seller/listings/<pk>/availability/.
    path(
        "listings/<int:pk>/availability/",
        ListingAvailabilityApi.as_view(),
        name="api-listing-availability",
    ),
    path("listings/<int:pk>/slots/", ListingSlotsApi.as_view(), name="api-listing-slots"),
    path(
        "seller/earnings/export/",
        SellerEarningsExportApi.as_view(),
        name="api-seller-earnings-export",
    ),
    path("notifications/", include("notifications.api_urls")),
    path("orders/<int:pk>/review/", OrderReviewApi.as_view(), name="api-order-review"),
    path(
        "orders/<int:pk>/review/reply/",
        OrderReviewReplyApi.as_view(),
        name="api-order-review-reply",
    ),
    path("favourites/", include("favourites.api_urls")),
    path("orders/", include("escrow.api_urls")),
    path("", include("messaging.api_urls")),
    path("stores/<slug:slug>/reviews/", StoreReviewListApi.as_view(), name="api-store-reviews"),
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(), name="api-docs"),
]
