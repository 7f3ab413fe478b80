"""Escrow's factories build saved rows that pass validation and the models' own constraints,
and orders consistent with the listing they were made from."""

import pytest
from django.db import IntegrityError, transaction

from escrow import factories, ledger
from escrow.models import LedgerAccount, LedgerEntry, OrderStatus, ReleaseStatus
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.django_db

FACTORIES = [name for name in factories.__all__ if name.endswith("Factory")]


@pytest.mark.parametrize("name", FACTORIES)
def test_factory_builds_a_valid_saved_object(name):
    obj = getattr(factories, name)()

    assert obj.pk is not None
    type(obj).objects.get(pk=obj.pk)  # really in the database
    obj.full_clean()


def test_every_escrow_model_has_a_factory():
    from django.apps import apps

    made = {getattr(factories, name)._meta.model for name in FACTORIES}
    assert set(apps.get_app_config("escrow").get_models()) <= made


def test_order_factory_snapshots_its_listing_like_order_create():
    listing = ListingFactory(price_cents=1999, currency="eur", title="Blue bowl")

    order = factories.OrderFactory(listing=listing, quantity=3)

    assert order.seller == listing.store.owner
    assert order.store == listing.store
    assert order.listing_title == "Blue bowl"
    assert order.unit_price_cents == 1999
    assert order.total_cents == 5997
    assert order.currency == "eur"
    assert order.commission_cents == 600  # 10% of 59.97, rounded half up
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.buyer != order.seller


def test_order_factory_traits_carry_their_states_dates():
    funded = factories.OrderFactory(funded=True)
    delivered = factories.OrderFactory(delivered=True)
    released = factories.OrderFactory(released=True)

    assert (funded.status, bool(funded.funded_at)) == (OrderStatus.FUNDED, True)
    assert delivered.status == OrderStatus.DELIVERED
    assert delivered.review_deadline > delivered.delivered_at
    assert released.status == OrderStatus.RELEASED
    assert released.released_at is not None


def test_release_factory_splits_the_gross_like_a_release():
    release = factories.EscrowReleaseFactory(order__quantity=2)

    assert release.gross_cents == release.order.total_cents == 5000
    assert release.commission_cents == 500
    assert release.transfer_cents == 4500
    assert release.status == ReleaseStatus.TRANSFERRED
    assert release.stripe_transfer_id.startswith("tr_")
    pending = factories.EscrowReleaseFactory(status=ReleaseStatus.PENDING)
    assert pending.stripe_transfer_id is None


def test_payment_factory_makes_at_most_one_successful_payment_per_order():
    payment = factories.EscrowPaymentFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        factories.EscrowPaymentFactory(order=payment.order)


def test_ledger_pair_books_a_balanced_transaction():
    order = factories.OrderFactory(funded=True)

    debit, credit = factories.ledger_pair(
        order=order,
        debit=LedgerAccount.STRIPE_FEES,
        credit=LedgerAccount.STRIPE_BALANCE,
        amount_cents=75,
    )

    assert debit.transaction_id == credit.transaction_id
    assert (debit.debit_cents, credit.credit_cents) == (75, 75)
    assert ledger.order_total(order) == 0
    assert ledger.balance(LedgerAccount.STRIPE_FEES, order=order) == 75
    assert LedgerEntry.objects.filter(transaction_id=debit.transaction_id).count() == 2


def test_ledger_pair_refuses_a_booking_of_nothing():
    with pytest.raises(ValueError):
        factories.ledger_pair(amount_cents=0)
