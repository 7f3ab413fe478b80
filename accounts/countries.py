"""The countries a seller can sell from: ISO 3166-1 alpha-2 codes of the countries where Stripe
opens Express connected accounts (stripe.com/global, docs.stripe.com/connect/express-accounts).

Connect onboarding creates the seller's Stripe account in their profile's country, so a country
Stripe does not support there would leave the seller unable to be paid: the onboarding page
offers these as a select and the API answers 400 to any other code.
"""

CONNECT_COUNTRIES = {
    "AE": "United Arab Emirates",
    "AT": "Austria",
    "AU": "Australia",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "United Kingdom",
    "GI": "Gibraltar",
    "GR": "Greece",
    "HK": "Hong Kong",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IN": "India",
    "IT": "Italy",
    "JP": "Japan",
    "LI": "Liechtenstein",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "MX": "Mexico",
    "MY": "Malaysia",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SG": "Singapore",
    "SI": "Slovenia",
    "SK": "Slovakia",
    "TH": "Thailand",
    "US": "United States",
}

# (code, name) sorted by name, as a select shows them.
COUNTRY_CHOICES = sorted(CONNECT_COUNTRIES.items(), key=lambda item: item[1])

UNKNOWN_COUNTRY_MESSAGE = (
    "Choose the country you sell from in the list: Stripe can pay sellers in these countries."
)


def country_name(code):
    """'DE' -> 'Germany'; a code outside the list (saved before it was checked) as it is."""
    return CONNECT_COUNTRIES.get((code or "").upper(), code or "")
