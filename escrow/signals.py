"""What escrow tells the apps above it (they connect receivers in their AppConfig.ready; escrow
imports none of them). Receivers run inside the sender's transaction.

- order_placed(order): a buyer placed an order (messaging opens the order's conversation).
- order_viewed(order, user): the buyer or the seller has the order room in front of them
  (messaging marks the order's conversation read for them).
- dispute_opened(dispute): a buyer reported a problem with an order (messaging writes a note
  into the order's conversation, where both sides add their evidence).
- chargeback_evidence_wanted(order): escrow answers a card chargeback; each receiver returns
  lines of text for the evidence (messaging: the order's conversation, as a transcript).
"""

from django.dispatch import Signal

order_placed = Signal()
order_viewed = Signal()
dispute_opened = Signal()
chargeback_evidence_wanted = Signal()
