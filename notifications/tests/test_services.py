import pytest
from django.core import mail, signing
from django.db import transaction

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from notifications import services
from notifications.events import EVENTS, EmailMode
from notifications.models import EmailDelivery, Notification, NotificationPreference

pytestmark = pytest.mark.django_db

APPROVED = {"listing_title": "Blue mug", "listing_id": 7, "action_url": "/listings/7/"}


def test_notify_creates_the_in_app_notification_and_emails_it(
    django_capture_on_commit_callbacks,
):
    user = UserFactory(full_name="Maya Stone")

    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notify(user, "listing.approved", APPROVED)

    assert notification.recipient == user
    assert notification.level == "success"
    assert notification.title == "“Blue mug” is live"
    assert notification.action_url == "/listings/7/"
    assert notification.is_read is False
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [user.email]
    assert email.subject == "Your listing “Blue mug” is live"
    assert "Hello Maya," in email.body
    assert "http://127.0.0.1:8000/listings/7/" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert "Blue mug" in html
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/notifications/unsubscribe/" in email.extra_headers["List-Unsubscribe"]
    delivery = EmailDelivery.objects.get()
    assert delivery.status == EmailDelivery.Status.SENT
    assert delivery.attempts == 1
    assert delivery.subject == email.subject


def test_email_turned_off_sends_nothing_but_keeps_the_notification(
    django_capture_on_commit_callbacks,
):
    user = SellerFactory()
    services.preference_set(user=user, event_code="listing.approved", email_mode=EmailMode.OFF)

    with django_capture_on_commit_callbacks(execute=True):
        services.notify(user, "listing.approved", APPROVED)

    assert Notification.objects.filter(recipient=user).count() == 1
    assert mail.outbox == []
    assert EmailDelivery.objects.count() == 0


def test_a_rolled_back_change_sends_no_email(django_capture_on_commit_callbacks):
    user = UserFactory()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.notify(user, "listing.approved", APPROVED)
        raise RuntimeError("the change failed")

    assert callbacks == []
    assert mail.outbox == []
    assert Notification.objects.count() == 0


def test_unknown_event_is_a_programming_error():
    with pytest.raises(KeyError, match="add it to notifications/events.py"):
        services.notify(UserFactory(), "listing.exploded", {})


def test_missing_context_keys_stay_visible_instead_of_failing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notify(UserFactory(), "listing.rejected", {"listing_title": "Mug"})

    assert notification.message.startswith("Reason: {reason}")


def test_low_priority_events_wait_for_the_daily_digest(django_capture_on_commit_callbacks):
    staff = StaffFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.notify(staff, "listing.submitted", {"listing_title": "Mug", "store_name": "Clay"})
        services.notify(staff, "listing.submitted", {"listing_title": "Vase", "store_name": "Clay"})
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        queued = services.email_digests_send()

    assert queued == 1
    assert len(mail.outbox) == 1
    digest = mail.outbox[0]
    assert digest.subject == "Your Bazaar digest: 2 updates"
    assert "“Mug” waits for review" in digest.body
    assert "“Vase” waits for review" in digest.body
    assert not Notification.objects.filter(digest_pending=True).exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.email_digests_send() == 0
    assert len(mail.outbox) == 1


def test_digest_is_refused_for_events_that_are_not_low_priority():
    with pytest.raises(services.ValidationFailed) as excinfo:
        services.preference_set(
            user=SellerFactory(), event_code="listing.approved", email_mode=EmailMode.DIGEST
        )
    assert "email_mode" in excinfo.value.errors


def test_unsubscribe_token_turns_that_email_off():
    user = SellerFactory()
    token = services.unsubscribe_token(user=user, event_code="listing.rejected")

    services.preferences_unsubscribe(token=token)

    pref = NotificationPreference.objects.get(user=user)
    assert (pref.event_code, pref.email_mode) == ("listing.rejected", EmailMode.OFF)


def test_unsubscribe_from_everything():
    user = SellerFactory(is_staff=True)  # every event reaches a staff seller
    token = services.unsubscribe_token(user=user, event_code="listing.rejected")

    services.preferences_unsubscribe(token=token, everything=True)

    modes = {event.code: mode for event, mode in services.preferences_for(user=user)}
    assert set(modes) == set(EVENTS)
    assert set(modes.values()) == {EmailMode.OFF}


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: signing.dumps({"u": 1, "e": "listing.rejected"}, salt="another-salt"),
        lambda token: signing.dumps(
            {"u": 999999, "e": "listing.rejected"}, salt=services.UNSUBSCRIBE_SALT
        ),
        lambda token: "not-a-token",
    ],
)
def test_forged_unsubscribe_tokens_are_refused(forge):
    user = UserFactory()
    token = services.unsubscribe_token(user=user, event_code="listing.rejected")

    with pytest.raises(signing.BadSignature):
        services.preferences_unsubscribe(token=forge(token))

    assert not NotificationPreference.objects.exists()


def test_mark_read_mark_all_and_delete_are_scoped_to_the_recipient():
    owner, other = UserFactory(), UserFactory()
    first = services.notify(owner, "listing.approved", APPROVED)
    services.notify(owner, "listing.approved", APPROVED)

    with pytest.raises(Notification.DoesNotExist):
        services.notification_mark_read(user=other, notification_id=first.pk)
    with pytest.raises(Notification.DoesNotExist):
        services.notification_delete(user=other, notification_id=first.pk)

    services.notification_mark_read(user=owner, notification_id=first.pk)
    first.refresh_from_db()
    assert first.is_read and first.read_at
    assert services.notification_mark_all_read(user=owner) == 1
    services.notification_delete(user=owner, notification_id=first.pk)
    assert Notification.objects.filter(recipient=owner).count() == 1


def test_a_notification_and_its_email_are_stored_as_notify_returns_them(
    django_capture_on_commit_callbacks,
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        notification = services.notify(user, "listing.approved", APPROVED)

    stored = Notification.objects.get(pk=notification.pk)
    assert stored.recipient == user and stored.event_code == "listing.approved"
    assert stored.context == APPROVED
    assert stored.created_at == notification.created_at is not None
    assert (stored.is_read, stored.read_at, stored.digest_pending) == (False, None, False)
    delivery = EmailDelivery.objects.get(notification=notification)
    assert (delivery.recipient, delivery.to_email, delivery.kind) == (user, user.email, "single")
    assert (delivery.status, delivery.attempts, delivery.created_at is not None) == (
        "queued",
        0,
        True,
    )
    assert len(queued) == 1  # its email is queued after commit
