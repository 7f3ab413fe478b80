"""The top-bar bell's data, on every page a signed-in person sees.

Both values are lazy: a page that does not render the bell runs no query, and one that does runs
two (the unread count and the latest five), however many notifications the person has.
"""

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from notifications import selectors


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "notifications_unread_count": SimpleLazyObject(
            lambda: selectors.notification_unread_count(user=user)
        ),
        "notifications_latest": SimpleLazyObject(lambda: selectors.notifications_latest(user=user)),
        "notifications_poll_seconds": max(1, int(settings.NOTIFICATIONS_POLL_SECONDS)),
    }
