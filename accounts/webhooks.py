"""Stripe events about sellers' Connect accounts.

dj-stripe calls these after it stored the event (once per event id). They never trust the
event's copy of the account: it may be a duplicate or overtaken by a newer change, so the account
is retrieved again and mirrored only if that read is newer than the stored one.
"""

import logging

from accounts.connect import connect_account_refresh
from core.errors import StripeUnavailable
from core.stripe_webhooks import stripe_event_receiver

logger = logging.getLogger(__name__)


@stripe_event_receiver("account.updated")
def account_updated(sender, event, **kwargs):
    account_id = (event.data.get("object") or {}).get("id")
    if not account_id:
        return
    try:
        connect_account_refresh(stripe_account_id=account_id)
    except StripeUnavailable as exc:
        if exc.code in ("resource_missing", "account_invalid"):
            # The account was deleted (or disconnected) since: nothing left to mirror.
            logger.warning("Stripe account %s is gone: %s", account_id, exc.message)
            return
        raise  # Stripe unreachable: the webhook task retries
