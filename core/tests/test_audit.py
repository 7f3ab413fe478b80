"""The audit trail's action codes: one shape, <app>.<entity>.<past-tense verb>, for what the
code writes and for entries stored before the codes were namespaced (core's 0002)."""

import re
from datetime import UTC, datetime
from importlib import import_module

import pytest
from django.apps import apps
from django.urls import reverse

from accounts.factories import StaffFactory
from core.models import AuditEntry
from marketplace.factories import AuditEntryFactory

pytestmark = pytest.mark.django_db

SHAPE = re.compile(r"^(?P<app>[a-z]+)\.[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*$")
namespacing = import_module("core.migrations.0002_audit_actions_namespaced")


def test_every_renamed_code_has_the_shape_and_names_a_real_app():
    for code in namespacing.RENAMES.values():
        match = SHAPE.match(code)
        assert match, code
        assert apps.is_installed(match["app"]), code


def test_stored_actions_are_renamed_to_the_namespaced_codes_and_back():
    old = ["listing.approved", "order.funded", "connect.account.synced", "user.access_changed"]
    for action in [*old, "messaging.message.cleared", "something.unknown"]:
        AuditEntryFactory(action=action)

    namespacing.to_namespaced(apps, None)

    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "marketplace.listing.approved",
        "escrow.order.funded",
        "accounts.connected_account.synced",
        "accounts.user_access.changed",
        "messaging.message.cleared",
        "something.unknown",
    ]

    namespacing.to_previous(apps, None)

    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        *old,
        "messaging.message.cleared",
        "something.unknown",
    ]


def test_the_audit_changelist_filters_by_app(client):
    AuditEntryFactory(action="marketplace.listing.approved")
    AuditEntryFactory(action="escrow.order.funded")
    AuditEntryFactory(action="escrow.payment.succeeded")
    client.force_login(StaffFactory(is_superuser=True))
    url = reverse("admin:core_auditentry_changelist")

    response = client.get(url, {"app": "escrow"})

    assert response.status_code == 200
    shown = sorted(e.action for e in response.context["cl"].result_list)
    assert shown == ["escrow.order.funded", "escrow.payment.succeeded"]
    assert "?app=marketplace" in response.content.decode()


def test_a_batch_writes_its_entries_in_one_insert_when_it_ends():
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from core.audit import audit_batch, audit_record

    staff = StaffFactory()
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        with audit_batch():
            first = audit_record(action="accounts.user.changed", actor=staff, target=staff)
            with audit_batch():  # a batch inside another adds to it
                audit_record(
                    action="accounts.user_access.changed",
                    actor=None,
                    target=staff,
                    before={"is_staff": False},
                    after={"is_staff": True},
                )
            assert first.pk is None
            assert not AuditEntry.objects.exists()
        inserts = [q for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert list(
        AuditEntry.objects.order_by("id").values_list("action", "actor_id", "before", "after")
    ) == [
        ("accounts.user.changed", staff.pk, {}, {}),
        ("accounts.user_access.changed", None, {"is_staff": False}, {"is_staff": True}),
    ]


def test_a_batch_that_raises_writes_nothing():
    from django.db import transaction

    from core.audit import audit_batch, audit_record

    staff = StaffFactory()
    with pytest.raises(RuntimeError), transaction.atomic(), audit_batch():
        audit_record(action="accounts.user.changed", actor=staff, target=staff)
        raise RuntimeError("the change failed")
    assert not AuditEntry.objects.exists()
    # Outside any batch an entry is written at once.
    audit_record(action="accounts.user.changed", actor=staff, target=staff)
    assert AuditEntry.objects.count() == 1


def test_an_entry_is_written_with_its_id_time_and_values():
    from django.db import transaction

    from core.audit import audit_batch, audit_record

    staff = StaffFactory()
    alone = audit_record(
        action="accounts.user.changed",
        actor=staff,
        target=staff,
        before={"full_name": "Ann"},
        after={"full_name": "Ann Lee", "when": datetime(2026, 12, 7, 2, 0, tzinfo=UTC)},
    )
    with transaction.atomic(), audit_batch():
        batched = [
            audit_record(action="accounts.user.changed", actor=None, target=staff),
            audit_record(action="accounts.user_access.changed", actor=staff, target=staff),
        ]

    stored = {entry.pk: entry for entry in AuditEntry.objects.all()}
    assert alone.pk in stored and alone.created_at == stored[alone.pk].created_at
    assert stored[alone.pk].target == staff and stored[alone.pk].actor == staff
    assert stored[alone.pk].before == {"full_name": "Ann"}
    assert stored[alone.pk].after == {"full_name": "Ann Lee", "when": "2026-12-07T02:00:00Z"}
    assert [stored[entry.pk].action for entry in batched] == [
        "accounts.user.changed",
        "accounts.user_access.changed",
    ]
    assert stored[batched[0].pk].actor_id is None
