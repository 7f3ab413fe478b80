"""Importing a resource module registers its routes with the router."""

from stripe_sandbox.resources import (  # noqa: F401
    accounts,
    balance,
    events,
    files,
    payments,
    payouts,
    transfers,
)
