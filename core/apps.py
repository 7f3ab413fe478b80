from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Bazaar core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Configure the global stripe module (dj-stripe uses it) once settings are loaded.
        from core import stripe_client

        stripe_client.configure()
