"""The catalogue's announcements (marketplace.signals, sent after commit) become alert tasks:
a listing saved by thousands must not slow down the seller who changed it."""

import logging

from django.dispatch import receiver

from favourites import tasks
from marketplace.signals import listing_back_in_stock, listing_price_dropped

logger = logging.getLogger(__name__)


def _queue(task, **kwargs):
    # The seller's change is committed: a broker outage must not turn it into an error.
    try:
        task.delay(**kwargs)
    except Exception:
        logger.exception("Could not queue %s for %s", task.name, kwargs)


@receiver(listing_price_dropped, dispatch_uid="favourites.price_dropped")
def on_price_dropped(sender, *, listing_id, old_price_cents, new_price_cents, currency, **kw):
    _queue(
        tasks.alert_price_drop,
        listing_id=listing_id,
        old_price_cents=old_price_cents,
        currency=currency,
    )


@receiver(listing_back_in_stock, dispatch_uid="favourites.back_in_stock")
def on_back_in_stock(sender, *, listing_id, stock, **kw):
    _queue(tasks.alert_back_in_stock, listing_id=listing_id)
