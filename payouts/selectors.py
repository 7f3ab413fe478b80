"""Reads of the payouts pages, API and admin: where a seller's money is, per currency.

`seller_balances(seller=...)` is the one read behind /seller/payouts/, GET /api/v1/seller/balance/
and the seller's balances in the admin, so all three show the same figures:

- in escrow: the seller's share of their paid orders Bazaar still holds (our ledger: orders
  funded, delivered or frozen by a dispute before release, each as its release would split it);
- being transferred: released, the transfer to their Stripe account not made yet;
- on the way: on their Stripe account, still pending, with the date each amount becomes
  available (Stripe's balance and balance transactions of the connected account);
- available: what Stripe can pay out to their bank now;
- paid out: Stripe's payouts of the account that were paid (lifetime);
- lifetime earnings: what became theirs, net of commission, card fees passed on, refunds and
  chargebacks taken back, and of what they still owe (escrow's releases, reversals and debt);
- debt: what they owe Bazaar (refunds after release their balance could not cover).

The database figures are a fixed number of grouped queries whatever the number of orders. Stripe
is asked at most 2 + 2 × MAX_STRIPE_PAGES times per read, usually three; when it cannot be
reached the ledger's figures are still given and `stripe_error` says why the rest are missing.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.selectors import connected_account_id_for, seller_account_sql
from core import clock, rows, stripe_client
from core.errors import StripeUnavailable
from core.logs import money_fields
from escrow import selectors as escrow_selectors
from escrow.models import (
    Chargeback,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    ReleaseStatus,
)
from payouts.models import Payout, PayoutSchedule, PayoutStatus

logger = logging.getLogger(__name__)

# Stripe lists at most 100 objects a page; a balance read follows at most this many pages of
# balance transactions (pending ones are the newest) and of paid payouts. Past that the dates
# of older pending amounts are not listed and the paid-out figure is marked incomplete.
STRIPE_PAGE_SIZE = 100
MAX_STRIPE_PAGES = 3

STRIPE_UNREACHABLE = (
    "Stripe could not be reached, so what is on your Stripe account (on the way, available, "
    "paid out) is not shown. The figures from Bazaar's ledger are up to date; try again in a "
    "minute."
)


@dataclass(frozen=True)
class PendingAmount:
    """Money on the seller's Stripe account that becomes available on `available_on` (None:
    Stripe did not list its date within the pages read)."""

    amount_cents: int
    currency: str
    available_on: datetime | None


@dataclass(frozen=True)
class CurrencyBalance:
    currency: str
    in_escrow_cents: int = 0
    transferring_cents: int = 0
    lifetime_earnings_cents: int = 0
    debt_cents: int = 0
    # From Stripe: None when Stripe could not be read (or the seller has no Stripe account).
    on_the_way_cents: int | None = None
    available_cents: int | None = None
    paid_out_cents: int | None = None
    on_the_way: tuple[PendingAmount, ...] = ()


@dataclass(frozen=True)
class SellerBalances:
    currencies: list[CurrencyBalance]
    has_stripe_account: bool
    stripe_error: str = ""  # why Stripe's figures are missing; "" when they are there
    paid_out_complete: bool = True  # False: more paid payouts than one read follows
    checked_at: datetime = field(default_factory=clock.now)


def seller_balances(*, seller):
    """Where the seller's money is, one CurrencyBalance per currency (see the module)."""
    ledger = _ledger_figures(seller)
    account = connected_account_id_for(seller)
    stripe_figures, error, complete = {}, "", True
    if account:
        try:
            stripe_figures, complete = _stripe_figures(account)
        except StripeUnavailable as exc:
            logger.warning(
                "Seller %s's balances shown without Stripe's figures: %s",
                seller.pk,
                exc.message,
                extra=money_fields(stripe=exc, stripe_account=account, stripe_code=exc.code),
            )
            error = STRIPE_UNREACHABLE
    currencies = sorted(set(ledger) | set(stripe_figures))
    if not currencies:
        profile = getattr(seller, "seller_profile", None)
        currencies = [profile.default_currency if profile else "usd"]
    rows = []
    for currency in currencies:
        ours = ledger.get(currency, {})
        theirs = stripe_figures.get(currency)
        if account and not error:
            theirs = theirs or {"on_the_way_cents": 0, "available_cents": 0, "paid_out_cents": 0}
        rows.append(CurrencyBalance(currency=currency, **ours, **(theirs or {})))
    return SellerBalances(
        currencies=rows,
        has_stripe_account=bool(account),
        stripe_error=error,
        paid_out_complete=complete,
    )


