"""{% load durations %}: a length of time in minutes said as people say it ("10 hours",
"1 hour 30 minutes", "2 days"), not "600 minutes"."""

from django import template

register = template.Library()


def _count(number, unit):
    return f"{number} {unit}{'' if number == 1 else 's'}"


@register.filter(name="duration")
def duration(minutes):
    """Whole days when it is whole days, else hours and minutes."""
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        return ""
    if minutes <= 0:
        return _count(0, "minute")
    if minutes % 1440 == 0:
        return _count(minutes // 1440, "day")
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(_count(hours, "hour"))
    if rest:
        parts.append(_count(rest, "minute"))
    return " ".join(parts)
