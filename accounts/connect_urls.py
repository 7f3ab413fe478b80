"""Payouts with Stripe Connect, mounted at /accounts/connect/."""

from django.urls import path

from accounts import connect_views

urlpatterns = [
    path("", connect_views.overview, name="connect"),
    path("start/", connect_views.start, name="connect-start"),
    path("return/", connect_views.returned, name="connect-return"),
    path("refresh/", connect_views.refresh, name="connect-refresh"),
    path("dashboard/", connect_views.dashboard, name="connect-dashboard"),
]
