# Audit actions in one shape across the apps: <app>.<entity>.<past-tense verb>
# ("listing.approved" became "marketplace.listing.approved", "connect.account.synced"
# "accounts.connected_account.synced", ...). Stored entries are renamed to match the code that
# writes and reads them (escrow's order timeline, the admin's filters); codes already in the new
# shape (messaging's) or unknown to this list are left as they are. Reversible.

from django.db import migrations

RENAMES = {
    "order.created": "escrow.order.created",
    "order.funded": "escrow.order.funded",
    "order.delivered": "escrow.order.delivered",
    "order.approved": "escrow.order.approved",
    "order.auto_released": "escrow.order.auto_released",
    "order.released_by_staff": "escrow.order.released_by_staff",
    "order.cancelled": "escrow.order.cancelled",
    "order.expired": "escrow.order.expired",
    "store.created": "marketplace.store.created",
    "store.updated": "marketplace.store.updated",
    "listing.created": "marketplace.listing.created",
    "listing.updated": "marketplace.listing.updated",
    "listing.submitted": "marketplace.listing.submitted",
    "listing.withdrawn": "marketplace.listing.withdrawn",
    "listing.approved": "marketplace.listing.approved",
    "listing.rejected": "marketplace.listing.rejected",
    "listing.archived": "marketplace.listing.archived",
    "listing.restored": "marketplace.listing.restored",
    "listing.image_added": "marketplace.listing_image.added",
    "listing.image_removed": "marketplace.listing_image.removed",
    "user.signed_up": "accounts.user.signed_up",
    "user.updated": "accounts.user.updated",
    "user.created_by_staff": "accounts.user.created_by_staff",
    "user.access_changed": "accounts.user_access.changed",
    "seller.onboarded": "accounts.seller.onboarded",
    "seller.profile_updated": "accounts.seller_profile.updated",
    "seller.commission_changed": "accounts.seller_commission.changed",
    "connect.account.created": "accounts.connected_account.created",
    "connect.account.synced": "accounts.connected_account.synced",
}


def _rename(apps, mapping):
    AuditEntry = apps.get_model("core", "AuditEntry")
    for old, new in mapping.items():
        AuditEntry.objects.filter(action=old).update(action=new)


def to_namespaced(apps, schema_editor):
    _rename(apps, RENAMES)


def to_previous(apps, schema_editor):
    _rename(apps, {new: old for old, new in RENAMES.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(to_namespaced, to_previous),
    ]
