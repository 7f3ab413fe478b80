"""The dates and times Bazaar takes from people: years 1970 to 2999, the one rule every form, API
field and service checks them with.

Python's datetime ends at 9999-12-31, so adding a slot's length, a buffer or a zone's offset to a
time near either end raises OverflowError deep in a computation: a date or time from input is
checked against these bounds before anything computes with it. Nothing Bazaar books, plans or
lists lies outside them.
"""

from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError

FIRST_YEAR = 1970
LAST_YEAR = 2999
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
# The first instant after the bounds: a time must be before it.
AFTER_LAST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
OUT_OF_BOUNDS = f"Give a date from {FIRST_YEAR} to {LAST_YEAR}."


def moment_in_bounds(value):
    """`value` (an aware datetime) in UTC, or ValidationError when it is outside the bounds
    (also when converting it to UTC would overflow: 9999-12-31T23:00-14:00)."""
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST <= instant < AFTER_LAST:
        raise ValidationError(OUT_OF_BOUNDS, code="out_of_bounds")
    return instant


def validate_moment_in_bounds(value):
    """A Django validator for an aware datetime (form and model fields)."""
    if value is not None:
        moment_in_bounds(value)


def date_in_bounds(value: date) -> bool:
    return FIRST_YEAR <= value.year <= LAST_YEAR


def validate_date_in_bounds(value):
    """A Django validator for a date (form and model fields)."""
    if value is not None and not date_in_bounds(value):
        raise ValidationError(OUT_OF_BOUNDS, code="out_of_bounds")
