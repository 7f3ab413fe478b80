"""Stripe events that move escrow. Each finds our record by the Stripe id and calls the service a
person's action would; duplicates and any order of arrival are harmless (the services check
Stripe's current state and return quietly when the change already happened)."""

from djstripe.event_handlers import djstripe_receiver

from escrow import services


def _object(event):
    return event.data["object"]


@djstripe_receiver("checkout.session.completed")
def on_checkout_session_completed(sender, event, **kwargs):
    session = _object(event)
    if session.get("mode") != "payment" or session.get("payment_status") != "paid":
        return
    services.payment_checkout_complete(
        session_id=session["id"],
        payment_intent_id=session.get("payment_intent"),
        metadata=session.get("metadata"),
    )


@djstripe_receiver("payment_intent.succeeded")
def on_payment_intent_succeeded(sender, event, **kwargs):
    services.payment_confirm(payment_intent_id=_object(event)["id"])


@djstripe_receiver("charge.succeeded")
def on_charge_succeeded(sender, event, **kwargs):
    intent = _object(event).get("payment_intent")
    if intent:
        services.payment_confirm(payment_intent_id=intent)


@djstripe_receiver("payment_intent.payment_failed")
def on_payment_intent_failed(sender, event, **kwargs):
    intent = _object(event)
    error = intent.get("last_payment_error") or {}
    services.payment_fail(
        payment_intent_id=intent["id"],
        message=error.get("message") or "The payment was declined.",
        metadata=intent.get("metadata"),
    )


@djstripe_receiver("transfer.created")
def on_transfer_created(sender, event, **kwargs):
    transfer = _object(event)
    services.release_transfer_record(transfer_id=transfer["id"], metadata=transfer.get("metadata"))


@djstripe_receiver("transfer.reversed")
def on_transfer_reversed(sender, event, **kwargs):
    transfer = _object(event)
    reversals = (transfer.get("reversals") or {}).get("data") or []
    services.release_reversals_record(
        transfer_id=transfer["id"],
        reversals=[(r["id"], r["amount"], r["currency"]) for r in reversals],
    )
