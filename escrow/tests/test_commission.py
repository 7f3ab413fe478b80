"""Commission and rounding at the boundaries."""

import pytest

from escrow.commission import CommissionTerms, commission_for, round_half_up_div


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
