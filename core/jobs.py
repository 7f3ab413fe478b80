"""The periodic jobs Celery beat runs (settings.CELERY_BEAT_SCHEDULE) in words, for the admin's
jobs page (accounts.admin_site)."""

from datetime import timedelta

from celery.schedules import crontab
from django.conf import settings
from django.utils.module_loading import import_string


def periodic_jobs():
    """The beat schedule as rows for the admin's jobs page: name, task, when (in words) and what
    the job does (its task's docstring), in the order settings list them."""
    rows = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        try:
            doc = (import_string(entry["task"]).__doc__ or "").strip()
        except ImportError:
            doc = "(the task cannot be found: check its name in CELERY_BEAT_SCHEDULE)"
        rows.append(
            {
                "name": name,
                "task": entry["task"],
                "when": schedule_words(entry["schedule"]),
                "what": doc.split("\n\n")[0],
            }
        )
    return rows


def schedule_words(schedule):
    """A beat schedule in words: "every 5 minutes", "every day at 03:30 (Europe/...)"."""
    if isinstance(schedule, timedelta):
        schedule = schedule.total_seconds()
    if isinstance(schedule, int | float):
        seconds = int(schedule)
        for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
            if seconds % size == 0:
                count = seconds // size
                return f"every {unit}" if count == 1 else f"every {count} {unit}s"
        return f"every {seconds} seconds"
    if isinstance(schedule, crontab):
        minute, hour = str(schedule._orig_minute), str(schedule._orig_hour)
        rest = (
            str(schedule._orig_day_of_week),
            str(schedule._orig_day_of_month),
            str(schedule._orig_month_of_year),
        )
        if minute.isdigit() and hour.isdigit() and rest == ("*", "*", "*"):
            return f"every day at {int(hour):02d}:{int(minute):02d} ({settings.CELERY_TIMEZONE})"
        fields = " ".join((minute, hour, rest[1], rest[2], rest[0]))
        return f"cron {fields} ({settings.CELERY_TIMEZONE})"
    return str(schedule)
