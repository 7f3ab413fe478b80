"""Every write to an order and its money, one module per concern:

- orders.py: the order's life (create, cancel, expire, deliver, remind; funded and released as
  payments and releases say).
- payments.py: paying for an order (Checkout, PaymentIntent), Stripe confirming or declining it.
- releases.py: the money leaving escrow for the seller (one Transfer), and its reversals.
- transitions.py (used by the two above): the one audited way a payment's or a release's status
  changes, checked against PAYMENT_TRANSITIONS / RELEASE_TRANSITIONS.

Callers import from `escrow.services`; the names below are the whole public surface.
"""

from escrow.services.orders import (
    MAX_QUANTITY,
    order_cancel,
    order_create,
    order_deliver,
    order_expire,
    order_remind,
)
from escrow.services.payments import (
    PaymentUnavailable,
    payment_checkout_complete,
    payment_checkout_sessions_expire,
    payment_checkout_start,
    payment_confirm,
    payment_fail,
    payment_intent_start,
    stripe_customer_get_or_create,
)
from escrow.services.releases import (
    escrow_release,
    escrow_release_due,
    release_reversals_record,
    release_transfer,
    release_transfer_record,
    release_transfers_retry,
)

__all__ = [
    "MAX_QUANTITY",
    "PaymentUnavailable",
    "escrow_release",
    "escrow_release_due",
    "order_cancel",
    "order_create",
    "order_deliver",
    "order_expire",
    "order_remind",
    "payment_checkout_complete",
    "payment_checkout_sessions_expire",
    "payment_checkout_start",
    "payment_confirm",
    "payment_fail",
    "payment_intent_start",
    "release_reversals_record",
    "release_transfer",
    "release_transfer_record",
    "release_transfers_retry",
    "stripe_customer_get_or_create",
]
