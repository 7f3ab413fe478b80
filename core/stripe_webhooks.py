"""Stripe webhooks in: verify and store fast, process in Celery.

dj-stripe's own view processes events inside the request. Bazaar answers Stripe as soon as the
event is verified and stored (dj-stripe's WebhookEventTrigger), and a Celery task processes it:
dj-stripe mirrors the objects and fires its signals, and the apps' `webhooks.py` receivers
(@djstripe_receiver) update Bazaar through services. dj-stripe keeps one Event row per Stripe
event id, so a duplicate delivery never runs the receivers twice.
"""

import json
import logging
from uuid import uuid4

from celery import shared_task
from django.conf import settings
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


@csrf_exempt
@require_POST
def receive(request, uuid):
    if "stripe-signature" not in request.headers:
        return HttpResponseBadRequest("Missing Stripe-Signature header.")
    endpoint = get_object_or_404(WebhookEndpoint, djstripe_uuid=uuid)
    try:
        body = request.body.decode("utf-8")
        json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return HttpResponseBadRequest("The body is not JSON.")
    with transaction.atomic():
        trigger = WebhookEventTrigger.objects.create(
            headers=dict(request.headers),
            body=body,
            remote_ip=get_remote_ip(request),
            stripe_trigger_account=endpoint.djstripe_owner_account,
            webhook_endpoint=endpoint,
        )
        # Signature (t=..,v1=HMAC-SHA256) within the endpoint's tolerance; a stale or forged
        # one, or a body without an event id, is refused and never processed.
        trigger.valid = trigger.validate(secret=endpoint.secret, api_key=stripe_client.secret_key())
        trigger.save(update_fields=["valid"])
        if trigger.valid:
            transaction.on_commit(lambda: process_webhook.delay(trigger.pk))
    if not trigger.valid:
        return HttpResponseBadRequest("The webhook signature did not verify.")
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
