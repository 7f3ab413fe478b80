"""What bench/release releases: `orders` orders due for auto-release (delivered, their buyer's
review window over), of `sellers` sellers whose Express accounts are onboarded at the sandbox
(through the product's services and the sandbox's onboarding, as `manage.py stripe_sandbox
onboard` does), each paid by a succeeded charge at the sandbox.

Paying 10,000 orders through Checkout would take the sandbox most of an hour on a small machine,
so the order, payment and ledger rows are written in bulk, and each charge at the sandbox pays
ORDERS_PER_CHARGE orders (each order's Transfer takes its share of it as source_transaction,
as a real per-order charge would). The release job does not know the difference: it reads the
rows and asks Stripe (the sandbox) for one Transfer per order.

Run inside Django (bench/release runs it with `manage.py shell -c`). Adding to a database that
has the sellers already makes only new orders.
"""

from datetime import timedelta

from django.core.management import call_command
from django.db import transaction

from accounts.connect import connect_account_refresh, connect_onboarding_link_create
from accounts.models import SellerProfile, User
from bench.webhooks_data import make_seller
from core import clock, stripe_client
from escrow import ledger
from escrow.models import EscrowPayment, LedgerAccount, Order, OrderStatus, PaymentStatus
from marketplace.models import Listing, ListingKind, ListingStatus
from stripe_sandbox import control

PRICE_CENTS = 2500
COMMISSION_CENTS = 250
STRIPE_FEE_CENTS = 103  # 2.9% + 30, as the sandbox charges
ORDERS_PER_CHARGE = 100


def sellers_ready(count):
    """`count` onboarded sellers with one listing each (made once; a seller an interrupted run
    left without its listing is finished)."""
    control.hold_webhooks(True)  # the benches measure the job, not the deliveries it causes
    profiles = []
    for number in range(count):
        profile = SellerProfile.objects.filter(
            user__email=f"bench-seller-{number}@bazaar.test"
        ).first() or make_seller(number)
        if not Listing.objects.filter(store__owner=profile.user).exists():
            _onboard(profile, number)
        profiles.append(profile)
    return profiles


def _onboard(profile, number):
    connected, url = connect_onboarding_link_create(
        seller_profile=profile,
        return_url="https://bazaar.test/return",
        refresh_url="https://bazaar.test/refresh",
    )
    call_command("stripe_sandbox", "onboard", url, "--business-name", f"Bench {number}")
    connect_account_refresh(stripe_account_id=connected.stripe_account_id)
    Listing.objects.create(
        store=profile.user.store,
        kind=ListingKind.SERVICE,
        title=f"Bench lesson {number}",
        description="An hour of lessons.",
        price_cents=PRICE_CENTS,
        currency="usd",
        duration_minutes=60,
        status=ListingStatus.APPROVED,
    )


def charge(amount):
    intent = stripe_client.client().v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "payment_method_types": ["card"],
            "confirm": True,
        }
    )
    return intent.latest_charge


def due_orders(*, orders, sellers):
    profiles = sellers_ready(sellers)
    buyer, _ = User.objects.get_or_create(email="bench-buyer@bazaar.test")
    listings = {
        listing.store.owner_id: listing
        for listing in Listing.objects.filter(title__startswith="Bench ").select_related("store")
    }
    now = clock.now()
    made = 0
    while made < orders:
        batch = min(ORDERS_PER_CHARGE, orders - made)
        charge_id = charge(PRICE_CENTS * batch)
        with transaction.atomic():
            rows = []
            for number in range(batch):
                seller = profiles[(made + number) % len(profiles)].user
                listing = listings[seller.pk]
                rows.append(
                    Order(
                        buyer=buyer,
                        seller=seller,
                        store_id=listing.store_id,
                        listing=listing,
                        listing_title=listing.title,
                        listing_kind=listing.kind,
                        unit_price_cents=PRICE_CENTS,
                        total_cents=PRICE_CENTS,
                        currency="usd",
                        commission_bps=1000,
                        commission_cents=COMMISSION_CENTS,
                        status=OrderStatus.DELIVERED,
                        funded_at=now - timedelta(days=20),
                        delivered_at=now - timedelta(days=16),
                        review_deadline=now - timedelta(days=2),
                    )
                )
            placed = Order.objects.bulk_create(rows)
            EscrowPayment.objects.bulk_create(
                EscrowPayment(
                    order=order,
                    kind=EscrowPayment.Kind.PAYMENT_INTENT,
                    stripe_charge_id=charge_id,
                    amount_cents=PRICE_CENTS,
                    currency="usd",
                    stripe_fee_cents=STRIPE_FEE_CENTS,
                    status=PaymentStatus.SUCCEEDED,
                    succeeded_at=now - timedelta(days=20),
                )
                for order in placed
            )
            for order in placed:
                ledger.post(
                    order=order,
                    currency="usd",
                    memo=f"Bench: payment for order #{order.pk}",
                    lines=[
                        (LedgerAccount.STRIPE_BALANCE, PRICE_CENTS),
                        (LedgerAccount.BUYER_FUNDS_HELD, -PRICE_CENTS),
                    ],
                )
        made += batch
    return made
