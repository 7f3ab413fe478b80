"""Events a person asked for (alerts about listings they saved) can be turned off altogether:
"Don't notify me" raises nothing, not even in-app. Other events only choose their email."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.factories import UserFactory
from notifications import services
from notifications.events import EVENTS, EmailMode
from notifications.models import Notification, NotificationPreference

pytestmark = pytest.mark.django_db

MUTABLE = "favourite.price_dropped"
PREFERENCES = reverse("notifications:preferences")


def test_only_mutable_events_offer_dont_notify_me():
    mutable = {code for code, event in EVENTS.items() if EmailMode.MUTED in event.email_modes}

    assert mutable == {"favourite.price_dropped", "favourite.back_in_stock"}
    with pytest.raises(services.ValidationFailed):
        services.preference_set(
            user=UserFactory(), event_code="listing.approved", email_mode=EmailMode.MUTED
        )


def test_a_muted_event_raises_nothing_and_an_unmuted_one_is_on_by_default(
    django_capture_on_commit_callbacks,
):
    muted, default = UserFactory(), UserFactory()
    services.preference_set(user=muted, event_code=MUTABLE, email_mode=EmailMode.MUTED)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.notify(muted, MUTABLE, {"listing_title": "Mug"}) is None
        assert services.notify(default, MUTABLE, {"listing_title": "Mug"}) is not None

    assert not Notification.objects.filter(recipient=muted).exists()
    assert [m.to for m in mail.outbox] == [[default.email]]


def test_the_preferences_page_turns_an_alert_off_altogether(client):
    user = UserFactory()
    client.force_login(user)
    page = client.get(PREFERENCES).content.decode()
    choices = {event.code: mode for event, mode in services.preferences_for(user=user)}

    response = client.post(PREFERENCES, choices | {MUTABLE: EmailMode.MUTED}, follow=True)

    assert f'name="{MUTABLE}" value="muted"' in page
    assert 'name="listing.approved" value="muted"' not in page
    assert re.search(
        rf'name="{re.escape(MUTABLE)}" value="muted"[^>]*checked', response.content.decode()
    )
    assert NotificationPreference.objects.get(user=user).email_mode == EmailMode.MUTED


def test_unsubscribing_from_every_email_keeps_a_muted_alert_muted():
    user = UserFactory()
    services.preference_set(user=user, event_code=MUTABLE, email_mode=EmailMode.MUTED)
    token = services.unsubscribe_token(user=user, event_code=services.ALL_EVENTS)

    services.preferences_unsubscribe(token=token, everything=True)

    modes = dict(
        NotificationPreference.objects.filter(user=user).values_list("event_code", "email_mode")
    )
    assert modes[MUTABLE] == EmailMode.MUTED
    assert modes["order.paid"] == EmailMode.OFF  # a buyer's event: everyone gets it