# --- Our ledger ---------------------------------------------------------------------------------


def _ledger_figures(seller):
    """{currency: figures} from escrow's rows (four queries)."""
    figures = defaultdict(
        lambda: {
            "in_escrow_cents": 0,
            "transferring_cents": 0,
            "lifetime_earnings_cents": 0,
            "debt_cents": 0,
        }
    )
    # Held: escrow's own read (funded or delivered, or frozen by a dispute before release),
    # each order as its release would split it now.
    for currency, cents in escrow_selectors.seller_held_cents(seller=seller).items():
        figures[currency]["in_escrow_cents"] += cents

    # Earned: every release's transfer (what reached, or is reaching, their Stripe account)
    # less what was pulled back from it. The debt recovered from a release paid an earlier
    # refund, so it is not earned twice; what they still owe comes off below.
    transferred = Q(status=ReleaseStatus.TRANSFERRED)
    releases = (
        EscrowRelease.objects.filter(order__seller_id=seller.pk)
        .with_amount_reversed()
        .values("currency")
        .annotate(
            transfers=Sum("transfer_cents"),
            transferring=Sum("transfer_cents", filter=~transferred),
            reversed=Sum("amount_reversed_cents"),
        )
        .order_by()
    )
    for item in releases:
        row = figures[item["currency"]]
        row["transferring_cents"] = item["transferring"] or 0
        row["lifetime_earnings_cents"] += (item["transfers"] or 0) - (item["reversed"] or 0)

    # A chargeback the seller won gives back what it had taken (a transfer of its own).
    returned = (
        Chargeback.objects.filter(order__seller_id=seller.pk)
        .exclude(stripe_return_transfer_id="")
        .values("currency")
        .annotate(total=Sum("returned_cents"))
        .order_by()
    )
    for item in returned:
        figures[item["currency"]]["lifetime_earnings_cents"] += item["total"] or 0

    # What they owe: the balance of their debt account, as on the ledger page
    # (escrow.selectors.seller_ledger_totals): booked by refunds and chargebacks after release
    # their balance could not cover, paid off by later releases.
    debts = (
        LedgerEntry.objects.filter(account=LedgerAccount.seller_debt(seller.pk))
        .values("currency")
        .annotate(balance=Sum("amount_cents"))
        .order_by()
    )
    for item in debts:
        if item["balance"]:
            row = figures[item["currency"]]
            row["debt_cents"] = item["balance"]
            row["lifetime_earnings_cents"] -= item["balance"]
    return dict(figures)


# --- Stripe ------------------------------------------------------------------------------------


def _v1():
    return stripe_client.client().v1


def _list(resource, *, account, params, read_on=lambda page: True):
    """Up to MAX_STRIPE_PAGES pages of a list endpoint of the connected account, as dicts, while
    `read_on(page)` says the next page is worth reading. Returns (objects, complete)."""
    found, starting_after = [], None
    for _ in range(MAX_STRIPE_PAGES):
        query = {"limit": STRIPE_PAGE_SIZE, **params}
        if starting_after:
            query["starting_after"] = starting_after
        page = stripe_client.call(resource.list, params=query, options={"stripe_account": account})
        items = [item.to_dict() for item in page.data]
        found.extend(items)
        if not page.has_more or not items or not read_on(items):
            return found, True
        starting_after = items[-1]["id"]
    return found, False


