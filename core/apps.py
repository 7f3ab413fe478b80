from django.apps import AppConfig

from core import checks, stripe_client


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Bazaar core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        checks.register_all()
        # Point the global stripe module (dj-stripe uses it) at Stripe or the sandbox, once
        # settings are loaded.
        stripe_client.configure()
        # The webhook intake's endpoint cache is dropped when an endpoint is saved (a receiver
        # there), in every process, whether or not it serves the intake.
        from core import stripe_webhooks  # noqa: F401  (djstripe's models load only once ready)
