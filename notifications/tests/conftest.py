import pytest
from django.core.cache import cache

from notifications import services
from notifications.testing import hold_email_drains


@pytest.fixture
def queued_drains(monkeypatch):
    """Drains queued but not run (as with a real broker): their countdowns, in a list."""
    yield hold_email_drains(monkeypatch)
    cache.delete(services.DRAIN_FLAG)
