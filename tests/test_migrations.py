"""The migrations apply to an empty database, and carry a database from today's main forward
without losing or mis-linking anything (issue #10: orders moved to escrow/, the audit trail to
core/, each keeping its table).

The rest of the suite builds its database from the models (--no-migrations); these tests run
the migrations themselves. Each makes a database of its own on the server DATABASE_URL names
(a uniquely named PostgreSQL database in CI, a temporary SQLite file locally; never pytest's test
database) and drops it afterwards, pass or fail. The migrations run in subprocesses with the
project's python and config.settings_test: `manage.py migrate` exactly as a deployment runs it,
and tests/migration_scenario.py for the steps around it (today's main's schema and data, and
reading back what the latest code sees).

test_migrate_from_zero: on an empty database `migrate` applies every migration, leaves none
unapplied (what `migrate --check` checks), and the schema is the models' (tables, columns and
their NULLs, indexes, constraints, foreign keys); the moved models' content types are made under
their new apps.

test_migrate_forward_from_todays_main: a database migrated to today's main (commit 288e1df:
TODAYS_MAIN in migration_scenario.py) and filled as that code filled it (seed_todays_main()
there) is migrated to the latest. Every row and value of today's main is still there, changed
only as declared below; the schema is the models'; each order's audit trail shows in the escrow
Order's timeline, every audit entry and admin history row reaches its object, permission holders
keep their permissions on the moved models, conversations keep their orders, and every order's
ledger still balances.

dj-stripe's own migrations take over a minute and are dj-stripe's to test: the scenario creates
its tables from its migrations' end state (MIGRATION_TESTS_RUN_DJSTRIPE=1 runs them for real).

Adding a migration that changes existing data on purpose (renamed values, dropped fields, rows
it creates): declare it in the block "What later migrations change on purpose" below, nothing
else. Adding a check: seed the rows in seed_todays_main(), read what the code sees in facts()
(both in migration_scenario.py), assert it in test_migrate_forward_from_todays_main.
"""

import copy
import json
import os
import subprocess
import sys
import tempfile
import uuid
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit

import environ
import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

# --- What later migrations change on purpose: declare each change here --------------------------

# Models that moved app with their table; their content types (and so audit links, permissions,
# admin history) must follow.
MOVED_MODELS = {("marketplace", "order"): "escrow", ("marketplace", "auditentry"): "core"}

# Values a data migration renames: {(table, column): {old value: new value}}, e.g.
# {("escrow_escrowpayment", "status"): {"canceled": "cancelled"}}. Audit action codes are
# ("marketplace_auditentry", "action"); the order timelines expect the renamed codes too.
RENAMED_VALUES: dict[tuple[str, str], dict] = {
    # escrow 0003: the seeded second payment ("canceled" with succeeded_at set) is a duplicate,
    # and its old "refund it" note goes (the state says it now).
    ("escrow_escrowpayment", "status"): {"canceled": "duplicate"},
    ("escrow_escrowpayment", "failure_message"): {
        "Second payment for an order already paid: refund it.": ""
    },
    # core 0002: audit actions in one shape, <app>.<entity>.<past-tense verb>.
    ("marketplace_auditentry", "action"): import_module(
        "core.migrations.0002_audit_actions_namespaced"
    ).RENAMES,
}

# Columns a migration drops on purpose: {(table, column)}, e.g.
# {("escrow_escrowrelease", "amount_reversed_cents")}. Columns a migration adds are not compared.
DROPPED_COLUMNS: set[tuple[str, str]] = {
    # escrow 0005 and 0006: values that were stored twice are derived from their rows instead.
    ("escrow_escrowrelease", "amount_reversed_cents"),
    ("marketplace_order", "payment_error"),
}

# Tables that gain rows while migrating: {table: exact number of new rows, or ANY}. post_migrate
# adds content types and permissions for new models. E.g. a migration that opens a conversation
# for each of the 5 seeded orders that has none: "messaging_conversation": 4 (and its participants).
ANY = None
ADDED_ROWS = {
    "django_content_type": ANY,
    "auth_permission": ANY,
    # messaging 0003 opens the conversation (with its two seats) of each order that had none.
    "messaging_conversation": 4,
    "messaging_participant": 8,
    # messaging 0004: the Support and Finance staff groups, with 12 and 14 permissions.
    "auth_group": 2,
    "auth_group_permissions": 26,
    # accounts 0009: each of the 3 users, who signed up before email verification existed, gets
    # a confirmed primary address (django-allauth's EmailAddress).
    "account_emailaddress": 3,
}

