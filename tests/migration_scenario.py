"""The database side of tests/test_migrations.py, run in a subprocess with migrations enabled.

    python -m tests.migration_scenario empty OUT.json        # dj-stripe's tables only (see below)
    python -m tests.migration_scenario todays-main OUT.json  # today's main's schema + seeded data
    python -m tests.migration_scenario facts OUT.json        # what the migrated database holds

DATABASE_URL names the fresh database the test made; DJANGO_SETTINGS_MODULE=config.settings_test.
Each command writes its findings as JSON to OUT.json for the test to assert on.

Two things live here and nowhere else:
- TODAYS_MAIN: the migration each app of ours had reached before the code moved (commit 288e1df).
- seed_todays_main(): the data such a database held, written with the models of that state.

dj-stripe: its own second migration (523 operations) takes over a minute to apply, more than
everything else together, and it is dj-stripe's to test. Unless MIGRATION_TESTS_RUN_DJSTRIPE=1,
its tables are created straight from the end state of its migrations (they hold no data steps)
and its migrations are recorded as applied: the schema its migrations would leave, in a second.
Its dependencies (contenttypes, auth, accounts' first migration) are applied by `migrate` first.
"""

import json
import os
import sys
import traceback
import uuid
from datetime import timedelta
from pathlib import Path

import django

# The migration each of our apps had reached on main before the move (288e1df). Our apps not
# listed (core, payouts) had no migrations then; Django's and third-party apps were at their latest.
TODAYS_MAIN = {
    "accounts": "0003_user_last_seen_at",
    "marketplace": "0002_order",
    "escrow": "0001_initial",
    "messaging": "0001_initial",
    "notifications": "0001_initial",
    "stripe_sandbox": "0001_initial",
}

# Tables whose rows are bookkeeping of the migrations themselves, not data.
NOT_DATA = {"django_migrations"}


def main(command, out):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    django.setup()
    if command == "empty":
        result = {"djstripe": prepare_djstripe()}
    elif command == "todays-main":
        prepare_djstripe()
        migrate_to_todays_main()
        result = {"seeded": seed_todays_main(), "tables": table_rows()}
    elif command == "facts":
        result = facts()
    else:
        raise SystemExit(f"unknown command {command!r}")
    Path(out).write_text(json.dumps(result, indent=1, sort_keys=True, default=str))


# --- Migrating ----------------------------------------------------------------------------------


def prepare_djstripe():
    """Give the database dj-stripe's tables the fast way (see the module docstring)."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder

    if os.environ.get("MIGRATION_TESTS_RUN_DJSTRIPE") == "1":
        return "migrations"
    loader = MigrationLoader(connection)
    graph = loader.graph
    own = sorted(node for node in graph.nodes if node[0] == "djstripe")
    needs = {parent for node in own for parent in graph.node_map[node].parents}
    for app_label, name in sorted(needs - set(own)):
        call_command("migrate", app_label, name, verbosity=0, interactive=False)
    leaf = [node for node in graph.leaf_nodes() if node[0] == "djstripe"]
    state_apps = loader.project_state(leaf).apps
    with connection.schema_editor() as editor:
        for model in state_apps.get_app_config("djstripe").get_models():
            editor.create_model(model)
    recorder = MigrationRecorder(connection)
    for app_label, name in own:
        recorder.record_applied(app_label, name)
    return "end state"


def our_apps():
    """Labels of the apps in this repository (the rest are Django's or third parties', wherever
    their virtualenv is, even inside the repository)."""
    from django.apps import apps
    from django.conf import settings

    base = Path(settings.BASE_DIR).resolve()
    return {
        config.label
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(base / config.name.split(".")[0])
    }


def todays_main_targets(graph):
    ours = our_apps()
    targets = [(app, name) for app, name in TODAYS_MAIN.items() if app in ours]
    targets += [node for node in graph.leaf_nodes() if node[0] not in ours]
    return sorted(targets)


def migrate_to_todays_main():
    """`migrate <app> <migration>` for each app, as `manage.py migrate` on today's main did; each
    run's post_migrate creates content types and permissions for the models of that state."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(connection).graph
    targets = todays_main_targets(graph)
    for app_label, name in targets:
        call_command("migrate", app_label, name, verbosity=0, interactive=False)

    # No migration newer than today's main may have slipped in (a dependency pulling it in would
    # make this test migrate forward from the wrong place).
    ours = our_apps()
    wanted = {node for target in targets for node in graph.forwards_plan(target) if node[0] in ours}
    applied = {node for node in MigrationLoader(connection).applied_migrations if node[0] in ours}
    if applied != wanted:
        extra, missing = sorted(applied - wanted), sorted(wanted - applied)
        raise SystemExit(f"Not at today's main: extra {extra}, missing {missing}")


