"""Raising notifications, reading them, and emailing them.

`notify()` is the only way to raise a notification. The in-app row is written in the caller's
transaction; the email is queued for Celery after commit, so a rolled-back change never emails.
"""

import logging
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from core import rows
from core.errors import ValidationFailed
from notifications.audiences import events_for
from notifications.events import EVENTS, EmailMode, get_event
from notifications.models import EmailDelivery, Notification, NotificationPreference

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "notifications.unsubscribe"
ALL_EVENTS = "*"


class EmailSendFailed(Exception):
    pass


class _SafeContext(dict):
    """Format-string context that leaves an unknown {name} visible instead of failing."""

    def __missing__(self, key):
        return "{" + key + "}"


def _language(user):
    return getattr(user, "language", "") or settings.LANGUAGE_CODE


@cache  # built once per process: the table's name does not change
def _email_mode_sql():
    return (
        f"SELECT email_mode FROM {NotificationPreference._meta.db_table} "
        "WHERE user_id = %s AND event_code = %s ORDER BY id LIMIT 1"
    )


def email_mode_for(*, user, event):
    # Only the choice is read, and in SQL: notify() asks once per notification, thousands of
    # times in an auto-release job, and building the same query through the ORM each time cost
    # six times what running it did.
    with connection.cursor() as cursor:
        cursor.execute(_email_mode_sql(), [user.pk, event.code])
        row = cursor.fetchone()
    return event.default_email if row is None else row[0]


def notify(user, event_code, context=None, *, email=True):
    """Tell `user` that `event_code` happened. Returns the in-app Notification, or None when
    the person turned this (mutable) event off altogether.

    `context` must be JSON-serialisable; `action_url` in it is where the notification leads, and
    `ics` (iCalendar text) is attached to the email as an invitation.
    `email=False` keeps it in-app only this time (say, the person is online and sees it there).
    """
    event = get_event(event_code)
    context = dict(context or {})
    wants_email = email and user.is_active and user.email
    mode = email_mode_for(user=user, event=event) if wants_email or event.mutable else None
    if mode == EmailMode.MUTED:
        return None
    if not wants_email:
        mode = EmailMode.OFF
    with translation.override(_language(user)):
        values = _SafeContext(context)
        title = str(event.title).format_map(values)[:200]
        message = str(event.message).format_map(values)
    # Written by core.rows (no save() of theirs, no signal): notify() runs once per released
    # order in the auto-release job, and Django building the two INSERTs cost more than running
    # them.
    notification = Notification(
        recipient=user,
        event_code=event.code,
        level=event.level,
        title=title,
        message=message,
        action_url=context.get("action_url", ""),
        context=context,
        digest_pending=mode == EmailMode.DIGEST,
    )
    rows.insert(notification)
    if mode == EmailMode.IMMEDIATE:
        delivery = EmailDelivery(
            recipient=user,
            kind=EmailDelivery.Kind.SINGLE,
            notification=notification,
            event_code=event.code,
            to_email=user.email,
        )
        rows.insert(delivery)
        _queue_delivery(delivery.pk)
    return notification


def notify_staff(event_code, context=None):
    staff = get_user_model().objects.filter(is_staff=True, is_active=True)
    return [notify(user, event_code, context) for user in staff]


def _queue_delivery(delivery_id):
    transaction.on_commit(lambda: _enqueue(delivery_id))


def _enqueue(delivery_id):
    """Hand an email to the worker. The change that raised it is committed by now, so a broker
    outage must not turn it into an error: the delivery is marked failed for staff to retry."""
    # notifications.tasks imports this module (its tasks call these services).
    from notifications.tasks import send_email_delivery

    try:
        send_email_delivery.delay(delivery_id)
    except Exception as exc:
        logger.exception("Could not queue email delivery %s", delivery_id)
        EmailDelivery.objects.filter(pk=delivery_id, status=EmailDelivery.Status.QUEUED).update(
            status=EmailDelivery.Status.FAILED, last_error=f"Could not queue it: {exc}"[:2000]
        )


# --- Reading and tidying ------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user, notification_id):
    notification = Notification.objects.select_for_update().get(pk=notification_id, recipient=user)
    if not notification.is_read:
        notification.is_read = True
        notification.read_at = timezone.now()
        notification.save(update_fields=["is_read", "read_at"])
    return notification


