"""What every sandbox resource shares: ids, the clock, object storage, lists, events and balance
transactions. Resource modules (stripe_sandbox/resources/) build Stripe's objects with these."""

import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from stripe_sandbox.currencies import decimal_places
from stripe_sandbox.errors import InvalidRequest, ResourceMissing
from stripe_sandbox.models import SandboxClock, SandboxObject, SandboxSwitch, SandboxWebhookDelivery
from stripe_sandbox.params import EXPAND
from stripe_sandbox.params import validate as validate_params
from stripe_sandbox.tasks import deliver_webhook

# The API version the sandbox speaks; shared/stripe-openapi holds Stripe's spec for it.
API_VERSION = "2024-04-10"
PLATFORM = ""  # the `account` of objects that live on the platform itself
# The platform's own account (GET /v1/account). Here rather than in resources/accounts.py, which
# registers its routes with the router: the router needs the id too.
PLATFORM_ACCOUNT_ID = "acct_1BazaarPlatform0"

_ALPHABET = string.ascii_letters + string.digits

# Human names Stripe uses in "No such ..." messages, by id prefix.
KIND_BY_PREFIX = {
    "acct": "account",
    "cus": "customer",
    "pm": "payment_method",
    "pi": "payment_intent",
    "ch": "charge",
    "py": "charge",
    "txn": "balance_transaction",
    "cs": "checkout.session",
    "re": "refund",
    "pyr": "refund",
    "tr": "transfer",
    "trr": "transfer_reversal",
    "fee": "application_fee",
    "fr": "fee_refund",
    "po": "payout",
    "dp": "dispute",
    "evt": "event",
    "we": "webhook_endpoint",
    "ba": "bank_account",
    "file": "file upload",
}


def new_id(prefix, length=24):
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


# --- Clock --------------------------------------------------------------------------------------


def clock_offset():
    clock = SandboxClock.objects.order_by("pk").first()
    return clock.offset_seconds if clock else 0


def now():
    """The sandbox's current time, in Unix seconds (Stripe's `created`)."""
    return int(time.time()) + clock_offset()


def current_datetime():
    """The sandbox's current time as an aware datetime: a clock source for the host project
    (settings.BAZAAR_CLOCK = "stripe_sandbox.core.current_datetime"), so its deadlines move
    when the sandbox's clock is advanced."""
    return timezone.now() + timedelta(seconds=clock_offset())


def clock_advance(seconds):
    """Move the sandbox clock forward and let everything that fell due happen."""
    if seconds < 0:
        raise ValueError("The sandbox clock only moves forward.")
    with transaction.atomic():
        clock, _ = SandboxClock.objects.select_for_update().get_or_create(pk=1)
        clock.offset_seconds = F("offset_seconds") + int(seconds)
        clock.save(update_fields=["offset_seconds"])
    tick()
    return now()


# Clock jobs: (fn, the kinds of thing it acts on). A kind is a SandboxObject's object_type, or
# DELIVERIES for failed webhook deliveries.
_TICKS = []
DELIVERIES = "webhook_delivery"


def on_tick(*kinds):
    """Register fn(now) to run when the clock is looked at and something of one of `kinds` has
    fallen due: settle funds, pay payouts... Each object kind needs a due_rule saying when."""

    def register(fn):
        _TICKS.append((fn, frozenset(kinds)))
        return fn

    return register


def due_rule(object_type):
    """Register fn(data, account) -> the sandbox time (Unix seconds) at which a clock job must
    act on an object of `object_type` as it is now, or None if none will. Kept on each row
    (SandboxObject.due_at) when it is saved. It must never be later than the job would act, or
    the job would not run in time; earlier only costs a wasted run."""

    def register(fn):
        SandboxObject.DUE_RULES[object_type] = fn
        return fn

    return register


def _due_kinds():
    """The kinds of thing some clock job must act on now, in one query (indexed on due_at and
    next_attempt_at, which only rows waiting for the clock have): usually none. In SQL: it
    runs before every request, and the ORM took longer to build it than the database to
    answer it."""
    current = (
        f"%s + COALESCE((SELECT offset_seconds FROM {SandboxClock._meta.db_table} "
        "ORDER BY id LIMIT 1), 0)"
    )
    real_now = int(time.time())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT object_type FROM {SandboxObject._meta.db_table} WHERE due_at <= {current} "
            f"UNION SELECT %s FROM {SandboxWebhookDelivery._meta.db_table} "
            f"WHERE next_attempt_at <= {current}",
            [real_now, DELIVERIES, real_now],
        )
        return {kind for (kind,) in cursor.fetchall()}


def tick():
    """Let everything that has fallen due by the sandbox's clock happen, each job in its own
    transaction. Runs before every API request: when nothing is due (most of the time) it
    costs one query."""
    due = _due_kinds()
    if not due:
        return
    current = now()
    for fn, kinds in _TICKS:
        if kinds & due:
            with transaction.atomic():
                fn(current)


