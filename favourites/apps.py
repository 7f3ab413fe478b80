from django.apps import AppConfig


class FavouritesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "favourites"

    def ready(self):
        # The catalogue announces price drops and restocks; favourites alerts who saved them.
        from favourites import receivers  # noqa: F401
