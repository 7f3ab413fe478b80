"""Everyone who signed up before email verification existed counts as verified: their address
is marked confirmed (email_verified_at) and gets allauth's verified, primary EmailAddress row."""

from django.db import migrations
from django.db.models import F


def mark_verified(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    User.objects.filter(email_verified_at__isnull=True).update(email_verified_at=F("date_joined"))
    known = set(EmailAddress.objects.values_list("user_id", flat=True))
    EmailAddress.objects.bulk_create(
        [
            EmailAddress(user_id=pk, email=email.lower(), verified=True, primary=True)
            for pk, email in User.objects.values_list("pk", "email").iterator()
            if pk not in known
        ],
        batch_size=500,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_user_email_verified"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(mark_verified, migrations.RunPython.noop)]
