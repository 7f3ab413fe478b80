from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Receivers connect on import; models must be loaded first, hence here (Django's idiom).
        from accounts import receivers, webhooks  # noqa: F401
