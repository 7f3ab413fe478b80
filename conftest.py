import pytest
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploaded files of each test land in its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def api_client():
    return APIClient()
