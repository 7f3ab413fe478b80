from escrow.testing import buyer, listing, seller  # noqa: F401  (fixtures)
