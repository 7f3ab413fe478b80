"""The payouts pages."""

from django.urls import path

from payouts import views

urlpatterns = [
    path("seller/payouts/", views.seller_payouts, name="seller-payouts"),
]
