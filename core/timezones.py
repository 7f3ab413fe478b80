"""Time zones people and availabilities are in: IANA names (Europe/Berlin), checked with zoneinfo.

Times are stored in UTC; a person's zone only decides how a time is shown to them, and a
seller's availability's zone decides what its weekly hours mean.
"""

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError

# Names in the zone database that are not a place a person is in: "localtime" is whatever zone
# the server's machine is set to, "Factory" a placeholder that shows "-00", "posixrules" the
# default rules file, and the posix/ and right/ trees are copies of every zone (right/ counting
# leap seconds, which Python's datetimes do not). Some tzdata installs list them; none is offered.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})
NOT_PLACE_PREFIXES = ("posix/", "right/")


def _is_place(name):
    return name not in NOT_PLACES and not name.startswith(NOT_PLACE_PREFIXES)


@cache
def _names():
    return frozenset(name for name in available_timezones() if _is_place(name))


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
