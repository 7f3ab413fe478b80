"""What bench/release releases and pays out: `orders` orders due for auto-release (delivered,
their buyer's review window over), of `sellers` sellers whose Express accounts are onboarded at
the sandbox (through the product's services and the sandbox's onboarding, as `manage.py
stripe_sandbox onboard` does), each paid by a succeeded charge at the sandbox.

Paying 10,000 orders through Checkout would take the sandbox most of an hour on a small machine,
so the order, payment and ledger rows are written in bulk, and each charge at the sandbox pays
ORDERS_PER_CHARGE orders (each order's Transfer takes its share of it as source_transaction,
as a real per-order charge would). The release job does not know the difference: it reads the
rows and asks Stripe (the sandbox) for one Transfer per order.

With --payouts, `payouts` sellers paid out daily (due_payouts), each with a release's worth
on their Stripe balance: their scheduled payout is due.

Run inside Django (bench/release runs it with `manage.py shell -c`). Adding to a database that
has the sellers already makes only new orders (and new balances to pay out).
"""

from datetime import datetime, timedelta

from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.connect import connect_account_refresh, connect_onboarding_link_create
from accounts.models import ConnectedAccount, SellerProfile, User
from accounts.services import seller_onboard
from bench.webhooks_data import make_seller
from core import clock, stripe_client
from escrow import ledger
from escrow.models import EscrowPayment, LedgerAccount, Order, OrderStatus, PaymentStatus
from marketplace.models import Listing, ListingKind, ListingStatus
from payouts.models import Payout, PayoutInterval, PayoutSchedule
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


# --- Due scheduled payouts ----------------------------------------------------------------------

PAYOUT_CENTS = 2250  # what one release of PRICE_CENTS leaves the seller


def payees_ready(count):
    """`count` onboarded sellers paid out daily (bench-payee-<n>; made once), apart from the
    release bench's sellers, whose balances that bench keeps adding to."""
    control.hold_webhooks(True)
    profiles = []
    for number in range(count):
        email = f"bench-payee-{number}@bazaar.test"
        profile = SellerProfile.objects.filter(user__email=email).first()
        if profile is None:
            user = User.objects.create_user(email=email, email_verified_at=clock.now())
            profile = seller_onboard(
                user=user,
                display_name=f"Bench payee {number}",
                country="US",
                default_currency="usd",
                store_name=f"Bench payee store {number}",
            )
        if not PayoutSchedule.objects.filter(seller=profile.user).exists():
            connected, url = connect_onboarding_link_create(
                seller_profile=profile,
                return_url="https://bazaar.test/return",
                refresh_url="https://bazaar.test/refresh",
            )
            call_command("stripe_sandbox", "onboard", url, "--business-name", f"Payee {number}")
            connect_account_refresh(stripe_account_id=connected.stripe_account_id)
            # Chosen two days ago, so today's period is due (schedule_period).
            PayoutSchedule.objects.create(
                seller=profile.user,
                interval=PayoutInterval.DAILY,
                changed_at=clock.now() - timedelta(days=2),
            )
        profiles.append(profile)
    return profiles


def due_payouts(*, payouts):
    """`payouts` sellers with a daily schedule and PAYOUT_CENTS available on their Stripe
    balance: one Transfer each (as a release makes), from charges of 100 sellers' worth, then the
    sandbox's clock moved on until the charges' money is available. Returns the day whose
    periods the job is to pay (ISO): today, or the day after the last period a run on this
    database paid, so a run with --reuse-db has a period of its own."""
    profiles = payees_ready(payouts)
    accounts = dict(
        ConnectedAccount.objects.filter(
            seller_profile__in=profiles, payouts_enabled=True
        ).values_list("seller_profile_id", "stripe_account_id")
    )
    v1 = stripe_client.client().v1
    for start in range(0, len(profiles), ORDERS_PER_CHARGE):
        batch = profiles[start : start + ORDERS_PER_CHARGE]
        charge_id = charge(PAYOUT_CENTS * len(batch))
        for profile in batch:
            v1.transfers.create(
                params={
                    "amount": PAYOUT_CENTS,
                    "currency": "usd",
                    "destination": accounts[profile.pk],
                    "source_transaction": charge_id,
                    "description": "Bench: a release to pay out",
                }
            )
    control.advance_clock(days=3)
    today = timezone.localtime(clock.now()).date()
    last = (
        Payout.objects.filter(seller__email__startswith="bench-payee-", period__startswith="d")
        .order_by("-period")
        .values_list("period", flat=True)
        .first()
    )
    if last:
        today = max(today, datetime.strptime(last[1:], "%Y%m%d").date() + timedelta(days=1))
    return today.isoformat()
