"""The save (heart) buttons the catalogue's pages load: `{% load favourites %}` then
`{% favourite_listing_button listing %}` or `{% favourite_store_button store %}`.

favourites owns them so the catalogue need not know about favourites (ARCHITECTURE.md). A page
of cards asks the database once: the ids the person saved are read on the first button and kept
on the request for the others.
"""

from urllib.parse import quote

from django import template
from django.urls import reverse

from favourites import selectors

register = template.Library()


def _saved(context, attr, reader, obj):
    flagged = getattr(obj, "is_favourite", None)
    if flagged is not None:
        return bool(flagged)
    request = context.get("request")
    user = context.get("user")
    if request is None or user is None or not user.is_authenticated:
        return False
    if not hasattr(request, attr):
        setattr(request, attr, reader(user=user))
    return obj.pk in getattr(request, attr)


def _page_links(request):
    """The page's own path and the login link back to it: the same for every button of a page (a
    page of cards has two dozen), so worked out once a request."""
    if request is None:
        return "", f"{reverse('login')}?next="
    if not hasattr(request, "_favourite_links"):
        path = request.get_full_path()
        request._favourite_links = (path, f"{reverse('login')}?next={quote(path, safe='/')}")
    return request._favourite_links


def _button_context(context, saved, **extra):
    here, login = _page_links(context.get("request"))
    return {
        "user": context.get("user"),
        "csrf_token": context.get("csrf_token"),
        "saved": saved,
        "next": here,
        "login_url": login,
        **extra,
    }


@register.inclusion_tag("favourites/listing_button.html", takes_context=True)
def favourite_listing_button(context, listing, compact=False):
    saved = _saved(context, "_favourite_listing_ids", selectors.saved_listing_ids, listing)
    return _button_context(context, saved, listing=listing, compact=compact)


@register.inclusion_tag("favourites/store_button.html", takes_context=True)
def favourite_store_button(context, store):
    saved = _saved(context, "_favourite_store_ids", selectors.saved_store_ids, store)
    return _button_context(context, saved, store=store)
