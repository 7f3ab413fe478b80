"""The sandbox's front door: one Stripe API request in, Stripe's response out, whether it came
from the in-process transport (transport.py) or over HTTP (api_views.py).

Checks the API key (secret, or publishable where Stripe allows it) and Stripe-Version, scopes by
Stripe-Account, claims Idempotency-Keys before running and replays their answers, applies
expand[], and turns sandbox errors into Stripe's error JSON.
"""

import base64
import binascii
import hashlib
import json
import logging
import re
from datetime import date, timedelta
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from stripe_sandbox import core
from stripe_sandbox.errors import (
    AuthenticationError,
    IdempotencyError,
    IdempotencyKeyInUse,
    InvalidRequest,
    PermissionError_,
    RateLimited,
    StripeSandboxError,
)
from stripe_sandbox.models import SandboxIdempotencyKey
from stripe_sandbox.params import Upload, decode, decode_multipart

logger = logging.getLogger(__name__)

_ROUTES = []


def route(method, pattern, *, publishable=False):
    """Register a handler: @route("POST", "/v1/payment_intents/{id}/confirm"). publishable=True:
    Stripe takes a publishable key for it too (what Stripe.js and the mobile SDKs call)."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(fn):
        _ROUTES.append((method, regex, fn, publishable))
        return fn

    return register


class Raw:
    """A handler's answer that is not JSON: a file's bytes (GET /v1/files/{id}/contents)."""

    def __init__(self, content, content_type):
        self.content = content
        self.content_type = content_type


class Respond(Exception):
    """A handler's answer that is not a plain object but still keeps the state it wrote, such as
    a card decline (402) after the failed charge was recorded."""

    def __init__(self, error):
        super().__init__(error.message)
        self.error = error


def _headers_lower(headers):
    return {k.lower(): v for k, v in (headers or {}).items()}


def handle(method, url, headers, body):
    """(method, url, headers, body) -> (response body, status, response headers).

    The body is JSON text, or bytes for a file's contents (then with its content-type header).
    Uploads (files.stripe.com) arrive as multipart/form-data, everything else form-encoded."""
    method = method.upper()
    parts = urlsplit(url)
    path = parts.path
    headers = _headers_lower(headers)
    req = core.Req(method=method, path=path, params={})
    response_headers = {"request-id": req.request_id, "stripe-version": core.API_VERSION}
    claim = None
    try:
        req.params = _params(method, parts.query, headers, body)
        req.api_key = _api_key(headers)
        _check_version(headers.get("stripe-version"))
        req.account = headers.get("stripe-account", "") or core.PLATFORM
        if req.account == core.PLATFORM_ACCOUNT_ID:
            # Stripe-Account naming the platform's own id (dj-stripe sends it) is the platform.
            req.account = core.PLATFORM
        req.idempotency_key = headers.get("idempotency-key", "")
        handler, path_params, publishable = _resolve(method, path)
        if req.publishable and not publishable:
            raise PermissionError_(
                "This API call cannot be made with a publishable API key. Please use a secret API "
                "key. You can find a list of your API keys at "
                "https://dashboard.stripe.com/account/apikeys.",
                code="secret_key_required",
            )
        if req.account:
            core.get(req.account, kind="account", param="Stripe-Account")  # 403 in Stripe; 404 ok
        core.tick()
        if method == "POST" and core.count_down(core.RATE_LIMIT_WRITES):
            # Before the idempotency key is claimed: Stripe runs nothing for a 429, and the
            # same request sent again later runs then.
            raise RateLimited()
        if method == "POST" and req.idempotency_key:
            response_headers["idempotency-key"] = req.idempotency_key
            claim = _claim(req)
            if claim.status is not None:
                return (
                    claim.body,
                    claim.status,
                    response_headers
                    | {"idempotent-replayed": "true", "original-request": claim.request_id},
                )
            response_headers["original-request"] = req.request_id
        status, payload = _run(handler, req, path_params, claim)
        if isinstance(payload, Raw):
            response_headers["content-type"] = payload.content_type
            return payload.content, status, response_headers
    except StripeSandboxError as exc:
        status, payload = exc.status, exc.body(req.request_id)
        if claim is not None:
            _settle(claim, status, payload)
    except BaseException:
        if claim is not None:
            _release(claim)
        raise
    return json.dumps(payload), status, response_headers


def _params(method, query, headers, body):
    if method in ("GET", "DELETE"):
        return decode(query)
    content_type = headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        raw = body if isinstance(body, bytes) else (body or "").encode()
        return decode_multipart(raw, content_type)
    if isinstance(body, bytes):
        try:
            body = body.decode()
        except UnicodeDecodeError:
            raise InvalidRequest(
                "Invalid request body: form-encoded parameters must be UTF-8 (send files as "
                "multipart/form-data)."
            ) from None
    return decode(body or "")


def _is_param_error(payload):
    # Stripe keeps no idempotent result for a request whose parameters failed validation.
    error = payload.get("error") if isinstance(payload, dict) else None
    return (
        bool(error)
        and error.get("type") == "invalid_request_error"
        and "param" in error
        and (
            error["message"].startswith(
                ("Received unknown parameter", "Missing required param", "Invalid ")
            )
        )
    )


def _api_key(headers):
    auth = headers.get("authorization", "")
    scheme, _, credentials = auth.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credentials.strip()
    elif scheme.lower() == "basic":
        # `curl -u sk_test_...:` sends the key as the user name of HTTP Basic auth.
        try:
            key = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise AuthenticationError(
            "You did not provide an API key. Provide it in the Authorization header "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    if not key.startswith(("sk_test_", "pk_test_")):
        raise AuthenticationError(f"Invalid API Key provided: {key[:8]}****")
    return key


def _check_version(version):
    """Stripe refuses a Stripe-Version that is not a version. The sandbox answers in the one it
    speaks (core.API_VERSION, named in every response's Stripe-Version header) whatever dated
    version is asked for, so a client pinned to another one (a mobile SDK) still works."""
    if version is None:
        return
    dated = version.split(";")[0].strip()  # beta flags follow: "2024-04-10; foo_beta=v1"
    day, _, release = dated.partition(".")  # newer versions are named: "2024-09-30.acacia"
    try:
        date.fromisoformat(day)
        ok = len(day) == 10 and (not release or release.isalpha())
    except ValueError:
        ok = False
    if not ok:
        raise InvalidRequest(f"Invalid Stripe API version: {version}")


def _resolve(method, path):
    allowed = False
    for route_method, regex, fn, publishable in _ROUTES:
        match = regex.match(path)
        if match:
            if route_method == method:
                return fn, match.groupdict(), publishable
            allowed = True
    if allowed:
        raise InvalidRequest(f"Unrecognized request URL ({method}: {path}).")
    raise InvalidRequest(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/."
    )


def _run(handler, req, path_params, claim):
    """Run the handler in one transaction. An idempotent request's result is stored in that same
    transaction: the objects it made and the answer a retry replays commit together or not at
    all."""
    with transaction.atomic():
        try:
            result = handler(req, **path_params)
        except Respond as exc:
            # Keep what the handler wrote (a declined charge), answer with the error.
            status, payload = exc.error.status, exc.error.body(req.request_id)
        else:
            if result is not None and not isinstance(result, Raw):
                result = _expand(result, req.params.get("expand") or [], req)
            status, payload = 200, result
        if claim is not None and not _complete(claim, status, payload):
            # Our claim went stale and another request took the key over: it is the one that
            # runs. Roll back what we did and tell the caller the key is in use.
            raise IdempotencyKeyInUse(req.idempotency_key)
    return status, payload


# --- Idempotency-Key ----------------------------------------------------------------------------
# Stripe saves the status and body of the first request made with a key and replays them for
# every later request with that key (for the same API key and Stripe-Account), flagged
# Idempotent-Replayed. A key used for another endpoint or other parameters is a 400
# idempotency_error; a key whose first request is still running is a 409 idempotency_key_in_use
# (and the stripe SDK retries 409s, so its retry gets the replay). Nothing is saved for a request
# whose parameters fail validation, nor for one that conflicts with a running request.

# How long a claimed key may stay in flight before it is presumed abandoned (the process running
# it died) and the next request with the key runs instead. The sandbox answers in milliseconds, so
# a claim a minute old belongs to a request that will never finish.
IN_FLIGHT_TIMEOUT = timedelta(seconds=60)


def _api_key_hash(api_key):
    return hashlib.sha256(api_key.encode()).hexdigest()


def _fingerprint(req):
    text = json.dumps(req.params, sort_keys=True, default=_uploaded_file_fingerprint)
    return hashlib.sha256(text.encode()).hexdigest()


def _uploaded_file_fingerprint(value):
    if isinstance(value, Upload):
        return value.fingerprint()
    raise TypeError(f"{type(value).__name__} is not a request parameter")


def _claim(req):
    """The key's row: already answered (replay it), or claimed now for this request (run it).
    Raises IdempotencyError for another endpoint or other parameters, IdempotencyKeyInUse while
    another request holds it."""
    scope = {
        "api_key_hash": _api_key_hash(req.api_key),
        "account": req.account,
        "key": req.idempotency_key,
    }
    fingerprint = _fingerprint(req)
    for _ in range(3):
        row = SandboxIdempotencyKey.objects.filter(**scope).first()
        if row is None:
            try:
                # Its own transaction when the caller has none (an HTTP request, a task): other
                # connections see the claim at once. Inside a caller's transaction they wait on
                # the unique index until it ends, then find the stored answer.
                with transaction.atomic():
                    return SandboxIdempotencyKey.objects.create(
                        **scope,
                        method=req.method,
                        path=req.path,
                        params_fingerprint=fingerprint,
                        request_id=req.request_id,
                        started=timezone.now(),
                    )
            except IntegrityError:
                continue  # a concurrent request claimed it first: look at its row
        _require_same_request(row, req, fingerprint)
        if row.status is not None:
            return row
        if row.started > timezone.now() - IN_FLIGHT_TIMEOUT:
            raise IdempotencyKeyInUse(req.idempotency_key)
        taken = SandboxIdempotencyKey.objects.filter(
            pk=row.pk, status__isnull=True, request_id=row.request_id
        ).update(request_id=req.request_id, started=timezone.now())
        if taken:
            logger.warning(
                "Idempotency key %s was in flight since %s (request %s): taken over",
                req.idempotency_key,
                row.started,
                row.request_id,
            )
            row.request_id = req.request_id
            return row
    raise IdempotencyKeyInUse(req.idempotency_key)


def _require_same_request(row, req, fingerprint):
    if (row.method, row.path) != (req.method, req.path):
        raise IdempotencyError(
            "Keys for idempotent requests can only be used for the same endpoint they were first "
            f"used for ('{req.path}' vs '{row.path}'). Try using a key other than "
            f"'{req.idempotency_key}' if you meant to execute a different request."
        )
    if row.params_fingerprint != fingerprint:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{req.idempotency_key}' if you meant "
            "to execute a different request."
        )


def _claimed(claim):
    return SandboxIdempotencyKey.objects.filter(
        pk=claim.pk, request_id=claim.request_id, status__isnull=True
    )


def _complete(claim, status, payload):
    """Store the answer on our claim; False if the claim is no longer ours."""
    return bool(_claimed(claim).update(status=status, body=json.dumps(payload)))


def _settle(claim, status, payload):
    """After an error the handler's transaction rolled back: store the error as the key's answer
    (Stripe replays errors too), or free the key if the parameters failed validation."""
    with transaction.atomic():
        if _is_param_error(payload):
            _claimed(claim).delete()
        else:
            _complete(claim, status, payload)


def _release(claim):
    """The request crashed and everything it did was rolled back: free the key so a retry runs
    (rather than leaving it in flight until IN_FLIGHT_TIMEOUT)."""
    try:
        with transaction.atomic():
            _claimed(claim).delete()
    except Exception:  # never hide the crash; a caller's broken transaction rolls the claim back
        logger.exception("Could not release idempotency key %s", claim.key)


# --- expand[] -----------------------------------------------------------------------------------


def _expand(obj, paths, req):
    obj = json.loads(json.dumps(obj))  # never touch the stored copy
    for path in paths:
        _expand_path(obj, path.split("."), path)
    return obj


def _expand_path(node, parts, full):
    if isinstance(node, dict) and node.get("object") == "list" and parts[0] == "data":
        for item in node["data"]:
            _expand_path(item, parts[1:], full)
        return
    if not isinstance(node, dict) or parts[0] not in node:
        raise InvalidRequest(f"This property cannot be expanded ({full}).", param="expand")
    value = node[parts[0]]
    if isinstance(value, str) and "_" in value:
        value = core.get_any(value)
        node[parts[0]] = value
    if len(parts) > 1:
        if value is None:
            return
        _expand_path(value, parts[1:], full)
