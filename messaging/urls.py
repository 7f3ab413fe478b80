"""Messaging pages, at /messages/. URL names are a contract: other apps and templates reverse
them."""

from django.urls import path

from messaging import storage_views, views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:pk>/", views.conversation_detail, name="conversation"),
    path("<int:pk>/send/", views.send, name="send"),
    path("ask/<int:listing_pk>/", views.inquiry, name="ask"),
    path("store/<slug:slug>/", views.store_message, name="store-message"),
    path("attachments/<uuid:pk>/", storage_views.attachment_download, name="attachment"),
    # Local storage's signed links (S3 serves these itself when attachments live there).
    path("files/<str:token>/", storage_views.signed_file, name="file"),
    path("uploads/<str:token>/", storage_views.signed_upload, name="direct-upload"),
]
