"""Mounted at /stripe/. Keeps dj-stripe's URL name, so endpoints staff create in dj-stripe's admin
point at Bazaar's webhook intake."""

from django.urls import path

from core.stripe_webhooks import receive

app_name = "djstripe"

urlpatterns = [
    path("webhook/<uuid:uuid>/", receive, name="djstripe_webhook_by_uuid"),
]
