"""Cancellation policies: the one table that says how much of an order a buyer gets back.

A seller picks a policy for their store (Store.default_cancellation_policy) and may override it
per listing (Listing.cancellation_policy); an order keeps the policy the buyer agreed to
(escrow's Order.cancellation_policy). Everything that needs a refund amount or the policy in
words asks this module, so the table below is the only place the rules are written.

How "before the start" is measured
----------------------------------
A tier applies while ``starts_at - now >= notice``: cancelling *exactly* 24 hours before the
start still gets the "until 24 hours before" tier; one second later it does not. The last tier
of each policy has no notice and applies from then on (including after the start).

* A service with a start time (``starts_at``, from its booking once bookings exist) is measured
  to that start, as above.
* A product has no start time, and neither has a service without a booked one: the seller's
  delivery stands in for the start. For a product that is its shipping (escrow's
  order_mark_shipped marks a product order delivered); for a service, the seller marking it
  delivered. Until then the buyer gets the policy's *first* tier; after it, its *last* tier. So
  a product under Flexible is refunded in full until it is shipped and 50% after; under
  Moderate in full, then nothing; under Strict 50%, then nothing.
* A delivered order always gets the last tier, whatever its start time says: the work is done.

Rounding: the refund is ``total * percent / 100`` rounded half up to a whole cent, in one place
(`_percent_of`), so a half cent goes to the buyer; the seller's compensation is the rest of the
total, so refund + compensation == total to the cent.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import models
from django.utils.html import format_html, format_html_join

# The listing kinds these words know (marketplace.models.ListingKind's values; models imports
# this module for CancellationPolicy, so this module does not import models).
PRODUCT = "product"
SERVICE = "service"


class CancellationPolicy(models.TextChoices):
    # Full refund until 24 h before the start (products: until shipped); 50% after.
    FLEXIBLE = "flexible", "Flexible"
    # Full refund until 5 days before, 50% until 24 h before, none after (products: full, none).
    MODERATE = "moderate", "Moderate"
    # 50% until 7 days before, none after (products: 50% until shipped, none after).
    STRICT = "strict", "Strict"


DEFAULT_POLICY = CancellationPolicy.FLEXIBLE


@dataclass(frozen=True)
class Tier:
    """`percent` of the total is refunded while the start is at least `notice` away.

    `notice` None: the policy's last tier, applying whenever no earlier tier does.
    """

    percent: int
    notice: timedelta | None


# The table. Tiers run from the earliest cancellation to the latest; notices strictly shrink.
POLICY_TIERS = {
    CancellationPolicy.FLEXIBLE: (
        Tier(100, timedelta(hours=24)),
        Tier(50, None),
    ),
    CancellationPolicy.MODERATE: (
        Tier(100, timedelta(days=5)),
        Tier(50, timedelta(hours=24)),
        Tier(0, None),
    ),
    CancellationPolicy.STRICT: (
        Tier(50, timedelta(days=7)),
        Tier(0, None),
    ),
}


@dataclass(frozen=True)
class CancellationQuote:
    """What cancelling now means: the buyer gets `refund_cents` back, the seller keeps
    `compensation_cents` (refund + compensation == the order's total), under the tier that
    `tier_text` names."""

    refund_cents: int
    compensation_cents: int
    percent: int
    tier_text: str


def _policy(policy):
    try:
        return CancellationPolicy(policy)
    except ValueError:
        raise ValueError(f"Unknown cancellation policy {policy!r}.") from None


def _tier_index(policy, *, starts_at, now, delivered):
    tiers = POLICY_TIERS[_policy(policy)]
    if delivered:
        return len(tiers) - 1
    if starts_at is None:
        return 0
    notice = starts_at - now
    for index, tier in enumerate(tiers):
        if tier.notice is None or notice >= tier.notice:
            return index
    raise AssertionError("every policy ends with a tier without notice")  # pragma: no cover


def refund_percent(policy, *, starts_at, now, delivered):
    """The percentage of the order's total refunded if the buyer cancels at `now`.

    `starts_at`: when the service starts (None for a product, or a service with no booked start:
    then the first tier applies until `delivered`). See the module's docstring for the rules.
    """
    tiers = POLICY_TIERS[_policy(policy)]
    return tiers[_tier_index(policy, starts_at=starts_at, now=now, delivered=delivered)].percent


def _percent_of(total_cents, percent):
    """`percent`% of `total_cents`, rounded half up to a whole cent: the one rounding rule."""
    if not isinstance(total_cents, int) or isinstance(total_cents, bool) or total_cents < 0:
        raise ValueError(f"A total is a whole number of cents, not {total_cents!r}.")
    return (total_cents * percent + 50) // 100


def policy_refund_cents(policy, total_cents, *, starts_at, now, delivered):
    """How many of `total_cents` the buyer gets back if they cancel at `now`."""
    percent = refund_percent(policy, starts_at=starts_at, now=now, delivered=delivered)
    return _percent_of(total_cents, percent)


def cancellation_quote(policy, *, total_cents, starts_at, now, delivered, kind=SERVICE):
    """The refund, the seller's compensation and the tier in words, for cancelling at `now`.
    `kind` chooses the words only: a product is shipped where a service is delivered."""
    tiers = POLICY_TIERS[_policy(policy)]
    index = _tier_index(policy, starts_at=starts_at, now=now, delivered=delivered)
    percent = tiers[index].percent
    refund = _percent_of(total_cents, percent)
    if delivered or starts_at is None:
        done = "shipped" if kind == PRODUCT else "delivered"
        when = f"the order is {done}" if delivered else f"the order is not {done} yet"
    elif tiers[index].notice is None:
        when = f"cancelled less than {_duration(tiers[index - 1].notice)} before the start"
    elif index == 0:
        when = f"cancelled at least {_duration(tiers[index].notice)} before the start"
    else:
        when = (
            f"cancelled less than {_duration(tiers[index - 1].notice)} but at least "
            f"{_duration(tiers[index].notice)} before the start"
        )
    return CancellationQuote(
        refund_cents=refund,
        compensation_cents=total_cents - refund,
        percent=percent,
        tier_text=f"{_refund_words(percent, capital=True)}: {when}.",
    )


# --- The policy in words ------------------------------------------------------------------------


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def _duration(notice):
    seconds = int(notice.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return _plural(seconds // 86400, "day")
    return _plural(seconds // 3600, "hour")


def _refund_words(percent, *, capital=False):
    if percent == 100:
        words = "full refund"
    elif percent == 0:
        words = "no refund"
    else:
        words = f"{percent}% refund"
    return words[:1].upper() + words[1:] if capital else words


def _amount(percent, *, first):
    # After the first tier the word "refund" is understood: "…; 50% after that."
    if first or percent in (0, 100):
        return _refund_words(percent, capital=first)
    return f"{percent}%"


# What stands in for the start without one: a product's shipping, a service's delivery.
_UNTIL = {
    PRODUCT: "until the order is shipped",
    SERVICE: "until the seller marks the order delivered",
}


def _by_delivery(tiers, kind):
    first, last = tiers[0], tiers[-1]
    return (
        f"{_amount(first.percent, first=True)} {_UNTIL[kind]}; "
        f"{_amount(last.percent, first=False)} after that."
    )


def _by_start(tiers):
    parts = []
    for index, tier in enumerate(tiers):
        amount = _amount(tier.percent, first=index == 0)
        if tier.notice is None:
            parts.append(f"{amount} after that")
        elif index == 0:
            parts.append(f"{amount} until {_duration(tier.notice)} before the start")
        else:
            parts.append(f"{amount} until {_duration(tier.notice)} before")
    return "; ".join(parts) + "."


def describe(policy, kind):
    """The policy in plain words for buyers of a listing of `kind` ("product" or "service").

    A service's words also say what applies while it has no booked start time (today: always),
    so the buyer is never promised less, or more, than refund_percent gives.
    """
    tiers = POLICY_TIERS[_policy(policy)]
    if kind == PRODUCT:
        return _by_delivery(tiers, PRODUCT)
    if kind == SERVICE:
        fallback = _by_delivery(tiers, SERVICE)
        return (
            f"{_by_start(tiers)} Without a booked start time: {fallback[:1].lower()}{fallback[1:]}"
        )
    raise ValueError(f"Unknown listing kind {kind!r}.")


def describe_all_html():
    """Every policy in words, for products and services, as HTML for a form's help text."""
    rows = (
        (
            policy.label,
            describe(policy, PRODUCT),
            describe(policy, SERVICE),
        )
        for policy in CancellationPolicy
    )
    items = format_html_join(
        "",
        "<li><strong>{}.</strong> Products: {} Services: {}</li>",
        rows,
    )
    return format_html('<ul class="policy-help">{}</ul>', items)