@transaction.atomic
def notifications_mark_read_for(*, user, event_code, action_url):
    """Mark read the notifications that lead to `action_url` (the person went there anyway)."""
    return Notification.objects.filter(
        recipient=user, event_code=event_code, action_url=action_url, is_read=False
    ).update(is_read=True, read_at=timezone.now())


@transaction.atomic
def notification_mark_all_read(*, user):
    return Notification.objects.filter(recipient=user, is_read=False).update(
        is_read=True, read_at=timezone.now()
    )


@transaction.atomic
def notification_delete(*, user, notification_id):
    deleted, _ = Notification.objects.filter(pk=notification_id, recipient=user).delete()
    if not deleted:
        raise Notification.DoesNotExist
    return deleted


# --- Preferences and unsubscribing --------------------------------------------------------------


@transaction.atomic
def preference_set(*, user, event_code, email_mode):
    event = EVENTS.get(event_code)
    if event is None:
        raise ValidationFailed({"event_code": f"There is no notification called {event_code!r}."})
    if event not in events_for(user):
        # An event that cannot reach this person (a seller's or staff's) is not theirs to set.
        raise ValidationFailed(
            {"event_code": f"The notification {event_code!r} is not one you can receive."}
        )
    if email_mode not in event.email_modes:
        allowed = ", ".join(event.email_modes)
        raise ValidationFailed({"email_mode": f"For this notification choose one of: {allowed}."})
    NotificationPreference.objects.update_or_create(
        user=user, event_code=event_code, defaults={"email_mode": email_mode}
    )
    return email_mode


def preferences_for(*, user):
    """[(event, email_mode)] for every event that can reach `user`, in the order of EVENTS:
    buyers' events for everyone, sellers' for people with a seller profile, staff's for staff."""
    chosen = dict(
        NotificationPreference.objects.filter(user=user).values_list("event_code", "email_mode")
    )
    return [(event, chosen.get(event.code, event.default_email)) for event in events_for(user)]


