"""Model rows inserted, and rows locked, by statements built once per process.

For the hot paths that run the same statements thousands of times in a job (an auto-release job
of 10,000 orders locks each order and release, and writes ledger lines, audit entries, a
notification and its email's delivery for each): Django builds each statement anew every time,
which cost more CPU than running it.

insert() prepares the values as save() prepares them (each field's pre_save, then
get_db_prep_save: auto_now_add stamps, JSON, UUIDs, datetimes as the database takes them);
nothing else of save() happens, as with bulk_create: no model save() override runs and no
pre_save/post_save signal is sent, so use it only for models that have neither; update() the
same, for a row already saved (saves_plainly() says whether a model may). locked() reads as a
QuerySet does, with Django's own compiler and populators (built once). cursor() runs them, and
the hot paths' own SQL, as prepared statements where the database takes them.
"""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save
from django.db.transaction import TransactionManagementError


def _connection():
    # The default database's connection itself: `django.db.connection` is a proxy that looks the
    # connection up again (a context-local lookup) on every attribute read, and preparing one
    # row's values reads it for each field (an eighth of a release's CPU went to those lookups).
    return connections[DEFAULT_DB_ALIAS]


def cursor():
    """A cursor for statements built once and run many times. On PostgreSQL with prepared
    statements on (settings: DATABASE_PREPARED_STATEMENTS sets psycopg's prepare_threshold), it
    sends the parameters apart from the statement (server-side binding), and psycopg prepares
    each statement at its first run on a connection: later runs skip PostgreSQL's parsing and
    planning (a fifth of the auto-release job's own time in bench/release). Otherwise
    connection.cursor().

    Only for SQL whose text is the same for every call, with values as parameters: each distinct
    text is a prepared statement held by the connection (psycopg keeps its latest 100)."""
    connection = _connection()
    if connection.vendor != "postgresql" or (
        connection.settings_dict["OPTIONS"].get("prepare_threshold") is None
    ):
        return connection.cursor()
    # Django's cursors bind on the client, which psycopg never prepares; this is Django's own
    # server-binding cursor class, wrapped as connection.cursor() wraps its cursors (execute
    # wrappers and database error translation included), the query log apart (below).
    server_binding, logged = _postgresql_cursors()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = server_binding(connection.connection)
        connection.validate_thread_sharing()
        return logged(raw, connection) if connection.queries_logged else connection.make_cursor(raw)


@cache
def _postgresql_cursors():
    from django.db.backends.postgresql.base import CursorDebugWrapper, ServerBindingCursor
    from django.db.backends.utils import CursorWrapper

    class LoggedCursor(CursorDebugWrapper):
        """Django's query log (DEBUG, assertNumQueries) of a prepared cursor: psycopg keeps no
        text of a prepared statement's run, which Django's own log reads, so each statement is
        logged with its values in, as Django logs its queries under server-side binding."""

        def execute(self, sql, params=None):
            with self.debug_sql(self._with_values(sql, params)):
                return CursorWrapper.execute(self, sql, params)

        def _with_values(self, sql, params):
            try:
                return self.db.ops.compose_sql(sql, params)
            except Exception:  # logged as sent; the run itself raises what is wrong with it
                return sql

    return ServerBindingCursor, LoggedCursor


@cache
def _statement(model, count, returning):
    connection = _connection()
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES "
    sql += ", ".join([row] * count)
    if returning:
        sql += f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    return fields, sql


def insert(*objs):
    """INSERT `objs` (unsaved instances of one model with an automatic primary key) in one
    statement, and give each its id, as save() would."""
    model = type(objs[0])
    connection = _connection()
    returning = connection.features.can_return_rows_from_bulk_insert
    fields, sql = _statement(model, len(objs), returning)
    params = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field in fields
    ]
    with cursor() as db_cursor:
        db_cursor.execute(sql, params)
        ids = [row[0] for row in db_cursor.fetchall()] if returning else [db_cursor.lastrowid]
    if len(ids) == len(objs):
        for obj, pk in zip(objs, ids, strict=True):
            obj.pk = pk
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


