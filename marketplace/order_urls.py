"""The escrow pages. URL names are a contract: services and notifications reverse `order-detail`."""

from django.urls import path

from marketplace import order_views

urlpatterns = [
    path("orders/", order_views.orders_buying, name="orders-buying"),
    path("orders/new/<int:listing_pk>/", order_views.order_create, name="order-create"),
    path("orders/<int:pk>/", order_views.order_detail, name="order-detail"),
    path("orders/<int:pk>/pay/", order_views.order_pay, name="order-pay"),
    path("orders/<int:pk>/paid/", order_views.order_paid, name="order-paid"),
    path("orders/<int:pk>/status.json", order_views.order_status, name="order-status"),
    path("orders/<int:pk>/deliver/", order_views.order_deliver, name="order-deliver"),
    path("orders/<int:pk>/approve/", order_views.order_approve, name="order-approve"),
    path("orders/<int:pk>/cancel/", order_views.order_cancel, name="order-cancel"),
    path("seller/orders/", order_views.orders_selling, name="orders-selling"),
    path("seller/ledger/", order_views.seller_ledger, name="seller-ledger"),
]
