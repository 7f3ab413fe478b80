"""core.rows.insert: rows written by an INSERT built once per model and row count."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from accounts.factories import StaffFactory
from core import rows
from core.models import AuditEntry
from core.testing import prepared_statements

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


def test_a_locked_row_is_read_as_the_queryset_reads_it(django_assert_num_queries):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    staff = StaffFactory(full_name="Ann Lee")
    kind = ContentType.objects.get_for_model(staff)
    with_actor, without = rows.insert(
        AuditEntry(action="a.b.c", actor=staff, target_type=kind, target_id="1", after={"x": 1}),
        AuditEntry(action="a.b.d", target_type=kind, target_id="2"),
    )

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        read = rows.locked(AuditEntry, with_actor.pk, related=("actor",))
        alone = rows.locked(AuditEntry, without.pk, related=("actor",))
        plain = rows.locked(AuditEntry, without.pk)
        with django_assert_num_queries(0):  # the actor came with the row, or is known absent
            assert read.actor.full_name == "Ann Lee" and alone.actor is None

    expected = AuditEntry.objects.select_related("actor").get(pk=with_actor.pk)
    for field in AuditEntry._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    assert read.after == {"x": 1} and not read._state.adding and plain.pk == without.pk
    assert "actor" not in plain._state.fields_cache  # nothing joined unless named
    sql = [query["sql"] for query in captured.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert len(sql) == 3
    if connection.features.has_select_for_update_of:
        assert all(s.endswith(f'FOR UPDATE OF "{AuditEntry._meta.db_table}"') for s in sql)
    with pytest.raises(AuditEntry.DoesNotExist), transaction.atomic():
        rows.locked(AuditEntry, 0)


def test_an_update_writes_only_the_named_fields_and_only_of_a_model_that_saves_plainly():
    from django.contrib.auth import get_user_model
    from django.db import DatabaseError
    from django.db.models.signals import post_save

    staff = StaffFactory()
    kind = ContentType.objects.get_for_model(staff)
    (entry,) = rows.insert(AuditEntry(action="a.b.c", target_type=kind, target_id="1"))
    entry.action, entry.target_id = "a.b.changed", "2"

    rows.update(entry, ["action"])

    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.action, stored.target_id) == ("a.b.changed", "1")  # target_id not named
    AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError):
        rows.update(entry, ["action"])  # as save(update_fields=...) of a row that is gone

    assert rows.saves_plainly(AuditEntry)
    assert not rows.saves_plainly(get_user_model())  # it has a save() of its own

    def receiver(**kwargs):
        pass

    post_save.connect(receiver, sender=AuditEntry)
    try:
        assert not rows.saves_plainly(AuditEntry)  # its receivers must hear of the save
    finally:
        post_save.disconnect(receiver, sender=AuditEntry)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Prepared statements are PostgreSQL's (set DATABASE_URL).",
)
def test_statements_built_once_are_prepared_once_per_connection_and_the_orm_s_are_not(
    monkeypatch,
):
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    staff = StaffFactory()
    kind = ContentType.objects.get_for_model(staff)
    (entry,) = rows.insert(AuditEntry(action="a.b.c", target_type=kind, target_id="1"))
    table = AuditEntry._meta.db_table

    with transaction.atomic():
        for _ in range(3):
            rows.locked(AuditEntry, entry.pk)
        entry.action = "a.b.changed"
        rows.update(entry, ["action"])
    AuditEntry.objects.filter(pk=entry.pk).update(target_id="2")  # Django's own, bound by it

    prepared = prepared_statements()
    locking = [sql for sql in prepared if sql.endswith(f'FOR UPDATE OF "{table}"')]
    assert len(locking) == 1 and prepared[locking[0]] == 3  # parsed and planned once, run 3 times
    assert "$1" in locking[0]  # its id was sent apart from it
    assert [sql for sql in prepared if sql.startswith(f'INSERT INTO "{table}"')]
    assert [sql for sql in prepared if sql.startswith(f'UPDATE "{table}" SET "action"')]
    assert not [sql for sql in prepared if '"target_id" = ' in sql]  # the ORM's UPDATE
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        rows.locked(AuditEntry, entry.pk)
    (logged,) = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert logged.startswith("SELECT") and f"= {entry.pk} " in logged  # logged with its values
    assert AuditEntry.objects.get(pk=entry.pk).action == "a.b.changed"

    # DATABASE_PREPARED_STATEMENTS=false (a pooler that keeps none): sent as Django sends its own.
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "prepare_threshold")
    with transaction.atomic():
        assert rows.locked(AuditEntry, entry.pk, related=("actor",)).actor is None
    assert len(prepared_statements()) == len(prepared)


def _synchronous_commit():
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Asynchronous commit is PostgreSQL's."
)
@pytest.mark.django_db(transaction=True)
def test_an_asynchronous_commit_is_the_outermost_transaction_s_own():
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    kind = ContentType.objects.get_for_model(AuditEntry)
    with transaction.atomic():
        rows.asynchronous_commit()
        assert _synchronous_commit() == "off"
        rows.insert(AuditEntry(action="a.b.kept", target_type=kind, target_id="1"))
    assert AuditEntry.objects.filter(action="a.b.kept").exists()
    assert _synchronous_commit() == "on"  # the next transaction waits for the disk again

    # Inside someone else's transaction it does nothing: theirs may hold what cannot be
    # written again.
    with transaction.atomic(), transaction.atomic():
        rows.asynchronous_commit()
        assert _synchronous_commit() == "on"

    with pytest.raises(TransactionManagementError):
        rows.asynchronous_commit()
