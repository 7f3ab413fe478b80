from django.apps import AppConfig


class AmazonSyncConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "amazon_sync"
    verbose_name = "Amazon channel"

    def ready(self):
        # The catalogue announces price and stock changes; amazon_sync pushes them to Amazon.
        from amazon_sync import checks, receivers  # noqa: F401
