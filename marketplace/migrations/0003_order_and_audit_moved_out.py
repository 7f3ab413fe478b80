# Orders moved to escrow/ and the audit trail to core/, each keeping its table. This removes
# their old declarations from marketplace's state and hands their content types over, so the
# audit trail's generic links, staff permissions and admin history follow without touching a row.

from django.db import migrations

MOVED = (("order", "escrow"), ("auditentry", "core"))


def _hand_over(apps, schema_editor, moves):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    AuditEntry = apps.get_model("core", "AuditEntry")
    LogEntry = apps.get_model("admin", "LogEntry")
    db = schema_editor.connection.alias
    content_types = ContentType.objects.using(db)
    for model, old_app, new_app in moves:
        old = content_types.filter(app_label=old_app, model=model).first()
        if old is None:  # a fresh database: post_migrate creates the new one afterwards
            continue
        new = content_types.filter(app_label=new_app, model=model).first()
        if new is None:
            old.app_label = new_app
            old.save(update_fields=["app_label"])
            continue
        # Both exist (the new app was migrated on its own first): point every row at the new
        # content type, carry each permission's holders over, then drop the old one.
        AuditEntry.objects.using(db).filter(target_type=old).update(target_type=new)
        LogEntry.objects.using(db).filter(content_type=old).update(content_type=new)
        for permission in Permission.objects.using(db).filter(content_type=old):
            target = Permission.objects.using(db).filter(
                content_type=new, codename=permission.codename
            ).first()
            if target is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
                continue
            target.group_set.add(*permission.group_set.all())
            target.user_set.add(*permission.user_set.all())
            permission.delete()
        old.delete()


def forwards(apps, schema_editor):
    _hand_over(apps, schema_editor, [(model, "marketplace", app) for model, app in MOVED])


def backwards(apps, schema_editor):
    _hand_over(apps, schema_editor, [(model, app, "marketplace") for model, app in MOVED])


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0002_order"),
        ("core", "0001_initial"),
        ("escrow", "0002_order"),
        ("messaging", "0002_order_moved_to_escrow"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Order"),
                migrations.DeleteModel(name="AuditEntry"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
