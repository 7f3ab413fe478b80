"""Stripe webhooks in: verify and store fast, process in Celery.

dj-stripe's own view processes events inside the request. Bazaar answers Stripe as soon as the
event is verified and stored (dj-stripe's WebhookEventTrigger), and a Celery task, a drain that
takes every stored event waiting, processes it: dj-stripe stores the Event and fires its signal,
and the apps' `webhooks.py` receivers (@stripe_event_receiver) update Bazaar through services.
dj-stripe keeps one Event row per Stripe event id, so a duplicate delivery never runs the receivers
twice. For the event types Bazaar handles, dj-stripe's own handlers (which read the object from
Stripe again and mirror it in tables Bazaar never reads) are disconnected; the other types keep
them.

Once an event is verified and stored, Stripe gets its 200 even if the task cannot be queued (the
broker is down): a beat job, stored_webhooks_requeue, queues whatever stayed unprocessed. A
refused delivery keeps only why and its first bytes, and refused_webhooks_purge deletes it.
ensure_webhook_endpoints (`manage.py stripe_webhooks setup`) registers the endpoints with Stripe.

The signature is checked here, with the stripe SDK, against the endpoint's own secret, in every
mode. Not with dj-stripe's WebhookEventTrigger.validate(): under DEBUG it takes the secret from
the request's X-Djstripe-Webhook-Secret header, so anyone could sign an event with a secret of
their choosing.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from uuid import UUID, uuid4

import stripe
from celery import shared_task
from celery.exceptions import Retry
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import Http404, HttpResponse
from django.urls import Resolver404, URLResolver, get_resolver, get_urlconf, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe import event_handlers as djstripe_event_handlers
from djstripe.event_handlers import djstripe_receiver
from djstripe.models import Event, WebhookEndpoint, WebhookEventTrigger
from djstripe.models.webhooks import get_remote_ip
from djstripe.signals import WEBHOOK_SIGNALS
from kombu.exceptions import OperationalError

from core import clock, drains, stripe_client
from core.errors import StripeUnavailable
from core.logs import money_fields
from core.models import WebhookProcessing
from core.stripe_client import idempotency_key

logger = logging.getLogger(__name__)


def signature_problem(payload, header, secret):
    """Why the Stripe-Signature header does not vouch for `payload` (a str), or None when it does.

    HMAC-SHA256 with the endpoint's secret (the stripe SDK's check, which also refuses a
    timestamp older than Stripe's tolerance of 300 s), and a timestamp no further in the future
    than STRIPE_WEBHOOK_CLOCK_SKEW_SECONDS: the SDK accepts any future one, so a signature made
    for tomorrow would otherwise stay replayable until then.
    """
    if not secret:
        return "This endpoint has no signing secret: run `manage.py stripe_webhooks setup`."
    try:
        stripe.WebhookSignature.verify_header(
            payload, header, secret, tolerance=stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        return str(exc)
    # verify_header parsed it already, this way: the first t= is the signed timestamp.
    signed_at = int([i.split("=", 2)[1] for i in header.split(",") if i.split("=")[0] == "t"][0])
    if signed_at > time.time() + settings.STRIPE_WEBHOOK_CLOCK_SKEW_SECONDS:
        return f"The signature's timestamp ({signed_at}) is in the future."
    return None


def event_problem(body):
    """Why a (signed) body is not a Stripe event Bazaar can process, or None when it is."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested lists
        return "The body is not JSON."
    if not isinstance(event, dict):
        return "The body is not a JSON object."
    if not isinstance(event.get("id"), str) or not event["id"].startswith("evt_"):
        return "The body has no event id."
    if not isinstance(event.get("type"), str) or not event["type"]:
        return "The body has no event type."
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "The body has no data.object."
    return None


def _remote_ip(request):
    """dj-stripe's guess (X-Forwarded-For first): a malformed header must not become a 500 when
    the address column refuses it."""
    ip = get_remote_ip(request)
    try:
        validate_ipv46_address(ip)
    except ValidationError:
        ip = request.META.get("REMOTE_ADDR") or "0.0.0.0"
    return ip


