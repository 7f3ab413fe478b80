"""Notification endpoints, included from marketplace/api_urls.py at /api/v1/notifications/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from notifications.api import NotificationPreferencesApi, NotificationViewSet

router = SimpleRouter()
router.register("", NotificationViewSet, basename="api-notification")

urlpatterns = [
    path(
        "preferences/",
        NotificationPreferencesApi.as_view(),
        name="api-notification-preferences",
    ),
    path("", include(router.urls)),
]
