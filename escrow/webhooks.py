"""Stripe events that move escrow. Each passes the Stripe id to the service a person's action
would call; duplicates and any order of arrival are harmless (the services check Stripe's
current state and return quietly when the change already happened).

Only the id is taken from the event: the services ask Stripe for the object itself (amounts,
reversals, why a card was declined), so an event's body never books money or puts words in
front of a buyer."""

from core.stripe_webhooks import stripe_event_receiver
from escrow import services


def _object(event):
    return event.data["object"]


def _object_id(event):
    object_id = _object(event).get("id")
    return object_id if isinstance(object_id, str) and object_id else None


@stripe_event_receiver("checkout.session.completed")
def on_checkout_session_completed(sender, event, **kwargs):
    if session_id := _object_id(event):
        services.payment_checkout_complete(session_id=session_id)


@stripe_event_receiver("payment_intent.succeeded")
def on_payment_intent_succeeded(sender, event, **kwargs):
    if intent_id := _object_id(event):
        services.payment_confirm(payment_intent_id=intent_id)


@stripe_event_receiver("charge.succeeded")
def on_charge_succeeded(sender, event, **kwargs):
    intent_id = _object(event).get("payment_intent")
    if isinstance(intent_id, str) and intent_id:
        services.payment_confirm(payment_intent_id=intent_id)


@stripe_event_receiver("payment_intent.payment_failed")
def on_payment_intent_failed(sender, event, **kwargs):
    if intent_id := _object_id(event):
        services.payment_fail(payment_intent_id=intent_id)


@stripe_event_receiver("transfer.created")
def on_transfer_created(sender, event, **kwargs):
    if transfer_id := _object_id(event):
        services.release_transfer_record(transfer_id=transfer_id)


@stripe_event_receiver("transfer.reversed")
def on_transfer_reversed(sender, event, **kwargs):
    if transfer_id := _object_id(event):
        services.release_reversals_record(transfer_id=transfer_id)


@stripe_event_receiver("charge.refunded")
def on_charge_refunded(sender, event, **kwargs):
    if charge_id := _object_id(event):
        services.refund_sync(charge_id=charge_id)


@stripe_event_receiver("refund.created")
@stripe_event_receiver("refund.updated")
@stripe_event_receiver("charge.refund.updated")
def on_refund_changed(sender, event, **kwargs):
    charge_id = _object(event).get("charge")
    if isinstance(charge_id, str) and charge_id:
        services.refund_sync(charge_id=charge_id)


@stripe_event_receiver("charge.dispute.created")
@stripe_event_receiver("charge.dispute.updated")
@stripe_event_receiver("charge.dispute.funds_withdrawn")
@stripe_event_receiver("charge.dispute.funds_reinstated")
@stripe_event_receiver("charge.dispute.closed")
def on_charge_dispute(sender, event, **kwargs):
    if dispute_id := _object_id(event):
        services.chargeback_sync(dispute_id=dispute_id)
