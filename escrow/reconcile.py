"""Reconciliation: our ledger and escrow rows checked against Stripe's own records.

Stripe is the truth about money that moved; the ledger is ours. Every disagreement becomes a
ReconciliationDifference for staff to explain (nothing is corrected automatically: a difference
may be a bug of ours, a change made by hand in Stripe's dashboard, or Stripe's own mistake).

Checks, in order:
- each paid EscrowPayment: its charge exists on Stripe, what the charge still holds
  (amount_captured - amount_refunded) is what the ledger holds for it (the buyer_funds_held
  credit booked with the charge id, less the refunds booked with the ids of the charge's
  refunds), and its balance transaction's fee is our stripe_fees booking;
- each transferred EscrowRelease: its transfer exists, with our amount, destination and reversals;
- each Stripe transfer that is Bazaar's (transfer_group "order-..." or bazaar_release_id metadata)
  but that no release knows;
- every order's ledger lines, and every ledger transaction, sum to zero;
- per seller and currency: what the ledger credited to them on transferred releases, less the
  reversals we booked, is what Stripe's transfers to their account add up to;
- every Stripe object that moved money on the platform's balance since the window's start (its
  balance transactions, grouped by their `source`: charge, refund, dispute, transfer, transfer
  reversal, ...) is booked: the ledger's stripe_balance lines carrying that object's id sum to
  the transactions' `net`. Payouts to the platform's own bank are not bookings (see below);
- the platform's Stripe balance (available + pending + connect_reserved, plus what it paid out
  to its bank) is, per currency, the ledger's stripe_balance account;
- each connected account that Stripe's transfers reached holds (plus what it paid out) what the
  ledger booked for those transfers, less the reversals booked for them.

The window: balance transactions created since the start of the last run that found every one
of them booked and the platform's balance agreeing (less WINDOW_OVERLAP), never further back
than WINDOW_DAYS (`manage.py reconcile --days N` reads further). An object found unbooked keeps
every later run's window open until it is booked; the balance checks cover all of history
whatever the window.

Stripe is read with auto-pagination, all through core.stripe_client. When Stripe cannot be
reached the run records a "stripe_unreachable" difference and goes on with the ledger-only
checks: it never raises.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db import models, transaction
from django.db.models import Exists, Min, OuterRef, Q, Sum
from django.utils import timezone

from accounts.selectors import seller_ids_by_connected_account
from core import clock, stripe_client
from core.errors import StripeUnavailable
from core.money import format_money
from escrow.models import (
    Chargeback,
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
# Ids per ledger query (bounded SQL parameters, whatever the window holds).
ID_CHUNK = 1000

WINDOW_DAYS = 90
# Stripe's clock and ours differ a little, and a run may overlap the last one.
WINDOW_OVERLAP = timedelta(hours=1)

# Money the platform sends to its own bank: on Stripe's balance, never in the ledger; the balance
# check counts it through the payouts list instead.
PAYOUT_TYPES = {"payout", "payout_cancel", "payout_failure"}
# A payout in these states has left the balance (failed and canceled ones came back).
PAID_OUT = {"paid", "pending", "in_transit"}


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
    UNBOOKED = "unbooked_stripe_object", "Money moved on Stripe that Bazaar has not booked"
    OBJECT_AMOUNT = "amount_mismatch", "Stripe object booked for another amount"
    PLATFORM_BALANCE = "platform_balance", "Platform's Stripe balance differs from the ledger"
    CONNECTED_BALANCE = "connected_balance", "Connected account's balance differs from the ledger"


K = DifferenceKind

# A run without these read every balance transaction of its window and found each booked, and
# the platform's balance agreed: the next run's window may start there. While the balance
# disagrees, later runs keep reading from the last time it agreed, where the cause must be.
_WINDOW_KINDS = [K.STRIPE_UNREACHABLE, K.UNBOOKED, K.OBJECT_AMOUNT, K.PLATFORM_BALANCE]


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


def _signed(cents, currency):
    """Money with its sign shown, for balances that may be negative."""
    return ("+" if cents > 0 else "") + format_money(cents, currency)


def _source_id(txn):
    """The Stripe object a balance transaction belongs to (its own id when it names none)."""
    source = txn.get("source")
    if isinstance(source, dict):
        return source.get("id") or txn["id"]
    return source or txn["id"]


def _label(txn):
    """What the object is, in Stripe's words: "dispute", "refund", "transfer reversal"..."""
    source = txn.get("source")
    if isinstance(source, dict) and source.get("object"):
        return source["object"].replace("_", " ")
    return f"balance transaction ({txn.get('type', '?').replace('_', ' ')})"