def unsubscribe_token(*, user, event_code):
    return signing.dumps({"u": user.pk, "e": event_code}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(*, user, event_code):
    token = unsubscribe_token(user=user, event_code=event_code)
    return settings.SITE_URL + reverse("notifications:unsubscribe", kwargs={"token": token})


def unsubscribe_token_read(*, token):
    """(user, event_code) named by a signed token; raises signing.BadSignature if forged."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    user = get_user_model().objects.filter(pk=data.get("u")).first()
    code = data.get("e")
    if user is None or (code != ALL_EVENTS and code not in EVENTS):
        raise signing.BadSignature("The link names nobody we know.")
    return user, code


@transaction.atomic
def preferences_unsubscribe(*, token, everything=False):
    """Turn email off for the event a signed link names (or every event). Works logged out."""
    user, code = unsubscribe_token_read(token=token)
    reachable = [event.code for event in events_for(user)]
    codes = reachable if everything or code == ALL_EVENTS else [code]
    # An email of an event that no longer reaches them (staff no more, say): nothing to turn off.
    codes = [event_code for event_code in codes if event_code in reachable]
    # An event turned off altogether stays off: "no email" would bring back its in-app alerts.
    muted = set(
        NotificationPreference.objects.filter(
            user=user, event_code__in=codes, email_mode=EmailMode.MUTED
        ).values_list("event_code", flat=True)
    )
    for event_code in codes:
        if event_code not in muted:
            preference_set(user=user, event_code=event_code, email_mode=EmailMode.OFF)
    return user, codes


# --- Sending email ------------------------------------------------------------------------------


def _render_email(delivery):
    user = delivery.recipient
    preferences_url = settings.SITE_URL + reverse("notifications:preferences")
    with translation.override(_language(user)):
        if delivery.kind == EmailDelivery.Kind.DIGEST:
            folder = "notifications/email/digest"
            unsub = unsubscribe_url(user=user, event_code=ALL_EVENTS)
            context = {"notifications": list(delivery.digest_of.order_by("created_at"))}
        else:
            folder = f"notifications/email/{delivery.event_code}"
            unsub = unsubscribe_url(user=user, event_code=delivery.event_code)
            notification = delivery.notification
            context = dict(notification.context) if notification else {}
            context["notification"] = notification
        context |= {
            "user": user,
            "site_url": settings.SITE_URL,
            "unsubscribe_url": unsub,
            "preferences_url": preferences_url,
            "action_url_absolute": _absolute(context.get("action_url", "")),
        }
        subject = " ".join(render_to_string(f"{folder}/subject.txt", context).split())
        text = render_to_string(f"{folder}/body.txt", context)
        html = render_to_string(f"{folder}/body.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[delivery.to_email],
        headers={
            "List-Unsubscribe": f"<{unsub}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(html, "text/html")
    calendar = context.get("ics") if delivery.kind == EmailDelivery.Kind.SINGLE else None
    if calendar:
        # An invitation (iCalendar text the caller made, e.g. a booking's): calendars offer to
        # add it from the attachment.
        message.attach("invite.ics", calendar, "text/calendar; charset=utf-8; method=REQUEST")
    return message


def _absolute(url):
    if not url or url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + url


def email_delivery_send(*, delivery_id):
    """Send one queued email. Sent already: nothing happens. Failure: recorded, then raised."""
    error = None
    with transaction.atomic():
        # The recipient and the notification (rendered into the email) are read with the locked
        # delivery: two round trips less for each of the thousands an auto-release job queues,
        # by a statement built once (core.rows) rather than by Django for each.
        delivery = rows.locked(EmailDelivery, delivery_id, related=("recipient", "notification"))
        if delivery.status != EmailDelivery.Status.QUEUED:
            return delivery
        delivery.attempts += 1
        try:
            message = _render_email(delivery)
            delivery.subject = message.subject[:255]
            message.send()
        except Exception as exc:  # any backend failure: record it and let the task retry
            error = f"{type(exc).__name__}: {exc}"
            delivery.last_error = error
            delivery.save(update_fields=["attempts", "last_error", "subject"])
        else:
            delivery.status = EmailDelivery.Status.SENT
            delivery.sent_at = timezone.now()
            delivery.last_error = ""
            delivery.save(update_fields=["attempts", "status", "sent_at", "last_error", "subject"])
    if error:
        logger.warning(
            "Email delivery %s failed (attempt %s): %s", delivery_id, delivery.attempts, error
        )
        raise EmailSendFailed(error)
    return delivery


@transaction.atomic
def email_delivery_fail(*, delivery_id, error):
    """Every retry failed: mark it failed so staff see it in admin."""
    delivery = EmailDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status == EmailDelivery.Status.QUEUED:
        delivery.status = EmailDelivery.Status.FAILED
        delivery.last_error = error
        delivery.save(update_fields=["status", "last_error"])
    logger.error("Email delivery %s failed for good: %s", delivery_id, error)
    return delivery


@transaction.atomic
def email_delivery_retry(*, delivery_id):
    """Staff send a failed email again."""
    delivery = EmailDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status != EmailDelivery.Status.FAILED:
        raise ValidationFailed({"status": "Only a failed email can be sent again."})
    delivery.status = EmailDelivery.Status.QUEUED
    delivery.save(update_fields=["status"])
    _queue_delivery(delivery.pk)
    return delivery


def email_digests_send():
    """Gather each person's digest-pending notifications into one email. Daily, from beat."""
    recipients = (
        get_user_model()
        .objects.filter(notifications__digest_pending=True)
        .distinct()
        .values_list("pk", flat=True)
    )
    queued = 0
    for user_id in list(recipients):
        with transaction.atomic():
            pending = list(
                Notification.objects.select_for_update()
                .filter(recipient_id=user_id, digest_pending=True)
                .order_by("created_at")
            )
            if not pending:
                continue
            user = pending[0].recipient
            delivery = EmailDelivery.objects.create(
                recipient=user,
                kind=EmailDelivery.Kind.DIGEST,
                event_code="digest",
                to_email=user.email,
            )
            delivery.digest_of.set(pending)
            Notification.objects.filter(pk__in=[n.pk for n in pending]).update(digest_pending=False)
            _queue_delivery(delivery.pk)
            queued += 1
    return queued
