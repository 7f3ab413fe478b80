from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from core.health import health

admin.site.site_header = "Bazaar back office"
admin.site.site_title = "Bazaar admin"
admin.site.index_title = "Back office"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/v1/", include("config.api_urls")),
    path("accounts/", include("accounts.urls")),
    path("notifications/", include("notifications.urls")),
    path("favourites/", include("favourites.urls")),
    path("seller/amazon/", include("amazon_sync.urls")),
    path("messages/", include("messaging.urls")),
    path("stripe/", include("core.urls")),
    path("", include("reviews.urls")),
    path("", include("escrow.urls")),
    path("", include("payouts.urls")),
    path("", include("marketplace.web_urls")),
]

if settings.STRIPE_SANDBOX:
    # The sandbox's stand-ins for Stripe's hosted pages (onboarding, checkout) and its controls.
    urlpatterns.insert(0, path("stripe-sandbox/", include("stripe_sandbox.urls")))

if settings.AMAZON_SPAPI_SANDBOX:
    # The offline SP-API: Seller Central's consent page, feed documents, the control page.
    urlpatterns.insert(0, path("amazon-sandbox/", include("amazon_sandbox.urls")))

if settings.DEBUG:
    from django.conf.urls.static import static

    # Listing images and store logos are public catalogue media.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