def _metadata_order_id(obj):
    candidate = str(((obj or {}).get("metadata") or {}).get("bazaar_order_id", ""))
    return int(candidate) if candidate.isdigit() else None


def _related_ids(obj):
    """Objects an unbooked one belongs to, whose bookings name its order: a refund's or a
    dispute's charge, a reversal's transfer."""
    related = []
    for field in ("charge", "transfer", "payment_intent"):
        value = (obj or {}).get(field)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value:
            related.append(value)
    return related


def _stripe_balance_booked(object_ids):
    """{stripe object id: {currency: sum of its stripe_balance lines}} and {id: an order it is
    booked for}: one grouped query per ID_CHUNK ids, whatever the number of objects."""
    booked = defaultdict(dict)
    orders = {}
    ids = sorted(set(object_ids))
    for start in range(0, len(ids), ID_CHUNK):
        rows = (
            LedgerEntry.objects.filter(
                account=LedgerAccount.STRIPE_BALANCE,
                stripe_object_id__in=ids[start : start + ID_CHUNK],
            )
            .values_list("stripe_object_id", "currency")
            .annotate(total=Sum("amount_cents"), order_id=Min("order_id"))
            .order_by()
        )
        for object_id, currency, total, order_id in rows:
            booked[object_id][currency] = total
            if order_id is not None:
                orders[object_id] = order_id
    return booked, orders


def _orders_of_objects(object_ids):
    """{stripe object id: the order a ledger line with that id is booked for}: one query."""
    object_ids = sorted(set(object_ids))
    if not object_ids:
        return {}
    return dict(
        LedgerEntry.objects.filter(stripe_object_id__in=object_ids)
        .exclude(order_id=None)
        .values_list("stripe_object_id")
        .annotate(order_id=Min("order_id"))
        .order_by()
    )


def _amounts_by_currency(*lists):
    """Sum Stripe's [{"amount", "currency"}, ...] lists (a balance's available, pending...)."""
    totals = defaultdict(int)
    for items in lists:
        for item in items or ():
            totals[item["currency"]] += item["amount"]
    return totals


