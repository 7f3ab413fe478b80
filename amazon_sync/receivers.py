"""The catalogue's announcements (marketplace.signals, sent after commit) become pushes to
Amazon: a sale, refund, cancellation or the seller's edit changes Amazon's price and stock."""

import logging

from django.dispatch import receiver

from amazon_sync import services
from marketplace.signals import listing_offer_changed

logger = logging.getLogger(__name__)


@receiver(listing_offer_changed, dispatch_uid="amazon_sync.offer_changed")
def on_offer_changed(sender, *, listing_id, **kw):
    # The change is committed: a failure here must not turn the sale or edit into an error.
    # The beat job pushes whatever was left unpushed.
    try:
        services.amazon_listing_offer_changed(listing_id=listing_id)
    except Exception:
        logger.exception("Could not mark listing %s for an Amazon push", listing_id)
