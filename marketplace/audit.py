import json

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder

from marketplace.models import AuditEntry


def _json_safe(values):
    # Transitions record timestamps (submitted_at, reviewed_at); the JSON column only takes plain
    # values, so datetimes, dates and decimals are stored as their ISO/str forms.
    return json.loads(json.dumps(values or {}, cls=DjangoJSONEncoder))


def audit_record(*, action, actor, target, before=None, after=None):
    """Write one audit entry. Call it inside the transaction of the change it records."""
    return AuditEntry.objects.create(
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        target_type=ContentType.objects.get_for_model(target),
        target_id=str(target.pk),
        before=_json_safe(before),
        after=_json_safe(after),
    )
