"""The sandbox's front door: one Stripe API request in, Stripe's response out.

Checks the API key, scopes by Stripe-Account, replays Idempotency-Key results, applies
expand[], and turns sandbox errors into Stripe's error JSON.
"""

import hashlib
import json
import logging
import re
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from stripe_sandbox import core
from stripe_sandbox.errors import (
    AuthenticationError,
    IdempotencyError,
    InvalidRequest,
    StripeSandboxError,
)
from stripe_sandbox.models import SandboxIdempotencyKey
from stripe_sandbox.params import decode

logger = logging.getLogger(__name__)

_ROUTES = []


def route(method, pattern):
    """Register a handler: @route("POST", "/v1/payment_intents/{id}/confirm")."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(fn):
        _ROUTES.append((method, regex, fn))
        return fn

    return register


class Respond(Exception):
    """A handler's answer that is not a plain object but still keeps the state it wrote, such as
    a card decline (402) after the failed charge was recorded."""

    def __init__(self, error):
        super().__init__(error.message)
        self.error = error


def _headers_lower(headers):
    return {k.lower(): v for k, v in (headers or {}).items()}


def handle(method, url, headers, body):
    """(method, url, headers, body) -> (response body, status, response headers)."""
    method = method.upper()
    parts = urlsplit(url)
    path = parts.path
    headers = _headers_lower(headers)
    raw = body.decode() if isinstance(body, bytes) else (body or "")
    req = core.Req(method=method, path=path, params={})
    response_headers = {"request-id": req.request_id, "stripe-version": core.API_VERSION}
    try:
        req.params = decode(parts.query if method in ("GET", "DELETE") else raw)
        req.api_key = _api_key(headers)
        req.account = headers.get("stripe-account", "") or core.PLATFORM
        if req.account == core.PLATFORM_ACCOUNT_ID:
            # Stripe-Account naming the platform's own id (dj-stripe sends it) is the platform.
            req.account = core.PLATFORM
        req.idempotency_key = headers.get("idempotency-key", "")
        handler, path_params = _resolve(method, path)
        if req.account:
            core.get(req.account, kind="account", param="Stripe-Account")  # 403 in Stripe; 404 ok
        core.tick()
        if method == "POST" and req.idempotency_key:
            replay = _replay(req)
            if replay is not None:
                status, text = replay
                return text, status, response_headers | {"idempotent-replayed": "true"}
        status, payload = _run(handler, req, path_params)
    except StripeSandboxError as exc:
        status, payload = exc.status, exc.body(req.request_id)
    text = json.dumps(payload)
    if method == "POST" and req.idempotency_key and status < 500 and not _is_param_error(payload):
        _remember(req, status, text)
    return text, status, response_headers


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
    key = auth[7:] if auth.lower().startswith("bearer ") else ""
    if not key:
        raise AuthenticationError(
            "You did not provide an API key. Provide it in the Authorization header "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    if not key.startswith("sk_test_"):
        raise AuthenticationError(f"Invalid API Key provided: {key[:8]}****")
    return key


def _resolve(method, path):
    allowed = False
    for route_method, regex, fn in _ROUTES:
        match = regex.match(path)
        if match:
            if route_method == method:
                return fn, match.groupdict()
            allowed = True
    if allowed:
        raise InvalidRequest(f"Unrecognized request URL ({method}: {path}).")
    raise InvalidRequest(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/."
    )


def _run(handler, req, path_params):
    respond = None
    try:
        with transaction.atomic():
            try:
                result = handler(req, **path_params)
            except Respond as exc:
                respond = exc.error  # keep what the handler wrote, answer with the error
                result = None
            if result is not None:
                result = _expand(result, req.params.get("expand") or [], req)
    except StripeSandboxError:
        raise
    if respond is not None:
        return respond.status, respond.body(req.request_id)
    return 200, result


def _fingerprint(req):
    canonical = json.dumps([req.method, req.path, req.params], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(req):
    previous = SandboxIdempotencyKey.objects.filter(
        account=req.account, key=req.idempotency_key
    ).first()
    if previous is None:
        return None
    if previous.params_fingerprint != _fingerprint(req):
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{req.idempotency_key}' if you meant "
            "to execute a different request."
        )
    return previous.status, previous.body


def _remember(req, status, text):
    try:
        with transaction.atomic():
            SandboxIdempotencyKey.objects.create(
                account=req.account,
                key=req.idempotency_key,
                method=req.method,
                path=req.path,
                params_fingerprint=_fingerprint(req),
                status=status,
                body=text,
            )
    except IntegrityError:
        logger.info("Idempotency key %s was stored by a concurrent request", req.idempotency_key)


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