# Staff groups a data migration makes: {name: {app_label: [codename, ...]}}.
ADDED_GROUPS = import_module("messaging.migrations.0004_notes_and_staff_groups").GROUPS


# -------------------------------------------------------------------------------------------------


def test_migrate_from_zero(fresh_database):
    scenario(fresh_database, "empty")
    manage(fresh_database, "migrate", "--noinput")

    after = scenario(fresh_database, "facts")
    assert after["unapplied"] == []
    assert not after["schema_problems"], one_per_line(after["schema_problems"])
    assert {"escrow.order", "core.auditentry"} <= set(after["content_types"])
    assert not {"marketplace.order", "marketplace.auditentry"} & set(after["content_types"])


def test_migrate_forward_from_todays_main(fresh_database):
    today = scenario(fresh_database, "todays-main")
    seeded, before = today["seeded"], today["tables"]
    assert "marketplace_order" in before and "core_auditentry" not in before  # really the old state
    manage(fresh_database, "migrate", "--noinput")

    after = scenario(fresh_database, "facts")
    assert after["unapplied"] == []
    assert not after["schema_problems"], one_per_line(after["schema_problems"])

    # Nothing lost: every row of today's main, each value as the declared changes leave it.
    expected = expected_tables(before)
    lost = differences(expected, after["tables"])
    assert not lost, "Today's main's data did not come through:\n" + one_per_line(lost)

    # Each order's audit trail shows in its timeline, read from the escrow Order.
    timelines = expected_order_timelines(expected)
    assert set(timelines) == {str(pk) for pk in seeded["orders"].values()}
    assert all(timelines.values())
    assert after["order_timelines"] == timelines

    # Audit entries and admin history reach their objects, under the models' new apps.
    assert after["audit_targets"] == generic_links(
        expected, "marketplace_auditentry", "target_type_id", "target_id"
    )
    assert {target.split(":")[0] for target in after["audit_targets"].values()} == {
        "escrow.order",
        "marketplace.listing",
    }
    assert after["admin_history"] == generic_links(
        expected, "django_admin_log", "content_type_id", "object_id"
    )
    assert list(after["admin_history"].values()) == [
        f"escrow.order:{seeded['orders']['delivered']}"
    ]

    # Staff keep their permissions on the moved models, through their group and directly.
    assert after["group_permissions"] == group_permissions(expected) | {
        name: sorted(f"{app}.{codename}" for app, codes in wanted.items() for codename in codes)
        for name, wanted in ADDED_GROUPS.items()
    }
    assert "escrow.change_order" in after["group_permissions"][seeded["group"]]
    staff_permissions = set(after["staff_permissions"][seeded["staff"]])
    assert {"escrow.change_order", "core.view_auditentry"} <= staff_permissions
    assert not {"marketplace.change_order", "marketplace.view_auditentry"} & staff_permissions

    # Conversations keep their orders; every order's ledger still sums to zero.
    conversations = expected["messaging_conversation"]
    assert {key: after["conversation_orders"].get(key) for key in conversations} == {
        key: row["order_id"] and f"escrow.order:{row['order_id']}"
        for key, row in conversations.items()
    }
    assert after["order_ledger_totals"] == dict.fromkeys(timelines, 0)


# --- Today's main's data, as the latest migrations should leave it -------------------------------


def expected_tables(before):
    """Today's main's rows with the declared changes applied."""
    tables = copy.deepcopy(before)
    for row in tables["django_content_type"].values():
        row["app_label"] = MOVED_MODELS.get((row["app_label"], row["model"]), row["app_label"])
    for (table, column), renames in RENAMED_VALUES.items():
        for row in tables[table].values():
            row[column] = renames.get(row[column], row[column])
    for table, column in DROPPED_COLUMNS:
        for row in tables[table].values():
            del row[column]
    return tables


