"""Fixtures of the sandbox's own tests: they use nothing of the project it is installed in."""

import pytest
from django.contrib.auth import get_user_model

from amazon_sandbox import control
from amazon_sandbox.tests.helpers import lwa


@pytest.fixture
def seller():
    return control.new_selling_partner_id()


@pytest.fixture
def access_token(client, seller, settings):
    """An access token for `seller`, from Login with Amazon over HTTP."""
    answer = lwa(
        client,
        grant_type="refresh_token",
        refresh_token=control.refresh_token(seller),
        client_id=settings.AMAZON_LWA_CLIENT_ID,
        client_secret="anything",
    )
    assert answer.status_code == 200
    return answer.json()["access_token"]


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user(
        email="ops@sandbox.test", password="sandbox-pass-123", is_staff=True
    )
    client.force_login(user)
    return client
