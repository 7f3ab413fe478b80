"""Every write to an order and its money, one module per concern:

- bookings.py: the time a service order is booked for: held, confirmed, freed, completed with
  its order (orders.py calls it), and moved when buyer and seller agree.
- cancellations.py: calling off a paid order under its cancellation policy (refund and the
  seller's compensation decided together).
- chargebacks.py: a card payment disputed at the bank (charge.dispute.*): the order frozen,
  the seller's share taken back, the evidence drafted and submitted, the outcome settled.
- orders.py: the order's life (create, cancel, expire, deliver a service, ship a product and
  confirm its receipt, remind; funded and released as
  payments and releases say).
- payments.py: paying for an order (Checkout, PaymentIntent), Stripe confirming or declining it.
- releases.py: the money leaving escrow for the seller (one Transfer; one per milestone for a
  milestone order), and its reversals.
- milestones.py: a service order split into milestones (the seller proposes, the buyer
  accepts), each delivered, released or refunded on its own.
- refunds.py: money going back to the buyer (one Refund, after release a reversal first), the
  seller's debt when their balance cannot cover it, refunds made at Stripe.
- reversals.py (used by refunds.py and chargebacks.py): the one request that takes a seller's
  share back from their transfer.
- disputes.py: a buyer's report of a problem (open, answer, withdraw), staff's decision (release,
  refund or split what is held) and the escalation of disputes past their deadlines;
  dispute_notices.py tells the parties and staff.
- payout_books.py: the ledger's side of sellers' payouts (payouts.services calls it): what left
  a seller's Stripe balance for their bank, what came back, an instant payout's fee.
- transitions.py (used by the modules above): the one audited way a payment's, a release's or a
  dispute's status changes, checked against PAYMENT_TRANSITIONS / RELEASE_TRANSITIONS /
  DISPUTE_TRANSITIONS.

Callers import from `escrow.services`; the names below are the whole public surface.
"""

from escrow.services.bookings import (
    booking_reschedule_accept,
    booking_reschedule_decline,
    booking_reschedule_propose,
)
from escrow.services.cancellations import (
    CANCELLABLE_WHEN_PAID,
    CancellationPreview,
    order_cancel,
    order_cancel_paid,
    order_cancel_preview,
)
from escrow.services.chargebacks import (
    chargeback_evidence_draft,
    chargeback_evidence_submit,
    chargeback_evidence_update,
    chargeback_sync,
    chargebacks_retry,
)
from escrow.services.disputes import (
    dispute_escalate,
    dispute_escalate_due,
    dispute_open,
    dispute_refund_no_show,
    dispute_refund_no_shows_due,
    dispute_resolve,
    dispute_respond,
    dispute_withdraw,
    may_resolve,
)
from escrow.services.milestones import (
    MAX_MILESTONES,
    milestone_approve,
    milestone_deliver,
    milestone_plan_accept,
    milestone_plan_propose,
    milestone_refund,
    milestone_release_by_staff,
    milestones_refund_rest,
)
from escrow.services.orders import (
    MAX_QUANTITY,
    order_confirm_received,
    order_create,
    order_deliver,
    order_expire,
    order_mark_disputed,
    order_mark_shipped,
    order_mark_undisputed,
    order_remind,
    order_total_check,
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
from escrow.services.payout_books import payout_returned_book, payout_sent_book
from escrow.services.refunds import (
    order_refunded_cents,
    refund_create,
    refund_decide,
    refund_execute,
    refund_sync,
    refund_unwanted_payment,
    refundable_cents,
    refunds_retry,
)
from escrow.services.releases import (
    escrow_release,
    escrow_release_decide,
    escrow_release_due,
    milestone_release,
    milestone_release_decide,
    release_reversals_record,
    release_transfer,
    release_transfer_record,
    release_transfers_retry,
)

__all__ = [
    "booking_reschedule_accept",
    "booking_reschedule_decline",
    "booking_reschedule_propose",
    "MAX_MILESTONES",
    "milestone_approve",
    "milestone_deliver",
    "milestone_plan_accept",
    "milestone_plan_propose",
    "milestone_refund",
    "milestone_release",
    "milestone_release_by_staff",
    "milestone_release_decide",
    "milestones_refund_rest",
    "payout_returned_book",
    "payout_sent_book",
    "chargeback_evidence_draft",
    "chargeback_evidence_submit",
    "chargeback_evidence_update",
    "chargeback_sync",
    "chargebacks_retry",
    "MAX_QUANTITY",
    "PaymentUnavailable",
    "dispute_escalate",
    "dispute_escalate_due",
    "dispute_open",
    "dispute_refund_no_show",
    "dispute_refund_no_shows_due",
    "dispute_resolve",
    "dispute_respond",
    "dispute_withdraw",
    "escrow_release",
    "escrow_release_decide",
    "escrow_release_due",
    "may_resolve",
    "CANCELLABLE_WHEN_PAID",
    "CancellationPreview",
    "order_cancel",
    "order_cancel_paid",
    "order_cancel_preview",
    "order_confirm_received",
    "order_total_check",
    "order_create",
    "order_deliver",
    "order_expire",
    "order_mark_disputed",
    "order_mark_shipped",
    "order_mark_undisputed",
    "order_refunded_cents",
    "order_remind",
    "payment_checkout_complete",
    "payment_checkout_sessions_expire",
    "payment_checkout_start",
    "payment_confirm",
    "payment_fail",
    "payment_intent_start",
    "refund_create",
    "refund_decide",
    "refund_execute",
    "refund_sync",
    "refund_unwanted_payment",
    "refundable_cents",
    "refunds_retry",
    "release_reversals_record",
    "release_transfer",
    "release_transfer_record",
    "release_transfers_retry",
    "stripe_customer_get_or_create",
]
