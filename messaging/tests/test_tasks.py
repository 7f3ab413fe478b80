"""The hourly clean-up of direct uploads that never reached a message, as a service and as the
Celery task the beat schedule runs (eager in tests)."""

from datetime import timedelta

import pytest
from celery import current_app as celery_app
from django.conf import settings
from django.utils import timezone

from accounts.factories import StaffFactory
from messaging import services, tasks
from messaging.factories import ConversationFactory
from messaging.models import Attachment, AttachmentState
from messaging.tests.test_services import PDF, put_in_storage, start, stored_files, upload

pytestmark = pytest.mark.django_db


def age(attachment, **delta):
    created = timezone.now() - timedelta(**delta)
    Attachment.objects.filter(pk=attachment.pk).update(created_at=created)


@pytest.fixture
def uploads(django_capture_on_commit_callbacks):
    """One of each kind of upload, with its bytes in storage; `old_*` are two days old."""
    conversation = ConversationFactory()
    made = {}
    for label in ("old_pending", "old_uploaded", "fresh_pending", "old_sent", "old_removed"):
        attachment, _form = start(conversation, filename=f"{label}.pdf")
        put_in_storage(attachment, PDF)
        made[label] = attachment
    services.upload_confirm(attachment=made["old_uploaded"])
    for label in ("old_sent", "old_removed"):
        # Committed: sending moves the file to a fresh key and deletes the uploaded original.
        with django_capture_on_commit_callbacks(execute=True):
            services.message_send(
                conversation=conversation,
                sender=conversation.buyer,
                body="",
                upload_ids=[made[label].pk],
            )
    services.attachment_remove(attachment=made["old_removed"], staff=StaffFactory())
    # A file sent directly with a message (never a direct upload) is kept too.
    message = services.message_send(
        conversation=conversation,
        sender=conversation.seller,
        body="",
        files=[upload("direct.pdf", PDF)],
    )
    made["old_direct"] = message.attachments.get()
    for label, attachment in made.items():
        if label.startswith("old_"):
            age(attachment, days=2)
        attachment.refresh_from_db()
    return made


def test_stale_uploads_are_deleted_with_their_files(uploads):
    purged = services.uploads_purge_stale()

    assert purged == 2
    gone = {"old_pending", "old_uploaded"}
    remaining = set(Attachment.objects.values_list("pk", flat=True))
    assert remaining == {a.pk for label, a in uploads.items() if label not in gone}
    expected_files = {a.key for label, a in uploads.items() if label not in gone | {"old_removed"}}
    assert set(stored_files()) == expected_files
    assert Attachment.objects.get(pk=uploads["old_sent"].pk).state == AttachmentState.ATTACHED


def test_purging_again_finds_nothing(uploads):
    services.uploads_purge_stale()

    assert services.uploads_purge_stale() == 0
    assert Attachment.objects.filter(pk=uploads["fresh_pending"].pk).exists()


def test_an_upload_is_stale_only_after_a_day(uploads):
    age(uploads["fresh_pending"], hours=23)
    assert services.uploads_purge_stale() == 2
    assert Attachment.objects.filter(pk=uploads["fresh_pending"].pk).exists()

    age(uploads["fresh_pending"], hours=25)
    assert services.uploads_purge_stale() == 1
    assert not Attachment.objects.filter(pk=uploads["fresh_pending"].pk).exists()


def test_a_shorter_age_can_be_asked_for(uploads):
    age(uploads["fresh_pending"], minutes=10)

    assert services.uploads_purge_stale(older_than=timedelta(minutes=5)) == 3


def test_an_upload_whose_file_never_arrived_is_purged_too():
    attachment, _form = start(ConversationFactory())
    age(attachment, days=2)

    assert services.uploads_purge_stale() == 1
    assert not Attachment.objects.exists()


def test_the_celery_task_purges_stale_uploads(uploads):
    result = tasks.purge_stale_uploads.delay()

    assert result.get() == 2
    assert not Attachment.objects.filter(
        pk__in=[uploads["old_pending"].pk, uploads["old_uploaded"].pk]
    ).exists()
    assert uploads["old_pending"].key not in stored_files()


def test_the_task_runs_every_hour_from_the_beat_schedule():
    (entry,) = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "messaging.tasks.purge_stale_uploads"
    ]

    assert entry["schedule"] == 3600
    assert entry["task"] in celery_app.tasks  # the name the worker knows
    assert tasks.purge_stale_uploads.name == entry["task"]
