"""The audit trail: every state or money change writes one entry in its own transaction."""

import json
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from core.errors import InvalidTransition
from core.models import AuditEntry


def _json_safe(values):
    # Transitions record timestamps (submitted_at, reviewed_at); the JSON column only takes plain
    # values, so datetimes, dates and decimals are stored as their ISO/str forms.
    return json.loads(json.dumps(values or {}, cls=DjangoJSONEncoder))


# The entries of the audit_batch() open in this thread (or task), None when there is none.
_open_batch = ContextVar("audit_batch", default=None)


def audit_record(*, action, actor, target, before=None, after=None):
    """Write one audit entry. Call it inside the transaction of the change it records. Inside
    audit_batch() the entry is written when the batch closes (it is returned unsaved)."""
    entry = AuditEntry(
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        target_type=ContentType.objects.get_for_model(target),
        target_id=str(target.pk),
        before=_json_safe(before),
        after=_json_safe(after),
    )
    batch = _open_batch.get()
    if batch is None:
        _insert([entry])
    else:
        batch.append(entry)
    return entry


@contextmanager
def audit_batch():
    """The audit entries recorded inside are written together, in one INSERT, when the block
    ends: for a service that records several changes in one transaction (a release decided: the
    release made and the order released), where one INSERT each was a database round trip each.
    Open it inside that transaction. Nothing is written when the block raises (the transaction
    rolls back anyway); a batch opened inside another adds to the outer one."""
    if _open_batch.get() is not None:
        yield
        return
    entries = []
    token = _open_batch.set(entries)
    try:
        yield
    finally:
        _open_batch.reset(token)
    if entries:
        _insert(entries)


_COLUMNS = ("action", "actor_id", "target_type_id", "target_id", "before", "after", "created_at")


@cache  # one statement per number of entries, built once per process
def _insert_sql(count, returning):
    row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    return (
        f"INSERT INTO {AuditEntry._meta.db_table} ({', '.join(_COLUMNS)}) "
        f"VALUES {', '.join([row] * count)}" + (" RETURNING id" if returning else "")
    )


def _insert(entries):
    """Write the entries in one INSERT written in SQL, and give each its id and time, as saving
    them would: every state change in Bazaar writes here (an auto-release job of 10,000 orders,
    20,000 entries), and Django building the INSERT each time cost more than running it. The
    columns are AuditEntry's; a field added to the model needs a place in _COLUMNS."""
    fields = {name: AuditEntry._meta.get_field(name) for name in ("before", "after", "created_at")}
    now = timezone.now()
    stamp = fields["created_at"].get_db_prep_value(now, connection)
    params = []
    for entry in entries:
        entry.created_at = now
        params += [
            entry.action,
            entry.actor_id,
            entry.target_type_id,
            entry.target_id,
            fields["before"].get_db_prep_value(entry.before, connection),
            fields["after"].get_db_prep_value(entry.after, connection),
            stamp,
        ]
    returning = connection.features.can_return_rows_from_bulk_insert
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(len(entries), returning), params)
        ids = [row[0] for row in cursor.fetchall()] if returning else [cursor.lastrowid]
    if len(ids) == len(entries):
        for entry, pk in zip(entries, ids, strict=True):
            entry.pk = pk
    for entry in entries:
        entry._state.adding = False
        entry._state.db = connection.alias


def plain(value):
    """A model instance as its pk, anything else as it is (for audit before/after)."""
    return value.pk if hasattr(value, "pk") else value


def audited_transition(obj, *, to, allowed, actor, action, save_also=None, **changes):
    """Move a row (already locked by the caller) to status `to` if `allowed` says so.

    `allowed` maps each status to the statuses it may become. Returns (obj, moved): already at
    `to` is a quiet (obj, False), so a repeated request or webhook is harmless.

    The whole row is saved, unless the caller names in `save_also` the other fields it changed
    (none: `()`): then the UPDATE sets only those, the status, the changes and the row's auto_now
    timestamps. For a hot path (a release's order and release, once per order of a job of
    thousands), where writing back every column cost more than the rest of the move.
    """
    if obj.status == to:
        return obj, False
    if to not in allowed[obj.status]:
        labels = dict(type(obj)._meta.get_field("status").choices)
        raise InvalidTransition(
            f"A{'n' if type(obj).__name__[0] in 'AEIOU' else ''} {type(obj).__name__.lower()} "
            f"that is {obj.get_status_display().lower()} cannot become {labels[to].lower()}."
        )
    before = {"status": obj.status}
    obj.status = to
    for key, value in changes.items():
        setattr(obj, key, value)
    if save_also is None:
        obj.save()
    else:
        stamps = [f.name for f in obj._meta.concrete_fields if getattr(f, "auto_now", False)]
        obj.save(update_fields=["status", *changes, *save_also, *stamps])
    audit_record(
        action=action,
        actor=actor,
        target=obj,
        before=before,
        after={"status": str(to)} | {k: plain(v) for k, v in changes.items()},
    )
    return obj, True
