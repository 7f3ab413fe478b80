"""Reconciliation: our ledger and escrow rows checked against Stripe's own records.

Stripe is the truth about money that moved; the ledger is ours. Every disagreement becomes a
ReconciliationDifference for staff to explain (nothing is corrected automatically: a difference
may be a bug of ours, a change made by hand in Stripe's dashboard, or Stripe's own mistake).

Checks, in order:
- each paid EscrowPayment: its charge exists on Stripe, what the charge still holds
  (amount_captured - amount_refunded) is what the ledger holds for it (the buyer_funds_held
  credit booked with the charge id), and its balance transaction's fee is our stripe_fees booking;
- each transferred EscrowRelease: its transfer exists, with our amount, destination and reversals;
- each Stripe transfer that is Bazaar's (transfer_group "order-..." or bazaar_release_id metadata)
  but that no release knows;
- every order's ledger lines, and every ledger transaction, sum to zero;
- per seller and currency: what the ledger credited to them on transferred releases, less the
  reversals we booked, is what Stripe's transfers to their account add up to.

Stripe is read with auto-pagination, all through core.stripe_client. When Stripe cannot be
reached the run records a "stripe_unreachable" difference and goes on with the ledger-only
checks: it never raises.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from accounts.selectors import seller_ids_by_connected_account
from core import stripe_client
from core.errors import StripeUnavailable
from core.money import format_money
from escrow.models import (
    EscrowPayment,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    Order,
    PaymentStatus,
    ReconciliationDifference,
    ReconciliationRun,
    ReleaseStatus,
    TransferReversal,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
SELLER_PAYABLE_PREFIX = LedgerAccount.seller_payable("")


class DifferenceKind(models.TextChoices):
    STRIPE_UNREACHABLE = "stripe_unreachable", "Stripe could not be read"
    CHARGE_MISSING = "charge_missing", "Charge missing on Stripe"
    CHARGE_AMOUNT = "charge_amount_mismatch", "Charge amount differs from the ledger"
    CHARGE_FEE = "charge_fee_mismatch", "Stripe fee differs from the ledger"
    TRANSFER_MISSING = "transfer_missing", "Transfer missing on Stripe"
    TRANSFER_AMOUNT = "transfer_amount_mismatch", "Transfer amount differs"
    TRANSFER_DESTINATION = "transfer_destination_mismatch", "Transfer went to another account"
    TRANSFER_REVERSED = "transfer_reversal_mismatch", "Transfer reversals differ"
    TRANSFER_UNKNOWN = "unknown_transfer", "Transfer on Stripe that Bazaar does not know"
    TRANSFER_NOT_RECORDED = "transfer_not_recorded", "Transfer made but not recorded"
    ORDER_UNBALANCED = "order_unbalanced", "Order's ledger lines do not sum to zero"
    TRANSACTION_UNBALANCED = "transaction_unbalanced", "Ledger transaction does not balance"
    SELLER_PAYABLE = "seller_payable_mismatch", "Seller's releases and transfers differ"


K = DifferenceKind


class _StripeDown(Exception):
    """Stripe is unreachable: the Stripe half of the run stops (already recorded once)."""


@dataclass
class _Difference:
    kind: str
    message: str
    order_id: int | None = None
    stripe_object_id: str = ""
    ours_cents: int | None = None
    stripe_cents: int | None = None


def _v1():
    return stripe_client.client().v1


def _money(cents, currency):
    return "nothing" if cents is None else format_money(cents, currency)


def _is_ours(transfer):
    group = transfer.get("transfer_group") or ""
    metadata = transfer.get("metadata") or {}
    return group.startswith("order-") or "bazaar_release_id" in metadata


def _order_id_of(transfer):
    metadata = transfer.get("metadata") or {}
    candidate = metadata.get("bazaar_order_id", "")
    if not candidate.isdigit():
        group = transfer.get("transfer_group") or ""
        candidate = group.removeprefix("order-") if group.startswith("order-") else ""
    return int(candidate) if candidate.isdigit() else None


class _Reconciler:
    def __init__(self):
        self.differences = []
        self.stripe_down = False

    def add(self, kind, message, **fields):
        self.differences.append(_Difference(kind=kind, message=message, **fields))

    # --- Reading Stripe ------------------------------------------------------------------------

    def stripe(self, fn, *args, missing_ok=False, **kwargs):
        """One Stripe read. Returns None for a missing object when missing_ok; otherwise any
        Stripe error is recorded once as stripe_unreachable and stops the Stripe checks."""
        if self.stripe_down:
            raise _StripeDown
        try:
            return stripe_client.call(fn, *args, **kwargs)
        except StripeUnavailable as exc:
            if missing_ok and exc.code == "resource_missing":
                return None
            self.stripe_down = True
            self.add(
                K.STRIPE_UNREACHABLE,
                f"Reconciliation with Stripe stopped: {exc.message}",
            )
            raise _StripeDown from exc

    def stripe_list(self, resource, **params):
        """Every object of a list endpoint (auto-pagination), as plain dicts."""

        def fetch():
            page = resource.list(params={"limit": PAGE_SIZE, **params})
            return [item.to_dict() for item in page.auto_paging_iter()]

        return self.stripe(fetch)

    def stripe_retrieve(self, resource, object_id, **params):
        found = self.stripe(resource.retrieve, object_id, params=params or None, missing_ok=True)
        return found.to_dict() if found is not None else None

    # --- The run -------------------------------------------------------------------------------

    def run(self):
        try:
            self.check_stripe()
        except _StripeDown:
            pass
        except Exception as exc:  # a malformed answer must not stop the ledger checks
            logger.exception("Reconciliation with Stripe failed")
            self.add(K.STRIPE_UNREACHABLE, f"Reconciliation with Stripe stopped: {exc!r}")
        self.check_orders_balance()
        self.check_transactions_balance()

    def check_stripe(self):
        v1 = _v1()
        charges = {
            c["id"]: c for c in self.stripe_list(v1.charges, expand=["data.balance_transaction"])
        }
        self.check_payments(charges)
        transfers = {t["id"]: t for t in self.stripe_list(v1.transfers)}
        self.check_releases(transfers)
        self.check_unknown_transfers(transfers)
        self.check_seller_payables(transfers)

    # --- Payments ------------------------------------------------------------------------------

    def check_payments(self, charges):
        # A duplicate payment (a second payment of an order already paid) is booked too: its
        # money is booked too, so it is checked like the successful one.
        payments = (
            EscrowPayment.objects.filter(
                status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.DUPLICATE]
            )
            .exclude(stripe_charge_id="")
            .values_list("order_id", "stripe_charge_id", "currency")
            .order_by("pk")
        )
        booked = defaultdict(int)
        for charge_id, account, total in (
            LedgerEntry.objects.filter(
                account__in=[LedgerAccount.BUYER_FUNDS_HELD, LedgerAccount.STRIPE_FEES]
            )
            .exclude(stripe_object_id="")
            .values_list("stripe_object_id", "account")
            .annotate(total=Sum("amount_cents"))
            .order_by()
        ):
            booked[(charge_id, account)] += total
        v1 = _v1()
        for order_id, charge_id, currency in payments.iterator():
            charge = charges.get(charge_id)
            if charge is None:
                charge = self.stripe_retrieve(v1.charges, charge_id, expand=["balance_transaction"])
            if charge is None:
                self.add(
                    K.CHARGE_MISSING,
                    f"Order #{order_id} was paid by charge {charge_id}, which Stripe does not "
                    "have.",
                    order_id=order_id,
                    stripe_object_id=charge_id,
                )
                continue
            held_stripe = (charge.get("amount_captured") or 0) - (
                charge.get("amount_refunded") or 0
            )
            held_ours = -booked[(charge_id, LedgerAccount.BUYER_FUNDS_HELD)]
            if held_stripe != held_ours:
                self.add(
                    K.CHARGE_AMOUNT,
                    f"Charge {charge_id} of order #{order_id} holds "
                    f"{_money(held_stripe, currency)} on Stripe; the ledger holds "
                    f"{_money(held_ours, currency)} for it.",
                    order_id=order_id,
                    stripe_object_id=charge_id,
                    ours_cents=held_ours,
                    stripe_cents=held_stripe,
                )
            fee_stripe = self.charge_fee(charge)
            fee_ours = booked[(charge_id, LedgerAccount.STRIPE_FEES)]
            if fee_stripe != fee_ours:
                self.add(
                    K.CHARGE_FEE,
                    f"Stripe's fee on charge {charge_id} of order #{order_id} is "
                    f"{_money(fee_stripe, currency)}; the ledger booked "
                    f"{_money(fee_ours, currency)}.",
                    order_id=order_id,
                    stripe_object_id=charge_id,
                    ours_cents=fee_ours,
                    stripe_cents=fee_stripe,
                )

    def charge_fee(self, charge):
        txn = charge.get("balance_transaction")
        if not txn:
            return 0
        if isinstance(txn, str):
            txn = self.stripe_retrieve(_v1().balance_transactions, txn) or {}
        return txn.get("fee") or 0

    # --- Releases and transfers ----------------------------------------------------------------

    def check_releases(self, transfers):
        releases = (
            EscrowRelease.objects.filter(status=ReleaseStatus.TRANSFERRED)
            .with_amount_reversed()
            .values_list(
                "order_id",
                "stripe_transfer_id",
                "transfer_cents",
                "currency",
                "destination_account",
                "amount_reversed_cents",
            )
            .order_by("pk")
        )
        v1 = _v1()
        for (
            order_id,
            transfer_id,
            cents,
            currency,
            destination,
            reversed_cents,
        ) in releases.iterator():
            if not transfer_id:
                if cents:
                    self.add(
                        K.TRANSFER_MISSING,
                        f"Order #{order_id} is marked transferred ({_money(cents, currency)}) "
                        "but has no Stripe transfer.",
                        order_id=order_id,
                        ours_cents=cents,
                    )
                continue
            transfer = transfers.get(transfer_id) or self.stripe_retrieve(v1.transfers, transfer_id)
            if transfer is None:
                self.add(
                    K.TRANSFER_MISSING,
                    f"Transfer {transfer_id} of order #{order_id} does not exist on Stripe.",
                    order_id=order_id,
                    stripe_object_id=transfer_id,
                    ours_cents=cents,
                )
                continue
            if transfer["amount"] != cents:
                self.add(
                    K.TRANSFER_AMOUNT,
                    f"Transfer {transfer_id} of order #{order_id} is "
                    f"{_money(transfer['amount'], currency)} on Stripe; the release says "
                    f"{_money(cents, currency)}.",
                    order_id=order_id,
                    stripe_object_id=transfer_id,
                    ours_cents=cents,
                    stripe_cents=transfer["amount"],
                )
            if transfer.get("destination") != destination:
                self.add(
                    K.TRANSFER_DESTINATION,
                    f"Transfer {transfer_id} of order #{order_id} went to "
                    f"{transfer.get('destination')}; the release says {destination}.",
                    order_id=order_id,
                    stripe_object_id=transfer_id,
                )
            stripe_reversed = transfer.get("amount_reversed") or 0
            if stripe_reversed != reversed_cents:
                self.add(
                    K.TRANSFER_REVERSED,
                    f"Stripe reversed {_money(stripe_reversed, currency)} of transfer "
                    f"{transfer_id} (order #{order_id}); we booked "
                    f"{_money(reversed_cents, currency)}.",
                    order_id=order_id,
                    stripe_object_id=transfer_id,
                    ours_cents=reversed_cents,
                    stripe_cents=stripe_reversed,
                )

    def check_unknown_transfers(self, transfers):
        known = set(
            EscrowRelease.objects.exclude(stripe_transfer_id=None).values_list(
                "stripe_transfer_id", flat=True
            )
        )
        ours = [t for t in transfers.values() if _is_ours(t) and t["id"] not in known]
        if not ours:
            return
        order_ids = {_order_id_of(t) for t in ours} - {None}
        existing_orders = set(Order.objects.filter(pk__in=order_ids).values_list("pk", flat=True))
        release_ids = {
            int(t["metadata"]["bazaar_release_id"])
            for t in ours
            if str((t.get("metadata") or {}).get("bazaar_release_id", "")).isdigit()
        }
        releases = dict(
            EscrowRelease.objects.filter(pk__in=release_ids).values_list("pk", "order_id")
        )
        for transfer in sorted(ours, key=lambda t: t["id"]):
            amount = _money(transfer["amount"], transfer["currency"])
            release_id = str((transfer.get("metadata") or {}).get("bazaar_release_id", ""))
            if release_id.isdigit() and int(release_id) in releases:
                order_id = releases[int(release_id)]
                self.add(
                    K.TRANSFER_NOT_RECORDED,
                    f"Stripe made transfer {transfer['id']} ({amount}) for the release of "
                    f"order #{order_id}, which does not record it.",
                    order_id=order_id,
                    stripe_object_id=transfer["id"],
                    stripe_cents=transfer["amount"],
                )
                continue
            order_id = _order_id_of(transfer)
            self.add(
                K.TRANSFER_UNKNOWN,
                f"Stripe transfer {transfer['id']} ({amount} to {transfer.get('destination')}, "
                f"group {transfer.get('transfer_group') or '-'}) matches no release.",
                order_id=order_id if order_id in existing_orders else None,
                stripe_object_id=transfer["id"],
                stripe_cents=transfer["amount"],
            )

    def check_seller_payables(self, transfers):
        """Per seller and currency: released to them (ledger) less reversals = Stripe's net."""
        seller_of_account = dict(
            EscrowRelease.objects.values_list("destination_account", "order__seller_id")
        )
        seller_of_account.update(seller_ids_by_connected_account())
        ours = defaultdict(int)
        # A release still pending or failed owes the seller money Stripe has not moved yet:
        # staff see it among failed releases; it is not a disagreement with Stripe.
        for account, currency, total in (
            LedgerEntry.objects.filter(
                account__startswith=SELLER_PAYABLE_PREFIX,
                amount_cents__lt=0,
                order__release__status=ReleaseStatus.TRANSFERRED,
            )
            .values_list("account", "currency")
            .annotate(total=Sum("amount_cents"))
            .order_by()
        ):
            seller_id = account.removeprefix(SELLER_PAYABLE_PREFIX)
            if seller_id.isdigit():
                ours[(int(seller_id), currency)] += -total
        for seller_id, currency, total in (
            TransferReversal.objects.values_list("release__order__seller_id", "currency")
            .annotate(total=Sum("amount_cents"))
            .order_by()
        ):
            ours[(seller_id, currency)] -= total
        theirs = defaultdict(int)
        for transfer in transfers.values():
            seller_id = seller_of_account.get(transfer.get("destination"))
            if seller_id is None or not _is_ours(transfer):
                continue
            net = transfer["amount"] - (transfer.get("amount_reversed") or 0)
            theirs[(seller_id, transfer["currency"])] += net
        for key in sorted(set(ours) | set(theirs)):
            seller_id, currency = key
            if ours[key] == theirs[key]:
                continue
            self.add(
                K.SELLER_PAYABLE,
                f"Seller #{seller_id}: the ledger released {_money(ours[key], currency)} net of "
                f"reversals; Stripe's transfers to them add up to "
                f"{_money(theirs[key], currency)}.",
                ours_cents=ours[key],
                stripe_cents=theirs[key],
            )

    # --- The ledger alone ----------------------------------------------------------------------

    def check_orders_balance(self):
        unbalanced = (
            LedgerEntry.objects.filter(order__isnull=False)
            .values_list("order_id", "currency")
            .annotate(total=Sum("amount_cents"))
            .exclude(total=0)
            .order_by("order_id", "currency")
        )
        for order_id, currency, total in unbalanced:
            self.add(
                K.ORDER_UNBALANCED,
                f"Order #{order_id}'s ledger lines sum to {_money(total, currency)} instead of "
                "zero.",
                order_id=order_id,
                ours_cents=total,
            )

    def check_transactions_balance(self):
        unbalanced = (
            LedgerEntry.objects.values_list("transaction_id", "currency")
            .annotate(total=Sum("amount_cents"), order_id=Min("order_id"))
            .exclude(total=0)
            .order_by("order_id", "transaction_id")
        )
        for transaction_id, currency, total, order_id in unbalanced:
            self.add(
                K.TRANSACTION_UNBALANCED,
                f"Ledger transaction {transaction_id} sums to {_money(total, currency)} "
                "instead of zero.",
                order_id=order_id,
                ours_cents=total,
            )


