from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Receivers connect on import; models must be loaded first, hence here (Django's idiom).
        from payouts import webhooks  # noqa: F401  (the Stripe event receivers)
