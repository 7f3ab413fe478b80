"""Time zones people and availabilities are in: IANA names (Europe/Berlin), checked with zoneinfo.

Times are stored in UTC; a person's zone only decides how a time is shown to them, and a
seller's availability's zone decides what its weekly hours mean.
"""

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError


@cache
def _names():
    return frozenset(available_timezones())


@cache
def time_zone_choices():
    return [(name, name.replace("_", " ")) for name in sorted(_names())]


def is_time_zone(name):
    return isinstance(name, str) and name in _names()


def validate_time_zone(value):
    if not is_time_zone(value):
        raise ValidationError(
            "Choose a time zone by its name, e.g. Europe/Berlin or America/New_York.",
            code="invalid_time_zone",
        )


def default_time_zone():
    """The platform's zone (settings.TIME_ZONE): where a new account starts."""
    return settings.TIME_ZONE


def zone(name):
    """ZoneInfo for a stored name; an unknown name (a zone retired from tzdata) falls back to
    the platform's zone rather than failing a page."""
    return ZoneInfo(name if is_time_zone(name) else settings.TIME_ZONE)


def format_local(moment, name, *, with_zone=True):
    """An aware datetime as a person reads it in zone `name`: "Mon 7 Dec 2026, 10:00
    (Europe/Berlin)". Empty for None."""
    if moment is None:
        return ""
    tz = zone(name)
    local = moment.astimezone(tz)
    text = f"{local:%a} {local.day} {local:%b %Y, %H:%M}"
    return f"{text} ({tz.key.replace('_', ' ')})" if with_zone else text