# What a refused delivery leaves for staff to see why: these headers (cut short) and the start
# of its body. Anyone can post to the endpoint, so nothing more is kept, and not for long
# (refused_webhooks_purge).
REFUSED_HEADERS = ("Stripe-Signature", "User-Agent", "Content-Type", "Content-Length")
REFUSED_EXCERPT_CHARS = 500


def _too_big(request):
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    return declared > settings.STRIPE_WEBHOOK_MAX_BODY_BYTES


def _text(message, status):
    return HttpResponse(message, status=status, content_type="text/plain")


# --- The endpoint an event came in on, cached --------------------------------------------------

# Every event needs its endpoint's signing secret: each process reads it from the database once
# a minute at most, not once per event (at hundreds of events a second that was half the intake's
# queries), and keeps it in its own memory (a shared cache would cost a round trip per event too).
# Another process's change is still seen at once where it matters: a signature the cached secret
# refuses is checked again against the database's (a rolled secret), and a trigger whose endpoint
# was deleted meanwhile is a 404. Until then, a secret rolled elsewhere is still accepted for at
# most ENDPOINT_CACHE_SECONDS (Stripe's own rolling keeps the old one valid up to a day).
ENDPOINT_CACHE_SECONDS = 60
_endpoints = {}  # uuid -> (time.monotonic() it expires at, IntakeEndpoint)


@dataclass(frozen=True)
class IntakeEndpoint:
    """What the intake needs of a WebhookEndpoint."""

    id: str  # Stripe's id: the trigger's webhook_endpoint_id
    secret: str
    owner_account_id: str | None


def intake_endpoint(uuid, *, fresh=False):
    """The endpoint at /stripe/webhook/<uuid>/, or None: this process's copy while it is under
    ENDPOINT_CACHE_SECONDS old, else (or with `fresh`) the database's. An unknown uuid is not
    kept (an endpoint made a moment later must not be refused)."""
    now = time.monotonic()
    if not fresh and (kept := _endpoints.get(uuid)) and kept[0] > now:
        return kept[1]
    row = (
        WebhookEndpoint.objects.filter(djstripe_uuid=uuid)
        .values_list("id", "secret", "djstripe_owner_account_id")
        .first()
    )
    if row is None:
        _endpoints.pop(uuid, None)
        return None
    endpoint = IntakeEndpoint(*row)
    _endpoints[uuid] = (now + ENDPOINT_CACHE_SECONDS, endpoint)
    return endpoint


@receiver([post_save, post_delete], sender=WebhookEndpoint)
def _endpoint_changed(sender, instance, **kwargs):
    _endpoints.pop(instance.djstripe_uuid, None)


def _verified_endpoint(uuid, endpoint, body, header):
    """(endpoint, problem): the cached endpoint if its secret vouches for the body, else the
    database's (its secret may have been rolled by another process) with its own verdict."""
    problem = signature_problem(body, header, endpoint.secret)
    if problem is None:
        return endpoint, None
    current = intake_endpoint(uuid, fresh=True)
    if current is None:
        raise Http404("No such webhook endpoint.")
    if current.secret != endpoint.secret:
        problem = signature_problem(body, header, current.secret)
    return current, problem


def _trigger_create(uuid, **fields):
    """The trigger INSERT, committed on its own. An endpoint deleted by another process since
    this one cached it fails the foreign key: that is a 404, as it would be a minute later."""
    try:
        return WebhookEventTrigger.objects.create(**fields)
    except IntegrityError:
        if intake_endpoint(uuid, fresh=True) is None:
            raise Http404("No such webhook endpoint.") from None
        raise


