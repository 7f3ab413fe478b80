"""Order services: snapshots, stock, idempotency, cancellation and expiry."""

import pytest

from accounts.factories import SellerFactory, UserFactory
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from escrow import services
from escrow.commission import commission_for
from escrow.models import Order, OrderStatus
from escrow.testing import deliver_order, place_order
from marketplace.factories import ListingFactory, ServiceListingFactory
from marketplace.models import ListingStatus

pytestmark = pytest.mark.django_db


def refreshed(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def listing(seller):
    return ListingFactory(store=seller.store, price_cents=1999, currency="usd", stock=3)


def test_an_order_snapshots_price_and_commission_and_reserves_stock(listing, buyer, settings):
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)

    assert (order.unit_price_cents, order.quantity, order.total_cents) == (1999, 2, 3998)
    assert order.commission_bps == settings.BAZAAR_COMMISSION_BPS
    assert order.commission_cents == commission_for(3998, bps=settings.BAZAAR_COMMISSION_BPS)
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert refreshed(listing).stock == 1
    # Changing the listing later does not change what the buyer agreed to.
    listing.price_cents = 5000
    listing.save()
    assert refreshed(order).total_cents == 3998


@pytest.mark.parametrize(
    ("store_default", "own", "agreed"),
    [("moderate", "", "moderate"), ("moderate", "strict", "strict"), ("flexible", "", "flexible")],
)
def test_the_cancellation_policy_the_buyer_agreed_to_is_snapshotted(
    seller, buyer, store_default, own, agreed
):
    seller.store.default_cancellation_policy = store_default
    seller.store.save()
    listing = ListingFactory(store=seller.store, cancellation_policy=own)

    order = place_order(buyer=buyer, listing_id=listing.pk)

    assert refreshed(order).cancellation_policy == agreed
    # The seller changing either later does not change what this buyer agreed to.
    seller.store.default_cancellation_policy = "strict"
    seller.store.save()
    listing.cancellation_policy = "flexible" if agreed == "strict" else "strict"
    listing.save()
    assert refreshed(order).cancellation_policy == agreed


def test_the_sellers_commission_override_is_snapshotted(seller, buyer):
    seller.seller_profile.commission_bps = 500
    seller.seller_profile.save()
    listing = ListingFactory(store=seller.store, price_cents=10_000, stock=None)

    order = place_order(buyer=buyer, listing_id=listing.pk)

    assert (order.commission_bps, order.commission_cents) == (500, 500)


def test_services_reserve_no_stock(seller, buyer):
    listing = ServiceListingFactory(store=seller.store)

    order = place_order(buyer=buyer, listing_id=listing.pk)

    assert order.stock_reserved is False


def test_a_service_is_booked_once_per_order(seller, buyer):
    listing = ServiceListingFactory(store=seller.store)

    with pytest.raises(ValidationFailed) as refused:
        place_order(buyer=buyer, listing_id=listing.pk, quantity=3)

    assert refused.value.errors == {"quantity": ["A service is booked once per order: order 1."]}
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("quantity", "field", "message"),
    [
        (4, "quantity", "Only 3 left in stock."),
        (0, "quantity", "Order at least one."),
        (101, "quantity", "Order at most 100"),
        ("2", "quantity", "Order at least one."),
    ],
)
def test_bad_quantities_are_refused(listing, buyer, quantity, field, message):
    with pytest.raises(ValidationFailed) as excinfo:
        place_order(buyer=buyer, listing_id=listing.pk, quantity=quantity)

    assert message in excinfo.value.errors[field][0]
    assert refreshed(listing).stock == 3
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "status",
    [
        ListingStatus.DRAFT,
        ListingStatus.PENDING_REVIEW,
        ListingStatus.ARCHIVED,
        ListingStatus.REJECTED,
    ],
)
def test_only_approved_listings_can_be_ordered(seller, buyer, status):
    listing = ListingFactory(store=seller.store, status=status)

    with pytest.raises(ValidationFailed) as excinfo:
        place_order(buyer=buyer, listing_id=listing.pk)

    assert "not available" in excinfo.value.errors["listing"][0]


def test_sellers_cannot_buy_their_own_listing(listing, seller):
    with pytest.raises(ValidationFailed, match="your own listing"):
        place_order(buyer=seller, listing_id=listing.pk)


def test_a_seller_whose_charges_are_disabled_cannot_be_bought_from(buyer, stripe_sandbox):
    not_onboarded = SellerFactory()
    listing = ListingFactory(store=not_onboarded.store)

    with pytest.raises(ValidationFailed, match="cannot take payments"):
        place_order(buyer=buyer, listing_id=listing.pk)


def test_the_same_client_key_returns_the_same_order(listing, buyer):
    first = place_order(buyer=buyer, listing_id=listing.pk, client_key="k-1")
    again = place_order(buyer=buyer, listing_id=listing.pk, client_key="k-1")

    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert refreshed(listing).stock == 2


def test_cancelling_returns_the_stock_and_is_for_the_buyer(listing, buyer):
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)

    with pytest.raises(NotAllowed):
        services.order_cancel(order=order, actor=UserFactory())
    services.order_cancel(order=order, actor=buyer)
    services.order_cancel(order=order, actor=buyer)  # twice changes nothing more

    assert refreshed(order).status == OrderStatus.CANCELLED
    assert refreshed(listing).stock == 3


def test_unpaid_orders_expire_when_their_time_is_up(listing, buyer, stripe_sandbox, settings):
    from escrow.tasks import expire_unpaid_orders

    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
    assert expire_unpaid_orders.delay().get() == 0

    stripe_sandbox.advance_clock(minutes=settings.BAZAAR_PAYMENT_EXPIRY_MINUTES + 1)
    assert expire_unpaid_orders.delay().get() == 1
    assert expire_unpaid_orders.delay().get() == 0

    assert refreshed(order).status == OrderStatus.EXPIRED
    assert refreshed(listing).stock == 3
    with pytest.raises(InvalidTransition):
        services.order_cancel(order=order, actor=buyer)


def test_only_the_seller_delivers_and_only_a_paid_order(listing, buyer, seller):
    order = place_order(buyer=buyer, listing_id=listing.pk)

    with pytest.raises(NotAllowed):
        deliver_order(order=order, actor=buyer)
    with pytest.raises(InvalidTransition):
        deliver_order(order=order, actor=seller)