def _orders_checked():
    return Order.objects.filter(
        Q(pk__in=LedgerEntry.objects.filter(order__isnull=False).values("order_id"))
        | Q(pk__in=EscrowPayment.objects.filter(status=PaymentStatus.SUCCEEDED).values("order_id"))
    ).count()


def reconcile():
    """Compare the ledger with Stripe; store and return the ReconciliationRun. Never raises for
    Stripe's sake (an unreachable Stripe is itself a recorded difference)."""
    run = ReconciliationRun.objects.create()
    reconciler = _Reconciler()
    reconciler.run()
    existing_orders = set(
        Order.objects.filter(
            pk__in={d.order_id for d in reconciler.differences if d.order_id}
        ).values_list("pk", flat=True)
    )
    with transaction.atomic():
        ReconciliationDifference.objects.bulk_create(
            ReconciliationDifference(
                run=run,
                kind=d.kind,
                order_id=d.order_id if d.order_id in existing_orders else None,
                stripe_object_id=d.stripe_object_id,
                ours_cents=d.ours_cents,
                stripe_cents=d.stripe_cents,
                message=d.message,
            )
            for d in reconciler.differences
        )
        run.orders_checked = _orders_checked()
        run.difference_count = len(reconciler.differences)
        run.finished_at = timezone.now()
        run.save(update_fields=["orders_checked", "difference_count", "finished_at"])
    if run.difference_count:
        logger.warning("Reconciliation %s found %s differences", run.pk, run.difference_count)
    else:
        logger.info("Reconciliation %s: ledger and Stripe agree", run.pk)
    return run
