"""`{{ listing.price_cents|money:listing.currency }}` -> "US$12.50"."""

from django import template
from django.conf import settings

from core.money import format_money

register = template.Library()


@register.filter(name="money")
def money(amount_cents, currency=None):
    """Format integer minor units for people; empty input renders as an empty string."""
    if amount_cents in (None, ""):
        return ""
    try:
        cents = int(amount_cents)
    except (TypeError, ValueError):
        return ""
    return format_money(cents, currency or settings.BAZAAR_DEFAULT_CURRENCY)
