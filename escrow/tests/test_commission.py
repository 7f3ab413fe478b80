"""Commission and rounding at the boundaries."""

import pytest

from escrow.commission import (
    CommissionTerms,
    RefundShares,
    commission_for,
    kept_after_refunds,
    refund_shares,
    round_half_up_div,
)


@pytest.mark.parametrize(
    ("gross", "bps", "fixed", "minimum", "expected"),
    [
        (1, 1000, 0, 0, 0),  # 0.1 cent rounds down
        (5, 1000, 0, 0, 1),  # 0.5 cent rounds half up
        (4, 1000, 0, 0, 0),  # 0.4 cent rounds down
        (15, 1000, 0, 0, 2),  # 1.5 -> 2
        (25, 1000, 0, 0, 3),  # 2.5 -> 3 (half up, not banker's)
        (999, 1000, 0, 0, 100),  # 99.9 -> 100
        (1005, 1000, 0, 0, 101),  # 100.5 -> 101
        (10_000, 1000, 0, 0, 1000),  # exactly 10%
        (10_001, 1250, 0, 0, 1250),  # 1250.125 -> 1250
        (10_004, 1250, 0, 0, 1251),  # 1250.5 -> 1251
        (2500, 0, 0, 0, 0),  # zero commission
        (2500, 10_000, 0, 0, 2500),  # 100% commission
        (2500, 800, 30, 0, 230),  # 8% + 30 fixed
        (100, 1000, 0, 50, 50),  # minimum wins over 10
        (1000, 1000, 0, 50, 100),  # percentage wins over minimum
        (40, 1000, 0, 50, 40),  # minimum capped at the gross
        (20, 1000, 30, 0, 20),  # fixed fee capped at the gross
        (0, 1000, 30, 50, 0),  # nothing sold, nothing taken
        (99_999_999, 1000, 0, 0, 10_000_000),  # large amounts stay exact
    ],
)
def test_commission_table(gross, bps, fixed, minimum, expected):
    assert commission_for(gross, bps=bps, fixed_cents=fixed, minimum_cents=minimum) == expected


def test_terms_apply_the_same_rule():
    terms = CommissionTerms(bps=1500, fixed_cents=25, minimum_cents=100)

    assert terms.commission_on(1000) == 175
    assert terms.commission_on(300) == 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gross_cents": -1, "bps": 1000},
        {"gross_cents": 100, "bps": -1},
        {"gross_cents": 100, "bps": 10_001},
        {"gross_cents": 100, "bps": 100, "fixed_cents": -5},
        {"gross_cents": 100, "bps": 100, "minimum_cents": -5},
    ],
)
def test_nonsense_terms_are_refused(kwargs):
    gross = kwargs.pop("gross_cents")
    with pytest.raises(ValueError):
        commission_for(gross, **kwargs)


def test_round_half_up_division():
    assert [round_half_up_div(n, 10) for n in (0, 4, 5, 6, 14, 15, 25)] == [0, 0, 1, 1, 1, 2, 3]


# --- Sharing refunds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "commission", "fee"),
    [(5000, 500, 0), (999, 101, 0), (1001, 333, 59), (3, 1, 1), (10_000, 0, 0), (7, 7, 0)],
)
@pytest.mark.parametrize("return_commission", [True, False])
def test_refund_shares_sum_to_the_refund_and_a_full_refund_returns_everything(
    gross, commission, fee, return_commission
):
    step = max(gross // 7, 1)
    refunded, totals = 0, [0, 0, 0]
    while refunded < gross:
        amount = min(step, gross - refunded)
        shares = refund_shares(
            amount,
            refunded_before=refunded,
            gross=gross,
            commission=commission,
            fee_passed_on=fee,
            return_commission=return_commission,
        )
        assert shares.total_cents == amount
        assert min(shares.seller_cents, shares.commission_cents, shares.fee_cents) >= 0
        totals = [
            totals[0] + shares.seller_cents,
            totals[1] + shares.commission_cents,
            totals[2] + shares.fee_cents,
        ]
        refunded += amount
    # Everything back: the seller returns all they were sent, the platform all it kept.
    assert totals[0] == gross - commission - fee
    assert totals[1] + totals[2] == commission + fee


def test_partial_refunds_share_exactly_as_one_refund_of_their_sum():
    kwargs = {"gross": 1001, "commission": 333, "fee_passed_on": 0}
    one = refund_shares(500, refunded_before=0, **kwargs)
    first = refund_shares(250, refunded_before=0, **kwargs)
    second = refund_shares(250, refunded_before=250, **kwargs)

    assert first.seller_cents + second.seller_cents == one.seller_cents
    assert first.commission_cents + second.commission_cents == one.commission_cents


def test_refund_shares_round_half_up_in_one_place():
    # 1 cent of 3 with 1 commission: 1/3 of a cent of commission rounds to 0; 2 cents → 1.
    assert refund_shares(1, refunded_before=0, gross=3, commission=1, fee_passed_on=0) == (
        RefundShares(seller_cents=1, commission_cents=0, fee_cents=0)
    )
    assert refund_shares(2, refunded_before=0, gross=3, commission=1, fee_passed_on=0) == (
        RefundShares(seller_cents=1, commission_cents=1, fee_cents=0)
    )
    # Kept commission: the seller's part goes first, the platform pays only past it.
    assert refund_shares(
        3, refunded_before=0, gross=3, commission=1, fee_passed_on=0, return_commission=False
    ) == RefundShares(seller_cents=2, commission_cents=1, fee_cents=0)


@pytest.mark.parametrize(("amount", "before"), [(0, 0), (-1, 0), (1, -1), (5001, 0), (2, 4999)])
def test_refund_shares_refuses_impossible_refunds(amount, before):
    with pytest.raises(ValueError):
        refund_shares(amount, refunded_before=before, gross=5000, commission=500, fee_passed_on=0)


def test_a_release_after_refunds_keeps_commission_on_what_is_left():
    assert kept_after_refunds(1000, total=5000, commission=500, fee=0) == (400, 0)
    assert kept_after_refunds(0, total=5000, commission=500, fee=145) == (500, 145)
    assert kept_after_refunds(4999, total=5000, commission=500, fee=0) == (0, 0)
    # Kept whole while the rest covers it.
    assert kept_after_refunds(4800, total=5000, commission=500, fee=0, return_commission=False) == (
        200,
        0,
    )
