"""Order endpoints, included from marketplace/api_urls.py at /api/v1/orders/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from escrow.api import OrderViewSet

router = SimpleRouter()
router.register("", OrderViewSet, basename="api-order")

urlpatterns = [
    path("", include(router.urls)),
]
