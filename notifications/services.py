"""Raising notifications, reading them, and emailing them.

`notify()` is the only way to raise a notification. The in-app row is written in the caller's
transaction with its email's delivery, and a drain that sends it is queued after commit, so a
rolled-back change never emails.
"""

import logging
from datetime import timedelta
from functools import cache, partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from core import clock, drains, rows
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
    with rows.cursor() as cursor:  # prepared, where the database takes it
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
        _queue_drain()
    return notification


def notify_staff(event_code, context=None):
    staff = get_user_model().objects.filter(is_staff=True, is_active=True)
    return [notify(user, event_code, context) for user in staff]


def _queue_drain():
    """A drain to send the emails queued, once the caller's transaction commits."""
    transaction.on_commit(_drain_queue_quietly)


# --- Sending: drains ----------------------------------------------------------------------------

# Emails are not queued as a Celery task each: committing a change that queued one queues a
# drain (core.drains), a task that sends every queued email due, one by one, each in its own
# transaction with its delivery locked, over one connection to the mail server. A task cost the
# worker about 3.3 ms besides the email's 1.7 (the message, its acknowledgement, the result, the
# signals), and an auto-release job queues an email per order. The drain starts
# NOTIFICATIONS_EMAIL_GATHER_SECONDS after it is queued, so the emails a job queues one by one
# (an order released every few milliseconds) go out together rather than a drain each, and a
# seller's many "released" emails among them go out as one (Event.group_title). A failed
# attempt is recorded and the email waits NOTIFICATIONS_EMAIL_RETRY_SECONDS, doubling
# (not_before); after NOTIFICATIONS_EMAIL_MAX_RETRIES retries it is failed, for staff. The
# re-queue job (beat, every minute) queues a drain for emails due again and for any whose drain
# was lost (the broker or the cache down as it was queued).
DRAIN_FLAG = "notifications:email-drain-queued"
# A drain hands over to a new one after this long, well inside CELERY_TASK_SOFT_TIME_LIMIT (one
# email may take EMAIL_TIMEOUT more), so a long queue never makes one task a time limit kills.
DRAIN_SECONDS = 30
# A queued email older than this with no attempt had its drain lost: the re-queue job's.
LOST_AFTER = timedelta(minutes=1)


def _drain_queue_quietly():
    """After commit: the change that queued an email is committed, so a broker or cache outage
    must not turn it into an error; the re-queue job sends the email later."""
    try:
        _drain_queue()
    except Exception as exc:
        logger.warning("Email drain not queued (the re-queue job will): %s", exc)


def _drain_queue(*, force=False):
    """Queue a drain unless one is already waiting to start; with `force`, one that starts at
    once (the re-queue job's, or a drain handing over)."""
    # notifications.tasks imports this module (its tasks call these services).
    from notifications.tasks import drain_emails

    countdown = 0 if force else settings.NOTIFICATIONS_EMAIL_GATHER_SECONDS
    drains.queue_once(
        DRAIN_FLAG, lambda: drain_emails.apply_async(countdown=countdown), force=force
    )


def email_deliveries_due(*, now=None):
    """Queued emails whose next attempt is due: what a drain sends, oldest first."""
    now = now or clock.now()
    return EmailDelivery.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now), status=EmailDelivery.Status.QUEUED
    ).order_by("pk")


def email_deliveries_drain(*, seconds=DRAIN_SECONDS):
    """Send queued emails due, one by one, until none is left or `seconds` have passed (then a
    new drain takes over). Returns the counts: sent, retrying, failed."""
    mailer = _Mailer()
    try:
        return drains.run(
            partial(_send_next, _DueEmails(), mailer),
            ("sent", "retrying", "failed"),
            seconds=seconds,
            hand_over=partial(_drain_queue, force=True),
        )
    finally:
        mailer.close()


# How many emails due a drain reads at a time (their ids, oldest first), to take one by one.
# Those that go out together are found among them: a thousand of an auto-release job's, over
# twenty sellers, go out as twenty emails.
DUE_READ = 1000
# The most emails of one event to one person that go out as one (Event.group_title).
GROUP_MAX = 50


