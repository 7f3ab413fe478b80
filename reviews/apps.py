from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The catalogue shows ratings without importing this app (it sits above marketplace):
        # it asks the functions registered here (marketplace/ratings.py).
        from marketplace import ratings
        from reviews import selectors

        ratings.register(listings=selectors.rate_listings, stores=selectors.stores_with_ratings)
        # A review written, replied to, hidden or removed can change the ratings the cached
        # anonymous catalogue pages show (core/http_cache.py).
        from reviews import receivers

        receivers.connect()
