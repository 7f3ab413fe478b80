"""Free slots of a bookable service: its availability's weekly hours and exceptions, turned
into start times buyers may pick. Pure: no queries beyond the availability's own windows and
exceptions (prefetch them), no clock (the caller passes `now`), no writes.

How a day's slots are made
--------------------------
The availability's hours are wall-clock times in its zone (the seller's). For each local date,
the day's hours are the weekly windows of its weekday (none when an exception closes the date)
plus the date's extra hours, merged where they touch. In each stretch, slots start at its
start and then every `duration + buffer` minutes *of wall-clock time*, so a seller who works
9:00-17:00 offers 9:00, 10:00, ... whatever the season. A slot must end (start + duration, in
real time) by the stretch's end; its buffer may run past it.

Daylight saving time: a wall-clock start that does not exist that day (02:30 when clocks jump
from 02:00 to 03:00) is skipped; a start that exists twice (clocks going back) is offered once,
at its first occurrence; and a start that would overlap the previous slot of the same stretch in
real time (possible on the short day) is skipped too, so offered slots never overlap.

A slot is offered when it starts at least `min_notice_minutes` after `now`, less than
`horizon_days` after `now`, within [start, end) asked for, and when the slot plus its buffer,
[slot start, slot end + buffer), overlaps no busy range: the same range a booking blocks, so a
slot offered here is one the database's exclusion constraint accepts.
"""

from datetime import UTC, date, datetime, time, timedelta

from core.timezones import zone

MAX_RANGE = timedelta(days=62)


def _day_hours(day, windows_by_weekday, exceptions_by_date):
    """The merged (start_time, end_time) stretches of a local date."""
    exceptions = exceptions_by_date.get(day, [])
    closed = any(e.start_time is None for e in exceptions)
    hours = [] if closed else list(windows_by_weekday.get(day.weekday(), []))
    hours += [(e.start_time, e.end_time) for e in exceptions if e.start_time is not None]
    merged = []
    for start, end in sorted(hours):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# Arithmetic and comparisons are done in UTC: Python compares and adds two datetimes of the same
# ZoneInfo by their wall-clock times, which is wrong across a clock change.


def _local(day, wall, tz):
    """The instant (UTC) of a wall-clock time, or None when that time does not exist that day."""
    moment = datetime.combine(day, wall, tzinfo=tz)
    instant = moment.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != moment.replace(tzinfo=None):
        return None  # in the gap of a spring-forward change
    return instant


def _wall_end(day, wall, tz):
    """The instant (UTC) a stretch ends; an end in a spring-forward gap ends at the gap's end."""
    return _local(day, wall, tz) or datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)


def _overlaps(start, end, busy):
    return any(b_start < end and start < b_end for b_start, b_end in busy)


def open_slots(availability, duration_minutes, start, end, *, busy=(), now):
    """Start times (aware, UTC, ascending) of the free slots beginning in [start, end).

    `busy`: (start, blocked_until) ranges already taken (the seller's held and confirmed
    bookings). `now`: the current time (core.clock.now() in the product).
    """
    if not duration_minutes or end <= start:
        return []
    tz = zone(availability.time_zone)
    duration = timedelta(minutes=duration_minutes)
    buffer = timedelta(minutes=availability.buffer_minutes)
    step = duration + buffer
    start, end, now = (moment.astimezone(UTC) for moment in (start, end, now))
    earliest = max(start, now + timedelta(minutes=availability.min_notice_minutes))
    latest = min(end, now + timedelta(days=availability.horizon_days))
    if latest <= earliest:
        return []
    busy = sorted((b_start.astimezone(UTC), b_end.astimezone(UTC)) for b_start, b_end in busy)

    windows_by_weekday = {}
    for window in availability.windows.all():
        windows_by_weekday.setdefault(window.weekday, []).append(
            (window.start_time, window.end_time)
        )
    exceptions_by_date = {}
    for exception in availability.exceptions.all():
        exceptions_by_date.setdefault(exception.date, []).append(exception)

    slots = []
    # A local date's slots can begin up to a day either side of the UTC range.
    day = earliest.astimezone(tz).date() - timedelta(days=1)
    last_day = latest.astimezone(tz).date() + timedelta(days=1)
    while day <= last_day:
        for wall_start, wall_end in _day_hours(day, windows_by_weekday, exceptions_by_date):
            stretch_end = _wall_end(day, wall_end, tz)
            previous_end = None
            cursor = datetime.combine(day, wall_start)
            while True:
                if cursor.date() != day:
                    break
                slot_start = _local(day, cursor.time(), tz)
                cursor += step
                if slot_start is None:
                    continue
                if slot_start + duration > stretch_end:
                    break
                if previous_end is not None and slot_start < previous_end:
                    continue
                previous_end = slot_start + step
                if not earliest <= slot_start < latest:
                    continue
                if _overlaps(slot_start, slot_start + step, busy):
                    continue
                slots.append(slot_start)
        day += timedelta(days=1)
    return sorted(slots)


def is_open_slot(availability, duration_minutes, slot_start, *, busy=(), now):
    """Whether `slot_start` (aware) is one of the free slots."""
    return slot_start in open_slots(
        availability,
        duration_minutes,
        slot_start,
        slot_start + timedelta(microseconds=1),
        busy=busy,
        now=now,
    )


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def local_midnight(day: date, tz) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)