# --- Requests -----------------------------------------------------------------------------------


@dataclass
class Req:
    """One API call as a handler sees it."""

    method: str
    path: str
    params: dict
    account: str = PLATFORM  # the Stripe-Account header, or the platform
    idempotency_key: str = ""
    request_id: str = field(default_factory=lambda: new_id("req", 14))
    api_key: str = ""

    @property
    def publishable(self):
        """Made with a publishable key (a browser or a mobile app), not a secret one."""
        return self.api_key.startswith("pk_")

    def validate(self, spec):
        spec = {"expand": EXPAND, **spec}
        values = validate_params(self.params, spec)
        values.pop("expand", None)
        return values


# --- Objects ------------------------------------------------------------------------------------


def save(obj, *, account=PLATFORM):
    """Create or replace a Stripe object; returns it."""
    SandboxObject.objects.update_or_create(
        stripe_id=obj["id"],
        defaults={
            "object_type": obj["object"],
            "account": account,
            "created": obj.get("created") or now(),
            "data": obj,
        },
    )
    return obj


def get(stripe_id, *, kind, account=None, param="id", lock=False):
    """An object of `kind` by id, as seen from `account` (None: anywhere). 404 otherwise."""
    queryset = SandboxObject.objects.filter(stripe_id=stripe_id, object_type=kind)
    if account is not None:
        queryset = queryset.filter(account=account)
    if lock:
        queryset = queryset.select_for_update()
    row = queryset.first()
    if row is None:
        raise ResourceMissing(
            kind.split(".")[-1] if kind != "checkout.session" else kind, stripe_id, param=param
        )
    return row.data


def get_any(stripe_id):
    """Any object by id, wherever it lives (for expand and for the sandbox's own pages)."""
    row = SandboxObject.objects.filter(stripe_id=stripe_id).first()
    if row is None:
        prefix = stripe_id.split("_", 1)[0]
        raise ResourceMissing(KIND_BY_PREFIX.get(prefix, "object"), stripe_id)
    return row.data


def account_of(stripe_id):
    row = SandboxObject.objects.filter(stripe_id=stripe_id).only("account").first()
    return row.account if row else None


def find(kind, *, account=None, **match):
    """Objects of `kind` whose top-level fields equal `match`, newest first (small sets)."""
    queryset = SandboxObject.objects.filter(object_type=kind)
    if account is not None:
        queryset = queryset.filter(account=account)
    for key, value in match.items():
        queryset = queryset.filter(**{f"data__{key}": value})
    return [row.data for row in queryset.order_by("-created", "-id")]


def list_response(req, kind, *, url, account, filters=None, predicate=None):
    """Stripe's list object with limit / starting_after / ending_before, newest first."""
    params = req.params
    limit = int(params.get("limit", 10))
    queryset = SandboxObject.objects.filter(object_type=kind, account=account)
    for key, value in (filters or {}).items():
        if value is not None:
            queryset = queryset.filter(**{f"data__{key}": value})
    created = params.get("created")
    if isinstance(created, dict):
        for op in ("gt", "gte", "lt", "lte"):
            if op in created:
                queryset = queryset.filter(**{f"created__{op}": int(created[op])})
    elif created not in (None, ""):
        queryset = queryset.filter(created=int(created))
    rows = list(queryset.order_by("-created", "-id").values_list("stripe_id", "data"))
    if predicate:
        rows = [(sid, data) for sid, data in rows if predicate(data)]
    ids = [sid for sid, _ in rows]
    if params.get("starting_after"):
        cursor = params["starting_after"]
        if cursor not in ids:
            raise ResourceMissing(kind.split(".")[-1], cursor, param="starting_after")
        rows = rows[ids.index(cursor) + 1 :]
        page = rows[:limit]
        has_more = len(rows) > limit
    elif params.get("ending_before"):
        cursor = params["ending_before"]
        if cursor not in ids:
            raise ResourceMissing(kind.split(".")[-1], cursor, param="ending_before")
        before = rows[: ids.index(cursor)]
        page = before[-limit:]
        has_more = len(before) > limit
    else:
        page = rows[:limit]
        has_more = len(rows) > limit
    return {"object": "list", "data": [data for _, data in page], "has_more": has_more, "url": url}


def embedded_list(url, items=()):
    items = list(items)
    return {
        "object": "list",
        "data": items,
        "has_more": False,
        "total_count": len(items),
        "url": url,
    }


# --- Events -------------------------------------------------------------------------------------