@csrf_exempt
@require_POST
def receive(request, uuid):
    if "stripe-signature" not in request.headers:
        return _text("Missing Stripe-Signature header.", 400)
    endpoint = intake_endpoint(uuid)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    # Checked before the body is read, and again after (a body sent without a length).
    if _too_big(request) or len(request.body) > settings.STRIPE_WEBHOOK_MAX_BODY_BYTES:
        return _text("The body is larger than any Stripe event.", 413)
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return _text("The body is not UTF-8 text.", 400)
    endpoint, problem = _verified_endpoint(
        uuid, endpoint, body, request.headers["stripe-signature"]
    )
    if problem is None:
        problem = event_problem(body)
    if problem is not None:
        trigger = _trigger_create(
            uuid,
            headers={
                name: request.headers[name][:200]
                for name in REFUSED_HEADERS
                if name in request.headers
            },
            body=body[:REFUSED_EXCERPT_CHARS],
            remote_ip=_remote_ip(request),
            stripe_trigger_account_id=endpoint.owner_account_id,
            webhook_endpoint_id=endpoint.id,
            valid=False,
            exception=problem[:128],
        )
        logger.warning("Stripe webhook refused (trigger %s): %s", trigger.pk, problem)
        return _text(problem, 400)
    # One INSERT, committed on its own (no transaction around it: BEGIN and COMMIT would be two
    # more round trips per event), then queued: the task never looks for a row not yet there.
    trigger = _trigger_create(
        uuid,
        headers=dict(request.headers),
        body=body,
        remote_ip=_remote_ip(request),
        stripe_trigger_account_id=endpoint.owner_account_id,
        webhook_endpoint_id=endpoint.id,
        valid=True,
    )
    transaction.on_commit(partial(_queue_processing, trigger.pk))
    # Stored and verified: Stripe may stop sending it, whether or not the queueing worked.
    return _text(str(trigger.pk), 200)


