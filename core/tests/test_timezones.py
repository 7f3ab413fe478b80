"""Which time zone names people and availabilities may be in."""

from zoneinfo import available_timezones

import pytest
from django.core.exceptions import ValidationError

from core import timezones
from core.timezones import is_time_zone, time_zone_choices, validate_time_zone, zone


@pytest.mark.parametrize(
    "name",
    ["localtime", "Factory", "posixrules", "posix/Europe/Berlin", "right/UTC", "right/Asia/Tokyo"],
)
def test_names_that_are_not_places_are_refused(name):
    assert not is_time_zone(name)
    assert name not in {value for value, _ in time_zone_choices()}
    with pytest.raises(ValidationError):
        validate_time_zone(name)


def test_a_tzdata_that_lists_posix_and_right_copies_offers_only_the_places(monkeypatch):
    listed = {"Europe/Berlin", "UTC", "localtime", "Factory", "posix/Europe/Berlin", "right/UTC"}
    monkeypatch.setattr(timezones, "available_timezones", lambda: listed)
    timezones._names.cache_clear()
    try:
        assert timezones._names() == {"Europe/Berlin", "UTC"}
    finally:
        timezones._names.cache_clear()


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
def test_places_are_time_zones(name):
    assert name in available_timezones()
    assert is_time_zone(name)
    validate_time_zone(name)


def test_a_stored_name_no_longer_allowed_falls_back_to_the_platforms_zone(settings):
    assert zone("localtime").key == settings.TIME_ZONE
