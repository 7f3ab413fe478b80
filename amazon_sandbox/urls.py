from django.urls import path

from amazon_sandbox import control_views, views

app_name = "amazon_sandbox"

urlpatterns = [
    # Seller Central's consent page (AMAZON_SELLER_CENTRAL_URL points here).
    path("apps/authorize/consent", views.consent, name="consent"),
    # Feed documents' presigned URLs (upload the input, download the processing report).
    path("documents/<str:document_id>/", views.document, name="document"),
    # Login with Amazon and the SP-API over HTTP, for other processes and curl.
    path("lwa/auth/o2/token", views.lwa_token, name="lwa-token"),
    path("sp/<path:path>", views.sp_api, name="sp-api"),
    # Staff control page.
    path("", control_views.control_page, name="control"),
    path("control/assign-asin/", control_views.assign_asin, name="control-assign-asin"),
    path("control/reject/", control_views.reject, name="control-reject"),
    path("control/throttle/", control_views.throttle, name="control-throttle"),
    path("control/process-feeds/", control_views.process_feeds, name="control-process-feeds"),
]
