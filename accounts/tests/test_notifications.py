"""Becoming a seller raises its notifications, through the service the pages and API call."""

import pytest
from django.core import mail

from accounts.factories import UserFactory
from accounts.services import seller_onboard
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_becoming_a_seller_announces_the_new_store(django_capture_on_commit_callbacks):
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        seller_onboard(
            user=user,
            display_name="Clay Co",
            country="US",
            default_currency="usd",
            store_name="Clay Co",
        )

    notification = Notification.objects.get(recipient=user)
    assert notification.event_code == "store.created"
    assert notification.action_url == user.store.get_absolute_url()
    assert [m.subject for m in mail.outbox] == ["Your store “Clay Co” is open"]
