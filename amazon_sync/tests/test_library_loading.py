"""Web workers never call Amazon (Celery's tasks and a seller connecting an account do), so the
SP-API client library is imported on first use, not with the project: a web process serving the
catalogue does not carry it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVE_A_PAGE = """
import sys
import django
django.setup()
from django.test import Client
import config.urls  # every app's URLs, views, APIs and services
assert Client().get("/health/").status_code == 200
print("sp_api" in sys.modules)
"""


def test_the_project_and_a_request_do_not_import_the_amazon_library():
    loaded = subprocess.run(
        [sys.executable, "-c", SERVE_A_PAGE],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "config.settings_test", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip().splitlines()[-1] == "False"


def test_calling_amazon_imports_it(settings):
    from amazon_sync import spapi

    assert spapi._library().region_of("ATVPDKIKX0DER") == "NA"
    assert "sp_api" in sys.modules