def emit(req, event_type, obj, *, account=PLATFORM, previous_attributes=None):
    """Record the event Stripe would send and queue its webhook deliveries after commit."""
    event = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {
            "id": req.request_id if req else None,
            "idempotency_key": (req.idempotency_key or None) if req else None,
        },
        "type": event_type,
    }
    if previous_attributes is not None:
        event["data"]["previous_attributes"] = previous_attributes
    if account:
        event["account"] = account
    endpoints = [
        endpoint
        for endpoint in find("webhook_endpoint")
        if endpoint.get("status") == "enabled"
        and bool(endpoint.get("application")) == bool(account)
        and ("*" in endpoint["enabled_events"] or event_type in endpoint["enabled_events"])
    ]
    event["pending_webhooks"] = len(endpoints)
    save(event, account=account)
    deliveries = [
        SandboxWebhookDelivery.objects.create(
            event_id=event["id"], endpoint_id=endpoint["id"], url=endpoint["url"]
        )
        for endpoint in endpoints
    ]
    if deliveries and not switch("hold_webhooks"):
        for delivery in deliveries:
            transaction.on_commit(lambda pk=delivery.pk: deliver_webhook.delay(pk))
    return event


def previous_attributes(before, after):
    """Stripe's `previous_attributes` for an object changed from `before` to `after`: the old
    value of each field that changed, nested hashes (evidence, metadata) only in their changed
    keys, and null for a key that did not exist before."""
    changed = {}
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            changed[key] = previous_attributes(old, new)
        else:
            changed[key] = old
    return changed


@on_tick(DELIVERIES)
def _retry_failed_deliveries(current):
    """Deliveries their endpoint did not accept are sent again on Stripe's schedule
    (delivery.retry_at, kept in next_attempt_at), unless a test holds webhooks back."""
    if switch("hold_webhooks"):
        return
    Status = SandboxWebhookDelivery.Status
    due = SandboxWebhookDelivery.objects.filter(status=Status.FAILED, next_attempt_at__lte=current)
    for row in list(due):
        # Queued once: the row is pending until the task sends it (and records the outcome).
        queued = SandboxWebhookDelivery.objects.filter(
            pk=row.pk, status=Status.FAILED, attempts=row.attempts
        ).update(status=Status.PENDING, next_attempt_at=None)
        if queued:
            transaction.on_commit(lambda pk=row.pk: deliver_webhook.delay(pk))


def switch(name):
    return SandboxSwitch.objects.filter(name=name, on=True).exists()


def set_switch(name, on):
    SandboxSwitch.objects.update_or_create(name=name, defaults={"on": on})


# The counting switch control.rate_limit_writes() sets: that many more POSTs are answered 429.
RATE_LIMIT_WRITES = "rate_limit_writes"


def set_countdown(name, count):
    SandboxSwitch.objects.update_or_create(name=name, defaults={"remaining": count})


def count_down(name):
    """True (and one fewer left) while the counting switch `name` has some left."""
    return bool(
        SandboxSwitch.objects.filter(name=name, remaining__gt=0).update(
            remaining=F("remaining") - 1
        )
    )


# --- Money --------------------------------------------------------------------------------------

SETTLEMENT_DAYS = 2  # card funds become available two days after the charge, as in test mode


def card_fee(amount, currency):
    """Stripe's standard card pricing: 2.9% + 30 (minor units); zero-decimal currencies pay 2.9%."""
    fixed = 30 if decimal_places(currency) == 2 else 0
    return (amount * 29 + 500) // 1000 + fixed


def balance_transaction(
    *,
    account,
    amount,
    currency,
    type,
    source,
    fee=0,
    fee_details=(),
    available_on=None,
    settles_in=None,
    description=None,
    reporting_category=None,
):
    """A balance transaction, available at `available_on`, or `settles_in` seconds after its own
    creation (measured from the same clock reading, so a second ticking by cannot move it)."""
    created = now()
    if settles_in is not None:
        available_on = created + settles_in
    txn = {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on if available_on is not None else created,
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": list(fee_details),
        "net": amount - fee,
        "reporting_category": reporting_category or type,
        "source": source,
        "status": "available" if (available_on or created) <= created else "pending",
        "type": type,
    }
    return save(txn, account=account)


def balance_of(account):
    """{'available': {cur: n}, 'pending': {cur: n}} from the account's balance transactions."""
    current = now()
    available, pending = {}, {}
    for row in SandboxObject.objects.filter(object_type="balance_transaction", account=account):
        txn = row.data
        bucket = available if txn["available_on"] <= current else pending
        bucket[txn["currency"]] = bucket.get(txn["currency"], 0) + txn["net"]
    return {"available": available, "pending": pending}


@due_rule("balance_transaction")
def _balance_transaction_due(txn, account):
    return txn["available_on"] if txn.get("status") == "pending" else None


@on_tick("balance_transaction")
def _settle_balance_transactions(current):
    """Pending balance transactions whose available_on passed become available."""
    rows = SandboxObject.objects.filter(object_type="balance_transaction", data__status="pending")
    for row in rows.select_for_update():
        if row.data["available_on"] <= current:
            row.data["status"] = "available"
            row.save(update_fields=["data"])


def require(condition, message, param=None):
    if not condition:
        raise InvalidRequest(message, param=param)
