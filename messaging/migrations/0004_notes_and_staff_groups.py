# Bazaar's notes in an order's conversation (a dispute opened: sender_role "note"), and the two
# staff groups that handle disputes (issue #12):
# - Support reads orders, disputes, conversations and their files, and posts into conversations
#   as Bazaar staff (ConversationAdmin.has_post_permission: messaging.change_conversation).
# - Finance has Support's permissions and refunds orders (escrow.add_escrowrefund) and resolves
#   disputes (escrow.resolve_dispute).
# Superusers hold every permission. The groups live here because they need messaging's
# permissions and escrow's (messaging sits above escrow).

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

SUPPORT = {
    "escrow": [
        "view_order",
        "view_dispute",
        "view_escrowpayment",
        "view_escrowrelease",
        "view_escrowrefund",
        "view_transferreversal",
        "view_ledgerentry",
    ],
    "messaging": [
        "view_conversation",
        "change_conversation",
        "view_message",
        "view_attachment",
    ],
    "core": ["view_auditentry"],
}
FINANCE_EXTRA = {"escrow": ["add_escrowrefund", "resolve_dispute"]}
GROUPS = {
    "Support": SUPPORT,
    "Finance": {
        app: SUPPORT.get(app, []) + FINANCE_EXTRA.get(app, [])
        for app in SUPPORT.keys() | FINANCE_EXTRA.keys()
    },
}


def create_groups(apps, schema_editor):
    db = schema_editor.connection.alias
    # Permissions are made after the last migration (post_migrate); these need them now.
    for label in ("core", "escrow", "messaging"):
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=db, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in GROUPS.items():
        group, _ = Group.objects.using(db).get_or_create(name=name)
        permissions = []
        for app_label, codenames in wanted.items():
            found = list(
                Permission.objects.using(db).filter(
                    content_type__app_label=app_label, codename__in=codenames
                )
            )
            missing = set(codenames) - {p.codename for p in found}
            if missing:
                raise RuntimeError(f"Permissions missing for the {name} group: {sorted(missing)}")
            permissions += found
        group.permissions.add(*permissions)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_open_conversations_of_existing_orders"),
        ("escrow", "0011_disputes"),
        ("core", "0003_webhook_processing"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="sender_role",
            field=models.CharField(
                choices=[
                    ("buyer", "Buyer"),
                    ("seller", "Seller"),
                    ("staff", "Bazaar staff"),
                    ("note", "Bazaar note"),
                ],
                max_length=10,
            ),
        ),
        migrations.RunPython(create_groups, remove_groups),
    ]
