"""Order page helpers.

`{% order_buy_box listing %}`: the listing page's buy form (or why there is none), so the
catalogue's listing view need not know about orders; for a service with bookable times, a week
of its free slots (?week=YYYY-MM-DD) in the viewer's zone, each slot a button that orders it.
`{{ seconds|time_left }}`: 273600 -> "3 days 4 hours".
`{{ order.commission_bps|percent_bps }}`: 1000 -> "10%".
`{{ refund|refund_origin }}`: "Started by the seller", ... (who or what started a refund).
"""

from datetime import date
from decimal import Decimal

from django import template

from accounts.selectors import seller_can_accept_payments
from escrow.forms import OrderCreateForm
from escrow.selectors import slot_week
from marketplace.models import ListingKind, ListingStatus
from marketplace.selectors import availability_for_listing

register = template.Library()


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


@register.filter
def time_left(seconds):
    """Whole seconds to the two largest units people read: "3 days 4 hours", "5 minutes"."""
    try:
        seconds = max(0, int(seconds))
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return "less than a minute"
    # Count whole minutes up: a deadline 14 days away, read a second later, still says "14 days".
    seconds = -(-seconds // 60) * 60
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        parts = [_plural(days, "day")] + ([_plural(hours, "hour")] if hours else [])
    elif hours:
        parts = [_plural(hours, "hour")] + ([_plural(minutes, "minute")] if minutes else [])
    else:
        parts = [_plural(minutes, "minute")]
    return " ".join(parts)


@register.filter
def percent_bps(bps):
    """Basis points as a percentage: 1000 -> "10%", 850 -> "8.5%"."""
    try:
        value = Decimal(int(bps)) / 100
    except (TypeError, ValueError):
        return ""
    return f"{value.normalize():f}%"


@register.inclusion_tag("escrow/includes/order_buy_form.html", takes_context=True)
def order_buy_box(context, listing):
    user = context.get("user")
    is_authenticated = bool(user and user.is_authenticated)
    is_owner = is_authenticated and listing.store.owner_id == user.pk
    state = "form"
    if listing.status != ListingStatus.APPROVED or is_owner:
        state = "none"
    elif not seller_can_accept_payments(listing.store.owner):
        state = "no_payments"
    elif listing.kind == ListingKind.PRODUCT and listing.stock is not None and listing.stock < 1:
        state = "sold_out"
    elif not is_authenticated:
        state = "login"
    submitted = context.get("buy_form")
    form = None
    if state == "form":
        form = submitted or OrderCreateForm(listing=listing)
    week = None
    if state in ("form", "login") and listing.kind == ListingKind.SERVICE:
        week = _slot_week(listing, user, context.get("request"))
    return {
        "week": week,
        "user": user,
        # Why a submitted order was refused, when there is no form left to show it next to.
        "refusals": submitted.non_field_errors() if submitted and state == "none" else [],
        "state": state,
        "listing": listing,
        "form": form,
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
    }


def _slot_week(listing, user, request):
    """A bookable service's week of free slots in the viewer's zone (the seller's for anonymous
    visitors); None for a service ordered without a time."""
    availability = availability_for_listing(listing_id=listing.pk)
    if availability is None or not listing.duration_minutes:
        return None
    zone_name = user.time_zone if user and user.is_authenticated else availability.time_zone
    try:
        week = date.fromisoformat(request.GET.get("week", "")) if request else None
    except ValueError:
        week = None
    return slot_week(listing=listing, availability=availability, time_zone=zone_name, week=week)


# Who started a refund and why it came about, as the order page says it.
REFUND_ORIGINS = {
    "seller": "Started by the seller",
    "staff": "Started by Bazaar's team",
    "cancellation": "The order was cancelled",
    "dispute": "The dispute was resolved",
    "duplicate_payment": "Paid twice: the second payment goes back",
    "late_payment": "Paid after the order had closed",
    "external": "Made in Stripe's dashboard",
}


@register.filter
def refund_origin(refund):
    """`{{ refund|refund_origin }}`: "Started by the seller", "The order was cancelled", ..."""
    return REFUND_ORIGINS.get(refund.initiator, refund.get_initiator_display())
