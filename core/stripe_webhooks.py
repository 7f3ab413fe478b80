"""Stripe webhooks in: verify and store fast, process in Celery.

dj-stripe's own view processes events inside the request. Bazaar answers Stripe as soon as the
event is verified and stored (dj-stripe's WebhookEventTrigger), and a Celery task processes it:
dj-stripe mirrors the objects and fires its signals, and the apps' `webhooks.py` receivers
(@djstripe_receiver) update Bazaar through services. dj-stripe keeps one Event row per Stripe
event id, so a duplicate delivery never runs the receivers twice.

The signature is checked here, with the stripe SDK, against the endpoint's own secret, in every
mode. Not with dj-stripe's WebhookEventTrigger.validate(): under DEBUG it takes the secret from
the request's X-Djstripe-Webhook-Secret header, so anyone could sign an event with a secret of
their choosing.
"""

import json
import logging
import time
from uuid import uuid4

import stripe
from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.models import WebhookEndpoint, WebhookEventTrigger
from djstripe.models.webhooks import get_remote_ip

from core import stripe_client

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


@csrf_exempt
@require_POST
def receive(request, uuid):
    if "stripe-signature" not in request.headers:
        return HttpResponseBadRequest("Missing Stripe-Signature header.")
    endpoint = get_object_or_404(WebhookEndpoint, djstripe_uuid=uuid)
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return HttpResponseBadRequest("The body is not UTF-8 text.", content_type="text/plain")
    problem = signature_problem(body, request.headers["stripe-signature"], endpoint.secret)
    if problem is None:
        problem = event_problem(body)
    with transaction.atomic():
        trigger = WebhookEventTrigger.objects.create(
            headers=dict(request.headers),
            body=body,
            remote_ip=_remote_ip(request),
            stripe_trigger_account=endpoint.djstripe_owner_account,
            webhook_endpoint=endpoint,
            valid=problem is None,
            exception=(problem or "")[:128],
        )
        if trigger.valid:
            transaction.on_commit(lambda: process_webhook.delay(trigger.pk))
    if not trigger.valid:
        logger.warning("Stripe webhook refused (trigger %s): %s", trigger.pk, problem)
        return HttpResponseBadRequest(problem, content_type="text/plain")
    return HttpResponse(str(trigger.pk), content_type="text/plain")


@shared_task(bind=True, max_retries=None, acks_late=True)
def process_webhook(self, trigger_id):
    """Process one stored webhook: exactly once per Stripe event id, retried if a receiver fails."""
    try:
        with transaction.atomic():
            trigger = WebhookEventTrigger.objects.select_for_update().get(pk=trigger_id)
            if trigger.processed or not trigger.valid:
                return "skipped"
            trigger.process(save=True, api_key=stripe_client.secret_key())
    except Exception as exc:
        WebhookEventTrigger.objects.filter(pk=trigger_id).update(
            exception=f"{type(exc).__name__}: {exc}"[:128]
        )
        if self.request.retries >= settings.STRIPE_WEBHOOK_TASK_MAX_RETRIES:
            logger.exception("Stripe webhook trigger %s failed for good", trigger_id)
            raise
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return "processed"


def ensure_webhook_endpoints(base_url):
    """Make sure Stripe sends platform and Connect events to this site; returns the endpoints.

    Idempotent: an endpoint of each kind whose URL starts with base_url is kept.
    """
    base_url = base_url.rstrip("/")
    endpoints = []
    for connect in (False, True):
        found = [
            e
            for e in WebhookEndpoint.objects.all()
            if bool(e.application) == connect and e.url.startswith(base_url + "/")
        ]
        if found:
            endpoints.append(found[0])
            continue
        uuid = uuid4()
        url = base_url + reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": uuid})
        data = WebhookEndpoint._api_create(
            url=url,
            api_version=settings.STRIPE_API_VERSION,
            enabled_events=["*"],
            metadata={"djstripe_uuid": str(uuid)},
            connect=connect,
            api_key=stripe_client.secret_key(),
        )
        endpoints.append(
            WebhookEndpoint.sync_from_stripe_data(data, api_key=stripe_client.secret_key())
        )
    return endpoints
