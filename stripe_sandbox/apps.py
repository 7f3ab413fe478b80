from django.apps import AppConfig


class StripeSandboxConfig(AppConfig):
    name = "stripe_sandbox"
    verbose_name = "Stripe sandbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Importing the resource modules registers the API routes with the router. Here, not at
        # the top: they import the models, which Django loads only after this module.
        from stripe_sandbox import resources  # noqa: F401
