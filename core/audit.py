"""The audit trail: every state or money change writes one entry in its own transaction."""

import json
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder

from core import rows
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
        rows.insert(entry)
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
        # One INSERT built once per number of entries (core.rows), not by Django each time:
        # every state change writes here, thousands in an auto-release job.
        rows.insert(*entries)


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
        names = ["status", *changes, *save_also, *stamps]
        if rows.saves_plainly(type(obj)):
            # By an UPDATE built once (core.rows): a release's order and release each move so,
            # 10,000 times in an auto-release job, and Django building it cost more than running
            # it. A model with its own save() or a save signal's receiver is saved as usual.
            rows.update(obj, names)
        else:
            obj.save(update_fields=names)
    audit_record(
        action=action,
        actor=actor,
        target=obj,
        before=before,
        after={"status": str(to)} | {k: plain(v) for k, v in changes.items()},
    )
    return obj, True
