"""Fixtures of the sandbox's own tests. They use nothing of the project the sandbox is installed
in: its own URLs, webhook endpoints made through the Stripe API, any user model."""

import itertools

import pytest
from django.contrib.auth import get_user_model

from stripe_sandbox import control, testing
from stripe_sandbox.tests import receiver

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _sandbox_urls(settings):
    settings.ROOT_URLCONF = "stripe_sandbox.tests.urls"


@pytest.fixture
def stripe_sandbox(db):
    """The sandbox with a platform and a Connect webhook endpoint whose receiver accepts every
    delivery Stripe's signature checks out for (events reach /webhooks/<platform|connect>/).

    Deliveries happen after commit: wrap actions in django_capture_on_commit_callbacks(execute=True)
    or use transactional_db. Returns stripe_sandbox.control (clock, held/duplicated deliveries).
    """
    receiver.reset()
    for name, connect in (("platform", False), ("connect", True)):
        endpoint = testing.client().v1.webhook_endpoints.create(
            params={
                "url": f"http://testserver/webhooks/{name}/",
                "enabled_events": ["*"],
                "connect": connect,
            }
        )
        receiver.SECRETS[name] = endpoint.secret
    yield control
    receiver.reset()


def make_user(*, staff=False):
    """A user of whatever model the project has, staff (and superuser) or not."""
    user_model = get_user_model()
    address = f"sandbox-user-{next(_numbers)}@example.com"
    fields = {user_model.USERNAME_FIELD: address, user_model.get_email_field_name(): address}
    user = user_model(**fields, is_staff=staff, is_superuser=staff)
    user.set_unusable_password()
    user.save()
    return user


@pytest.fixture
def staff_user(db):
    return make_user(staff=True)


@pytest.fixture
def someone(db):
    """A signed-up user who is not staff."""
    return make_user()