class IntakeMiddleware:
    """Stripe's webhooks skip the middleware after this one (MIDDLEWARE puts it after the request
    id and SecurityMiddleware, whose HTTPS redirect and headers still apply).

    A webhook is a machine's signed POST answered in plain text: it has no session, user,
    language, CSRF token (the view is exempt), messages or page to frame, and the middleware
    for those was a third of the intake's CPU per event. Any other path goes on down the stack."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefixes = {}  # URLconf -> where it includes core.urls ("/stripe/"), or None

    def _prefix(self):
        """Found among the URLconf's own patterns, not with reverse(): its first call builds the
        reverse table of every URL, 2 MB more in a web worker that serves only webhooks."""
        urlconf = get_urlconf() or settings.ROOT_URLCONF
        if urlconf not in self.prefixes:
            self.prefixes[urlconf] = next(
                (
                    "/" + str(pattern.pattern)
                    for pattern in get_resolver(urlconf).url_patterns
                    if isinstance(pattern, URLResolver)
                    and getattr(pattern.urlconf_module, "__name__", None) == "core.urls"
                ),
                None,
            )
        return self.prefixes[urlconf]

    def __call__(self, request):
        prefix = self._prefix()
        if prefix and request.path_info.startswith(prefix):
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match is not None and match.func is receive:
                request.resolver_match = match
                return receive(request, *match.args, **match.kwargs)
        return self.get_response(request)


# --- Processing: drains -------------------------------------------------------------------------

# The intake does not queue a task per event: it queues a drain (core.drains), a task that
# processes every stored, verified event still unprocessed, one by one, each in its own
# transaction with the trigger's row locked. A Celery task costs its worker about 3.7 ms of CPU
# and the web process about 1 ms to publish: half as much again as processing an account.updated.
# Under load, one drain takes hundreds of events; a quiet site gets a drain per event, as it got a
# task per event. A lost drain's events are taken by the re-queue job after a minute. An event
# whose processing kills its process (rather than raising) would stop each drain at the head of
# the queue: within a minute the re-queue job gives it a task of its own and marks it
# not_before, and drains pass over it from then on.
DRAIN_FLAG = "core:stripe-webhooks:drain-queued"
# A drain hands over to a new one after this long, well inside CELERY_TASK_SOFT_TIME_LIMIT, so
# a long backlog never makes one task that a time limit kills.
DRAIN_SECONDS = 30


def _queue_processing(trigger_id):
    try:
        _drain_queue()
    except Exception as exc:  # the broker or the cache down: Stripe must still get its 200
        # The event is stored, and stored_webhooks_requeue queues it later.
        logger.warning("Stripe webhook trigger %s stored but not queued: %s", trigger_id, exc)


def _drain_queue(*, force=False):
    """Queue a drain unless one is already waiting to start (or with `force`)."""
    drains.queue_once(DRAIN_FLAG, lambda: drain_webhooks.delay(), force=force)


def webhooks_pending(*, now=None):
    """Verified events stored and not processed, that no task is retrying and Bazaar has not
    given up on: what a drain takes, oldest first. (Migration core 0004 indexes the unprocessed
    triggers, so this never reads the processed ones.)"""
    now = now or clock.now()
    # NOT IN a subquery, not a join: PostgreSQL walks the index in order and stops at the first
    # event it can lock (a join made it read and sort every waiting event, for each one).
    held = WebhookProcessing.objects.filter(
        Q(gave_up_at__isnull=False) | Q(not_before__gt=now)
    ).values("trigger_id")
    return (
        WebhookEventTrigger.objects.filter(valid=True, processed=False)
        .exclude(pk__in=held)
        .order_by("pk")
    )


@shared_task(acks_late=True)
def drain_webhooks():
    """Process the stored Stripe events waiting (see the drains, above)."""
    drains.started(DRAIN_FLAG)
    return stored_webhooks_drain()


def stored_webhooks_drain(*, seconds=DRAIN_SECONDS, limit=None):
    """Process stored events one by one until none is waiting, `limit` are done, or `seconds`
    have passed (then a new drain takes over). An event whose processing fails does not stop
    the others: it is handed to process_webhook, which retries it with backoff as if its first
    run had failed. Returns the counts."""
    next_waiting = _next_waiting_query()
    return drains.run(
        partial(_process_next, next_waiting),
        ("processed", "failed"),
        seconds=seconds,
        hand_over=partial(_drain_queue, force=True),
        limit=limit,
    )


def _next_waiting_query():
    """The SQL and parameters that lock the oldest waiting event no other drain holds. Built once
    a drain (its events in backoff are those of its start): Django took 0.7 ms of CPU to build
    and compile it, as long as running it."""
    query = (
        webhooks_pending()
        .select_for_update(skip_locked=True)
        .defer("headers")  # kept for staff; processing reads the body
    )[:1]
    with transaction.atomic():  # Django compiles FOR UPDATE only inside a transaction
        return query.query.sql_with_params()


def _process_next(next_waiting):
    """Process the oldest waiting event no other drain holds: "processed", "failed", or None
    when none is waiting."""
    trigger_id = None
    try:
        with transaction.atomic():
            sql, params = next_waiting
            trigger = next(iter(WebhookEventTrigger.objects.raw(sql, params)), None)
            if trigger is None:
                return None
            trigger_id = trigger.pk
            event = _process_locked(trigger)
    except Exception as exc:
        if trigger_id is None:
            raise
        _first_attempt_failed(trigger_id, exc)
        return "failed"
    _log_processed(trigger_id, event)
    return "processed"


def _first_attempt_failed(trigger_id, exc):
    """A drain's attempt failed: the event's retries are process_webhook's, as if its first run
    had been a task of its own."""
    gave_up = settings.STRIPE_WEBHOOK_TASK_MAX_RETRIES <= 0
    _processing_failed(trigger_id=trigger_id, exc=exc, gave_up=gave_up)
    fields = money_fields(stripe=exc, trigger_id=trigger_id, retries=0)
    if gave_up:
        logger.error(
            "Stripe webhook trigger %s failed for good", trigger_id, exc_info=exc, extra=fields
        )
        return
    logger.warning("Stripe webhook trigger %s failed: %s", trigger_id, exc, extra=fields)
    try:
        process_webhook.apply_async((trigger_id,), countdown=_retry_wait(0), retries=1)
    except Retry:
        pass  # eager Celery (tests, development) ran the retry at once, and it failed again
    except OperationalError as exc:
        # Its processing row keeps it from drains; the re-queue job takes it after the pause.
        logger.warning("Stripe webhook trigger %s not queued for retry: %s", trigger_id, exc)


def _retry_wait(retries):
    return min(300, 5 * 2**retries)


# What WebhookEventTrigger.process() sets on the trigger.
PROCESSED_FIELDS = ["event", "processed", "exception", "traceback", "updated"]


def _process_locked(trigger):
    event = trigger.process(save=False, api_key=stripe_client.secret_key())
    # Only what processing changed: a full save() sent the body back and encoded the headers'
    # JSON again, for every event.
    trigger.save(update_fields=PROCESSED_FIELDS)
    return event


def _log_processed(trigger_id, event):
    # The receivers' own lines (with the order) share this task's task_id; stripe_request_id is
    # the Stripe API request that caused the event, if one did.
    logger.info(
        "Stripe event %s processed",
        event.type,
        extra={
            "trigger_id": trigger_id,
            "event_id": event.id,
            "stripe_request_id": event.request_id or None,
        },
    )


@shared_task(bind=True, max_retries=None, acks_late=True)
def process_webhook(self, trigger_id):
    """Process one stored webhook: exactly once per Stripe event id, retried if a receiver fails.
    The re-queue job queues it, and a drain hands it an event whose processing failed."""
    try:
        with transaction.atomic():
            trigger = (
                WebhookEventTrigger.objects.select_for_update()
                .defer("headers")  # kept for staff; processing reads the body
                .filter(pk=trigger_id)
                .first()
            )
            if trigger is None or trigger.processed or not trigger.valid:
                return "skipped"
            event = _process_locked(trigger)
    except Exception as exc:
        gave_up = self.request.retries >= settings.STRIPE_WEBHOOK_TASK_MAX_RETRIES
        _processing_failed(trigger_id=trigger_id, exc=exc, gave_up=gave_up)
        fields = money_fields(stripe=exc, trigger_id=trigger_id, retries=self.request.retries)
        if gave_up:
            logger.exception("Stripe webhook trigger %s failed for good", trigger_id, extra=fields)
            raise
        logger.warning("Stripe webhook trigger %s failed: %s", trigger_id, exc, extra=fields)
        raise self.retry(exc=exc, countdown=_retry_wait(self.request.retries)) from exc
    _log_processed(trigger_id, event)
    return "processed"


# --- Lost and failing events --------------------------------------------------------------------

# A stored event still unprocessed a minute later never reached a worker (the broker was down, or
# the message was lost): the re-queue job queues it again.
REQUEUE_AFTER = timedelta(minutes=1)
# After a failure or a re-queue the job waits this long: longer than a retrying task's longest
# wait (300 s), so it never starts a second round of retries beside a running one.
REQUEUE_PAUSE = timedelta(minutes=10)
REQUEUE_BATCH = 100


@transaction.atomic
def _processing_failed(*, trigger_id, exc, gave_up):
    now = clock.now()
    WebhookEventTrigger.objects.filter(pk=trigger_id).update(
        exception=f"{type(exc).__name__}: {exc}"[:128]
    )
    WebhookProcessing.objects.get_or_create(trigger_id=trigger_id)
    state = WebhookProcessing.objects.filter(trigger_id=trigger_id)
    state.update(failures=F("failures") + 1, not_before=now + REQUEUE_PAUSE)
    if gave_up:
        state.filter(gave_up_at__isnull=True).update(gave_up_at=now)


def webhooks_due_for_requeue(*, now=None):
    """Verified events stored over a minute ago and still unprocessed, that no task is retrying
    and Bazaar has not given up on; oldest first."""
    now = now or clock.now()
    return (
        webhooks_pending(now=now)
        .filter(created__lte=now - REQUEUE_AFTER)
        .values_list("pk", flat=True)
    )


def stored_webhooks_requeue(*, now=None):
    """Queue processing again for stored events that never got processed (at most
    REQUEUE_BATCH a run). Harmless twice: process_webhook skips a processed event under the
    trigger's row lock. Returns how many were queued."""
    now = now or clock.now()
    queued = 0
    for trigger_id in list(webhooks_due_for_requeue(now=now)[:REQUEUE_BATCH]):
        WebhookProcessing.objects.get_or_create(trigger_id=trigger_id)
        WebhookProcessing.objects.filter(trigger_id=trigger_id).update(
            requeued=F("requeued") + 1, not_before=now + REQUEUE_PAUSE
        )
        try:
            process_webhook.delay(trigger_id)
        except OperationalError as exc:
            logger.warning("Stored Stripe webhooks not re-queued, the broker is down: %s", exc)
            break
        queued += 1
    if queued:
        logger.info("Re-queued %s stored Stripe webhooks", queued)
    return queued


