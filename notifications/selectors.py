"""Reads of a person's notifications. Every query is scoped to the recipient: someone else's
notification does not exist here."""

from notifications.models import Notification

BELL_LATEST = 5

# What the bell, the list page and the API show; `context` (the email's inputs) can be large.
_LIST_FIELDS = (
    "id",
    "recipient_id",
    "event_code",
    "level",
    "title",
    "message",
    "action_url",
    "is_read",
    "created_at",
)


def notifications_for(*, user, unread_only=False):
    """The user's notifications, newest first."""
    queryset = Notification.objects.filter(recipient=user).only(*_LIST_FIELDS)
    if unread_only:
        queryset = queryset.filter(is_read=False)
    return queryset.order_by("-created_at", "-id")


def notifications_latest(*, user, limit=BELL_LATEST):
    return list(notifications_for(user=user)[:limit])


def notification_unread_count(*, user):
    return Notification.objects.filter(recipient=user, is_read=False).count()