@cache
def _locking_read(model, related, skip_locked):
    # Django builds the statement once, for a sentinel id; its compiler then turns each row read
    # into instances as QuerySet iteration does (ModelIterable): the model's own columns, then
    # each select_related row.
    queryset = model._default_manager.select_for_update(of=("self",), skip_locked=skip_locked)
    if related:  # select_related() with no names would follow every non-null foreign key
        queryset = queryset.select_related(*related)
    compiler = queryset.filter(pk=0).query.get_compiler(using=DEFAULT_DB_ALIAS)
    sql, params = compiler.as_sql()
    if list(params) != [0]:
        raise ValueError(f"Reading {model.__name__} takes parameters besides its id: {params}")
    select, klass_info = compiler.select, compiler.klass_info
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    return (
        sql,
        compiler,
        compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
        (start, end),
        [column[0].target.attname for column in select[start:end]],
        get_related_populators(klass_info, select, DEFAULT_DB_ALIAS),
    )


def locked(model, pk, *, related=(), skip_locked=False):
    """The row `pk` of `model`, locked (FOR UPDATE of its own table, where the database locks
    rows), with the `related` rows joined as select_related joins them: what
    `model.objects.select_for_update(of=("self",)).select_related(*related).get(pk=pk)` returns,
    by a statement built once per model and `related`. Raises model.DoesNotExist; with
    `skip_locked`, also when another transaction holds the row (SKIP LOCKED: not waiting)."""
    if not _connection().in_atomic_block:
        raise TransactionManagementError("A row is locked only inside a transaction.")
    sql, compiler, converters, (start, end), names, populators = _locking_read(
        model, tuple(related), skip_locked
    )
    with cursor() as db_cursor:
        db_cursor.execute(sql, [pk])
        fetched = db_cursor.fetchall()
    if not fetched:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    row = list(compiler.apply_converters(fetched, converters))[0] if converters else fetched[0]
    obj = model.from_db(DEFAULT_DB_ALIAS, names, row[start:end])
    for populator in populators:
        populator.populate(row, obj)
    return obj


def saves_plainly(model):
    """True when saving a `model` row is only its INSERT or UPDATE: no save() of its own and no
    pre_save/post_save receiver (checked at each call: a receiver may connect later)."""
    return (
        model.save is Model.save
        and not pre_save.has_listeners(model)
        and not post_save.has_listeners(model)
    )


@cache
def _update_statement(model, names):
    connection = _connection()
    fields = [model._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
    table, pk = model._meta.db_table, model._meta.pk.column
    sql = (
        f"UPDATE {connection.ops.quote_name(table)} SET {assignments} "
        f"WHERE {connection.ops.quote_name(pk)} = %s"
    )
    return fields, sql


def update(obj, fields):
    """UPDATE the named `fields` of `obj` (a saved row; auto_now fields named take the time, as
    save() gives it) by a statement built once per model and names: what
    `obj.save(update_fields=fields)` does for a model that saves_plainly()."""
    fields, sql = _update_statement(type(obj), tuple(dict.fromkeys(fields)))
    connection = _connection()
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in fields]
    with cursor() as db_cursor:
        db_cursor.execute(sql, [*params, obj.pk])
        if db_cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")


def asynchronous_commit():
    """Let the transaction being built commit without waiting for PostgreSQL to flush it to disk
    (PostgreSQL's asynchronous commit: `synchronous_commit` off for this transaction only). A
    database crash in the next moments may then lose it, whole (never part of it, and never
    corrupting anything), so use it only for a transaction that can be written again from what
    outlives it: a record of what Stripe answered to a request with an idempotency key, which
    the same request made again returns. The flush, about a millisecond on this kind of disk, is
    most of what recording such an answer costs the auto-release job.

    Only in the outermost transaction (an inner block is part of someone else's, which may hold
    what cannot be written again: there it does nothing), and only on PostgreSQL."""
    connection = _connection()
    if not connection.in_atomic_block:
        raise TransactionManagementError("Asynchronous commit is for a transaction.")
    if connection.vendor != "postgresql" or len(connection.atomic_blocks) != 1:
        return
    with cursor() as db_cursor:  # a SELECT, which PostgreSQL prepares as any other (SET: never)
        db_cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
