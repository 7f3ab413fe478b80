"""core.rows.insert: rows written by an INSERT built once per model and row count."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType

from accounts.factories import StaffFactory
from core import rows
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_rows_are_stored_with_their_values_ids_and_automatic_stamps():
    staff = StaffFactory()
    kind = ContentType.objects.get_for_model(staff)
    first = AuditEntry(
        action="accounts.user.changed",
        actor=staff,
        target_type=kind,
        target_id=str(staff.pk),
        after={"when": datetime(2026, 12, 7, tzinfo=UTC).isoformat(), "n": [1, 2]},
    )
    second = AuditEntry(action="accounts.user.viewed", target_type=kind, target_id="7")

    rows.insert(first, second)
    rows.insert(AuditEntry(action="accounts.user.viewed", target_type=kind, target_id="8"))

    assert first.pk and second.pk and first.pk != second.pk
    assert not first._state.adding
    stored = AuditEntry.objects.get(pk=first.pk)
    assert stored.actor == staff and stored.target == staff
    assert stored.before == {}  # the field's default
    assert stored.after == {"when": "2026-12-07T00:00:00+00:00", "n": [1, 2]}
    assert stored.created_at == first.created_at is not None  # auto_now_add, as save() sets it
    assert AuditEntry.objects.get(pk=second.pk).actor is None
    assert AuditEntry.objects.count() == 3
