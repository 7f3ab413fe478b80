"""Bazaar's logging: which request, person, task and order a line is about, and nothing secret.

settings.LOGGING wires these to the one console handler: JSON lines in production, readable
text in development (LOG_FORMAT).

- RequestIdMiddleware gives each request an id: the caller's X-Request-ID when it is a short
  safe token (a load balancer's or a mobile app's), else a new one. The response carries it back.
- RequestContext, a filter, adds request_id and user_id to every line logged during a request,
  and task_id and task_name in a Celery task. A task queued during a request logs that
  request's id too (the id rides along as a message header).
- RedactSecrets, a filter, masks Stripe keys, webhook signing secrets, Authorization headers,
  passwords and card numbers in messages and extra fields; the formatters mask tracebacks.
- money_fields() is the `extra=` of a line on a money path: our order and Stripe's request id
  (what Stripe's support and dashboard find a request by).
"""

import contextvars
import logging
import re
import uuid

from celery import current_task
from django.utils.functional import LazyObject, empty
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller's X-Request-ID must look like to be kept: it is written into every log line
# and echoed in a response header, so nothing that could break either.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The Celery message header that carries the request id to the worker.
TASK_HEADER = "bazaar_request_id"

_current_request = contextvars.ContextVar("bazaar_request", default=None)


# --- Requests -----------------------------------------------------------------------------------


def request_id_from(value):
    """The caller's request id if it is a short safe token, else a new one."""
    if value and SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE, so whatever the others log is tied to the request too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = _current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _current_request.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Look the person up now (a request without a session cookie costs no query), so every
        # line the view logs names them; the filter never looks them up itself.
        if getattr(request, "user", None) is not None:
            _ = request.user.is_authenticated


def current_request_id():
    """The id of the request being served, or of the request that queued the running task."""
    request = _current_request.get()
    if request is not None:
        return request.request_id
    if current_task:
        return getattr(current_task.request, TASK_HEADER, None)
    return None


def _user_id(request):
    """The signed-in person's id, once the request has looked them up (RequestIdMiddleware before
    the view, DRF's token authentication in it). Never looked up here: a database query from
    inside logging could log again, and so on."""
    user = getattr(request, "user", None)
    if user is None or (isinstance(user, LazyObject) and user._wrapped is empty):
        return None
    return user.pk if user.is_authenticated else None


class RequestContext(logging.Filter):
    """Adds request_id, user_id, task_id and task_name to a record, where they are known."""

    def filter(self, record):
        request = _current_request.get()
        if request is not None and (user_id := _user_id(request)) is not None:
            record.user_id = user_id
        if current_task and current_task.request.id:
            record.task_id = current_task.request.id
            record.task_name = current_task.name
        if request_id := current_request_id():
            record.request_id = request_id
        return True


def task_publish_add_request_id(headers=None, **kwargs):
    """Celery's before_task_publish: a task queued during a request carries the request's id."""
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


# --- Money paths --------------------------------------------------------------------------------


def money_fields(*, order_id=None, stripe=None, **fields):
    """`extra=` for a line about money: the order, and the Stripe request behind `stripe` (what
    the stripe SDK returned, the error it raised, or core's StripeUnavailable), plus `fields`."""
    stripe_request_id = getattr(stripe, "request_id", None)
    if stripe_request_id is None:
        response = getattr(stripe, "last_response", None)
        stripe_request_id = getattr(response, "request_id", None)
    return {"order_id": order_id, "stripe_request_id": stripe_request_id, **fields}


# --- Redaction ----------------------------------------------------------------------------------

REDACTED = "[REDACTED]"
_SECRETS = [
    # Stripe secret and restricted keys, webhook signing secrets: the prefix stays, to say which.
    (re.compile(r"\b((?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9]+"), rf"\1{REDACTED}"),
    # A PaymentIntent's or SetupIntent's client secret confirms the payment from a browser.
    (re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+_secret_)[A-Za-z0-9]+"), rf"\1{REDACTED}"),
    # "Authorization: Bearer ...", password=..., {"password": "..."}.
    (
        re.compile(
            r"(?i)\b(authorization|\w*passw(?:or)?d\w*)(['\"]?\s*[:=]\s*['\"]?)"
            r"(?:(?:bearer|basic|token)\s+)?[^\s'\",;&}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # The password in a URL: postgres://bazaar:secret@db/ in a connection error.
    (re.compile(r"(://[^\s/:@]+:)[^\s/@]+@"), rf"\1{REDACTED}@"),
]
# A card number: 13 to 19 digits, maybe grouped by spaces or dashes, that pass the Luhn check.
_CARD_NUMBER = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
# Extra fields (and keys of dicts in them) whose value is secret whatever it looks like.
_SECRET_KEY_NAMES = re.compile(
    r"(?i)passw(or)?d|secret|authorization|cookie|api_key|card_number|cvc"
)
# What every LogRecord has; everything else on a record came in through extra=.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _luhn(digits):
    total = 0
    for position, digit in enumerate(reversed(digits)):
        n = int(digit) * (2 if position % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _mask_card(match):
    digits = re.sub(r"\D", "", match.group())
    return REDACTED if _luhn(digits) else match.group()


def redact(text):
    """`text` with secrets and card numbers replaced by [REDACTED]."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return _CARD_NUMBER.sub(_mask_card, text)


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return REDACTED if _CARD_NUMBER.fullmatch(str(value)) and _luhn(str(value)) else value
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY_NAMES.search(key)
            else _redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item) for item in value)
    return value


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message and extra fields before any handler writes it."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit: the handler reports it
            message = None
        if message is not None and (clean := redact(message)) != message:
            record.msg, record.args = clean, None
        for key, value in list(vars(record).items()):
            if key in _RECORD_ATTRIBUTES:
                continue
            setattr(
                record, key, REDACTED if _SECRET_KEY_NAMES.search(key) else _redact_value(value)
            )
        return True


# --- Formatters ---------------------------------------------------------------------------------


class _RedactedTracebacks:
    def formatException(self, ei):
        return redact(super().formatException(ei))


class JsonFormatter(_RedactedTracebacks, _JsonFormatter):
    """One JSON object a line (python-json-logger), extra fields as keys, tracebacks redacted."""


class TextFormatter(_RedactedTracebacks, logging.Formatter):
    """Readable lines for development: the request id up front, extra fields as key=value."""

    # Django's and Celery's own extras, already said in their messages ("GET /orders/ 200").
    _SAID = {"request", "server_time", "status_code", "data", "request_id"}

    def formatMessage(self, record):
        extra = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and key not in self._SAID and value is not None
        )
        line = super().formatMessage(record)
        return f"{line} {extra}" if extra else line
