"""The escrow pages. URL names are a contract: services and notifications reverse `order-detail`."""

from django.urls import path

from escrow import views

urlpatterns = [
    path("orders/", views.orders_buying, name="orders-buying"),
    path("orders/new/<int:listing_pk>/", views.order_create, name="order-create"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/pay/", views.order_pay, name="order-pay"),
    path("orders/<int:pk>/paid/", views.order_paid, name="order-paid"),
    path("orders/<int:pk>/status.json", views.order_status, name="order-status"),
    path("orders/<int:pk>/deliver/", views.order_deliver, name="order-deliver"),
    path("orders/<int:pk>/ship/", views.order_ship, name="order-ship"),
    path("orders/<int:pk>/received/", views.order_confirm_received, name="order-received"),
    path("orders/<int:pk>/approve/", views.order_approve, name="order-approve"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order-cancel"),
    path("orders/<int:pk>/refund/", views.order_refund, name="order-refund"),
    path("orders/<int:pk>/dispute/", views.order_dispute, name="order-dispute"),
    path(
        "orders/<int:pk>/dispute/respond/",
        views.order_dispute_respond,
        name="order-dispute-respond",
    ),
    path(
        "orders/<int:pk>/dispute/withdraw/",
        views.order_dispute_withdraw,
        name="order-dispute-withdraw",
    ),
    path("orders/<int:pk>/reschedule/", views.order_reschedule, name="order-reschedule"),
    path(
        "orders/<int:pk>/reschedule/accept/",
        views.order_reschedule_accept,
        name="order-reschedule-accept",
    ),
    path(
        "orders/<int:pk>/reschedule/decline/",
        views.order_reschedule_decline,
        name="order-reschedule-decline",
    ),
    path("seller/bookings/", views.seller_bookings, name="seller-bookings"),
    path("orders/<int:pk>/milestones/", views.order_milestones, name="order-milestones"),
    path(
        "orders/<int:pk>/milestones/accept/",
        views.order_milestones_accept,
        name="order-milestones-accept",
    ),
    path(
        "orders/<int:pk>/milestones/<int:milestone_pk>/deliver/",
        views.order_milestone_deliver,
        name="order-milestone-deliver",
    ),
    path(
        "orders/<int:pk>/milestones/<int:milestone_pk>/approve/",
        views.order_milestone_approve,
        name="order-milestone-approve",
    ),
    path("seller/orders/", views.orders_selling, name="orders-selling"),
    path("seller/ledger/", views.seller_ledger, name="seller-ledger"),
]
