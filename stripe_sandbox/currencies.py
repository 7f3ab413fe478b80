"""What the sandbox knows about currencies: Stripe's zero-decimal list, and how its hosted pages
and error messages show an amount. Amounts are integers in the currency's smallest unit, as in
Stripe's API."""

# stripe.com/docs/currencies#zero-decimal: amounts in these are whole units (500 jpy is ¥500).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)

SYMBOLS = {
    "usd": "US$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "cad": "CA$",
    "aud": "A$",
    "chf": "CHF ",
    "inr": "₹",
}


def decimal_places(currency):
    return 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2


def format_amount(amount, currency):
    """1234, "usd" -> "US$12.34"; 500, "jpy" -> "¥500"; others show their code: "12.34 SEK"."""
    if amount is None:
        return ""
    currency = currency.lower()
    places = decimal_places(currency)
    major, minor = divmod(abs(int(amount)), 10**places)
    digits = f"{major:,}" + (f".{minor:0{places}d}" if places else "")
    sign = "-" if int(amount) < 0 else ""
    symbol = SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{digits} {currency.upper()}"
