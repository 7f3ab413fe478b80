"""Factories for escrow's rows and for orders, for tests that need data rather than a flow.

They write rows directly, without Stripe: the Stripe ids are made up. A test about money moving
uses the services and the sandbox instead (escrow/tests/conftest.py). Ledger lines come in
balanced pairs through `ledger_pair`, as every booking does.
"""

import uuid
from datetime import timedelta

import factory
from django.conf import settings
from django.utils import timezone

from accounts.factories import UserFactory
from escrow.commission import commission_for
from escrow.models import (
    Booking,
    Chargeback,
    ChargebackStatus,
    Dispute,
    DisputeReason,
    DisputeStatus,
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    Milestone,
    Order,
    OrderStatus,
    PaymentStatus,
    ReconciliationDifference,
    ReconciliationRun,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    ReleaseTrigger,
    StripeCustomer,
    TransferReversal,
)
from escrow.reconcile import DifferenceKind
from marketplace.factories import ListingFactory, ServiceListingFactory

__all__ = [
    "StripeCustomerFactory",
    "OrderFactory",
    "EscrowPaymentFactory",
    "EscrowReleaseFactory",
    "TransferReversalFactory",
    "EscrowRefundFactory",
    "ChargebackFactory",
    "LedgerEntryFactory",
    "ReconciliationRunFactory",
    "ReconciliationDifferenceFactory",
    "DisputeFactory",
    "MilestoneFactory",
    "BookingFactory",
    "ledger_pair",
]


class StripeCustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StripeCustomer

    user = factory.SubFactory(UserFactory)
    stripe_customer_id = factory.Sequence(lambda n: f"cus_factory{n:06d}")


class OrderFactory(factory.django.DjangoModelFactory):
    """An order for a listing, snapshotted as order_create would (price, commission, seller).

    Awaiting payment by default; traits `funded`, `delivered` and `released` set the dates those
    states carry. The listing's stock is left alone (no reservation).
    """

    class Meta:
        model = Order

    class Params:
        funded = factory.Trait(
            status=OrderStatus.FUNDED,
            funded_at=factory.LazyFunction(timezone.now),
        )
        delivered = factory.Trait(
            status=OrderStatus.DELIVERED,
            funded_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=1)),
            delivered_at=factory.LazyFunction(timezone.now),
            review_deadline=factory.LazyFunction(
                lambda: timezone.now() + timedelta(days=settings.BAZAAR_REVIEW_WINDOW_DAYS)
            ),
        )
        released = factory.Trait(
            status=OrderStatus.RELEASED,
            funded_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=2)),
            delivered_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=1)),
            released_at=factory.LazyFunction(timezone.now),
        )

    listing = factory.SubFactory(ListingFactory)
    buyer = factory.SubFactory(UserFactory)
    store = factory.SelfAttribute("listing.store")
    seller = factory.SelfAttribute("listing.store.owner")
    listing_title = factory.SelfAttribute("listing.title")
    listing_kind = factory.SelfAttribute("listing.kind")
    unit_price_cents = factory.SelfAttribute("listing.price_cents")
    quantity = 1
    total_cents = factory.LazyAttribute(lambda o: o.unit_price_cents * o.quantity)
    currency = factory.SelfAttribute("listing.currency")
    commission_bps = factory.LazyFunction(lambda: settings.BAZAAR_COMMISSION_BPS)
    commission_fixed_cents = 0
    commission_min_cents = 0
    commission_cents = factory.LazyAttribute(
        lambda o: commission_for(
            o.total_cents,
            bps=o.commission_bps,
            fixed_cents=o.commission_fixed_cents,
            minimum_cents=o.commission_min_cents,
        )
    )
    stripe_fee_payer = "platform"
    status = OrderStatus.PENDING_PAYMENT
    expires_at = factory.LazyFunction(
        lambda: timezone.now() + timedelta(minutes=settings.BAZAAR_PAYMENT_EXPIRY_MINUTES)
    )


