"""Which sandbox code answers a request: Login with Amazon, an SP-API operation, or a feed
document's URL. One entry point, `handle`, for the in-process transport and the HTTP views.

Every SP-API answer carries the operation's x-amzn-RateLimit-Limit (requests per second, as
Amazon's usage plans have them) and an x-amzn-RequestId; while the control says so, calls are
answered 429 QuotaExceeded instead, as Amazon does when the rate is exceeded.
"""

import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

from django.db import transaction

from amazon_sandbox import auth, feeds, listings
from amazon_sandbox.http import Answer, ApiFailure, invalid_input, request_id, sp_error
from amazon_sandbox.models import SandboxControl

LWA_HOST = "api.amazon.com"
SP_API_HOST = re.compile(r"^(sandbox\.)?sellingpartnerapi-(na|eu|fe)\.amazon\.com$")

# (method, path pattern, operation): the operations the sandbox answers.
ROUTES = [
    ("PUT", r"/listings/2021-08-01/items/(?P<seller>[^/]+)/(?P<sku>[^/]+)", "putListingsItem"),
    ("PATCH", r"/listings/2021-08-01/items/(?P<seller>[^/]+)/(?P<sku>[^/]+)", "patchListingsItem"),
    ("GET", r"/listings/2021-08-01/items/(?P<seller>[^/]+)/(?P<sku>[^/]+)", "getListingsItem"),
    (
        "DELETE",
        r"/listings/2021-08-01/items/(?P<seller>[^/]+)/(?P<sku>[^/]+)",
        "deleteListingsItem",
    ),
    ("POST", r"/feeds/2021-06-30/documents", "createFeedDocument"),
    ("GET", r"/feeds/2021-06-30/documents/(?P<document>[^/]+)", "getFeedDocument"),
    ("POST", r"/feeds/2021-06-30/feeds", "createFeed"),
    ("GET", r"/feeds/2021-06-30/feeds/(?P<feed>[^/]+)", "getFeed"),
    ("DELETE", r"/feeds/2021-06-30/feeds/(?P<feed>[^/]+)", "cancelFeed"),
]
# Amazon's usage plans (requests per second) for these operations.
RATE_LIMITS = {
    "putListingsItem": "5.0",
    "patchListingsItem": "5.0",
    "getListingsItem": "5.0",
    "deleteListingsItem": "5.0",
    "createFeedDocument": "0.5",
    "getFeedDocument": "0.0222",
    "createFeed": "0.0083",
    "getFeed": "2.0",
    "cancelFeed": "2.0",
}


def handle(method, url, headers, body: bytes) -> Answer:
    """Answer one request as Amazon would. `headers` is any case-insensitive mapping."""
    parts = urlsplit(url)
    method = method.upper()
    with transaction.atomic():
        if parts.netloc == LWA_HOST and parts.path == "/auth/o2/token" and method == "POST":
            return auth.token(body)
        if SP_API_HOST.match(parts.netloc):
            return _sp_api(method, parts.path, parse_qs(parts.query), headers, body)
        if url.startswith(feeds.documents_base()):
            document_id = url.removeprefix(feeds.documents_base()).split("/")[0].split("?")[0]
            return feeds.transfer_document(method, document_id, body, headers.get("content-type"))
    return sp_error(404, "NotFound", f"The Amazon sandbox does not answer {method} {url}.")


def _route(method, path):
    for route_method, pattern, operation in ROUTES:
        match = re.fullmatch(pattern, path)
        if match and route_method == method:
            # Path parameters arrive percent-encoded (a SKU may hold spaces or slashes).
            return operation, {name: unquote(value) for name, value in match.groupdict().items()}
    return None, None


def _sp_api(method, path, query, headers, body):
    operation, params = _route(method, path)
    if operation is None:
        return sp_error(404, "NotFound", f"Resource {path} is not found on this server.")
    extra = {"x-amzn-RequestId": request_id()}
    if _throttled(operation):
        answer = sp_error(
            429, "QuotaExceeded", "You exceeded your quota for the requested resource."
        )
        answer.headers.update(extra, **{"x-amzn-RateLimit-Limit": RATE_LIMITS[operation]})
        return answer
    extra["x-amzn-RateLimit-Limit"] = RATE_LIMITS[operation]
    sid = transaction.savepoint()
    try:
        seller_id = auth.selling_partner(headers)
        answer = _dispatch(operation, params, seller_id, query, _json(body))
    except ApiFailure as failure:
        transaction.savepoint_rollback(sid)
        answer = failure.answer
    else:
        transaction.savepoint_commit(sid)
    answer.headers.update(extra)
    return answer


def _json(body):
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise invalid_input("The request body is not valid JSON.") from None


def _dispatch(operation, params, seller_id, query, body):
    if "seller" in params:
        listings.check_seller(params["seller"], seller_id)
    match operation:
        case "putListingsItem":
            return listings.put(seller_id, params["sku"], query, body)
        case "patchListingsItem":
            return listings.patch(seller_id, params["sku"], query, body)
        case "getListingsItem":
            return listings.get(seller_id, params["sku"], query)
        case "deleteListingsItem":
            return listings.delete(seller_id, params["sku"], query)
        case "createFeedDocument":
            return feeds.create_document(seller_id, body)
        case "getFeedDocument":
            return feeds.get_document(seller_id, params["document"])
        case "createFeed":
            return feeds.create_feed(seller_id, body)
        case "getFeed":
            return feeds.get_feed(seller_id, params["feed"])
        case "cancelFeed":
            return feeds.cancel_feed(seller_id, params["feed"])
    raise AssertionError(operation)


# 429s this process answered, per throttle order. The row's count is the truth across processes;
# this keeps a 429 counted when the caller's transaction (a task's, a test's) rolls the row back,
# which would otherwise throttle its retry again, and the next, forever.
_answered_429: dict[str, int] = {}


def _throttled(operation) -> bool:
    control, _ = SandboxControl.objects.select_for_update().get_or_create(pk=1)
    if not control.throttle_remaining:
        return False
    if control.throttle_operation and control.throttle_operation != operation:
        return False
    if _answered_429.get(control.throttle_order, 0) >= control.throttle_total:
        return False
    _answered_429[control.throttle_order] = _answered_429.get(control.throttle_order, 0) + 1
    control.throttle_remaining -= 1
    control.save(update_fields=["throttle_remaining"])
    return True
