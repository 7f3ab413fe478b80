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


# --- Refunds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundShares:
    """Who pays a refund made after release: the seller (taken back from their transfer) and the
    platform (its commission and the Stripe fee it had passed on). They sum to the refund."""

    seller_cents: int
    commission_cents: int
    fee_cents: int

    @property
    def total_cents(self):
        return self.seller_cents + self.commission_cents + self.fee_cents


def _proportion(amount, part, whole):
    return round_half_up_div(amount * part, whole) if whole else 0


def _cumulative_shares(refunded, *, gross, commission, fee, return_commission):
    """(seller, commission, fee) of everything refunded so far, `refunded` ≤ gross."""
    if not return_commission:
        # The platform keeps its commission and fee: the seller's part is refunded first.
        seller = min(refunded, gross - commission - fee)
        return seller, refunded - seller, 0
    platform = _proportion(refunded, commission + fee, gross)
    commission_part = min(_proportion(refunded, commission, gross), platform)
    return refunded - platform, commission_part, platform - commission_part


def refund_shares(
    amount, *, refunded_before, gross, commission, fee_passed_on, return_commission=True
):
    """Share a refund of `amount` made after a release of `gross` (commission and fee kept by
    the platform, the rest transferred to the seller), `refunded_before` having been refunded
    after that release already.

    Shares are taken cumulatively (what everything refunded so far owes, minus what the earlier
    refunds paid), so two partial refunds share exactly as one refund of their sum, and a full
    refund gives everything back: the seller returns all they received, the platform all it kept.
    """
    if amount <= 0 or refunded_before < 0:
        raise ValueError("a refund is a positive amount after a non-negative one")
    if refunded_before + amount > gross:
        raise ValueError("a release cannot be refunded beyond its gross")
    kwargs = {
        "gross": gross,
        "commission": commission,
        "fee": fee_passed_on,
        "return_commission": return_commission,
    }
    before = _cumulative_shares(refunded_before, **kwargs)
    after = _cumulative_shares(refunded_before + amount, **kwargs)
    seller, commission_part, fee_part = (a - b for a, b in zip(after, before, strict=True))
    if fee_part < 0:  # two roundings crossed by a cent: the commission pays it
        commission_part, fee_part = commission_part + fee_part, 0
    return RefundShares(seller_cents=seller, commission_cents=commission_part, fee_cents=fee_part)


def kept_after_refunds(refunded, *, total, commission, fee, return_commission=True):
    """What a release still keeps for the platform once `refunded` of the order's `total` went
    back to the buyer before release: (commission, fee passed on), for the remaining gross.

    With commission returned, the platform keeps its commission and fee on the part not
    refunded (in proportion); otherwise it keeps them whole, as far as the remaining gross
    covers them. The platform bears the Stripe fee on the refunded part: Stripe keeps it.
    """
    remaining = total - refunded
    if remaining < 0:
        raise ValueError("refunded more than the total")
    if not return_commission:
        kept_commission = min(commission, remaining)
        return kept_commission, min(fee, remaining - kept_commission)
    kept_commission = commission - _proportion(refunded, commission, total)
    kept_fee = min(fee - _proportion(refunded, fee, total), remaining - kept_commission)
    return kept_commission, max(kept_fee, 0)


@dataclass(frozen=True)
class ReleaseSplit:
    """What a release moves: `gross` out of escrow, the platform's commission and the Stripe fee
    passed on kept, `net` the seller's (before any debt of theirs is taken from it)."""

    gross_cents: int
    commission_cents: int
    fee_passed_on_cents: int

    @property
    def net_cents(self):
        return self.gross_cents - self.commission_cents - self.fee_passed_on_cents


def release_split(*, paid, refunded, commission, stripe_fee, fee_payer, return_commission=True):
    """The one computation of a release, for the release itself and for staff's preview of it:
    what refunds before release left of `paid`, and the commission and fee kept on that."""
    fee = (stripe_fee or 0) if fee_payer == "seller" else 0
    kept_commission, fee_passed_on = kept_after_refunds(
        refunded,
        total=paid,
        commission=commission,
        fee=min(fee, paid - commission),
        return_commission=return_commission,
    )
    return ReleaseSplit(
        gross_cents=paid - refunded,
        commission_cents=kept_commission,
        fee_passed_on_cents=fee_passed_on,
    )


# --- Milestones ---------------------------------------------------------------------------------


def split_in_proportion(total, weights):
    """Share `total` cents in proportion to `weights` (positive integers), the parts summing to
    `total` exactly: each part is its floor, and the cents left go one each to the largest
    remainders (ties to the earlier weight). A milestone plan shares its order's commission
    (and the Stripe fee passed on) so."""
    if total < 0 or not weights or any(w <= 0 for w in weights):
        raise ValueError("a non-negative total shared among positive weights")
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[i] += 1
    return parts


def milestone_fee_shares(amounts, *, commissions, stripe_fee, fee_payer):
    """The Stripe fee passed on to the seller for each milestone (0 when the platform bears it):
    the payment's fee shared by amount, each part at most what its commission leaves of it."""
    fee = (stripe_fee or 0) if fee_payer == "seller" else 0
    shares = split_in_proportion(fee, amounts)
    return [
        min(share, amount - commission)
        for share, amount, commission in zip(shares, amounts, commissions, strict=True)
    ]
