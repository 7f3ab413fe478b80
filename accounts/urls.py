"""Account pages, mounted at /accounts/. Django's auth views run with Bazaar's templates."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import two_factor_views, views
from accounts.forms import LoginForm

urlpatterns = [
    path("", views.account, name="account"),
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("email/", views.email_change, name="email-change"),
    path("email/resend/", views.email_resend, name="email-resend"),
    path("email/confirm/<str:key>/", views.email_confirm, name="email-confirm"),
    path("become-a-seller/", views.seller_onboard, name="seller-onboard"),
    path("addresses/", views.shipping_addresses, name="shipping-addresses"),
    path(
        "addresses/<int:pk>/default/",
        views.shipping_address_default,
        name="shipping-address-default",
    ),
    path(
        "addresses/<int:pk>/delete/",
        views.shipping_address_delete,
        name="shipping-address-delete",
    ),
    path("two-factor/", two_factor_views.two_factor, name="two-factor"),
    path("connect/", include("accounts.connect_urls")),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
