"""The Amazon sync badge the catalogue's seller pages load: `{% load amazon %}` then
`{% amazon_sync_badge listing %}`, linking to the listing's Amazon page.

amazon_sync owns it so the catalogue need not know about Amazon (ARCHITECTURE.md). A page of
listings asks the database once: the seller's sync rows are read on the first badge and kept on
the request for the others.
"""

from django import template

from amazon_sync import selectors

register = template.Library()


@register.inclusion_tag("amazon_sync/sync_badge_link.html", takes_context=True)
def amazon_sync_badge(context, listing):
    # The seller's own pages: the signed-in person owns every listing shown.
    request = context.get("request")
    if request is None:
        rows = selectors.sync_for_listings([listing])
    else:
        if not hasattr(request, "_amazon_sync_rows"):
            request._amazon_sync_rows = selectors.sync_by_listing_for_seller(user=request.user)
        rows = request._amazon_sync_rows
    return {"listing": listing, "sync": rows.get(listing.pk)}
