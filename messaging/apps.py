from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Receivers connect on import; models must be loaded first, hence here (Django's idiom).
        from messaging import receivers  # noqa: F401
