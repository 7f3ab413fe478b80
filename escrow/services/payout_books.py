"""The ledger's side of sellers' payouts (payouts.services calls these; the ledger is escrow's).

A payout moves money from the seller's Stripe balance to their bank, outside the platform's own
balance, so it is booked on two memorandum accounts of the seller's (seller_stripe_balance:<id>
credited, seller_payouts:<id> debited): the ledger says what left for the bank and what came
back. An instant payout's fee stays on the seller's Stripe balance and is booked as owed to
Bazaar (seller_debt:<id>, Bazaar's payout_fees revenue): their next release pays it off, and
until then no payout takes the money that covers it.
"""

from escrow import ledger
from escrow.models import LedgerAccount


def payout_sent_book(*, seller_id, currency, bank_cents, fee_cents, stripe_payout_id):
    """Stripe took the payout: `bank_cents` on its way to the bank, `fee_cents` owed."""
    ledger.post(
        order=None,
        currency=currency,
        memo=f"Payout {stripe_payout_id} to the seller's bank",
        stripe_object_id=stripe_payout_id,
        lines=[
            (LedgerAccount.seller_payouts(seller_id), bank_cents),
            (LedgerAccount.seller_stripe_balance(seller_id), -bank_cents),
        ],
    )
    if fee_cents:
        ledger.post(
            order=None,
            currency=currency,
            memo=f"Instant payout fee of payout {stripe_payout_id}",
            stripe_object_id=stripe_payout_id,
            lines=[
                (LedgerAccount.seller_debt(seller_id), fee_cents),
                (LedgerAccount.PAYOUT_FEES, -fee_cents),
            ],
        )


def payout_returned_book(*, seller_id, currency, bank_cents, fee_cents, stripe_payout_id, why):
    """The payout failed or was canceled: the money is back on the seller's Stripe balance and
    the fee is not charged."""
    ledger.post(
        order=None,
        currency=currency,
        memo=f"Payout {stripe_payout_id} {why}: back on the seller's Stripe balance",
        stripe_object_id=stripe_payout_id,
        lines=[
            (LedgerAccount.seller_stripe_balance(seller_id), bank_cents),
            (LedgerAccount.seller_payouts(seller_id), -bank_cents),
        ],
    )
    if fee_cents:
        ledger.post(
            order=None,
            currency=currency,
            memo=f"Instant payout fee of payout {stripe_payout_id} not charged ({why})",
            stripe_object_id=stripe_payout_id,
            lines=[
                (LedgerAccount.PAYOUT_FEES, fee_cents),
                (LedgerAccount.seller_debt(seller_id), -fee_cents),
            ],
        )
