"""`{% connect_status_for user as connect %}`: a seller's Stripe payouts status in plain words
(accounts.selectors.connect_status), for the seller dashboard panel."""

from django import template

from accounts.selectors import connect_status_for as _connect_status_for

register = template.Library()


@register.simple_tag
def connect_status_for(user):
    return _connect_status_for(user)