@shared_task
def requeue_stored_webhooks():
    """Stripe events stored but never processed (the broker was down) queued again."""
    return stored_webhooks_requeue()


def webhook_processing_resume(*, trigger_ids):
    """Staff fixed what made these events fail: the re-queue job takes them again within a
    minute (their retries start afresh). Returns how many were given up or waiting."""
    return WebhookProcessing.objects.filter(
        trigger_id__in=trigger_ids, trigger__processed=False
    ).update(gave_up_at=None, not_before=None)


# --- Refused deliveries -------------------------------------------------------------------------


def refused_webhooks_purge(*, now=None):
    """Delete refused deliveries older than STRIPE_WEBHOOK_REFUSED_KEEP_DAYS. Returns the count.

    In batches, so a flood of forged posts never makes one huge delete."""
    cutoff = (now or clock.now()) - timedelta(days=settings.STRIPE_WEBHOOK_REFUSED_KEEP_DAYS)
    refused = WebhookEventTrigger.objects.filter(valid=False, created__lt=cutoff)
    deleted = 0
    while batch := list(refused.values_list("pk", flat=True)[:1000]):
        deleted += (
            WebhookEventTrigger.objects.filter(pk__in=batch)
            .delete()[1]
            .get(WebhookEventTrigger._meta.label, 0)
        )
    return deleted