def _pending_transactions(v1, account):
    """The account's balance transactions still pending. Stripe lists them newest first and
    pending ones are the newest, so reading stops at a page with none pending."""

    def any_pending(items):
        return any(item.get("status") == "pending" for item in items)

    found, _ = _list(v1.balance_transactions, account=account, params={}, read_on=any_pending)
    return [txn for txn in found if txn.get("status") == "pending"]


def _paid_payouts(v1, account):
    return _list(v1.payouts, account=account, params={"status": "paid"})


def _stripe_figures(account):
    """({currency: figures}, paid_out_complete) from the connected account's balance, its
    pending balance transactions and its paid payouts."""
    v1 = _v1()
    balance = stripe_client.call(v1.balance.retrieve, options={"stripe_account": account}).to_dict()
    figures = defaultdict(
        lambda: {"on_the_way_cents": 0, "available_cents": 0, "paid_out_cents": 0}
    )
    for item in balance.get("available") or ():
        figures[item["currency"]]["available_cents"] += item["amount"]
    for item in balance.get("pending") or ():
        figures[item["currency"]]["on_the_way_cents"] += item["amount"]

    # When each pending amount becomes available; what the pages read do not date (older
    # transactions) is listed without a date, so the amounts always add up to Stripe's pending.
    pending = defaultdict(int)
    for txn in _pending_transactions(v1, account):
        when = datetime.fromtimestamp(txn["available_on"], tz=UTC)
        pending[(txn["currency"], when)] += txn["net"]
    dated = defaultdict(list)
    for (currency, when), amount in sorted(pending.items()):
        if amount:
            dated[currency].append(PendingAmount(amount, currency, when))
    for currency in set(dated) | set(figures):
        listed = sum(p.amount_cents for p in dated[currency])
        rest = figures[currency]["on_the_way_cents"] - listed
        if rest:
            dated[currency].append(PendingAmount(rest, currency, None))
        figures[currency]["on_the_way"] = tuple(dated[currency])

    payouts, complete = _paid_payouts(v1, account)
    for payout in payouts:
        figures[payout["currency"]]["paid_out_cents"] += payout["amount"]
        figures[payout["currency"]].setdefault("on_the_way", ())
    return dict(figures), complete


# --- Payouts ------------------------------------------------------------------------------------


def payouts_for_seller(*, seller, status="", since=None, until=None):
    """The seller's payouts, newest first (one query a page); `since` / `until`: dates (both
    included) the payout was requested on, in the site's time zone."""
    rows = Payout.objects.filter(seller_id=seller.pk)
    if status:
        rows = rows.filter(status=status)
    if since is not None:
        rows = rows.filter(created_at__gte=_start_of(since))
    if until is not None:
        rows = rows.filter(created_at__lt=_start_of(until + timedelta(days=1)))
    return rows.order_by("-created_at", "-id")


def _start_of(day):
    return timezone.make_aware(datetime(day.year, day.month, day.day))


# Payouts that took money off the seller's Stripe balance (a failed or canceled one gave it back;
# a requested one has not reached Stripe; a refused one never moved money).
_PAID_OUT = (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT, PayoutStatus.PAID)


@dataclass(frozen=True)
class CoveredOrder:
    """A released order whose money a payout paid out: all of it, or the part `amount_cents`
    (the rest went out in the payout before or after)."""

    order_id: int
    title: str
    amount_cents: int
    currency: str
    whole: bool


def payouts_orders_covered(*, seller, payouts):
    """{payout id: [CoveredOrder, ...]} for `payouts` (the seller's; any page of them): the
    released orders each paid out, the oldest money first (what reached the Stripe balance first
    leaves it first). A failed, canceled or refused payout covers nothing.

    Two queries per currency on the page, whatever the number of payouts and orders."""
    wanted = {payout.pk for payout in payouts if payout.status in _PAID_OUT}
    covered = {payout.pk: [] for payout in payouts}
    for currency in sorted({payout.currency for payout in payouts}):
        releases = list(
            escrow_selectors.seller_transferred_releases(seller=seller, currency=currency)
        )
        paid_out = (
            Payout.objects.filter(seller_id=seller.pk, currency=currency, status__in=_PAID_OUT)
            .order_by("created_at", "id")
            .values_list("id", "amount_cents", "fee_cents")
        )
        index, used = 0, 0  # the release being paid out, and how much of it went already
        for payout_id, amount, fee in paid_out:
            # What left the Stripe balance: an instant payout's fee stays there (it is owed to
            # Bazaar and taken from the next release), so it pays out no order's money.
            left = amount - fee
            while left > 0 and index < len(releases):
                order_id, title, net, _ = releases[index]
                take = min(left, max(net, 0) - used)
                if take > 0 and payout_id in wanted:
                    covered[payout_id].append(
                        CoveredOrder(order_id, title, take, currency, whole=take == net)
                    )
                left -= max(take, 0)
                used += max(take, 0)
                if used >= net:
                    index, used = index + 1, 0
    return covered


