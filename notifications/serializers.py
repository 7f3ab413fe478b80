"""Input and output shapes of the notifications API. Input serializers only parse; the rules
live in notifications.services."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.events import EVENTS, EmailMode
from notifications.models import Notification


class NotificationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = (
            "id",
            "event_code",
            "level",
            "title",
            "message",
            "action_url",
            "is_read",
            "created_at",
        )
        read_only_fields = fields


class NotificationListQuerySerializer(serializers.Serializer):
    unread_only = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only unread notifications. Accepts true/false or 1/0.",
    )


class UnreadCountOutputSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField(min_value=0)


class MarkedReadOutputSerializer(serializers.Serializer):
    marked = serializers.IntegerField(
        min_value=0, help_text="How many unread notifications were marked read."
    )


# The schema names an enum after its field; pointing the items at `email_mode`'s enum keeps one
# name (EmailModeEnum) for the one choice set instead of a second, identical AllowedModesEnum.
@extend_schema_field({"type": "array", "items": {"$ref": "#/components/schemas/EmailModeEnum"}})
class AllowedModesField(serializers.ListField):
    child = serializers.ChoiceField(choices=EmailMode.CHOICES)


class NotificationPreferenceOutputSerializer(serializers.Serializer):
    event_code = serializers.CharField()
    label = serializers.CharField(help_text="What the preferences page calls this event.")
    email_mode = serializers.ChoiceField(choices=EmailMode.CHOICES)
    allowed_modes = AllowedModesField(
        help_text="The email modes this event accepts; digest only for low-priority events, "
        "muted (no notification at all) only for alerts a person asked for.",
    )
    low_priority = serializers.BooleanField()

    @staticmethod
    def rows(preferences):
        """preferences_for()'s [(event, mode)] as the dicts this serializer renders."""
        return [
            {
                "event_code": event.code,
                "label": str(event.label),
                "email_mode": mode,
                "allowed_modes": event.email_modes,
                "low_priority": event.low_priority,
            }
            for event, mode in preferences
        ]


class NotificationPreferenceInputSerializer(serializers.Serializer):
    event_code = serializers.ChoiceField(
        choices=[(code, event.label) for code, event in EVENTS.items()]
    )
    email_mode = serializers.ChoiceField(choices=EmailMode.CHOICES)
