from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default = True
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Receivers connect on import; models must be loaded first, hence here (Django's idiom).
        from accounts import receivers, webhooks  # noqa: F401


class AdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with Bazaar's site (two-factor sign-in for staff) as `admin.site`;
    installed in its place in settings."""

    default = False  # "accounts" itself is AccountsConfig
    default_site = "accounts.admin_site.BazaarAdminSite"
