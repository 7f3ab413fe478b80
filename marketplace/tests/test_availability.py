"""Free slots from weekly hours, exceptions, buffers, notice, horizon and daylight saving time
(marketplace.availability.open_slots)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from marketplace.availability import is_open_slot, open_slots
from marketplace.factories import ServiceListingFactory, availability_for

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
# A Monday, far from any clock change.
MONDAY = date(2027, 1, 4)
NOW = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def local(day, hour, minute=0, tz=BERLIN):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def slots_on(availability, day, duration=60, busy=(), now=NOW, tz=None):
    tz = tz or ZoneInfo(availability.time_zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return open_slots(availability, duration, start, start + timedelta(days=1), busy=busy, now=now)


def walls(slots, tz=BERLIN):
    return [s.astimezone(tz).strftime("%H:%M") for s in slots]


def test_weekly_hours_make_slots_of_the_duration_in_the_sellers_zone():
    availability = availability_for(
        ServiceListingFactory(),
        time_zone="Europe/Berlin",
        weekly={0: [("09:00", "12:00"), ("14:00", "16:00")]},
    )

    slots = slots_on(availability, MONDAY)

    assert walls(slots) == ["09:00", "10:00", "11:00", "14:00", "15:00"]
    # Berlin is UTC+1 in January: returned as UTC.
    assert slots[0] == utc(2027, 1, 4, 8, 0)
    assert all(s.tzinfo == UTC for s in slots)
    # Tuesday has no hours.
    assert slots_on(availability, MONDAY + timedelta(days=1)) == []


def test_a_slot_must_end_inside_the_window():
    availability = availability_for(ServiceListingFactory(), weekly={0: [("09:00", "11:30")]})

    assert walls(slots_on(availability, MONDAY, duration=60), tz=UTC) == ["09:00", "10:00"]
    assert walls(slots_on(availability, MONDAY, duration=150), tz=UTC) == ["09:00"]
    assert slots_on(availability, MONDAY, duration=151) == []


def test_the_buffer_follows_each_slot_and_busy_ranges_take_slots_away():
    availability = availability_for(
        ServiceListingFactory(), weekly={0: [("09:00", "13:00")]}, buffer_minutes=30
    )

    assert walls(slots_on(availability, MONDAY), tz=UTC) == ["09:00", "10:30", "12:00"]
    # A booking 10:30-11:30 blocking until 12:00 takes 10:30 away.
    busy = [(utc(2027, 1, 4, 10, 30), utc(2027, 1, 4, 12, 0))]
    assert walls(slots_on(availability, MONDAY, busy=busy), tz=UTC) == ["09:00", "12:00"]
    # A booking blocking 10:00-10:10 takes 09:00 (its buffer runs to 10:30) and 10:30 stays.
    busy = [(utc(2027, 1, 4, 10, 0), utc(2027, 1, 4, 10, 10))]
    assert walls(slots_on(availability, MONDAY, busy=busy), tz=UTC) == ["10:30", "12:00"]


def test_exceptions_close_a_day_or_add_hours():
    availability = availability_for(
        ServiceListingFactory(),
        weekly={0: [("09:00", "11:00")]},
        exceptions=[
            (MONDAY, None),
            (MONDAY + timedelta(days=7), ("15:00", "16:00")),
            (MONDAY + timedelta(days=8), ("10:00", "12:00")),
            # Closed and extra hours on one date: the extra hours replace the day's.
            (MONDAY + timedelta(days=14), None),
            (MONDAY + timedelta(days=14), ("13:00", "14:00")),
        ],
    )

    assert slots_on(availability, MONDAY) == []
    assert walls(slots_on(availability, MONDAY + timedelta(days=7)), tz=UTC) == [
        "09:00",
        "10:00",
        "15:00",
    ]
    assert walls(slots_on(availability, MONDAY + timedelta(days=8)), tz=UTC) == [
        "10:00",
        "11:00",
    ]
    assert walls(slots_on(availability, MONDAY + timedelta(days=14)), tz=UTC) == ["13:00"]


def test_minimum_notice_and_horizon_bound_the_slots():
    availability = availability_for(
        ServiceListingFactory(),
        weekly={0: [("09:00", "12:00")]},
        min_notice_minutes=90,
        horizon_days=7,
    )
    now = utc(2027, 1, 4, 8, 0)

    # 09:00 is only 60 minutes away; 10:00 is exactly 120, 09:30 would be 90.
    assert walls(slots_on(availability, MONDAY, now=now), tz=UTC) == ["10:00", "11:00"]
    # Next Monday 09:00 is 7 days and 1 hour away: beyond the horizon.
    assert slots_on(availability, MONDAY + timedelta(days=7), now=now) == []
    # Exactly at the horizon's edge: excluded; just inside: offered.
    assert slots_on(availability, MONDAY + timedelta(days=7), now=utc(2027, 1, 4, 9, 1)) == [
        utc(2027, 1, 11, 9, 0)
    ]


def test_spring_forward_in_berlin_skips_the_missing_hour():
    # 29 March 2026: clocks jump from 02:00 to 03:00 (UTC+1 -> UTC+2).
    day = date(2026, 3, 29)
    availability = availability_for(
        ServiceListingFactory(),
        time_zone="Europe/Berlin",
        weekly={day.weekday(): [("01:00", "05:00")]},
    )

    slots = slots_on(availability, day, now=utc(2026, 3, 1))

    assert walls(slots) == ["01:00", "03:00", "04:00"]
    assert slots == [utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0)]


def test_spring_forward_never_offers_overlapping_slots():
    day = date(2026, 3, 29)
    availability = availability_for(
        ServiceListingFactory(),
        time_zone="Europe/Berlin",
        weekly={day.weekday(): [("01:30", "05:00")]},
    )

    slots = slots_on(availability, day, duration=45, now=utc(2026, 3, 1))

    for first, second in zip(slots, slots[1:], strict=False):
        assert second - first >= timedelta(minutes=45)
    # The wall-clock grid is 01:30, 02:15, 03:00, 03:45, 04:30: 02:15 does not exist, 03:00
    # would overlap 01:30 (which ends at 03:15 local) and 04:30 would end after 05:00.
    assert walls(slots) == ["01:30", "03:45"]


def test_fall_back_in_berlin_offers_each_wall_time_once():
    # 25 October 2026: clocks go back from 03:00 to 02:00 (UTC+2 -> UTC+1).
    day = date(2026, 10, 25)
    availability = availability_for(
        ServiceListingFactory(),
        time_zone="Europe/Berlin",
        weekly={day.weekday(): [("01:00", "04:00")], 0: [("09:00", "10:00")]},
    )

    slots = slots_on(availability, day, now=utc(2026, 10, 1))

    assert walls(slots) == ["01:00", "02:00", "03:00"]
    # 02:00 is its first occurrence (still summer time, UTC+2).
    assert slots[1] == utc(2026, 10, 25, 0, 0)
    # The next day's 09:00 is winter time: 08:00 UTC.
    monday = slots_on(availability, date(2026, 10, 26), now=utc(2026, 10, 1))
    assert monday == [utc(2026, 10, 26, 8, 0)]


def test_a_buyer_in_another_zone_asks_for_their_own_day():
    availability = availability_for(
        ServiceListingFactory(),
        time_zone="Europe/Berlin",
        weekly={0: [("09:00", "10:00")], 1: [("09:00", "10:00")]},
    )
    new_york = ZoneInfo("America/New_York")

    # Sunday evening in New York to Monday evening in New York covers Monday 09:00 Berlin
    # (03:00 in New York); a day's range in New York on Monday covers it too.
    slots = slots_on(availability, MONDAY, tz=new_york)

    assert slots == [utc(2027, 1, 4, 8, 0)]
    assert slots[0].astimezone(new_york).strftime("%a %H:%M") == "Mon 03:00"


def test_is_open_slot_accepts_only_a_slot_start():
    availability = availability_for(ServiceListingFactory(), weekly={0: [("09:00", "12:00")]})

    assert is_open_slot(availability, 60, utc(2027, 1, 4, 10, 0), now=NOW)
    assert not is_open_slot(availability, 60, utc(2027, 1, 4, 10, 30), now=NOW)
    assert not is_open_slot(
        availability,
        60,
        utc(2027, 1, 4, 10, 0),
        busy=[(utc(2027, 1, 4, 9, 30), utc(2027, 1, 4, 10, 30))],
        now=NOW,
    )