@shared_task
def purge_refused_webhooks():
    """Refused webhook bodies kept for inspection are deleted when old."""
    return refused_webhooks_purge()


# --- Endpoints ----------------------------------------------------------------------------------

# The Stripe event types some app of Bazaar's handles (stripe_event_receiver): exactly what
# Bazaar's endpoints subscribe to.
HANDLED_EVENT_TYPES: set[str] = set()


def _djstripe_handlers_disconnect(event_type):
    """dj-stripe's own handlers for `event_type` taken off its signal.

    They retrieve the event's object from Stripe and mirror it into dj-stripe's tables
    (djstripe_account, djstripe_charge...), which Bazaar never reads: its receiver retrieves the
    object itself and keeps its own rows. For an account.updated that was a second Stripe read
    and four more queries per event. Events Bazaar does not handle keep dj-stripe's handlers.
    """
    signal = WEBHOOK_SIGNALS[event_type]
    for handler in vars(djstripe_event_handlers).values():
        if (
            callable(handler)
            and getattr(handler, "__module__", "") == djstripe_event_handlers.__name__
        ):
            signal.disconnect(handler, sender=Event)


def stripe_event_receiver(event_type):
    """@djstripe_receiver(event_type), recorded in HANDLED_EVENT_TYPES, so that registering the
    endpoints (ensure_webhook_endpoints) asks Stripe for this event too; dj-stripe's own handlers
    of that type are disconnected (Bazaar's receiver is the one that acts on it). The apps'
    webhooks.py use it; core imports none of them."""
    HANDLED_EVENT_TYPES.add(event_type)
    _djstripe_handlers_disconnect(event_type)
    return djstripe_receiver(event_type)


