"""The Saved page and the save buttons' form posts (they work without JavaScript; with it,
static/js/favourites.js posts the same forms and gets JSON back instead of a redirect).

Anonymous visitors are sent to log in and come back to the page they were on.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ValidationFailed
from core.http import safe_next_url
from favourites import selectors, services

FETCH_HEADER = "X-Requested-With"
FETCH_VALUE = "favourites"


@login_required
@require_GET
def saved(request):
    size = settings.BAZAAR_PAGE_SIZE
    listings_page = Paginator(selectors.listing_favourites_for(user=request.user), size).get_page(
        request.GET.get("listings_page")
    )
    stores_page = Paginator(selectors.store_favourites_for(user=request.user), size).get_page(
        request.GET.get("stores_page")
    )
    listings = [favourite.listing for favourite in listings_page]
    for listing in listings:
        listing.is_favourite = True  # the heart on each card: saved, no need to ask again
    stores = [favourite.store for favourite in stores_page]
    return render(
        request,
        "favourites/saved.html",
        {
            "listings_page": listings_page,
            "listings": listings,
            "stores_page": stores_page,
            "stores": stores,
        },
    )


def _answer(request, *, back, saved, action, message):
    """JSON for the script, else a message and back to the page the button was on."""
    if request.headers.get(FETCH_HEADER) == FETCH_VALUE:
        return JsonResponse({"saved": saved, "action": action, "message": message})
    messages.success(request, message)
    return redirect(back)


def _refused(request, *, back, exc):
    if request.headers.get(FETCH_HEADER) == FETCH_VALUE:
        return JsonResponse({"errors": exc.errors}, status=400)
    messages.error(request, exc.message)
    return redirect(back)


@require_POST
def listing_save(request, pk):
    back = safe_next_url(request, reverse("listing-detail", kwargs={"pk": pk}))
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    try:
        favourite, _ = services.listing_favourite_add(user=request.user, listing_id=pk)
    except ValidationFailed as exc:
        # Its page may be gone (archived): back where the button was, else to browsing.
        return _refused(request, back=safe_next_url(request, reverse("listing-list")), exc=exc)
    return _answer(
        request,
        back=back,
        saved=True,
        action=reverse("favourites:listing-unsave", kwargs={"pk": pk}),
        message=f"“{favourite.listing.title}” is in your saved listings.",
    )


@require_POST
def listing_unsave(request, pk):
    back = safe_next_url(request, reverse("favourites:saved"))
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    services.listing_favourite_remove(user=request.user, listing_id=pk)
    return _answer(
        request,
        back=back,
        saved=False,
        action=reverse("favourites:listing-save", kwargs={"pk": pk}),
        message="Removed from your saved listings.",
    )


@require_POST
def store_save(request, slug):
    back = safe_next_url(request, reverse("store", kwargs={"slug": slug}))
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    try:
        favourite, _ = services.store_favourite_add(user=request.user, store_slug=slug)
    except ValidationFailed as exc:
        return _refused(request, back=reverse("home"), exc=exc)
    return _answer(
        request,
        back=back,
        saved=True,
        action=reverse("favourites:store-unsave", kwargs={"slug": slug}),
        message=f"{favourite.store.name} is in your saved stores.",
    )


@require_POST
def store_unsave(request, slug):
    back = safe_next_url(request, reverse("favourites:saved"))
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    services.store_favourite_remove(user=request.user, store_slug=slug)
    return _answer(
        request,
        back=back,
        saved=False,
        action=reverse("favourites:store-save", kwargs={"slug": slug}),
        message="Removed from your saved stores.",
    )
