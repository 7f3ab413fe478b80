"""The platform's commission: the one place it is computed and rounded.

commission = max(minimum, round_half_up(gross * bps / 10000) + fixed), never more than gross.
All in integer minor units: no floats touch money.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class CommissionTerms:
    """What is snapshotted on an order when it is created."""

    bps: int
    fixed_cents: int = 0
    minimum_cents: int = 0

    def commission_on(self, gross_cents):
        return commission_for(
            gross_cents,
            bps=self.bps,
            fixed_cents=self.fixed_cents,
            minimum_cents=self.minimum_cents,
        )


def round_half_up_div(numerator, denominator):
    """Integer division rounding halves away from zero (for non-negative inputs)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError(
            "round_half_up_div takes a non-negative numerator and positive denominator"
        )
    return (2 * numerator + denominator) // (2 * denominator)


def commission_for(gross_cents, *, bps, fixed_cents=0, minimum_cents=0):
    if gross_cents < 0:
        raise ValueError("gross must not be negative")
    if not 0 <= bps <= 10_000:
        raise ValueError("commission basis points must be between 0 and 10000")
    if fixed_cents < 0 or minimum_cents < 0:
        raise ValueError("fixed fee and minimum must not be negative")
    if gross_cents == 0:
        return 0
    commission = round_half_up_div(gross_cents * bps, 10_000) + fixed_cents
    commission = max(commission, minimum_cents)
    return min(commission, gross_cents)


def terms_for_seller(seller_profile):
    """Platform defaults with the seller's basis-point override, as settings say today."""
    bps = seller_profile.commission_bps
    if bps is None:
        bps = settings.BAZAAR_COMMISSION_BPS
    return CommissionTerms(
        bps=bps,
        fixed_cents=settings.BAZAAR_COMMISSION_FIXED_CENTS,
        minimum_cents=settings.BAZAAR_COMMISSION_MIN_CENTS,
    )
