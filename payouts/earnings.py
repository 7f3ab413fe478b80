"""A seller's earnings over time: net earnings per week or month, and their ledger lines as CSV.

The one read behind /seller/earnings/ (its chart and table), GET /api/v1/seller/earnings/ and
both CSV exports. "Earnings" is the lifetime earnings of payouts.selectors.seller_balances
spread over the periods in which each amount was booked (escrow.selectors.
seller_earnings_by_period says how each is dated), so the periods of all time add up to it.

Periods are whole weeks (Monday to Sunday) or calendar months in the site's time zone
(settings.TIME_ZONE): a range from a Wednesday covers that whole week. Periods with nothing
booked are there, at zero, so a chart shows the gaps.
"""

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.http import StreamingHttpResponse
from django.utils import timezone

from core import clock
from core.money import currency_exponent
from escrow import selectors as escrow_selectors

PERIODS = escrow_selectors.EARNINGS_PERIODS  # ("week", "month")
# The choices of `period` on the page and in the API (the schema's EarningsPeriodEnum).
PERIOD_CHOICES = [("week", "Weeks, Monday to Sunday"), ("month", "Calendar months")]
# How many periods the page and the API show when no range is given.
DEFAULT_PERIODS = 12
# The earliest and latest dates a range may name: nothing was booked before Bazaar existed, and
# a period's end must stay a date Python can hold.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
# The chart and the API show at most this many days (about five years); the CSV at most a year
# and a day, so one export stays a file a spreadsheet opens.
MAX_RANGE_DAYS = 5 * 366
MAX_EXPORT_DAYS = 366

CSV_COLUMNS = (
    "date",
    "order_id",
    "account",
    "description",
    "amount",
    "amount_cents",
    "currency",
    "stripe_object_id",
)


@dataclass(frozen=True)
class EarningsPeriod:
    start: date  # the Monday, or the first of the month
    end: date  # the Sunday, or the last day of the month (included)
    net_cents: int


@dataclass(frozen=True)
class CurrencyEarnings:
    currency: str
    periods: tuple[EarningsPeriod, ...]

    @property
    def total_cents(self):
        return sum(p.net_cents for p in self.periods)


@dataclass(frozen=True)
class SellerEarnings:
    period: str  # "week" or "month"
    start: date  # the range asked for (the periods cover it whole)
    end: date
    currencies: list[CurrencyEarnings]


# --- The range --------------------------------------------------------------------------------


def today():
    return timezone.localdate(clock.now())


def period_start(day, period):
    """The Monday of `day`'s week, or the first of its month."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period_start(start, period):
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def default_range(period, *, until=None):
    """The last DEFAULT_PERIODS weeks or months, this one included: (first day, today)."""
    until = until or today()
    start = period_start(until, period)
    for _ in range(DEFAULT_PERIODS - 1):
        start = period_start(start - timedelta(days=1), period)
    return start, until


def resolve_range(period, start, end, *, max_days=MAX_RANGE_DAYS):
    """(start, end, errors): the range asked for with what was left out filled in (`to`: today,
    or `from` when that is later; `from`: DEFAULT_PERIODS periods back from `to`), and
    {field: message} of what is wrong with it ("from", "to"); {} when it is fine."""
    errors = {}
    for name, day in (("from", start), ("to", end)):
        if day is not None and not EARLIEST <= day <= LATEST:
            errors[name] = f"Enter a date from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}."
    if errors:
        return start, end, errors
    if end is None:
        end = today() if start is None or start <= today() else start
    if start is None:
        start = default_range(period, until=end)[0]
    if end < start:
        errors["to"] = "The end date is before the start date."
    elif (end - start).days + 1 > max_days:
        errors["to"] = f"Choose a range of at most {max_days} days."
    return start, end, errors


def _aware(day):
    """Midnight at the start of `day` in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


# --- Earnings per period ----------------------------------------------------------------------


def seller_earnings(*, seller, period, start, end):
    """The seller's net earnings per period covering `start`..`end` (dates, both included), per
    currency. Every period of the range is there, zero when nothing was booked in it. A seller
    with no earnings in the range gets one currency (their default) of zeros.

    Four grouped queries (escrow.selectors.seller_earnings_by_period), whatever the data."""
    first = period_start(start, period)
    starts = []
    cursor = first
    while cursor <= end:
        starts.append(cursor)
        cursor = next_period_start(cursor, period)
    net = escrow_selectors.seller_earnings_by_period(
        seller=seller, period=period, since=_aware(first), until=_aware(cursor)
    )
    currencies = sorted({currency for currency, _ in net})
    if not currencies:
        profile = getattr(seller, "seller_profile", None)
        currencies = [profile.default_currency if profile else "usd"]
    rows = []
    for currency in currencies:
        periods = tuple(
            EarningsPeriod(
                start=day,
                end=next_period_start(day, period) - timedelta(days=1),
                net_cents=net.get((currency, day), 0),
            )
            for day in starts
        )
        rows.append(CurrencyEarnings(currency=currency, periods=periods))
    return SellerEarnings(period=period, start=start, end=end, currencies=rows)


# --- The ledger lines as CSV ------------------------------------------------------------------


def cents_to_decimal_string(cents, currency):
    """1250, "usd" -> "12.50"; -5, "usd" -> "-0.05"; 500, "jpy" -> "500". Integer arithmetic
    only: a float would turn some amounts into 12.499999."""
    exponent = currency_exponent(currency)
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 10**exponent)
    if not exponent:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{exponent}d}"


_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# A spreadsheet reads a cell starting with one of these as a formula (OWASP's CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """The cell as text a spreadsheet will not run: a leading ' before a formula's first
    character. Numbers we wrote ourselves (-12.50) stay numbers."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object csv.writer writes to, handing each row back to the generator."""

    def write(self, value):
        return value


def export_filename(start, end):
    return f"bazaar-earnings-{start:%Y-%m-%d}-to-{end:%Y-%m-%d}.csv"


def seller_ledger_csv(*, seller, start, end):
    """The lines of the seller's ledger accounts booked from `start` to `end` (dates in the site's
    time zone, both included), as CSV text, row by row (a generator, for a streamed response).

    Amounts are from the seller's side, as their ledger page shows them: positive when money
    became theirs (a release, a debt paid off), negative when it left or they came to owe it
    (the transfer to their Stripe account, a debt booked). One query, read in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    lines = escrow_selectors.seller_account_lines(
        seller=seller, since=_aware(start), until=_aware(end + timedelta(days=1))
    )
    for booked_at, order_id, account, memo, amount_cents, currency, stripe_id in lines.iterator(
        chunk_size=500
    ):
        cents = -amount_cents
        yield writer.writerow(
            [
                csv_safe(timezone.localtime(booked_at).isoformat()),
                csv_safe(order_id if order_id is not None else ""),
                csv_safe(account),
                csv_safe(memo),
                csv_safe(cents_to_decimal_string(cents, currency)),
                csv_safe(cents),
                csv_safe(currency),
                csv_safe(stripe_id),
            ]
        )


def seller_ledger_csv_response(*, seller, start, end):
    """The seller's ledger lines from `start` to `end` as a streamed CSV attachment (the page's
    export and the API's share it)."""
    response = StreamingHttpResponse(
        seller_ledger_csv(seller=seller, start=start, end=end),
        content_type="text/csv; charset=utf-8",
    )
    filename = export_filename(start, end)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