@dataclass
class EndpointChange:
    kind: str  # "platform" or "Connect" (events from sellers' connected accounts)
    url: str
    action: str  # "created", "updated", "unchanged" or "removed"


def _intake_url(base_url, uuid):
    return base_url + reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": uuid})


def _kind(connect):
    return "Connect" if connect else "platform"


def ensure_webhook_endpoints(base_url):
    """Make Stripe send the events Bazaar handles to this site: one platform and one Connect
    endpoint at base_url, subscribed to exactly HANDLED_EVENT_TYPES, whose signing secrets are
    stored (dj-stripe's WebhookEndpoint) for the intake to verify with. Returns what it did.

    Idempotent: an endpoint we hold the secret of is kept and updated (events, URL, enabled);
    one Stripe no longer has is made again. Other endpoints aimed at this site's intake can
    never verify (nobody holds their secret; Stripe shows it only once): they are removed.
    """
    base_url = base_url.rstrip("/")
    zero = UUID(int=0)
    intake = _intake_url(base_url, zero).split(str(zero))[0]  # ".../stripe/webhook/"
    events = sorted(HANDLED_EVENT_TYPES)
    api = stripe_client.client().v1
    changes, kept = [], set()
    for connect in (False, True):
        endpoint, action = _endpoint_ensure(api, base_url, intake, connect, events)
        kept.add(endpoint.id)
        changes.append(EndpointChange(_kind(connect), endpoint.url, action))
    listed = stripe_client.call(api.webhook_endpoints.list, params={"limit": 100})
    for stray in listed.auto_paging_iter():
        if stray.id not in kept and stray.url.startswith(intake):
            stripe_client.call(api.webhook_endpoints.delete, stray.id)
            changes.append(EndpointChange(_kind(stray.application), stray.url, "removed"))
    for stray in WebhookEndpoint.objects.filter(url__startswith=intake).exclude(id__in=kept):
        stray.delete()  # gone from Stripe above, or made with the other mode's key
    return changes


def _endpoint_ensure(api, base_url, intake, connect, events):
    mine = WebhookEndpoint.objects.filter(url__startswith=intake).exclude(secret="")
    for endpoint in mine.order_by("created", "djstripe_id"):
        if bool(endpoint.application) != connect:
            continue
        try:
            current = stripe_client.call(api.webhook_endpoints.retrieve, endpoint.id)
        except StripeUnavailable as exc:
            if exc.code == "resource_missing":  # deleted at Stripe, or the other mode's
                continue
            raise
        url = _intake_url(base_url, endpoint.djstripe_uuid)
        if (current.url, sorted(current.enabled_events), current.status) == (
            url,
            events,
            "enabled",
        ):
            return endpoint, "unchanged"
        params = {"url": url, "enabled_events": events, "disabled": False}
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
        updated = stripe_client.call(
            api.webhook_endpoints.update,
            endpoint.id,
            params=params,
            options={"idempotency_key": idempotency_key(endpoint, f"update-{digest}")},
        )
        endpoint.url = updated.url
        endpoint.enabled_events = list(updated.enabled_events)
        endpoint.status = updated.status
        endpoint.save(update_fields=["url", "enabled_events", "status"])
        return endpoint, "updated"
    uuid = uuid4()
    created = stripe_client.call(
        api.webhook_endpoints.create,
        params={
            "url": _intake_url(base_url, uuid),
            "api_version": settings.STRIPE_API_VERSION,
            "enabled_events": events,
            "metadata": {"djstripe_uuid": str(uuid)},
            "connect": connect,
        },
        options={"idempotency_key": f"core-webhookendpoint-{uuid}-create"},
    )
    endpoint = WebhookEndpoint.sync_from_stripe_data(created, api_key=stripe_client.secret_key())
    return endpoint, "created"
