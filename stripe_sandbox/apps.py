from django.apps import AppConfig


class StripeSandboxConfig(AppConfig):
    name = "stripe_sandbox"
    verbose_name = "Stripe sandbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from stripe_sandbox import resources  # noqa: F401  (registers the API routes)
