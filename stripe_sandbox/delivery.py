"""Webhook delivery: sign each event exactly as Stripe does and POST it to the endpoint.

Delivery goes through Django's own request handler in-process by default (no network needed, the
real webhook view and its signature check run), or over HTTP when
STRIPE_SANDBOX_WEBHOOK_DELIVERY=http.
"""

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.test import Client

from stripe_sandbox.models import SandboxObject, SandboxWebhookDelivery

# Stripe retries a delivery its endpoint did not accept for up to three days, backing off
# exponentially: here 1, 3, 9, 27 minutes... after the event, the last try three days after it.
RETRY_FIRST_SECONDS = 60
RETRY_FACTOR = 3
RETRY_WINDOW_SECONDS = 3 * 24 * 60 * 60


def retry_at(event_created, attempts):
    """When (sandbox time, Unix seconds) a delivery that failed `attempts` times is tried
    again, or None once Stripe would have given up on it."""
    if attempts < 1:
        return None
    if (
        attempts > 1
        and RETRY_FIRST_SECONDS * RETRY_FACTOR ** (attempts - 2) >= RETRY_WINDOW_SECONDS
    ):
        return None  # the last try, at three days, failed too
    delay = RETRY_FIRST_SECONDS * RETRY_FACTOR ** (attempts - 1)
    return event_created + min(delay, RETRY_WINDOW_SECONDS)


def sign(payload, secret, timestamp=None):
    """Stripe-Signature: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    timestamp = int(timestamp if timestamp is not None else time.time())
    signed = f"{timestamp}.{payload}".encode()
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def send(delivery_id):
    """Send one delivery now (held or not). Returns the HTTP status the endpoint answered."""
    delivery = SandboxWebhookDelivery.objects.get(pk=delivery_id)
    # The rows themselves, not core.get_any: core queues deliveries (core.emit -> tasks -> here).
    event = SandboxObject.objects.get(stripe_id=delivery.event_id).data
    endpoint = SandboxObject.objects.get(stripe_id=delivery.endpoint_id).data
    payload = json.dumps(event, indent=2)
    # Stripe signs with the real time, not the sandbox clock: the receiver checks freshness.
    headers = {
        "Stripe-Signature": sign(payload, endpoint["secret"]),
        "Content-Type": "application/json",
    }
    status, text = _post(delivery.url, payload, headers)
    with transaction.atomic():
        delivery = SandboxWebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        delivery.last_status_code = status
        delivery.last_response = text[:2000]
        if 200 <= status < 300:
            delivery.status = SandboxWebhookDelivery.Status.DELIVERED
            delivery.next_attempt_at = None
        else:
            delivery.status = SandboxWebhookDelivery.Status.FAILED
            delivery.next_attempt_at = retry_at(event["created"], delivery.attempts)
        delivery.save()
    return status


def _post(url, payload, headers):
    mode = getattr(settings, "STRIPE_SANDBOX_WEBHOOK_DELIVERY", "inprocess")
    if mode == "http":
        try:
            response = requests.post(url, data=payload.encode(), headers=headers, timeout=10)
        except requests.RequestException as exc:
            return 599, f"{type(exc).__name__}: {exc}"
        return response.status_code, response.text
    parts = urlsplit(url)
    client = Client(raise_request_exception=False, HTTP_HOST=parts.netloc or "127.0.0.1")
    response = client.post(
        parts.path,
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": headers["Stripe-Signature"]},
        secure=parts.scheme == "https",
    )
    return response.status_code, response.content.decode(errors="replace")
