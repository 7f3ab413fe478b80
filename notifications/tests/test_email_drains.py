"""Emails are sent by drains: one task sends every queued email due, retries wait their turn."""

import smtplib

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.factories import StaffFactory, UserFactory
from core import drains
from core.testing import commits_watched, row_locked_elsewhere
from notifications import services, tasks
from notifications.models import EmailDelivery, Notification

pytestmark = pytest.mark.django_db

APPROVED = {"listing_title": "Blue mug", "listing_id": 7, "action_url": "/listings/7/"}


def notify(user=None, **kwargs):
    return services.notify(user or UserFactory(), "listing.approved", APPROVED, **kwargs)


@pytest.fixture
def refusing_server(monkeypatch):
    """The mail server refuses every email; `calls` lists the subjects it was given."""
    calls = []

    def refuse(self, fail_silently=False):
        calls.append(self.subject)
        raise smtplib.SMTPServerDisconnected("mail server went away")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    return calls


def test_a_burst_of_emails_queues_one_drain_that_sends_them_all_once(
    queued_drains, settings, django_capture_on_commit_callbacks
):
    # A Celery task per email cost the worker twice the email's own work: emails queued while a
    # drain waits to start queue nothing more, and the drain sends them all.
    settings.NOTIFICATIONS_EMAIL_GATHER_SECONDS = 2
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            notify()

    assert queued_drains == [2]  # to start in 2 s, with whatever is queued by then
    assert mail.outbox == []
    assert tasks.drain_emails() == {"sent": 3, "retrying": 0, "failed": 0}
    assert len(mail.outbox) == 3
    assert set(EmailDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}
    assert tasks.drain_emails() == {"sent": 0, "retrying": 0, "failed": 0}  # sent once

    with django_capture_on_commit_callbacks(execute=True):  # the drain started: a new one
        notify()
    assert queued_drains == [2, 2]


