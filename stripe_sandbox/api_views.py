"""Stripe's REST API over HTTP, answered by the sandbox: the same router the in-process transport
uses, so another process (a mobile app under development, the stripe CLI, curl, a second Django
project) can talk to a running sandbox the way it talks to api.stripe.com:

    client = stripe.StripeClient("sk_test_anything",
                                 base_addresses={"api": "http://127.0.0.1:8000/stripe-sandbox"})

Form-encoded parameters, `Authorization: Bearer sk_test_...` (or Basic, as `curl -u` sends), the
Stripe-Account, Idempotency-Key and Stripe-Version headers, Stripe's JSON objects and errors.
Mounted only where the sandbox app is installed; CSRF does not apply (an API key authenticates).
"""

import json
import logging

from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from stripe_sandbox import core, router
from stripe_sandbox.errors import InvalidRequest

logger = logging.getLogger(__name__)


@csrf_exempt
@never_cache
def api(request, path):
    url = f"/v1/{path}"
    if request.META.get("QUERY_STRING"):
        url += f"?{request.META['QUERY_STRING']}"
    try:
        text, status, headers = router.handle(request.method, url, request.headers, _body(request))
    except InvalidRequest as exc:
        request_id = core.new_id("req", 14)
        text, status = json.dumps(exc.body(request_id)), exc.status
        headers = {"request-id": request_id, "stripe-version": core.API_VERSION}
    except Exception:
        # Stripe answers its own failures as an api_error in JSON, never an HTML page.
        logger.exception("Stripe sandbox failed on %s %s", request.method, url)
        request_id = core.new_id("req", 14)
        text = json.dumps(
            {
                "error": {
                    "type": "api_error",
                    "message": "An unknown error occurred in the Stripe sandbox "
                    f"(request {request_id}); its log has the traceback.",
                }
            }
        )
        status, headers = 500, {"request-id": request_id, "stripe-version": core.API_VERSION}
    response = HttpResponse(text, status=status, content_type="application/json")
    for name, value in headers.items():
        response["-".join(part.capitalize() for part in name.split("-"))] = value
    return response


# The largest upload any purpose takes (16 MB) and room for the multipart envelope.
MAX_UPLOAD_BODY = 17 * 1024 * 1024


def _body(request):
    """The request's body. An upload (multipart/form-data) is read past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE, which is meant for forms: files.stripe.com takes files of up to
    16 MB, and POST /v1/files refuses a file too large for its purpose itself."""
    if request.content_type != "multipart/form-data":
        return request.body
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_UPLOAD_BODY:
        raise InvalidRequest(
            f"The request is larger than the {MAX_UPLOAD_BODY // 1024 // 1024} MB an upload may be."
        )
    return request.read()
