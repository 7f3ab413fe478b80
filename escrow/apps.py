from django.apps import AppConfig


class EscrowConfig(AppConfig):
    name = "escrow"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from escrow import webhooks  # noqa: F401  (connects the Stripe event receivers)