class _DueEmails:
    """The ids of the emails due, oldest first, read DUE_READ at a time as a drain takes them.

    Not one "the oldest due, FOR UPDATE SKIP LOCKED, LIMIT 1" per email: on statistics taken
    before a burst of emails (an auto-release job queues one per order, faster than autovacuum
    analyzes the table), PostgreSQL read that from a bitmap of every queued row and sorted them
    all to take one, so a drain's time grew with the square of its queue (0.7 ms a step at 1,000
    queued, 1.3 ms by itself in psql). Each id is then locked as it is sent (SKIP LOCKED, and its
    state read again), so two drains reading the same ids still send each email once.

    The emails of an event that groups (Event.group_title) due for one person among those read
    are taken together, to go out as one email: a seller whose orders an auto-release job
    released in a burst gets one email listing them, not one per order."""

    def __init__(self):
        self.due = []  # (id, what it goes out with or None), newest first: taken from the end
        self.groups = {}  # what goes out together: its ids not taken yet, oldest first
        self.after = 0

    def next(self):
        """The ids of the next email to try (several to send as one), or None when none is due."""
        while True:
            if not self.due and not self._read():
                return None
            delivery_id, group = self.due.pop()
            if group is None:
                return [delivery_id]
            waiting = self.groups[group]
            if waiting and waiting[0] == delivery_id:  # not taken with an older one
                ids, self.groups[group] = waiting[:GROUP_MAX], waiting[GROUP_MAX:]
                return ids

    def _read(self):
        read = email_deliveries_due().filter(pk__gt=self.after)
        columns = ("pk", "recipient_id", "to_email", "event_code", "kind", "notification_id")
        self.due = [
            (row[0], _grouped_by(*row[1:])) for row in read.values_list(*columns)[:DUE_READ]
        ]
        if not self.due:
            return False
        self.after = self.due[-1][0]
        self.groups = {}
        for delivery_id, group in self.due:
            if group is not None:
                self.groups.setdefault(group, []).append(delivery_id)
        self.due.reverse()
        return True


def _grouped_by(recipient_id, to_email, event_code, kind, notification_id):
    """What an email due goes out with (its person, their address then, and its event), or None:
    it goes out alone."""
    event = EVENTS.get(event_code)
    if event is None or event.group_title is None or kind != EmailDelivery.Kind.SINGLE:
        return None
    # One whose notification the person deleted has nothing to list: sent alone, as before.
    return None if notification_id is None else (recipient_id, to_email, event_code)


class _Mailer:
    """One connection to the mail server for a drain's emails, opened at the first and opened
    anew after a failure (the server may have dropped it)."""

    def __init__(self):
        self.connection = None

    def send(self, message):
        if self.connection is None:
            connection = get_connection()
            connection.open()
            self.connection = connection
        message.connection = self.connection
        try:
            message.send()
        except Exception:
            self.close()
            raise

    def close(self):
        if self.connection is not None:
            connection, self.connection = self.connection, None
            try:
                connection.close()
            except Exception as exc:  # sent is sent; the next drain connects afresh
                logger.warning("Mail connection not closed cleanly: %s", exc)


def _send_next(due, mailer):
    """Send the oldest email due that no other drain holds, with the emails that go out with it
    (Event.group_title): the outcome of each, "sent", "retrying" or "failed" (its attempt
    failed), or None when none is due."""
    while (delivery_ids := due.next()) is not None:
        with transaction.atomic():
            deliveries = _locked_due(delivery_ids)
            if not deliveries:  # another drain holds them, or sent them since they were read
                continue
            # Recorded without waiting for the disk (rows.asynchronous_commit): a database crash
            # that lost the record sends the email again, as a worker dying between sending
            # and committing does (emails are sent at least once).
            rows.asynchronous_commit()
            return _send(deliveries, mailer)
    return None


def _locked_due(delivery_ids):
    """The deliveries `delivery_ids` that no other drain holds and that are still due, locked,
    with their recipient and notification (rendered into the email), oldest first."""
    if len(delivery_ids) == 1:  # the usual case, by a statement built once (core.rows)
        try:
            locked = [
                rows.locked(
                    EmailDelivery,
                    delivery_ids[0],
                    related=("recipient", "notification"),
                    skip_locked=True,
                )
            ]
        except EmailDelivery.DoesNotExist:
            return []
    else:
        locked = (
            EmailDelivery.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("recipient", "notification")
            .filter(pk__in=delivery_ids)
            .order_by("pk")
        )
    return [
        delivery
        for delivery in locked
        if delivery.status == EmailDelivery.Status.QUEUED
        and (delivery.not_before is None or delivery.not_before <= clock.now())
    ]


