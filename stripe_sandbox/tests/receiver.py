"""A host project's webhook endpoint, as small as one gets, for the sandbox's own tests: it checks
Stripe's signature with the stripe SDK itself (stripe.Webhook.construct_event) and keeps what it
accepted."""

import stripe
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

SECRETS = {}  # endpoint name -> the signing secret Stripe gave when the endpoint was created
RECEIVED = []  # (endpoint name, event id, event type), in arrival order


def reset():
    SECRETS.clear()
    RECEIVED.clear()


@csrf_exempt
@require_POST
def receive(request, name):
    secret = SECRETS.get(name)
    if secret is None:
        return HttpResponseNotFound("No such endpoint.")
    try:
        event = stripe.Webhook.construct_event(
            request.body.decode(), request.headers.get("Stripe-Signature", ""), secret
        )
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponseBadRequest("The signature did not verify.")
    RECEIVED.append((name, event.id, event.type))
    return HttpResponse("ok", content_type="text/plain")