def test_a_rolled_back_change_queues_no_email(queued_drains, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify()
        raise RuntimeError("the change failed")

    assert queued_drains == []
    assert not EmailDelivery.objects.exists()


def test_a_failing_mail_server_is_retried_with_backoff_then_recorded(
    refusing_server, settings, stripe_sandbox, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_EMAIL_MAX_RETRIES = 2
    settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify()

    delivery = EmailDelivery.objects.get(notification=notification)
    assert (delivery.status, delivery.attempts) == ("queued", 1)
    assert "mail server went away" in delivery.last_error
    # Waiting out its first retry: neither a drain nor the re-queue job takes it.
    assert services.email_deliveries_drain() == {"sent": 0, "retrying": 0, "failed": 0}
    stripe_sandbox.advance_clock(seconds=50)
    assert tasks.requeue_emails() == 0
    stripe_sandbox.advance_clock(seconds=11)
    assert tasks.requeue_emails() == 1  # the first retry (the eager drain ran it)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("queued", 2)
    stripe_sandbox.advance_clock(seconds=100)
    assert tasks.requeue_emails() == 0  # the second retry waits twice as long
    stripe_sandbox.advance_clock(seconds=21)
    assert tasks.requeue_emails() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.not_before is None
    assert len(refusing_server) == 3  # the first attempt and two retries
    assert Notification.objects.filter(pk=notification.pk).exists()
    stripe_sandbox.advance_clock(days=1)
    assert tasks.requeue_emails() == 0  # failed: for staff now


def test_a_failing_email_does_not_hold_up_the_others(
    monkeypatch, queued_drains, django_capture_on_commit_callbacks
):
    original = services.EmailMultiAlternatives.send

    def refuse_one(self, fail_silently=False):
        if self.to == ["bounce@example.com"]:
            raise smtplib.SMTPRecipientsRefused({"bounce@example.com": (550, b"no such user")})
        return original(self, fail_silently)

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse_one)
    with django_capture_on_commit_callbacks(execute=True):
        notify()
        notify(UserFactory(email="bounce@example.com"))
        notify()

    assert services.email_deliveries_drain() == {"sent": 2, "retrying": 1, "failed": 0}
    assert len(mail.outbox) == 2
    assert "bounce@example.com" not in {m.to[0] for m in mail.outbox}
    bounced = EmailDelivery.objects.get(to_email="bounce@example.com")
    assert bounced.status == EmailDelivery.Status.QUEUED
    assert "SMTPRecipientsRefused" in bounced.last_error


def test_a_passing_mail_failure_is_retried_and_sent(
    monkeypatch, stripe_sandbox, django_capture_on_commit_callbacks
):
    original = services.EmailMultiAlternatives.send
    failures = iter([smtplib.SMTPServerDisconnected("blip")])

    def flaky(self, fail_silently=False):
        for exc in failures:
            raise exc
        return original(self, fail_silently)

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        notify()
    assert mail.outbox == []

    stripe_sandbox.advance_clock(minutes=2)
    assert tasks.requeue_emails() == 1

    delivery = EmailDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    assert delivery.not_before is None
    assert len(mail.outbox) == 1


def test_staff_send_a_failed_email_again_with_its_retries_afresh(
    refusing_server, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_EMAIL_MAX_RETRIES = 0
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify()
    delivery = EmailDelivery.objects.get(notification=notification)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    monkeypatch.undo()  # the server is back

    with django_capture_on_commit_callbacks(execute=True):
        services.email_delivery_retry(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    assert len(mail.outbox) == 1
    with pytest.raises(services.ValidationFailed):
        services.email_delivery_retry(delivery_id=delivery.pk)


@pytest.mark.parametrize("outage", ["broker", "cache"])
def test_an_email_queued_during_an_outage_is_sent_by_the_requeue_job(
    outage, monkeypatch, stripe_sandbox, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionError(f"{outage} unreachable")

    if outage == "broker":
        cache.delete(services.DRAIN_FLAG)
        monkeypatch.setattr(tasks.drain_emails, "apply_async", down)
    else:
        monkeypatch.setattr(drains.cache, "add", down)

    # The change that raised it is committed: the outage is no error of the caller's.
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify()
    monkeypatch.undo()

    delivery = EmailDelivery.objects.get(notification=notification)
    assert (delivery.status, delivery.attempts) == ("queued", 0)
    assert cache.get(services.DRAIN_FLAG) is None  # the next email queues a drain
    assert tasks.requeue_emails() == 0  # queued a moment ago: its drain may be on its way
    stripe_sandbox.advance_clock(minutes=2)
    assert tasks.requeue_emails() == 1
    delivery.refresh_from_db()
    assert delivery.status == EmailDelivery.Status.SENT
    assert len(mail.outbox) == 1


def test_a_long_queue_is_handed_to_a_new_drain(queued_drains, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            notify()
    queued_drains.clear()

    assert services.email_deliveries_drain(seconds=0) == {"sent": 1, "retrying": 0, "failed": 0}
    assert queued_drains == [0]  # handed over at once, though the flag was there
    assert services.email_deliveries_drain() == {"sent": 2, "retrying": 0, "failed": 0}


class CountingBackend(LocmemBackend):
    opened = 0
    closed = 0

    def open(self):
        CountingBackend.opened += 1
        return True

    def close(self):
        CountingBackend.closed += 1


def test_a_drain_sends_its_emails_over_one_connection(
    settings, queued_drains, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{__name__}.CountingBackend"
    CountingBackend.opened = CountingBackend.closed = 0
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            notify()

    assert services.email_deliveries_drain() == {"sent": 3, "retrying": 0, "failed": 0}
    assert len(mail.outbox) == 3
    assert (CountingBackend.opened, CountingBackend.closed) == (1, 1)


def test_a_drain_connects_again_after_a_failure(
    settings, monkeypatch, queued_drains, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{__name__}.CountingBackend"
    CountingBackend.opened = CountingBackend.closed = 0
    failures = iter([smtplib.SMTPServerDisconnected("connection dropped")])
    original = CountingBackend.send_messages

    def drop_once(self, messages):
        for exc in failures:
            raise exc
        return original(self, messages)

    monkeypatch.setattr(CountingBackend, "send_messages", drop_once)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            notify()

    assert services.email_deliveries_drain() == {"sent": 2, "retrying": 1, "failed": 0}
    assert (CountingBackend.opened, CountingBackend.closed) == (2, 2)


def test_sending_costs_the_same_queries_per_email(
    queued_drains, django_capture_on_commit_callbacks, django_assert_num_queries
):
    # Per email: the delivery locked (SKIP LOCKED) with its recipient and notification, its
    # UPDATE, inside a savepoint and its release. Per drain: the (sandbox's) clock, the read of
    # the ids due, and the read that finds none left.
    with django_capture_on_commit_callbacks(execute=True):
        notify(UserFactory(full_name="Maya Stone"))
    with django_assert_num_queries(4 + 4):
        services.email_deliveries_drain()
    assert "Hello Maya," in mail.outbox[0].body
    assert "Blue mug" in mail.outbox[0].subject

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            notify()
    with django_assert_num_queries(4 * 4 + 4):
        services.email_deliveries_drain()
    assert len(mail.outbox) == 5


def test_a_long_queue_is_read_a_thousand_emails_at_a_time_not_once_per_email(
    queued_drains, django_capture_on_commit_callbacks, monkeypatch
):
    # Reading "the oldest email due" for each email read the whole queue each time (PostgreSQL
    # sorted every queued row to take one): a drain's time grew with the square of its queue.
    monkeypatch.setattr(services, "DUE_READ", 2)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            notify()
    with CaptureQueriesContext(connection) as captured:
        assert services.email_deliveries_drain() == {"sent": 5, "retrying": 0, "failed": 0}
    table = EmailDelivery._meta.db_table
    reads = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith(f'SELECT "{table}"."id" AS "pk",')
    ]
    assert len(reads) == 4  # 2, 2, 1, then none left
    assert all("FOR UPDATE" not in sql and "LIMIT 2" in sql for sql in reads)
    assert [m.to[0] for m in mail.outbox] == list(
        EmailDelivery.objects.order_by("pk").values_list("to_email", flat=True)
    )  # oldest first


def test_an_email_sent_by_another_drain_after_its_id_was_read_is_not_sent_again(
    queued_drains, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            notify()
    first, second, third = EmailDelivery.objects.order_by("pk")
    read = services._DueEmails.next

    def another_drain_sends_the_second(due):
        taken = read(due)
        if taken == [first.pk]:  # the ids are read: the other drain sends the second meanwhile
            EmailDelivery.objects.filter(pk=second.pk).update(status=EmailDelivery.Status.SENT)
        return taken

    monkeypatch.setattr(services._DueEmails, "next", another_drain_sends_the_second)

    assert services.email_deliveries_drain() == {"sent": 2, "retrying": 0, "failed": 0}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([first.to_email, third.to_email])
    assert EmailDelivery.objects.get(pk=second.pk).attempts == 0


def test_the_requeue_job_runs_every_minute(settings):
    jobs = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert jobs["notifications.tasks.requeue_emails"] == 60


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks (SKIP LOCKED) need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_two_drains_share_the_queue_without_sending_an_email_twice(queued_drains):
    for _ in range(2):
        notify()
    first, second = EmailDelivery.objects.order_by("pk")

    with row_locked_elsewhere(EmailDelivery, first.pk):  # another drain sending it
        # The first is held by the other drain: this one sends the second, and does not wait.
        assert services.email_deliveries_drain() == {"sent": 1, "retrying": 0, "failed": 0}
    assert EmailDelivery.objects.get(pk=second.pk).status == EmailDelivery.Status.SENT
    assert EmailDelivery.objects.get(pk=first.pk).status == EmailDelivery.Status.QUEUED
    assert services.email_deliveries_drain() == {"sent": 1, "retrying": 0, "failed": 0}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([first.to_email, second.to_email])


def test_staff_see_failed_emails_and_send_them_again_from_the_admin(
    client, refusing_server, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_EMAIL_MAX_RETRIES = 0
    with django_capture_on_commit_callbacks(execute=True):
        notify(UserFactory(email="maya@example.com"))
    monkeypatch.undo()  # the server is back
    with django_capture_on_commit_callbacks(execute=True):
        notify(UserFactory(email="sent@example.com"))
    failed = EmailDelivery.objects.get(to_email="maya@example.com")
    sent = EmailDelivery.objects.get(to_email="sent@example.com")
    client.force_login(StaffFactory(is_superuser=True))

    listing = client.get("/admin/notifications/emaildelivery/?status__exact=failed")
    assert listing.status_code == 200
    assert [row.pk for row in listing.context["cl"].result_list] == [failed.pk]
    assert "Next attempt" in listing.content.decode()
    detail = client.get(f"/admin/notifications/emaildelivery/{failed.pk}/change/")
    assert "mail server went away" in detail.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/notifications/emaildelivery/",
            {"action": "retry_failed", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )

    said = response.content.decode()
    assert "1 email(s) queued again." in said
    assert "Sent@example.com: Only a failed email can be sent again." in said  # capitalised
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 1)
    assert [m.to for m in mail.outbox] == [["sent@example.com"], ["maya@example.com"]]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Asynchronous commit is PostgreSQL's."
)
@pytest.mark.django_db(transaction=True)
def test_an_email_sent_is_recorded_without_waiting_for_the_disk(queued_drains):
    """The email's notification and delivery are written durably; the record that it was sent
    need not be (lost to a database crash, the email is sent again, as when the worker dies
    between sending it and committing)."""
    notify()
    with commits_watched() as committed:
        assert services.email_deliveries_drain() == {"sent": 1, "retrying": 0, "failed": 0}

    table = EmailDelivery._meta.db_table
    ours = [setting for written, setting in committed if f'UPDATE "{table}" SET' in written]
    assert ours == ["off"], committed
    assert EmailDelivery.objects.get().status == EmailDelivery.Status.SENT
    with connection.cursor() as cursor:  # the next transaction waits for the disk again
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