def todays_main_models():
    """The models exactly as they were at today's main (historical models, no custom methods)."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection)
    return loader.project_state(todays_main_targets(loader.graph)).apps


# --- Today's data -------------------------------------------------------------------------------


def seed_todays_main():
    """Rows as today's main left them: one of each thing the move touches. Returns what it made,
    by name, for the test's link checks."""
    from django.db import transaction
    from django.utils import timezone

    apps = todays_main_models()

    def model(label):
        return apps.get_model(*label.split("."))

    ContentType = model("contenttypes.ContentType")
    Permission = model("auth.Permission")
    Group = model("auth.Group")
    LogEntry = model("admin.LogEntry")
    User = model("accounts.User")
    Category = model("marketplace.Category")
    Store = model("marketplace.Store")
    Listing = model("marketplace.Listing")
    Order = model("marketplace.Order")
    AuditEntry = model("marketplace.AuditEntry")
    EscrowPayment = model("escrow.EscrowPayment")
    EscrowRelease = model("escrow.EscrowRelease")
    TransferReversal = model("escrow.TransferReversal")
    LedgerEntry = model("escrow.LedgerEntry")
    Conversation = model("messaging.Conversation")
    Participant = model("messaging.Participant")
    Message = model("messaging.Message")
    Notification = model("notifications.Notification")
    now = timezone.now()
    seeded = {"orders": {}, "listings": {}}

    # Made by post_migrate at today's main, under the app the models lived in then.
    order_type = ContentType.objects.get(app_label="marketplace", model="order")
    listing_type = ContentType.objects.get(app_label="marketplace", model="listing")
    audit_type = ContentType.objects.get(app_label="marketplace", model="auditentry")

    def audit(target, target_type, actor, *actions):
        for action in actions:
            AuditEntry.objects.create(
                action=action,
                actor=actor,
                target_type=target_type,
                target_id=str(target.pk),
                after={"action": action},
            )

    def book(order, memo, *lines, stripe_object_id=""):
        txn = uuid.uuid4()
        assert sum(amount for _, amount in lines) == 0, memo
        for account, amount in lines:
            LedgerEntry.objects.create(
                transaction_id=txn,
                order=order,
                account=account,
                amount_cents=amount,
                currency=order.currency,
                memo=memo,
                stripe_object_id=stripe_object_id,
            )

    with transaction.atomic():
        # People: a seller who can be paid, a buyer, and staff who work on orders.
        seller = User.objects.create(email="seller@example.com", full_name="Sam Seller")
        buyer = User.objects.create(email="buyer@example.com", full_name="Bea Buyer")
        staff = User.objects.create(email="staff@example.com", is_staff=True)
        profile = model("accounts.SellerProfile").objects.create(
            user=seller, display_name="Sam's Pottery", country="US", default_currency="usd"
        )
        model("accounts.ConnectedAccount").objects.create(
            seller_profile=profile,
            stripe_account_id="acct_seller",
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            capabilities={"transfers": "active"},
        )
        model("escrow.StripeCustomer").objects.create(user=buyer, stripe_customer_id="cus_buyer")

        # Staff permissions on the models that move, through a group and directly.
        support = Group.objects.create(name="Order support")
        support.permissions.add(
            Permission.objects.get(content_type=order_type, codename="change_order"),
            Permission.objects.get(content_type=order_type, codename="view_order"),
            Permission.objects.get(content_type=listing_type, codename="view_listing"),
        )
        staff.groups.add(support)
        staff.user_permissions.add(
            Permission.objects.get(content_type=audit_type, codename="view_auditentry")
        )
        seeded["group"] = support.name
        seeded["staff"] = staff.email

        # The catalogue.
        pottery = Category.objects.create(name="Pottery", slug="pottery")
        store = Store.objects.create(owner=seller, name="Sam's Pottery", slug="sams-pottery")
        listings = {
            "mug": Listing.objects.create(
                store=store,
                category=pottery,
                kind="product",
                title="Blue mug",
                description="Hand thrown.",
                price_cents=2500,
                currency="usd",
                stock=10,
                status="approved",
                submitted_at=now,
                reviewed_at=now,
                reviewed_by=staff,
            ),
            "lesson": Listing.objects.create(
                store=store,
                kind="service",
                title="Wheel lesson",
                description="One hour at the wheel.",
                price_cents=6000,
                currency="usd",
                duration_minutes=60,
                status="pending_review",
                submitted_at=now,
            ),
        }
        audit(listings["mug"], listing_type, seller, "listing.created", "listing.submitted")
        audit(listings["mug"], listing_type, staff, "listing.approved")
        audit(listings["lesson"], listing_type, seller, "listing.created", "listing.submitted")
        seeded["listings"] = {name: listing.pk for name, listing in listings.items()}

        def order(name, status, quantity, *actions, **fields):
            mug = listings["mug"]
            total = mug.price_cents * quantity
            made = Order.objects.create(
                buyer=buyer,
                seller=seller,
                store=store,
                listing=mug,
                listing_title=mug.title,
                listing_kind=mug.kind,
                unit_price_cents=mug.price_cents,
                quantity=quantity,
                total_cents=total,
                currency="usd",
                commission_bps=1000,
                commission_cents=total // 10,
                status=status,
                **fields,
            )
            audit(made, order_type, buyer, "order.created", *actions)
            seeded["orders"][name] = made.pk
            return made

        def paid(made, payment_id, fee=105, **fields):
            fields.setdefault("status", "succeeded")
            fields.setdefault("succeeded_at", now)
            payment = EscrowPayment.objects.create(
                order=made,
                kind="checkout",
                stripe_checkout_session_id=f"cs_{payment_id}",
                stripe_payment_intent_id=f"pi_{payment_id}",
                stripe_charge_id=f"ch_{payment_id}",
                amount_cents=made.total_cents,
                currency=made.currency,
                stripe_fee_cents=fee,
                **fields,
            )
            book(
                made,
                f"Buyer paid order #{made.pk} into escrow",
                ("stripe_balance", made.total_cents - fee),
                ("stripe_fees", fee),
                ("buyer_funds_held", -made.total_cents),
                stripe_object_id=payment.stripe_charge_id,
            )
            return payment

        # Orders in each state the move must carry, with the money that went with them.
        awaiting = order("awaiting_payment", "pending_payment", 1, expires_at=now + timedelta(1))
        EscrowPayment.objects.create(
            order=awaiting,
            kind="payment_intent",
            stripe_payment_intent_id="pi_declined",
            amount_cents=awaiting.total_cents,
            currency="usd",
            status="failed",
            failure_message="Your card was declined.",
        )
        order("cancelled", "cancelled", 1, "order.cancelled", closed_at=now)

        funded = order("funded", "funded", 2, "order.funded", funded_at=now, stock_reserved=True)
        paid(funded, "funded")

        delivered = order(
            "delivered",
            "delivered",
            1,
            "order.funded",
            "order.delivered",
            funded_at=now,
            delivered_at=now,
            delivery_note="Posted, tracking 123.",
            review_deadline=now + timedelta(days=3),
        )
        paid(delivered, "delivered")

        released = order(
            "released",
            "released",
            3,
            "order.funded",
            "order.delivered",
            "order.approved",
            funded_at=now,
            delivered_at=now,
            released_at=now,
            closed_at=now,
        )
        paid(released, "released")
        # The buyer paid twice: the second payment succeeded at Stripe but was marked canceled
        # (to be refunded), keeping one successful payment per order.
        paid(
            released,
            "released_twice",
            status="canceled",
            failure_message="Second payment for an order already paid: refund it.",
        )
        commission = released.commission_cents
        transfer = released.total_cents - commission
        release = EscrowRelease.objects.create(
            order=released,
            trigger="buyer",
            actor=buyer,
            gross_cents=released.total_cents,
            commission_cents=commission,
            transfer_cents=transfer,
            currency="usd",
            destination_account="acct_seller",
            source_charge="ch_released",
            stripe_transfer_id="tr_released",
            status="transferred",
            transferred_at=now,
            amount_reversed_cents=1200,
        )
        book(
            released,
            f"Escrow of order #{released.pk} released (buyer approved)",
            ("buyer_funds_held", released.total_cents),
            ("platform_commission", -commission),
            (f"seller_payable:{seller.pk}", -transfer),
        )
        book(
            released,
            f"Transfer to the seller for order #{released.pk}",
            (f"seller_payable:{seller.pk}", transfer),
            ("stripe_balance", -transfer),
            stripe_object_id="tr_released",
        )
        TransferReversal.objects.create(
            release=release, stripe_reversal_id="trr_released", amount_cents=1200, currency="usd"
        )
        book(
            released,
            f"Transfer for order #{released.pk} reversed",
            ("stripe_balance", 1200),
            ("transfer_reversals", -1200),
            stripe_object_id="trr_released",
        )
        run = model("escrow.ReconciliationRun").objects.create(
            finished_at=now, orders_checked=5, difference_count=1
        )
        model("escrow.ReconciliationDifference").objects.create(
            run=run,
            order=released,
            kind="transfer_reversed",
            stripe_object_id="trr_released",
            ours_cents=0,
            stripe_cents=1200,
            message="Stripe reversed part of the transfer.",
        )

        # Staff changed an order in the admin: its history points at the order's content type.
        LogEntry.objects.create(
            user=staff,
            content_type=order_type,
            object_id=str(delivered.pk),
            object_repr=f"Order #{delivered.pk} Blue mug",
            action_flag=2,  # CHANGE
            change_message='[{"changed": {"fields": ["Delivery note"]}}]',
        )

        # The order's conversation and a question about the lesson.
        room = Conversation.objects.create(
            kind="order",
            order=funded,
            listing=listings["mug"],
            buyer=buyer,
            seller=seller,
            last_message_at=now,
        )
        question = Conversation.objects.create(
            kind="inquiry", listing=listings["lesson"], buyer=buyer, seller=seller
        )
        for conversation in (room, question):
            Participant.objects.create(conversation=conversation, user=buyer, role="buyer")
            Participant.objects.create(conversation=conversation, user=seller, role="seller")
        Message.objects.create(
            conversation=room, sender=buyer, sender_role="buyer", body="When will it ship?"
        )
        Message.objects.create(
            conversation=room, sender=seller, sender_role="seller", body="Tomorrow morning."
        )
        Message.objects.create(
            conversation=question, sender=buyer, sender_role="buyer", body="Beginners welcome?"
        )

        # What people were told.
        paid_note = Notification.objects.create(
            recipient=seller,
            event_code="order.funded",
            title="New order paid",
            action_url=f"/orders/{funded.pk}/",
            context={"order_id": funded.pk},
        )
        Notification.objects.create(
            recipient=buyer, event_code="order.delivered", title="Your order is on its way"
        )
        model("notifications.EmailDelivery").objects.create(
            recipient=seller,
            notification=paid_note,
            event_code="order.funded",
            to_email=seller.email,
            subject="New order paid",
            status="sent",
            attempts=1,
            sent_at=now,
        )
        model("notifications.NotificationPreference").objects.create(
            user=buyer, event_code="order.delivered", email_mode="digest"
        )
    return seeded


