"""Helpers other apps' tests may use."""

from django.core.cache import cache

from notifications import services, tasks


def hold_email_drains(monkeypatch):
    """Email drains queued are held, not run (as a real broker holds a task until its countdown
    ends): returns the list their countdowns are added to. Run one with
    services.email_deliveries_drain()."""
    countdowns = []
    monkeypatch.setattr(
        tasks.drain_emails, "apply_async", lambda countdown: countdowns.append(countdown)
    )
    cache.delete(services.DRAIN_FLAG)
    return countdowns
