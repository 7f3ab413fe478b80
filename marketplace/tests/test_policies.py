"""The cancellation policy table (marketplace.policies): every boundary, the rounding, the words.

Pure functions, no database.
"""

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.models import ListingKind
from marketplace.policies import (
    CancellationPolicy,
    CancellationQuote,
    cancellation_quote,
    describe,
    policy_refund_cents,
    refund_percent,
)

FLEXIBLE, MODERATE, STRICT = CancellationPolicy
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOURS_24 = timedelta(hours=24)
DAYS_5 = timedelta(days=5)
DAYS_7 = timedelta(days=7)


def percent_at(policy, notice, *, delivered=False):
    """The refund percentage when cancelling `notice` before the start."""
    return refund_percent(policy, starts_at=NOW + notice, now=NOW, delivered=delivered)


# --- The table at every boundary: exactly, and one second either side ---------------------------


@pytest.mark.parametrize(
    ("policy", "notice", "percent"),
    [
        # Flexible: full refund until 24 h before the start, 50% after.
        (FLEXIBLE, HOURS_24 + SECOND, 100),
        (FLEXIBLE, HOURS_24, 100),
        (FLEXIBLE, HOURS_24 - SECOND, 50),
        # Moderate: full until 5 days before, 50% until 24 h before, none after.
        (MODERATE, DAYS_5 + SECOND, 100),
        (MODERATE, DAYS_5, 100),
        (MODERATE, DAYS_5 - SECOND, 50),
        (MODERATE, HOURS_24 + SECOND, 50),
        (MODERATE, HOURS_24, 50),
        (MODERATE, HOURS_24 - SECOND, 0),
        # Strict: 50% until 7 days before, none after.
        (STRICT, DAYS_7 + SECOND, 50),
        (STRICT, DAYS_7, 50),
        (STRICT, DAYS_7 - SECOND, 0),
    ],
    ids=lambda value: str(value),
)
def test_each_boundary_belongs_to_the_earlier_tier(policy, notice, percent):
    assert percent_at(policy, notice) == percent


@pytest.mark.parametrize(
    ("policy", "far_ahead", "at_the_start", "after_the_start"),
    [(FLEXIBLE, 100, 50, 50), (MODERATE, 100, 0, 0), (STRICT, 50, 0, 0)],
)
def test_far_ahead_at_the_start_and_after_it(policy, far_ahead, at_the_start, after_the_start):
    assert percent_at(policy, timedelta(days=365)) == far_ahead
    assert percent_at(policy, timedelta(0)) == at_the_start
    assert percent_at(policy, -timedelta(days=2)) == after_the_start


@pytest.mark.parametrize(
    ("policy", "before_delivery", "after_delivery"),
    [(FLEXIBLE, 100, 50), (MODERATE, 100, 0), (STRICT, 50, 0)],
)
def test_without_a_start_time_the_delivery_stands_in(policy, before_delivery, after_delivery):
    """Products (and services until bookings exist): the first tier until delivered, the last
    after; however long the order has waited."""
    for now in (NOW, NOW + timedelta(days=400)):
        assert refund_percent(policy, starts_at=None, now=now, delivered=False) == before_delivery
        assert refund_percent(policy, starts_at=None, now=now, delivered=True) == after_delivery


@pytest.mark.parametrize("policy", list(CancellationPolicy))
def test_a_delivered_order_gets_the_last_tier_even_long_before_its_start(policy):
    last = percent_at(policy, -timedelta(days=1))
    assert percent_at(policy, timedelta(days=30), delivered=True) == last


def test_the_policy_may_be_given_by_its_stored_value():
    assert percent_at("moderate", DAYS_5 - SECOND) == 50


@pytest.mark.parametrize("policy", ["", "lenient", None])
def test_an_unknown_policy_is_refused(policy):
    with pytest.raises(ValueError, match="Unknown cancellation policy"):
        refund_percent(policy, starts_at=None, now=NOW, delivered=False)


# --- Rounding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "refund"),
    [(0, 0), (1, 1), (2, 1), (3, 2), (999, 500), (1000, 500), (1001, 501), (4_999_999, 2_500_000)],
)
def test_half_refunds_round_half_up_to_the_buyer(total, refund):
    assert policy_refund_cents(FLEXIBLE, total, starts_at=None, now=NOW, delivered=True) == refund


