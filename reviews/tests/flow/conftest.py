# A seller onboarded on the sandbox, their listing and a buyer: escrow's own flow fixtures, in
# place of reviews/tests/conftest.py's rows.
from escrow.testing import buyer, listing, seller  # noqa: F401  (fixtures)
