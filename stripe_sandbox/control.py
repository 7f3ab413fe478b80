"""What tests and people use to steer the sandbox: the clock and webhook delivery. With
stripe_sandbox.testing, the sandbox's public test surface.

with control.webhooks_held():          # events are recorded but not sent
    ... act ...
control.deliver(pending, times=2)      # send (and resend) in any order you like
control.advance_clock(days=2)          # funds settle, payouts arrive
control.emit("account.updated", obj)   # an event of your own, as `stripe trigger` sends one
control.dispute_close("dp_...", won=True)  # the card network decides a dispute
control.file_contents("file_...")      # the bytes uploaded through POST /v1/files
control.rate_limit_writes(3)           # the next 3 writes are answered 429, as over Stripe's limit

Deliveries are rows with event_id, endpoint_id, url, status ("pending", "delivered",
"failed"), attempts and last_status_code.
"""

from contextlib import contextmanager

from stripe_sandbox import core, delivery
from stripe_sandbox.errors import StripeSandboxError
from stripe_sandbox.models import SandboxSwitch, SandboxWebhookDelivery
from stripe_sandbox.resources import files, payments

HOLD = "hold_webhooks"


@contextmanager
def webhooks_held():
    """Record deliveries without sending them; send them later with deliver()."""
    core.set_switch(HOLD, True)
    try:
        yield
    finally:
        core.set_switch(HOLD, False)


def hold_webhooks(on=True):
    core.set_switch(HOLD, on)


def rate_limit_writes(count):
    """The next `count` write requests (POSTs), from any process, are answered 429 with code
    rate_limit, as Stripe answers a client over its rate limit: nothing runs and no idempotency
    key is used up. 0 stops it."""
    core.set_countdown(core.RATE_LIMIT_WRITES, count)


def rate_limited_left():
    """How many more writes rate_limit_writes() will answer 429."""
    row = SandboxSwitch.objects.filter(name=core.RATE_LIMIT_WRITES).first()
    return row.remaining if row else 0


def pending_deliveries(event_type=None):
    """Deliveries not yet accepted by their endpoint, oldest first."""
    rows = list(
        SandboxWebhookDelivery.objects.exclude(status=SandboxWebhookDelivery.Status.DELIVERED)
    )
    if event_type:
        rows = [row for row in rows if core.get_any(row.event_id)["type"] == event_type]
    return rows


def deliveries(event_type=None, *, event_id=None):
    """Every delivery, whatever its status, oldest first."""
    rows = SandboxWebhookDelivery.objects.order_by("pk")
    if event_id:
        rows = rows.filter(event_id=event_id)
    rows = list(rows)
    if event_type:
        rows = [row for row in rows if core.get_any(row.event_id)["type"] == event_type]
    return rows


def deliver(deliveries, *, times=1):
    """Send each delivery `times` times, in the order given. Returns the HTTP statuses."""
    statuses = []
    for row in deliveries:
        for _ in range(times):
            statuses.append(delivery.send(row.pk))
    return statuses


def deliver_pending(*, reverse=False, times=1):
    rows = pending_deliveries()
    return deliver(list(reversed(rows)) if reverse else rows, times=times)


def events(event_type=None, *, account=None):
    """Events the sandbox has emitted, oldest first."""
    found = core.find("event", account=account)
    if event_type:
        found = [event for event in found if event["type"] == event_type]
    return list(reversed(found))


def event(event_id):
    """An event as the sandbox sends it (a delivery's body is this, as JSON)."""
    return core.get_any(event_id)


def webhook_secret(endpoint_id):
    """The signing secret of a webhook endpoint (Stripe shows it once, when it is created)."""
    return core.get_any(endpoint_id)["secret"]


def emit(event_type, obj, *, account=None):
    """Record `event_type` about `obj` (a Stripe object, as a dict) and deliver it to the
    endpoints that listen, as Stripe would: from a connected account's `account` (Connect
    endpoints) or the platform's. Returns the event."""
    return core.emit(None, event_type, obj, account=account or core.PLATFORM)


def advance_clock(*, days=0, hours=0, minutes=0, seconds=0):
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    return core.clock_advance(total)


def now():
    return core.now()


def dispute_create(charge_id, *, reason="fraudulent"):
    """The buyer's bank disputes a captured charge now (charge.dispute.created, and for a real
    dispute charge.dispute.funds_withdrawn with the dispute fee). Returns the dispute. Raises
    ValueError, with a message to show, for an unknown, uncaptured or disputed charge."""
    try:
        return payments.dispute_open_on(charge_id, reason=reason)
    except StripeSandboxError as exc:
        raise ValueError(exc.message) from exc


def dispute_close(dispute_id, *, won):
    """The card network decides the dispute now: won (the disputed amount comes back,
    charge.dispute.funds_reinstated then charge.dispute.closed) or lost (charge.dispute.closed),
    from needs_response or under review alike. Returns the dispute. Raises ValueError, with a
    message to show, for an unknown or already closed dispute."""
    try:
        return payments.dispute_decide(dispute_id, won=won)
    except StripeSandboxError as exc:
        raise ValueError(exc.message) from exc


def file_contents(file_id):
    """The bytes uploaded as `file_id` (POST /v1/files), on whichever account. Raises
    ValueError for an unknown file."""
    try:
        return files.file_contents(file_id)
    except StripeSandboxError as exc:
        raise ValueError(exc.message) from exc