# --- Deciding a payout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutStanding:
    """What deciding a seller's payout reads of Bazaar's books (payout_standing)."""

    stripe_account_id: str  # their Stripe account ("": none)
    payouts_enabled: bool
    held: bool  # staff hold their payouts
    hold_reason: str
    first_transfer_at: datetime | None  # their first release's transfer (None: none yet)
    owed: dict  # currency -> what they owe Bazaar in it, where more than 0
    not_taken: dict  # currency -> payouts requested that Stripe has not taken yet
    paid_in_period: frozenset  # currencies the schedule's period has a payout in already


@cache  # built once per process: the tables' names do not change
def _payout_standing_sql():
    schedule, payout = PayoutSchedule._meta.db_table, Payout._meta.db_table
    user = get_user_model()._meta.db_table
    account_columns, account_joins = seller_account_sql(alias="seller")
    # One row per currency the seller has a payout in that counts (requested, or in the
    # period), or one row with no currency.
    return (
        f"SELECT {account_columns}, s.held, s.hold_reason, p.currency, "
        f"CAST(COALESCE(SUM(CASE WHEN p.status = %s THEN p.amount_cents ELSE 0 END), 0) "
        f"AS BIGINT), MAX(CASE WHEN p.period = %s THEN 1 ELSE 0 END) "
        f"FROM {user} u {account_joins} "
        f"LEFT JOIN {schedule} s ON s.seller_id = u.id "
        f"LEFT JOIN {payout} p ON p.seller_id = u.id AND (p.status = %s OR p.period = %s) "
        f"WHERE u.id = %s "
        f"GROUP BY {account_columns}, s.held, s.hold_reason, p.currency"
    )


def payout_standing(*, seller, period=""):
    """Everything a payout decision reads of our own books, in two queries (this one's and
    escrow.selectors.seller_payout_standing): the seller's Stripe account, a staff hold, their
    first transfer, their debt, the payouts Stripe has not taken yet and, for a schedule's
    `period`, the currencies it paid already. Read under the seller's lock, before Stripe's
    balance: a payout Stripe takes in between is then counted twice (off the balance and as not
    taken), never missed. Written in SQL: the scheduled payouts job reads it once per due seller,
    thousands in a run, and Django building the six queries it replaces cost more than running
    them."""
    period = period or None  # a request with no period matches no payout's ""
    with rows.cursor() as cursor:  # prepared, where the database takes it
        cursor.execute(
            _payout_standing_sql(),
            [PayoutStatus.REQUESTED, period, seller.pk, PayoutStatus.REQUESTED, period, seller.pk],
        )
        fetched = cursor.fetchall()
    if not fetched:
        raise get_user_model().DoesNotExist("The seller's account no longer exists.")
    account_id, payouts_enabled, held, hold_reason = fetched[0][:4]
    escrow = escrow_selectors.seller_payout_standing(seller=seller)
    return PayoutStanding(
        stripe_account_id=account_id or "",
        payouts_enabled=bool(payouts_enabled),
        held=bool(held),
        hold_reason=hold_reason or "",
        first_transfer_at=escrow.first_transfer_at,
        owed=escrow.owed,
        not_taken={row[4]: row[5] for row in fetched if row[4] and row[5]},
        paid_in_period=frozenset(row[4] for row in fetched if row[4] and row[6]),
    )