def stripe_window_start(*, days=None):
    """Where this run starts reading Stripe's balance transactions (see the module's doc).
    `days` reads at least that many days back."""
    now = clock.now()
    start = now - timedelta(days=WINDOW_DAYS)
    last_clean = (
        ReconciliationRun.objects.filter(finished_at__isnull=False)
        .exclude(differences__kind__in=_WINDOW_KINDS)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    if last_clean is not None:
        start = max(start, last_clean - WINDOW_OVERLAP)
    if days is not None:
        start = min(start, now - timedelta(days=days))
    return start


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
    def __init__(self, since):
        self.since = since
        self.differences = []
        self.stripe_down = False

    def add(self, kind, message, **fields):
        self.differences.append(_Difference(kind=kind, message=message, **fields))

    # --- Reading Stripe ------------------------------------------------------------------------

    def stripe(self, fn, *args, missing_ok=False, **kwargs):
        """One Stripe read. Returns None for a missing object (or connected account) when
        missing_ok; otherwise any Stripe error is recorded once as stripe_unreachable and stops
        the Stripe checks."""
        if self.stripe_down:
            raise _StripeDown
        try:
            return stripe_client.call(fn, *args, **kwargs)
        except StripeUnavailable as exc:
            if missing_ok and exc.code in ("resource_missing", "account_invalid"):
                return None
            self.stripe_down = True
            self.add(
                K.STRIPE_UNREACHABLE,
                f"Reconciliation with Stripe stopped: {exc.message}",
            )
            raise _StripeDown from exc

    def stripe_list(self, resource, *args, account=None, missing_ok=False, **params):
        """Every object of a list endpoint (auto-pagination), as plain dicts; `account` reads a
        connected account's."""

        def fetch():
            options = {"stripe_account": account} if account else None
            page = resource.list(*args, params={"limit": PAGE_SIZE, **params}, options=options)
            return [item.to_dict() for item in page.auto_paging_iter()]

        return self.stripe(fetch, missing_ok=missing_ok)

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
        refunds = self.stripe_list(v1.refunds)
        self.check_payments(charges, refunds)
        transfers = {t["id"]: t for t in self.stripe_list(v1.transfers)}
        self.check_releases(transfers)
        self.check_unknown_transfers(transfers)
        self.check_seller_payables(transfers)
        self.check_stripe_objects()
        self.check_platform_balance()
        self.check_connected_balances(transfers)

    # --- Payments ------------------------------------------------------------------------------

    def check_payments(self, charges, refunds):
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
        # Refunds are booked under their own id (stripe_balance -amount): what the ledger
        # refunded of a charge is what it booked for the charge's refunds.
        refunds_of = defaultdict(list)
        for refund in refunds:
            charge = refund.get("charge")
            refunds_of[charge.get("id") if isinstance(charge, dict) else charge].append(
                refund["id"]
            )
        booked = defaultdict(int)
        for charge_id, account, total in (
            LedgerEntry.objects.filter(
                account__in=[
                    LedgerAccount.BUYER_FUNDS_HELD,
                    LedgerAccount.STRIPE_FEES,
                    LedgerAccount.STRIPE_BALANCE,
                ]
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
            refunded_ours = -sum(
                booked[(refund_id, LedgerAccount.STRIPE_BALANCE)]
                for refund_id in refunds_of[charge_id]
            )
            held_ours = -booked[(charge_id, LedgerAccount.BUYER_FUNDS_HELD)] - refunded_ours
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
        # A won chargeback's transfer giving the seller back what it had taken.
        known |= set(
            Chargeback.objects.exclude(stripe_return_transfer_id="").values_list(
                "stripe_return_transfer_id", flat=True
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
        # staff see it among failed releases; it is not a disagreement with Stripe. The lines
        # are those of orders with a transferred release (an Exists, not a join: an order
        # released milestone by milestone has several), less below what the order's releases
        # not transferred yet credited.
        transferred = Exists(
            EscrowRelease.objects.filter(
                order_id=OuterRef("order_id"), status=ReleaseStatus.TRANSFERRED
            )
        )
        for account, currency, total in (
            LedgerEntry.objects.filter(
                transferred,
                account__startswith=SELLER_PAYABLE_PREFIX,
                amount_cents__lt=0,
            )
            .values_list("account", "currency")
            .annotate(total=Sum("amount_cents"))
            .order_by()
        ):
            seller_id = account.removeprefix(SELLER_PAYABLE_PREFIX)
            if seller_id.isdigit():
                ours[(int(seller_id), currency)] += -total
        # What a release kept of that to pay off the seller's debt never went to Stripe (the
        # payable's debit that is not a transfer's booking).
        for account, currency, total in (
            LedgerEntry.objects.filter(
                transferred,
                account__startswith=SELLER_PAYABLE_PREFIX,
                amount_cents__gt=0,
                stripe_object_id="",
            )
            .values_list("account", "currency")
            .annotate(total=Sum("amount_cents"))
            .order_by()
        ):
            seller_id = account.removeprefix(SELLER_PAYABLE_PREFIX)
            if seller_id.isdigit():
                ours[(int(seller_id), currency)] -= total
        # A milestone's release not transferred yet, on an order with one that was: its credit
        # (less the debt it recovered) is counted above, its transfer not made.
        for seller_id, currency, total in (
            EscrowRelease.objects.exclude(status=ReleaseStatus.TRANSFERRED)
            .filter(
                Exists(
                    EscrowRelease.objects.filter(
                        order_id=OuterRef("order_id"), status=ReleaseStatus.TRANSFERRED
                    )
                )
            )
            .values_list("order__seller_id", "currency")
            .annotate(total=Sum("transfer_cents"))
            .order_by()
        ):
            ours[(seller_id, currency)] -= total
        # A won chargeback's transfer gave the seller back what was taken from them.
        for seller_id, currency, total in (
            Chargeback.objects.exclude(stripe_return_transfer_id="")
            .values_list("order__seller_id", "currency")
            .annotate(total=Sum("returned_cents"))
            .order_by()
        ):
            ours[(seller_id, currency)] += total
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

    # --- Everything that moved the platform's balance ------------------------------------------

    def check_stripe_objects(self):
        """Each object behind the window's balance transactions is booked for their net."""
        v1 = _v1()
        txns = self.stripe_list(
            v1.balance_transactions,
            created={"gte": int(self.since.timestamp())},
            expand=["data.source"],
        )
        moved = defaultdict(lambda: defaultdict(int))  # object id -> currency -> net
        first = {}  # object id -> its oldest balance transaction in the window
        for txn in sorted(txns, key=lambda t: (t["created"], t["id"])):
            if txn.get("type") in PAYOUT_TYPES:
                continue
            object_id = _source_id(txn)
            moved[object_id][txn["currency"]] += txn["net"]
            first.setdefault(object_id, txn)
        booked, orders = _stripe_balance_booked(moved)

        def agrees(object_id):
            currencies = set(moved[object_id]) | set(booked.get(object_id, {}))
            return all(
                moved[object_id].get(c, 0) == booked.get(object_id, {}).get(c, 0)
                for c in currencies
            )

        suspects = [object_id for object_id in first if not agrees(object_id)]
        # An object's earlier balance transactions may predate the window (a dispute reinstated
        # after its withdrawal, a refund that failed later): read them all before concluding.
        for object_id in suspects:
            if object_id != first[object_id]["id"]:
                moved[object_id] = defaultdict(int)
                for txn in self.stripe_list(v1.balance_transactions, source=object_id):
                    if txn.get("type") not in PAYOUT_TYPES:
                        moved[object_id][txn["currency"]] += txn["net"]
        suspects = [object_id for object_id in suspects if not agrees(object_id)]
        # Another check already named the object (an unknown transfer, a fee booked twice).
        named = {d.stripe_object_id for d in self.differences}
        suspects = [object_id for object_id in suspects if object_id not in named]
        if not suspects:
            return
        related_orders = _orders_of_objects(
            related
            for object_id in suspects
            for related in _related_ids(first[object_id].get("source"))
        )
        for object_id in suspects:
            txn = first[object_id]
            source = txn.get("source") if isinstance(txn.get("source"), dict) else None
            order_id = (
                _metadata_order_id(source)
                or orders.get(object_id)
                or next(
                    (related_orders[r] for r in _related_ids(source) if r in related_orders), None
                )
            )
            self.add_object_difference(
                object_id, _label(txn), moved[object_id], booked.get(object_id), order_id
            )

    def add_object_difference(self, object_id, label, moved, booked, order_id):
        for_order = f" (order #{order_id})" if order_id else ""
        currencies = sorted(set(moved) | set(booked or {}))
        stripe_cents = sum(moved.get(c, 0) for c in currencies)
        stripe_money = ", ".join(_signed(moved.get(c, 0), c) for c in currencies)
        if booked is None:
            self.add(
                K.UNBOOKED,
                f"Stripe {label} {object_id}{for_order} moved {stripe_money} on the platform's "
                "balance; Bazaar has not booked it.",
                order_id=order_id,
                stripe_object_id=object_id,
                ours_cents=0,
                stripe_cents=stripe_cents,
            )
            return
        ours_money = ", ".join(_signed(booked.get(c, 0), c) for c in currencies)
        self.add(
            K.OBJECT_AMOUNT,
            f"Stripe {label} {object_id}{for_order} moved {stripe_money} on the platform's "
            f"balance; the ledger booked {ours_money} for it.",
            order_id=order_id,
            stripe_object_id=object_id,
            ours_cents=sum(booked.get(c, 0) for c in currencies),
            stripe_cents=stripe_cents,
        )

    def paid_out(self, account=None):
        """{currency: what `account`'s payouts took off its balance} (the platform's: None)."""
        payouts = self.stripe_list(_v1().payouts, account=account, missing_ok=bool(account))
        totals = defaultdict(int)
        for payout in payouts or ():
            if payout.get("status") in PAID_OUT:
                totals[payout["currency"]] += payout["amount"]
        return totals

    def check_platform_balance(self):
        """Per currency: Stripe's balance plus payouts = the ledger's stripe_balance account."""
        balance = self.stripe(_v1().balance.retrieve).to_dict()
        held = _amounts_by_currency(
            balance.get("available"), balance.get("pending"), balance.get("connect_reserved")
        )
        paid = self.paid_out()
        ours = dict(
            LedgerEntry.objects.filter(account=LedgerAccount.STRIPE_BALANCE)
            .values_list("currency")
            .annotate(total=Sum("amount_cents"))
            .order_by()
        )
        for currency in sorted(set(held) | set(paid) | set(ours)):
            theirs = held.get(currency, 0) + paid.get(currency, 0)
            booked = ours.get(currency, 0)
            if theirs == booked:
                continue
            paid_note = (
                f" (after {_money(paid[currency], currency)} paid out to the bank)"
                if paid.get(currency)
                else ""
            )
            self.add(
                K.PLATFORM_BALANCE,
                f"The platform's Stripe balance is {_signed(held.get(currency, 0), currency)}"
                f"{paid_note}; the ledger puts it at {_signed(booked, currency)}, a difference "
                f"of {_signed(theirs - booked, currency)}.",
                ours_cents=booked,
                stripe_cents=theirs,
            )

    def check_connected_balances(self, transfers):
        """Each account Stripe's transfers reached holds what the ledger booked for them."""
        reversals_of = {}
        for transfer in transfers.values():
            embedded = transfer.get("reversals") or {}
            reversals = embedded.get("data") or []
            if embedded.get("has_more"):
                reversals = self.stripe_list(_v1().transfers.reversals, transfer["id"])
            reversals_of[transfer["id"]] = [r["id"] for r in reversals]
        booked, _ = _stripe_balance_booked(
            [*reversals_of, *(r for ids in reversals_of.values() for r in ids)]
        )
        sent = defaultdict(lambda: defaultdict(int))  # account -> currency -> cents
        for transfer in sorted(transfers.values(), key=lambda t: t["id"]):
            destination = transfer.get("destination")
            if not isinstance(destination, str) or not destination.startswith("acct_"):
                continue
            # The ledger books a transfer as stripe_balance -amount, a reversal as +amount.
            for object_id in [transfer["id"], *reversals_of[transfer["id"]]]:
                for currency, total in booked.get(object_id, {}).items():
                    sent[destination][currency] -= total
            sent[destination].setdefault(transfer["currency"], 0)
        sellers = seller_ids_by_connected_account()
        v1 = _v1()
        for account in sorted(sent):
            who = f"Connected account {account}" + (
                f" (seller #{sellers[account]})" if account in sellers else ""
            )
            balance = self.stripe(
                v1.balance.retrieve, options={"stripe_account": account}, missing_ok=True
            )
            if balance is None:
                for currency, ours in sorted(sent[account].items()):
                    self.add(
                        K.CONNECTED_BALANCE,
                        f"{who}: Stripe does not let us read its balance (the account is gone or "
                        f"disconnected); the ledger booked {_money(ours, currency)} sent to it.",
                        stripe_object_id=account,
                        ours_cents=ours,
                    )
                continue
            balance = balance.to_dict()
            held = _amounts_by_currency(balance.get("available"), balance.get("pending"))
            paid = self.paid_out(account)
            for currency in sorted(set(held) | set(paid) | set(sent[account])):
                theirs = held.get(currency, 0) + paid.get(currency, 0)
                ours = sent[account].get(currency, 0)
                if theirs == ours:
                    continue
                paid_note = (
                    f" after {_money(paid[currency], currency)} paid out"
                    if paid.get(currency)
                    else ""
                )
                self.add(
                    K.CONNECTED_BALANCE,
                    f"{who} holds {_money(held.get(currency, 0), currency)}{paid_note}; the "
                    f"ledger booked {_money(ours, currency)} sent to it (transfers less "
                    "reversals).",
                    stripe_object_id=account,
                    ours_cents=ours,
                    stripe_cents=theirs,
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


def reconcile(*, since=None):
    """Compare the ledger with Stripe; store and return the ReconciliationRun. Never raises for
    Stripe's sake (an unreachable Stripe is itself a recorded difference). `since`: where to
    start reading Stripe's balance transactions (default: stripe_window_start())."""
    if since is None:
        since = stripe_window_start()
    run = ReconciliationRun.objects.create()
    reconciler = _Reconciler(since)
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
