"""Model rows inserted by an INSERT built once per model and row count.

For the hot paths that write the same rows thousands of times in a job (an auto-release job of
10,000 orders writes a notification and its email's delivery for each): Django builds its INSERT
anew for every save(), which cost more CPU than running it. The values are prepared as save()
prepares them (each field's pre_save, then get_db_prep_save: auto_now_add stamps, JSON, UUIDs,
datetimes as the database takes them); nothing else of save() happens, as with bulk_create:
no model save() override runs and no pre_save/post_save signal is sent, so use it only for
models that have neither.
"""

from functools import cache

from django.db import connection


@cache
def _statement(model, count, returning):
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
    returning = connection.features.can_return_rows_from_bulk_insert
    fields, sql = _statement(model, len(objs), returning)
    params = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()] if returning else [cursor.lastrowid]
    if len(ids) == len(objs):
        for obj, pk in zip(objs, ids, strict=True):
            obj.pk = pk
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs
