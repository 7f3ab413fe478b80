"""The few lines of iCalendar (RFC 5545) a booking's email carries, so both sides can add the
time to their calendar: one VEVENT, METHOD:REQUEST, UID derived from the booking (a moved
booking keeps its UID with a higher SEQUENCE, so calendars update the event instead of adding
a second one), DTSTART/DTEND in UTC."""

from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings

from core import clock

PRODID = "-//Bazaar//Bookings//EN"


def _escape(text):
    """TEXT values: backslash, semicolon, comma and newlines escaped (RFC 5545 3.3.11)."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line):
    """Lines longer than 75 octets are folded (RFC 5545 3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start = [], 0
    while start < len(data):
        size = 75 if not parts else 74
        end = min(start + size, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never split a UTF-8 character
            end -= 1
        parts.append(data[start:end].decode())
        start = end
    return "\r\n ".join(parts)


def _utc(moment):
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def booking_uid(booking):
    host = urlsplit(settings.SITE_URL).hostname or "bazaar"
    return f"booking-{booking.pk}@{host}"


def booking_invitation(*, booking, summary, description, organizer, attendee, url):
    """The invitation for a booking as iCalendar text (CRLF line endings)."""
    now = clock.now()
    absolute = url if url.startswith("http") else settings.SITE_URL + url
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        f"UID:{booking_uid(booking)}",
        f"SEQUENCE:{int(now.timestamp())}",
        f"DTSTAMP:{_utc(now)}",
        f"DTSTART:{_utc(booking.starts_at)}",
        f"DTEND:{_utc(booking.ends_at)}",
        f"SUMMARY:{_escape(summary)}",
        f"DESCRIPTION:{_escape(description + ' ' + absolute)}",
        f"URL:{absolute}",
        f"ORGANIZER;CN={_escape(organizer.get_short_name() or organizer.email)}:"
        f"mailto:{organizer.email}",
        f"ATTENDEE;CN={_escape(attendee.get_short_name() or attendee.email)};ROLE=REQ-PARTICIPANT;"
        f"PARTSTAT=ACCEPTED:mailto:{attendee.email}",
        "STATUS:CONFIRMED",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
