"""Money helpers: amounts are integer minor units (cents) plus a lower-case ISO 4217 code.

This is the one place that turns major units into minor units and back, and that formats an
amount for people.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Stripe's zero-decimal currencies (stripe.com/docs/currencies#zero-decimal).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)

CURRENCY_SYMBOLS = {
    "usd": "US$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "cad": "CA$",
    "aud": "A$",
    "chf": "CHF ",
    "inr": "₹",
}


# Stripe's minimum charge per presentment currency, in minor units
# (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). A charge below it fails with
# `amount_too_small`, so Bazaar refuses such prices and order totals before they reach Stripe.
# Every currency in BAZAAR_CURRENCIES must be here (core.checks says so at startup).
MINIMUM_CHARGE_CENTS = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}


class MoneyError(ValueError):
    pass


def currency_exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2


def to_minor_units(amount, currency: str) -> int:
    """'12.34' USD -> 1234. Refuses amounts finer than the currency's smallest unit."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"{amount!r} is not an amount.") from exc
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not an amount.")
    scaled = value.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        places = currency_exponent(currency)
        raise MoneyError(f"{currency.upper()} amounts have at most {places} decimal places.")
    return int(scaled)


def from_minor_units(amount_cents: int, currency: str) -> Decimal:
    exponent = currency_exponent(currency)
    return (Decimal(amount_cents).scaleb(-exponent)).quantize(
        Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP
    )


def format_money(amount_cents: int | None, currency: str) -> str:
    """1234, 'usd' -> 'US$12.34'; unknown currencies show their code: '12.34 SEK'."""
    if amount_cents is None:
        return ""
    currency = currency.lower()
    major = from_minor_units(abs(int(amount_cents)), currency)
    digits = f"{major:,.{currency_exponent(currency)}f}"
    sign = "-" if int(amount_cents) < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{digits} {currency.upper()}"


def minimum_charge_cents(currency: str) -> int:
    """The smallest amount Stripe charges in `currency`, in minor units: 'usd' -> 50.

    A currency missing from the table (a row saved before BAZAAR_CURRENCIES changed) gets no
    minimum beyond one unit rather than an error: Stripe still has the last word at payment."""
    return MINIMUM_CHARGE_CENTS.get(currency.lower(), 1)


def below_minimum_message(currency: str, what: str = "The price") -> str:
    """'The price must be at least US$0.50.' with the currency's minimum formatted for people."""
    minimum = format_money(minimum_charge_cents(currency), currency)
    return f"{what} must be at least {minimum}, the smallest amount a card can be charged."
