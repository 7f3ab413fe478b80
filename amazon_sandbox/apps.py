from django.apps import AppConfig


class AmazonSandboxConfig(AppConfig):
    name = "amazon_sandbox"
    verbose_name = "Amazon SP-API sandbox"
    default_auto_field = "django.db.models.BigAutoField"
