"""Which events can reach a person: the preferences page and API show (and accept) only those.

Buyers' events reach everyone, sellers' only people with a seller profile (the user model's
`is_seller`, the same check the top bar makes, read from the same cached relation), staff's
only staff.
"""

from notifications.events import EVENTS, Audience


def audiences_of(user):
    audiences = {Audience.EVERYONE}
    if user.is_staff:
        audiences.add(Audience.STAFF)
    if getattr(user, "is_seller", False):
        audiences.add(Audience.SELLERS)
    return audiences


def events_for(user):
    """The events that can reach `user`, in the order of EVENTS."""
    audiences = audiences_of(user)
    return [event for event in EVENTS.values() if event.audience in audiences]
