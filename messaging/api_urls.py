"""Messaging endpoints, included from marketplace/api_urls.py at /api/v1/: conversations/ and
attachments/. URL names are a contract: message output links to api-attachment-download."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from messaging.api import AttachmentApi, AttachmentDownloadApi, ConversationViewSet

router = SimpleRouter()
router.register("conversations", ConversationViewSet, basename="api-conversation")

urlpatterns = [
    path("attachments/<uuid:pk>/", AttachmentApi.as_view(), name="api-attachment"),
    path(
        "attachments/<uuid:pk>/download/",
        AttachmentDownloadApi.as_view(),
        name="api-attachment-download",
    ),
    path("", include(router.urls)),
]
