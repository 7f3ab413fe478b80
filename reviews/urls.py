"""Review pages. URL names are a contract: the order page and the store's tabs reverse them."""

from django.urls import path

from reviews import views

urlpatterns = [
    path("orders/<int:pk>/review/", views.order_review, name="order-review"),
    path("reviews/<int:pk>/reply/", views.review_reply, name="review-reply"),
    path("stores/<slug:slug>/reviews/", views.store_reviews, name="store-reviews"),
]
