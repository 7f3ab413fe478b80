"""What the catalogue tells the apps above it (they connect receivers in their receivers.py;
marketplace imports none of them). Both are sent after the change is committed, with ids and
plain values only, so a receiver may hand them straight to a Celery task.

- listing_price_dropped(listing_id, old_price_cents, new_price_cents, currency): the seller
  lowered the price of an approved listing (same currency).
- listing_back_in_stock(listing_id, stock): an approved product's counted stock went from 0 to
  more (the seller restocked it, or an order gave its stock back); stock None: no longer counted.
- listing_offer_changed(listing_id): what a buyer could buy of a listing may have changed: its
  price, currency or stock (the seller's edit, an order reserving, returning or retaking stock)
  or its status (archived, sent back to review). No values: a receiver reads the listing as it is
  when it acts, so announcements that arrive late or twice are harmless (amazon_sync pushes the
  current price and stock to Amazon).
"""

from django.dispatch import Signal

listing_price_dropped = Signal()
listing_back_in_stock = Signal()
listing_offer_changed = Signal()
