"""Startup checks of settings the code relies on (`manage.py check` and every command run them)."""

from django.conf import settings
from django.core import checks

from core.money import MINIMUM_CHARGE_CENTS


def currencies_have_a_minimum_charge(app_configs=None, **kwargs):
    """A currency Bazaar sells in must have Stripe's minimum charge in core.money, or prices in
    it could not be checked and an order could never be paid."""
    return [
        checks.Error(
            f"BAZAAR_CURRENCIES lists {currency!r}, which has no minimum charge in "
            "core.money.MINIMUM_CHARGE_CENTS.",
            hint="Add Stripe's minimum for it (docs.stripe.com/currencies) or remove it.",
            id="core.E001",
        )
        for currency in settings.BAZAAR_CURRENCIES
        if currency not in MINIMUM_CHARGE_CENTS
    ]


def register_all():
    checks.register(currencies_have_a_minimum_charge, checks.Tags.compatibility)
