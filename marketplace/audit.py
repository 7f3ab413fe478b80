from django.contrib.contenttypes.models import ContentType

from marketplace.models import AuditEntry


def audit_record(*, action, actor, target, before=None, after=None):
    """Write one audit entry. Call it inside the transaction of the change it records."""
    return AuditEntry.objects.create(
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        target_type=ContentType.objects.get_for_model(target),
        target_id=str(target.pk),
        before=before or {},
        after=after or {},
    )
