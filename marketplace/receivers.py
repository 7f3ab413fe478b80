"""The catalogue's reactions to its own models' signals.

Anonymous visitors are served the public pages and API lists from a cache keyed on a catalogue
version (core/http_cache.py). Any saved or deleted category, store, listing or listing image can
change what those show (a listing approved, a price changed, a photo added, a store renamed), so
each bumps the version after its transaction commits. Stock moved by an UPDATE (orders) sends no
signal: marketplace.services bumps it there itself.
"""

from django.db.models.signals import post_delete, post_save

from core.http_cache import bump_catalogue_version
from marketplace.models import Category, Listing, ListingImage, Store


def catalogue_changed(sender, **kwargs):
    bump_catalogue_version()


def connect():
    for model in (Category, Store, Listing, ListingImage):
        post_save.connect(
            catalogue_changed, sender=model, dispatch_uid=f"http-cache-{model.__name__}"
        )
        post_delete.connect(
            catalogue_changed, sender=model, dispatch_uid=f"http-cache-{model.__name__}-delete"
        )