# --- What a database holds ----------------------------------------------------------------------


def table_rows():
    """Every row of every table, by table then primary key, as plain JSON values (raw SQL, so it
    reads any schema: today's main's and the latest)."""
    from django.db import connection

    tables = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table in NOT_DATA:
                continue
            key = connection.introspection.get_primary_key_column(cursor, table)
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 - names from introspection
            columns = [column[0] for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            tables[table] = {
                str(row[key]) if key else json.dumps(row, default=str, sort_keys=True): row
                for row in rows
            }
    return json.loads(json.dumps(tables, default=str))


def schema_problems():
    """Where the database differs from the models: missing tables, columns that differ or
    differ in NULL, missing indexes and constraints, foreign keys pointing elsewhere."""
    from django.apps import apps
    from django.db import connection, router

    problems = []
    with connection.cursor() as cursor:
        introspection = connection.introspection
        tables = set(introspection.table_names(cursor))
        for model in apps.get_models(include_auto_created=True):
            meta = model._meta
            if not meta.managed or meta.proxy or not router.allow_migrate_model("default", model):
                continue
            table = meta.db_table
            if table not in tables:
                problems.append(f"{meta.label}: no table {table}")
                continue
            in_db = {c.name: c for c in introspection.get_table_description(cursor, table)}
            fields = {f.column: f for f in meta.local_concrete_fields}
            if set(in_db) != set(fields):
                problems.append(
                    f"{table}: columns {sorted(set(in_db) - set(fields))} are not in the model, "
                    f"{sorted(set(fields) - set(in_db))} are not in the database"
                )
            for column in set(in_db) & set(fields):
                if bool(in_db[column].null_ok) != fields[column].null:
                    problems.append(f"{table}.{column}: NULL allowed is {in_db[column].null_ok}")
            constraints = introspection.get_constraints(cursor, table)
            for wanted in [*meta.indexes, *meta.constraints]:
                if wanted.name not in constraints:
                    problems.append(f"{table}: no index or constraint {wanted.name}")
            foreign_keys = {
                tuple(c["columns"]): c["foreign_key"]
                for c in constraints.values()
                if c["foreign_key"]
            }
            for field in fields.values():
                if field.remote_field and field.db_constraint:
                    target = field.target_field
                    wanted = (target.model._meta.db_table, target.column)
                    if tuple(foreign_keys.get((field.column,), ())) != wanted:
                        problems.append(
                            f"{table}.{field.column}: foreign key to "
                            f"{foreign_keys.get((field.column,))}, model says {wanted}"
                        )
    return problems


def facts():
    """What the latest code sees in the migrated database, through its own models and selectors."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from accounts.models import User
    from core.models import AuditEntry
    from escrow import ledger
    from escrow.models import Order
    from escrow.selectors import order_timeline
    from messaging.models import Conversation

    def label(obj):
        return None if obj is None else f"{obj._meta.label_lower}:{obj.pk}"

    def reach(link):
        """Where a link leads, or why it leads nowhere (a content type with no model left)."""
        try:
            return label(link())
        except Exception as exc:
            return f"unreachable: {exc!r}"

    def unapplied():
        executor = MigrationExecutor(connection)
        return [str(m) for m, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())]

    def orders():
        return Order.objects.order_by("pk")

    readers = {
        "unapplied": unapplied,
        "schema_problems": schema_problems,
        "tables": table_rows,
        "content_types": lambda: sorted(
            f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.all()
        ),
        "audit_targets": lambda: {
            str(entry.pk): reach(lambda entry=entry: entry.target)
            for entry in AuditEntry.objects.all()
        },
        "order_timelines": lambda: {
            str(order.pk): [event.action for event in order_timeline(order)] for order in orders()
        },
        "order_ledger_totals": lambda: {
            str(order.pk): ledger.order_total(order) for order in orders()
        },
        "group_permissions": lambda: {
            group.name: sorted(
                f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()
            )
            for group in Group.objects.all()
        },
        "staff_permissions": lambda: {
            user.email: sorted(user.get_all_permissions())
            for user in User.objects.filter(is_staff=True)
        },
        "admin_history": lambda: {
            str(log.pk): reach(log.get_edited_object) for log in LogEntry.objects.all()
        },
        "conversation_orders": lambda: {
            str(c.pk): label(c.order) for c in Conversation.objects.all()
        },
    }
    # A fact that cannot be read (a table gone) is reported as such, so the test still shows
    # every other difference.
    result = {}
    for name, read in readers.items():
        try:
            result[name] = read()
        except Exception:
            result[name] = f"could not read: {traceback.format_exc(limit=-2)}"
    return result


if __name__ == "__main__":
    main(*sys.argv[1:])
