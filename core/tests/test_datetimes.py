"""The years Bazaar takes dates and times in: 1970 to 2999."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError

from core.datetimes import (
    date_in_bounds,
    moment_in_bounds,
    validate_date_in_bounds,
    validate_moment_in_bounds,
)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_times_inside_the_bounds_come_back_in_utc(moment):
    assert moment_in_bounds(moment) == moment
    assert moment_in_bounds(moment).tzinfo == UTC
    validate_moment_in_bounds(moment)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(3000, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # 1969 in UTC
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14))),  # overflows in UTC
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=12))),  # overflows in UTC
    ],
)
def test_times_outside_the_bounds_are_refused_in_words(moment):
    with pytest.raises(ValidationError) as refused:
        moment_in_bounds(moment)
    assert refused.value.messages == ["Give a date from 1970 to 2999."]


@pytest.mark.parametrize(
    ("day", "inside"),
    [
        (date(1970, 1, 1), True),
        (date(2999, 12, 31), True),
        (date(1969, 12, 31), False),
        (date(3000, 1, 1), False),
        (date(9999, 12, 31), False),
        (date(1, 1, 1), False),
    ],
)
def test_dates(day, inside):
    assert date_in_bounds(day) is inside
    if inside:
        validate_date_in_bounds(day)
    else:
        with pytest.raises(ValidationError):
            validate_date_in_bounds(day)