class MilestoneFactory(factory.django.DjangoModelFactory):
    """A proposed milestone of a service order (a plan of one, for the whole order, unless the
    test gives the amount). Flows with several go through escrow.services.milestones."""

    class Meta:
        model = Milestone

    order = factory.SubFactory(
        OrderFactory, listing=factory.SubFactory(ServiceListingFactory), funded=True
    )
    position = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Milestone {n + 1}")
    amount_cents = factory.SelfAttribute("order.total_cents")
    commission_cents = factory.LazyAttribute(
        lambda o: min(o.order.commission_cents, o.amount_cents)
    )
    currency = factory.SelfAttribute("order.currency")
    due_date = factory.LazyFunction(lambda: (timezone.now() + timedelta(days=7)).date())


class BookingFactory(factory.django.DjangoModelFactory):
    """A confirmed hour of a paid service order, a week from now, in UTC. Holding a free slot
    (and the overlap guard) goes through escrow.services.bookings."""

    class Meta:
        model = Booking

    order = factory.SubFactory(
        OrderFactory, listing=factory.SubFactory(ServiceListingFactory), funded=True
    )
    seller = factory.SelfAttribute("order.seller")
    starts_at = factory.LazyFunction(
        lambda: (timezone.now() + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    )
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=1))
    blocked_until = factory.SelfAttribute("ends_at")
    time_zone = "UTC"
    status = "confirmed"


class EscrowPaymentFactory(factory.django.DjangoModelFactory):
    """A successful Checkout payment of a funded order (pass status= for others)."""

    class Meta:
        model = EscrowPayment

    order = factory.SubFactory(OrderFactory, funded=True)
    kind = EscrowPayment.Kind.CHECKOUT
    stripe_checkout_session_id = factory.Sequence(lambda n: f"cs_test_factory{n:06d}")
    stripe_payment_intent_id = factory.Sequence(lambda n: f"pi_factory{n:06d}")
    stripe_charge_id = factory.Sequence(lambda n: f"ch_factory{n:06d}")
    amount_cents = factory.SelfAttribute("order.total_cents")
    currency = factory.SelfAttribute("order.currency")
    stripe_fee_cents = factory.LazyAttribute(lambda o: round(o.amount_cents * 0.029) + 30)
    status = PaymentStatus.SUCCEEDED
    succeeded_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == PaymentStatus.SUCCEEDED else None
    )


class EscrowReleaseFactory(factory.django.DjangoModelFactory):
    """A released order's transfer to the seller: gross - commission, transferred."""

    class Meta:
        model = EscrowRelease

    order = factory.SubFactory(OrderFactory, released=True)
    trigger = ReleaseTrigger.BUYER
    gross_cents = factory.SelfAttribute("order.total_cents")
    commission_cents = factory.SelfAttribute("order.commission_cents")
    fee_passed_on_cents = 0
    transfer_cents = factory.LazyAttribute(
        lambda o: o.gross_cents - o.commission_cents - o.fee_passed_on_cents
    )
    currency = factory.SelfAttribute("order.currency")
    destination_account = factory.Sequence(lambda n: f"acct_factory{n:06d}")
    source_charge = factory.Sequence(lambda n: f"ch_factory_source{n:06d}")
    status = ReleaseStatus.TRANSFERRED
    stripe_transfer_id = factory.LazyAttribute(
        lambda o: (
            f"tr_factory{uuid.uuid4().hex[:12]}" if o.status == ReleaseStatus.TRANSFERRED else None
        )
    )
    transferred_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == ReleaseStatus.TRANSFERRED else None
    )


class TransferReversalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TransferReversal

    release = factory.SubFactory(EscrowReleaseFactory)
    stripe_reversal_id = factory.Sequence(lambda n: f"trr_factory{n:06d}")
    amount_cents = factory.LazyAttribute(lambda o: min(100, o.release.transfer_cents))
    currency = factory.SelfAttribute("release.currency")


