"""Times as a person reads them: `{{ moment|local_time:zone_name }}` -> "Mon 7 Dec 2026, 10:00
(Europe/Berlin)"; `{{ moment|local_time_short:zone_name }}` without the zone's name."""

from django import template

from core.timezones import format_local

register = template.Library()


@register.filter
def local_time(moment, zone_name):
    return format_local(moment, zone_name)


@register.filter
def local_time_short(moment, zone_name):
    return format_local(moment, zone_name, with_zone=False)
