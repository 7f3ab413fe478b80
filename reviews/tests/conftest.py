import pytest

from accounts.factories import SellerFactory, UserFactory
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory


@pytest.fixture
def seller(db):
    return SellerFactory()


@pytest.fixture
def buyer(db):
    return UserFactory(full_name="Sam Rivera")


@pytest.fixture
def listing(seller):
    return ListingFactory(store=seller.store)


@pytest.fixture
def released_order(buyer, listing):
    """An order released just now: its review window opens now."""
    return OrderFactory(listing=listing, buyer=buyer, released=True)