class EscrowRefundFactory(factory.django.DjangoModelFactory):
    """A refund made before release (pass after_release and the shares for one after it)."""

    class Meta:
        model = EscrowRefund

    payment = factory.SubFactory(EscrowPaymentFactory)
    order = factory.SelfAttribute("payment.order")
    initiator = RefundInitiator.SELLER
    reason = "Out of stock"
    amount_cents = factory.LazyAttribute(lambda o: min(1000, o.payment.amount_cents))
    currency = factory.SelfAttribute("payment.currency")
    status = RefundStatus.SUCCEEDED
    stripe_refund_id = factory.Sequence(lambda n: f"re_factory{n:06d}")
    succeeded_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == RefundStatus.SUCCEEDED else None
    )


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    """ONE ledger line: on its own it does not balance. Use `ledger_pair` for a booking."""

    class Meta:
        model = LedgerEntry

    transaction_id = factory.LazyFunction(uuid.uuid4)
    order = factory.SubFactory(OrderFactory, funded=True)
    account = LedgerAccount.STRIPE_BALANCE
    amount_cents = 1000
    currency = factory.LazyAttribute(lambda o: o.order.currency if o.order else "usd")
    memo = factory.Faker("sentence", nb_words=5)


def ledger_pair(
    *,
    order=None,
    debit=LedgerAccount.STRIPE_BALANCE,
    credit=LedgerAccount.BUYER_FUNDS_HELD,
    amount_cents=1000,
    currency=None,
    memo="Factory booking",
    stripe_object_id="",
):
    """A balanced booking: `amount_cents` debited to `debit`, credited to `credit`, one
    transaction. Returns (debit line, credit line)."""
    if amount_cents <= 0:
        raise ValueError("A booking moves a positive amount.")
    if order is None:
        order = OrderFactory(funded=True)
    currency = currency or order.currency
    txn = uuid.uuid4()
    common = {
        "transaction_id": txn,
        "order": order,
        "currency": currency,
        "memo": memo,
        "stripe_object_id": stripe_object_id,
    }
    return (
        LedgerEntryFactory(account=debit, amount_cents=amount_cents, **common),
        LedgerEntryFactory(account=credit, amount_cents=-amount_cents, **common),
    )


class ReconciliationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconciliationRun

    finished_at = factory.LazyFunction(timezone.now)
    orders_checked = 3
    difference_count = 0


class ReconciliationDifferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconciliationDifference

    run = factory.SubFactory(ReconciliationRunFactory, difference_count=1)
    order = factory.SubFactory(OrderFactory, released=True)
    kind = DifferenceKind.TRANSFER_AMOUNT
    stripe_object_id = factory.Sequence(lambda n: f"tr_factory_diff{n:06d}")
    ours_cents = 2150
    stripe_cents = 2250
    message = factory.LazyAttribute(
        lambda o: (
            f"Transfer {o.stripe_object_id} of order #{o.order.pk if o.order else '?'} "
            "differs from its release."
        )
    )


class ChargebackFactory(factory.django.DjangoModelFactory):
    """A card chargeback Stripe opened on a paid order, waiting for evidence."""

    class Meta:
        model = Chargeback

    payment = factory.SubFactory(EscrowPaymentFactory)
    order = factory.SelfAttribute("payment.order")
    stripe_dispute_id = factory.Sequence(lambda n: f"dp_factory{n:06d}")
    amount_cents = factory.SelfAttribute("payment.amount_cents")
    currency = factory.SelfAttribute("payment.currency")
    reason = "fraudulent"
    status = ChargebackStatus.NEEDS_RESPONSE
    evidence_due_by = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class DisputeFactory(factory.django.DjangoModelFactory):
    """An open dispute about a disputed order (frozen from delivered), its deadlines from now.
    The rows only: a test about what opening one does uses escrow.services.dispute_open."""

    class Meta:
        model = Dispute

    order = factory.SubFactory(
        OrderFactory, delivered=True, status=OrderStatus.DISPUTED, disputed_from="delivered"
    )
    status = DisputeStatus.OPEN
    reason = DisputeReason.NOT_AS_DESCRIBED
    description = "The glaze is cracked all over."
    opened_by = factory.SelfAttribute("order.buyer")
    response_due_at = factory.LazyFunction(
        lambda: timezone.now() + timedelta(days=settings.BAZAAR_DISPUTE_RESPONSE_DAYS)
    )
    resolve_by = factory.LazyFunction(
        lambda: timezone.now() + timedelta(days=settings.BAZAAR_DISPUTE_RESOLUTION_DAYS)
    )