@pytest.mark.parametrize("total", [0, 1, 3, 999, 1001, 12_345, 100_000_001])
@pytest.mark.parametrize("policy", list(CancellationPolicy))
@pytest.mark.parametrize("notice", [DAYS_7, DAYS_5, HOURS_24, timedelta(0)])
def test_refund_and_compensation_add_up_to_the_total(total, policy, notice):
    quote = cancellation_quote(
        policy, total_cents=total, starts_at=NOW + notice, now=NOW, delivered=False
    )
    assert quote.refund_cents + quote.compensation_cents == total
    assert 0 <= quote.refund_cents <= total
    assert quote.refund_cents == policy_refund_cents(
        policy, total, starts_at=NOW + notice, now=NOW, delivered=False
    )


def test_full_and_no_refund_are_exact():
    assert policy_refund_cents(MODERATE, 1001, starts_at=None, now=NOW, delivered=False) == 1001
    assert policy_refund_cents(MODERATE, 1001, starts_at=None, now=NOW, delivered=True) == 0


@pytest.mark.parametrize("total", [-1, 10.5, "1000", True, None])
def test_a_total_that_is_not_whole_cents_is_refused(total):
    with pytest.raises(ValueError, match="whole number of cents"):
        policy_refund_cents(FLEXIBLE, total, starts_at=None, now=NOW, delivered=False)


# --- The quote the refund is built on ----------------------------------------------------------


def test_a_quote_names_its_tier_and_is_frozen():
    quote = cancellation_quote(
        MODERATE, total_cents=4501, starts_at=NOW + timedelta(days=2), now=NOW, delivered=False
    )

    assert quote == CancellationQuote(
        refund_cents=2251,
        compensation_cents=2250,
        percent=50,
        tier_text="50% refund: cancelled less than 5 days but at least 24 hours before the start.",
    )
    with pytest.raises(AttributeError):
        quote.refund_cents = 4501


LESS_THAN_24_HOURS = "cancelled less than 24 hours before the start."


@pytest.mark.parametrize(
    ("policy", "notice", "delivered", "text"),
    [
        (FLEXIBLE, HOURS_24, False, "Full refund: cancelled at least 24 hours before the start."),
        (FLEXIBLE, HOURS_24 - SECOND, False, f"50% refund: {LESS_THAN_24_HOURS}"),
        (MODERATE, HOURS_24 - SECOND, False, f"No refund: {LESS_THAN_24_HOURS}"),
        (STRICT, DAYS_7, False, "50% refund: cancelled at least 7 days before the start."),
        (STRICT, None, False, "50% refund: the order is not delivered yet."),
        (FLEXIBLE, None, True, "50% refund: the order is delivered."),
    ],
)
def test_the_quote_says_which_tier_applies(policy, notice, delivered, text):
    starts_at = None if notice is None else NOW + notice
    quote = cancellation_quote(
        policy, total_cents=100, starts_at=starts_at, now=NOW, delivered=delivered
    )
    assert quote.tier_text == text


@pytest.mark.parametrize(
    ("delivered", "text"),
    [
        (False, "50% refund: the order is not shipped yet."),
        (True, "No refund: the order is shipped."),
    ],
)
def test_a_products_quote_says_shipped_not_delivered(delivered, text):
    quote = cancellation_quote(
        STRICT,
        total_cents=100,
        starts_at=None,
        now=NOW,
        delivered=delivered,
        kind=ListingKind.PRODUCT,
    )
    assert quote.tier_text == text


# --- The words buyers read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        (FLEXIBLE, "Full refund until the order is shipped; 50% after that."),
        (MODERATE, "Full refund until the order is shipped; no refund after that."),
        (STRICT, "50% refund until the order is shipped; no refund after that."),
    ],
)
def test_a_products_policy_in_words(policy, words):
    assert describe(policy, ListingKind.PRODUCT) == words


@pytest.mark.parametrize(
    ("policy", "timed"),
    [
        (FLEXIBLE, "Full refund until 24 hours before the start; 50% after that."),
        (
            MODERATE,
            "Full refund until 5 days before the start; 50% until 24 hours before; "
            "no refund after that.",
        ),
        (STRICT, "50% refund until 7 days before the start; no refund after that."),
    ],
)
def test_a_services_policy_in_words_says_what_applies_without_a_start_time(policy, timed):
    words = describe(policy, ListingKind.SERVICE)

    assert words.startswith(timed + " Without a booked start time: ")
    # ...and that part is the product's rule (the seller's delivery standing in for shipping),
    # which is what refund_percent applies without a start.
    product = describe(policy, ListingKind.PRODUCT)
    fallback = product.replace("the order is shipped", "the seller marks the order delivered")
    assert words.endswith(fallback[:1].lower() + fallback[1:])
    assert "shipped" not in words


def test_an_unknown_kind_has_no_words():
    with pytest.raises(ValueError, match="Unknown listing kind"):
        describe(FLEXIBLE, "subscription")
