"""Drop the API tokens of DRF's authtoken app, which Bazaar no longer installs.

Those tokens never expired, survived password changes and were stored in plain text, one per
user. Bazaar now issues expiring, revocable tokens (django-rest-knox) and no longer accepts the
old ones, so their table is dropped rather than left behind with live-looking secrets in every
backup, and authtoken's migration records with it (installing the app again starts clean).
An app still holding an old token gets 401 and signs in again.
"""

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder

LEGACY_TABLE = "authtoken_token"


def drop_legacy_api_tokens(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    if LEGACY_TABLE in tables:
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(LEGACY_TABLE)}")
    MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_last_seen_at"),
    ]

    operations = [
        # The tokens cannot come back: going backwards leaves nothing to restore.
        migrations.RunPython(drop_legacy_api_tokens, migrations.RunPython.noop, elidable=True),
    ]
