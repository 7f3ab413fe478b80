"""The URLs the sandbox's own tests run against, in place of a host project's: the sandbox's
pages, the admin (its admin pages, and the login its control page sends strangers to), and a
webhook receiver."""

from django.contrib import admin
from django.urls import include, path

from stripe_sandbox.tests import receiver

urlpatterns = [
    path("admin/", admin.site.urls),
    path("stripe-sandbox/", include("stripe_sandbox.urls")),
    path("webhooks/<slug:name>/", receiver.receive, name="webhook"),
]
