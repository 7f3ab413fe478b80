"""Fixtures for escrow: a seller onboarded through the sandbox's hosted page, a listing, a buyer,
and the buyer paying on the sandbox's checkout page."""

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from accounts.factories import SellerFactory, UserFactory
from accounts.selectors import seller_can_accept_payments
from marketplace.factories import ListingFactory

ONBOARDING_FORM = {
    "business_name": "Clay & Co",
    "support_email": "help@clay.example",
    "support_phone": "+15555550100",
    "url": "https://clay.example",
    "product_description": "Hand-thrown mugs",
    "first_name": "Jenny",
    "last_name": "Rosen",
    "dob": "1901-01-01",
    "bank_account": "000123456789",
}


def path_of(url):
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def onboard(client, seller, outcome="complete"):
    """The seller sets up payouts on the sandbox's hosted onboarding page."""
    client.force_login(seller)
    start = client.post(reverse("connect-start"))
    page = client.get(path_of(start["Location"]))
    session = re.search(r'name="session" value="([^"]+)"', page.content.decode()).group(1)
    client.post(
        path_of(start["Location"]), ONBOARDING_FORM | {"session": session, "outcome": outcome}
    )
    client.logout()


def pay_on_checkout_page(client, checkout_url, card="4242 4242 4242 4242"):
    """The buyer types a test card on the sandbox's hosted checkout page."""
    return client.post(
        path_of(checkout_url),
        {
            "email": "buyer@example.com",
            "card_number": card,
            "expiry": "12 / 34",
            "cvc": "123",
            "name": "Sam Buyer",
        },
    )


@pytest.fixture
def seller(client, stripe_sandbox, django_capture_on_commit_callbacks):
    seller = SellerFactory(email="potter@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, seller)
    assert seller_can_accept_payments(seller)
    return seller


@pytest.fixture
def listing(seller):
    return ListingFactory(store=seller.store, price_cents=2500, currency="usd", stock=5)


@pytest.fixture
def buyer():
    return UserFactory(email="buyer@example.com")
