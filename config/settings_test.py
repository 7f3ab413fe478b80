"""Settings for the test suite: the normal settings in test mode (eager Celery, locmem email)."""

import os

os.environ.setdefault("DJANGO_ENV", "test")

from config.settings import *  # noqa: E402,F403