def _send(deliveries, mailer):
    """One attempt at the locked `deliveries` (one email, or several that go out as one),
    recorded on each: their outcomes."""
    for delivery in deliveries:
        delivery.attempts += 1
    try:
        message = _render_email(deliveries)
        mailer.send(message)
    except Exception as exc:  # any backend failure: recorded, tried again later
        error, now = f"{type(exc).__name__}: {exc}", clock.now()
        outcomes = [_attempt_failed(delivery, error, now=now) for delivery in deliveries]
    else:
        sent_at = timezone.now()
        for delivery in deliveries:
            delivery.subject = message.subject[:255]
            delivery.status = EmailDelivery.Status.SENT
            delivery.sent_at = sent_at
            delivery.last_error = ""
            delivery.not_before = None
        outcomes = ["sent"] * len(deliveries)
    if not rows.saves_plainly(EmailDelivery):  # a save signal's receiver connected: it sees each
        for delivery in deliveries:
            delivery.save(update_fields=SEND_FIELDS)
    elif len(deliveries) > 1 and outcomes[0] == "sent":  # what changed is the same for all
        sent = deliveries[0]
        EmailDelivery.objects.filter(pk__in=[delivery.pk for delivery in deliveries]).update(
            attempts=F("attempts") + 1,
            **{name: getattr(sent, name) for name in SEND_FIELDS if name != "attempts"},
        )
    else:
        for delivery in deliveries:  # by an UPDATE built once, as it is locked
            rows.update(delivery, SEND_FIELDS)
    return outcomes


# What an attempt changes on its delivery.
SEND_FIELDS = ["attempts", "status", "sent_at", "last_error", "not_before", "subject"]


def _attempt_failed(delivery, error, *, now):
    delivery.last_error = error[:2000]
    retries = delivery.attempts - 1
    if retries >= settings.NOTIFICATIONS_EMAIL_MAX_RETRIES:
        delivery.status = EmailDelivery.Status.FAILED
        delivery.not_before = None
        logger.error("Email delivery %s failed for good: %s", delivery.pk, error)
        return "failed"
    wait = settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS * 2**retries
    delivery.not_before = now + timedelta(seconds=wait)
    logger.warning(
        "Email delivery %s failed (attempt %s, next in %s s): %s",
        delivery.pk,
        delivery.attempts,
        wait,
        error,
    )
    return "retrying"


def email_deliveries_requeue(*, now=None):
    """Queue a drain when an email waits that no drain will take: one due again after a failed
    attempt, or one never attempted a minute after it was queued (its drain was lost). Returns
    how many such emails wait."""
    now = now or clock.now()
    waiting = (
        email_deliveries_due(now=now)
        .filter(Q(not_before__isnull=False) | Q(created_at__lte=now - LOST_AFTER))
        .count()
    )
    if waiting:
        _drain_queue(force=True)
    return waiting


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


def _render_email(deliveries):
    """The email of `deliveries`: one notification's, a digest, or several notifications of one
    event that go out as one (Event.group_title)."""
    delivery = deliveries[0]
    user = delivery.recipient
    preferences_url = settings.SITE_URL + reverse("notifications:preferences")
    with translation.override(_language(user)):
        if delivery.kind == EmailDelivery.Kind.DIGEST:
            folder = "notifications/email/digest"
            unsub = unsubscribe_url(user=user, event_code=ALL_EVENTS)
            context = {"notifications": list(delivery.digest_of.order_by("created_at"))}
        elif len(deliveries) > 1:
            folder = "notifications/email/grouped"
            unsub = unsubscribe_url(user=user, event_code=delivery.event_code)
            context = _grouped_context(deliveries)
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
    single = delivery.kind == EmailDelivery.Kind.SINGLE and len(deliveries) == 1
    calendar = context.get("ics") if single else None
    if calendar:
        # An invitation (iCalendar text the caller made, e.g. a booking's): calendars offer to
        # add it from the attachment.
        message.attach("invite.ics", calendar, "text/calendar; charset=utf-8; method=REQUEST")
    return message


def _grouped_context(deliveries):
    """What the email of several notifications of one event lists: each one's title, linked,
    and their message once when they share it (an order released: "The money is on your Stripe
    balance.")."""
    event = get_event(deliveries[0].event_code)
    notifications = [d.notification for d in deliveries if d.notification is not None]
    messages = {notification.message for notification in notifications}
    return {
        "notifications": notifications,
        "group_title": str(event.group_title % {"count": len(deliveries)}),
        "shared_message": messages.pop() if len(messages) == 1 else "",
        "action_url": reverse(event.group_url) if event.group_url else "",
    }


def _absolute(url):
    if not url or url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + url


@transaction.atomic
def email_delivery_retry(*, delivery_id):
    """Staff send a failed email again: queued, its retries start afresh."""
    delivery = EmailDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status != EmailDelivery.Status.FAILED:
        raise ValidationFailed({"status": "Only a failed email can be sent again."})
    delivery.status = EmailDelivery.Status.QUEUED
    delivery.attempts = 0
    delivery.not_before = None
    delivery.save(update_fields=["status", "attempts", "not_before"])
    _queue_drain()
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
            _queue_drain()
            queued += 1
    return queued
