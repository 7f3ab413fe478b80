"""Stripe's payout.* events from sellers' connected accounts. Only the payout's id (and the
account it is on) is taken from the event: payouts.services.payout_sync asks Stripe for the
payout itself, so duplicates, any order of arrival and forged bodies are harmless."""

from core.stripe_webhooks import stripe_event_receiver
from payouts import services
from payouts.models import Payout


def _account_of(event, payout_id):
    """The connected account the payout is on: ours where we know the payout, else the
    event's."""
    known = Payout.objects.filter(stripe_payout_id=payout_id).values_list(
        "stripe_account_id", flat=True
    )
    for account in known:
        return account
    owner = getattr(event, "djstripe_owner_account", None)
    return getattr(owner, "id", None)


@stripe_event_receiver("payout.created")
@stripe_event_receiver("payout.updated")
@stripe_event_receiver("payout.paid")
@stripe_event_receiver("payout.failed")
@stripe_event_receiver("payout.canceled")
def on_payout_event(sender, event, **kwargs):
    payout_id = (event.data.get("object") or {}).get("id")
    if not isinstance(payout_id, str) or not payout_id.startswith("po_"):
        return
    account = _account_of(event, payout_id)
    if account:
        services.payout_sync(stripe_payout_id=payout_id, stripe_account=account)
