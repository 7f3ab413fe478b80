from django.urls import path

from stripe_sandbox import api_views, checkout_views, control_views, onboarding_views

app_name = "stripe_sandbox"

# Hosted pages (onboarding, checkout) register here as their resources are built.
urlpatterns: list = [
    # Stripe's REST API over HTTP, for other processes (api_views.py): base URL .../stripe-sandbox
    path("v1/<path:path>", api_views.api, name="api"),
    path("onboarding/<str:link_id>/", onboarding_views.onboarding, name="onboarding"),
    path("express/<str:account_id>/", onboarding_views.express_dashboard, name="express-dashboard"),
    path(
        "express/<str:account_id>/<str:token>/",
        onboarding_views.express_login,
        name="express-login",
    ),
    # Hosted Checkout (payments.py), the 3D Secure step of API payments, charge receipts.
    path("checkout/<str:session_id>/", checkout_views.checkout, name="checkout"),
    path(
        "checkout/<str:session_id>/authenticate/",
        checkout_views.checkout_authenticate,
        name="checkout_authenticate",
    ),
    path("authenticate/<str:pi_id>/", checkout_views.authenticate_payment, name="authenticate"),
    path("receipts/<str:charge_id>/", checkout_views.receipt, name="receipt"),
    # Staff control page (clock, webhook deliveries, disputes, events), linked from the admin.
    path("control/", control_views.control_page, name="control"),
    path("control/advance/", control_views.control_advance, name="control_advance"),
    path("control/deliver/", control_views.control_deliver_all, name="control_deliver_all"),
    path("control/deliver/<int:pk>/", control_views.control_deliver, name="control_deliver"),
    path(
        "control/disputes/<str:dispute_id>/close/",
        control_views.control_dispute_close,
        name="control_dispute_close",
    ),
]
