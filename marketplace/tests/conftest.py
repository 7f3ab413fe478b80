# The onboarded seller and the buyer the escrow tests use serve the order tests too.
from escrow.tests.conftest import buyer, seller  # noqa: F401
