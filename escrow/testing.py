"""Test helpers for escrow's tests and other apps': a seller onboarded through the sandbox's
hosted page, a listing, a buyer, and the buyer paying on the sandbox's checkout page.

The fixtures are plain pytest fixtures: a conftest.py imports the ones its tests use."""

import re
from urllib.parse import urlsplit

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.factories import SellerFactory, UserFactory
from accounts.selectors import seller_can_accept_payments
from escrow import ledger
from escrow.models import (
    EscrowRelease,
    LedgerAccount,
    Order,
    OrderStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.shipping import Carrier
from marketplace.factories import ListingFactory
from marketplace.models import ListingKind

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


# Where tests ship products to (order_create needs an address for a product).
SHIPPING_ADDRESS = {
    "name": "Sam Buyer",
    "line1": "1 Main Street",
    "line2": "Flat 2",
    "city": "Springfield",
    "postal_code": "12345",
    "region": "IL",
    "country": "US",
}
# The same address as the checkout page's form posts it.
SHIPPING_FORM = {f"ship_{name}": value for name, value in SHIPPING_ADDRESS.items()}


def place_order(**kwargs):
    """services.order_create, with SHIPPING_ADDRESS for a product when the test gives none."""
    from escrow import services
    from marketplace.models import Listing

    if "shipping_address" not in kwargs and "shipping_address_id" not in kwargs:
        kind = Listing.objects.filter(pk=kwargs["listing_id"]).values_list("kind", flat=True)
        if kind.first() == ListingKind.PRODUCT:
            kwargs["shipping_address"] = SHIPPING_ADDRESS
    return services.order_create(**kwargs)


def deliver_order(*, order, actor, note=""):
    """The seller hands the order over and the review window starts now: a service is marked
    delivered; a product is shipped (USPS) and its buyer confirms receiving it."""
    from escrow import services

    if order.listing_kind != ListingKind.PRODUCT:
        return services.order_deliver(order=order, actor=actor, note=note)
    order = services.order_mark_shipped(
        order=order, actor=actor, carrier=Carrier.USPS, tracking_number="9400 1000 0000 0000 01"
    )
    if actor.pk != order.seller_id:
        return order
    return services.order_confirm_received(order=order, actor=order.buyer)


def deliver_paid_order(client, *, buyer, seller, listing, quantity=1, capture=None, note=""):
    """An order paid on the sandbox's checkout page and delivered (a product shipped and
    received): what the review window then releases. Returns the order. Outside
    transactional_db pass `capture` (django_capture_on_commit_callbacks): each step's webhooks
    go out after its commit."""
    from contextlib import nullcontext

    from escrow import services

    step = (lambda: capture(execute=True)) if capture else nullcontext
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=quantity)
    _, url = services.payment_checkout_start(
        order=order,
        buyer=buyer,
        success_url="http://testserver/orders/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/orders/cancelled",
    )
    with step():
        assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    with step():
        return deliver_order(order=order, actor=seller, note=note)


def sell_and_release(client, *, buyer, seller, listing, quantity=2, capture=None):
    """An order paid on the sandbox's checkout page, delivered (a product shipped and received)
    and approved by the buyer: its money released to the seller. Returns the order. Outside
    transactional_db pass `capture` (django_capture_on_commit_callbacks): each step's webhooks
    go out after its commit."""
    from contextlib import nullcontext

    from escrow import services

    order = deliver_paid_order(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        quantity=quantity,
        capture=capture,
        note="Sent",
    )
    with capture(execute=True) if capture else nullcontext():
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    return order


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


# --- Rows without Stripe (for lists and pages that need many orders cheaply) ------------------


def make_order(
    seller, buyer, *, status=OrderStatus.FUNDED, total=2500, commission=250, currency="usd"
):
    """An order row in a given state, with the ledger lines and release that state implies.

    Built directly (not through Stripe) so lists can hold many of them cheaply.
    """
    listing = ListingFactory(store=seller.store, price_cents=total, currency=currency)
    order = Order.objects.create(
        buyer=buyer,
        seller=seller,
        store=seller.store,
        listing=listing,
        listing_title=listing.title,
        listing_kind=listing.kind,
        unit_price_cents=total,
        quantity=1,
        total_cents=total,
        currency=currency,
        commission_bps=1000,
        commission_cents=commission,
        status=status,
    )
    if status == OrderStatus.RELEASED:
        release_order(order, transferred=True)
    return order


def release_order(order, *, transferred=True):
    transfer = order.total_cents - order.commission_cents
    release = EscrowRelease.objects.create(
        order=order,
        trigger=ReleaseTrigger.BUYER,
        gross_cents=order.total_cents,
        commission_cents=order.commission_cents,
        transfer_cents=transfer,
        currency=order.currency,
        destination_account="acct_test",
        source_charge=f"ch_{order.pk}",
        status=ReleaseStatus.TRANSFERRED if transferred else ReleaseStatus.FAILED,
        stripe_transfer_id=f"tr_{order.pk}" if transferred else None,
    )
    payable = LedgerAccount.seller_payable(order.seller_id)
    with transaction.atomic():
        ledger.post(
            order=order,
            currency=order.currency,
            memo=f"Escrow of order #{order.pk} released (buyer approved)",
            lines=[
                (LedgerAccount.BUYER_FUNDS_HELD, order.total_cents),
                (LedgerAccount.PLATFORM_COMMISSION, -order.commission_cents),
                (payable, -transfer),
            ],
        )
        if transferred:
            ledger.post(
                order=order,
                currency=order.currency,
                memo=f"Transfer to the seller for order #{order.pk}",
                lines=[(payable, transfer), (LedgerAccount.STRIPE_BALANCE, -transfer)],
            )
    return release
