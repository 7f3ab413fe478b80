"""The payouts pages."""

from django.urls import path

from payouts import earnings_views, views

urlpatterns = [
    path("seller/payouts/", views.seller_payouts, name="seller-payouts"),
    path("seller/payouts/request/", views.seller_payout_request, name="seller-payout-request"),
    path("seller/payouts/schedule/", views.seller_payout_schedule, name="seller-payout-schedule"),
    path("seller/payouts/history/", views.seller_payout_history, name="seller-payout-history"),
]
urlpatterns += [
    path("seller/earnings/", earnings_views.seller_earnings, name="seller-earnings"),
    path(
        "seller/earnings/export.csv",
        earnings_views.seller_earnings_export,
        name="seller-earnings-export",
    ),
]
