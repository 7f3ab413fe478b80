"""Reviews change the ratings the catalogue shows: a saved or deleted review makes the cached
anonymous catalogue responses stale (core/http_cache.py). A review revealed by the clock alone
(its window ended) sends no signal; the cache's TTL and the version's lifetime bound that.
"""

from django.db.models.signals import post_delete, post_save

from core.http_cache import bump_catalogue_version
from reviews.models import Review


def ratings_changed(sender, **kwargs):
    bump_catalogue_version()


def connect():
    post_save.connect(ratings_changed, sender=Review, dispatch_uid="http-cache-review")
    post_delete.connect(ratings_changed, sender=Review, dispatch_uid="http-cache-review-delete")