def differences(expected, tables):
    """How `tables` (the migrated database) differs from the expected rows, one line each."""
    if not isinstance(tables, dict):
        return [tables]  # the rows could not be read: the reason
    found = []
    for table, rows in expected.items():
        if table not in tables:
            found.append(f"{table}: table gone")
            continue
        now = tables[table]
        columns = {column for row in rows.values() for column in row}
        gone = columns - {column for row in now.values() for column in row} if now else set()
        found += [f"{table}.{column}: column gone" for column in sorted(gone)]
        for key, row in rows.items():
            if key not in now:
                found.append(f"{table} #{key}: row gone")
                continue
            found += [
                f"{table} #{key} {column}: {now[key][column]!r}, expected {value!r}"
                for column, value in row.items()
                if column not in gone and now[key][column] != value
            ]
        added, declared = len(now.keys() - rows.keys()), ADDED_ROWS.get(table, 0)
        if declared is not ANY and added != declared:
            found.append(f"{table}: {added} rows added, {declared} declared in ADDED_ROWS")
    return found


def one_per_line(found):
    """Problems for an assertion message (or, as it is, why they could not be read)."""
    return found if isinstance(found, str) else "\n".join(found)


def content_type(tables, content_type_id):
    row = tables["django_content_type"][str(content_type_id)]
    return f"{row['app_label']}.{row['model']}"


def generic_links(tables, table, type_column, id_column):
    """Where each row's generic link (a content type and an object id) should lead."""
    return {
        key: f"{content_type(tables, row[type_column])}:{row[id_column]}"
        for key, row in tables[table].items()
    }


def expected_order_timelines(tables):
    """Each order's audit actions, oldest first, as its timeline should show them."""
    timelines = {key: [] for key in tables["marketplace_order"]}
    entries = sorted(
        tables["marketplace_auditentry"].values(), key=lambda e: (e["created_at"], int(e["id"]))
    )
    for entry in entries:
        if content_type(tables, entry["target_type_id"]) == "escrow.order":
            timelines[entry["target_id"]].append(entry["action"])
    return timelines


def group_permissions(tables):
    """Each group's permissions as "app_label.codename", as the latest code should see them."""
    permissions = {group["name"]: [] for group in tables["auth_group"].values()}
    groups = {str(group["id"]): group["name"] for group in tables["auth_group"].values()}
    for link in tables["auth_group_permissions"].values():
        permission = tables["auth_permission"][str(link["permission_id"])]
        app_label = content_type(tables, permission["content_type_id"]).split(".")[0]
        permissions[groups[str(link["group_id"])]].append(f"{app_label}.{permission['codename']}")
    return {name: sorted(codes) for name, codes in permissions.items()}


# --- Fresh databases and subprocesses -------------------------------------------------------------


@pytest.fixture
def fresh_database(tmp_path):
    """The URL of a new, empty database beside the one DATABASE_URL names; dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    engine = environ.Env.db_url_config(url)["ENGINE"] if url else "django.db.backends.sqlite3"
    if engine == "django.db.backends.sqlite3":
        path = tmp_path / "migrations.sqlite3"
        try:
            yield f"sqlite:///{path}"
        finally:
            path.unlink(missing_ok=True)
    elif engine == "django.db.backends.postgresql":
        yield from _postgres_database(url)
    else:
        pytest.skip(f"No recipe for a fresh {engine} database")


def _postgres_database(url):
    import psycopg
    from psycopg import sql

    config = environ.Env.db_url_config(url)
    # Unique per run, so parallel runs on one server never meet.
    name = f"{config['NAME'][:30]}_migrations_{uuid.uuid4().hex[:12]}"
    server = psycopg.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    try:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlsplit(url)._replace(path=f"/{name}").geturl()
        finally:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        server.close()


def run(database_url, *args):
    result = subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        pytest.fail(f"`{' '.join(args)}` failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


def manage(database_url, *args):
    run(database_url, "manage.py", *args)


def scenario(database_url, command):
    """Run a step of tests/migration_scenario.py; returns the JSON it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        run(database_url, "-m", "tests.migration_scenario", command, str(out))
        return json.loads(out.read_text())
