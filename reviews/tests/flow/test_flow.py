"""Reviews after escrow's own flow: a payment on the sandbox's checkout page, delivery, and the
release by the buyer or by the automatic job when escrow's window ends."""

from datetime import timedelta

import pytest
from django.conf import settings

from core import clock
from core.errors import InvalidTransition
from escrow import services as escrow
from escrow.testing import deliver_order, pay_on_checkout_page, place_order, sell_and_release
from marketplace.factories import ServiceListingFactory
from reviews import selectors, services

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def test_the_buyer_approving_opens_reviews(
    client,
    seller,
    listing,
    buyer,
    django_capture_on_commit_callbacks,
):
    order = sell_and_release(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        capture=django_capture_on_commit_callbacks,
    )

    review = services.review_create(order=order, author=buyer, rating=5, text="Perfect")

    assert review.window_ends_at == order.released_at + timedelta(days=settings.REVIEW_WINDOW_DAYS)


def test_the_automatic_release_opens_reviews_from_its_moment(
    client,
    seller,
    listing,
    buyer,
    stripe_sandbox,
    django_capture_on_commit_callbacks,
):
    from escrow.tasks import auto_release_due_orders

    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = escrow.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)
    with django_capture_on_commit_callbacks(execute=True):
        deliver_order(order=order, actor=seller)
    with pytest.raises(InvalidTransition):
        services.review_create(order=order, author=seller, rating=4)

    stripe_sandbox.advance_clock(days=settings.BAZAAR_REVIEW_WINDOW_DAYS, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert auto_release_due_orders.delay().get() == 1
    order.refresh_from_db()

    state = selectors.order_reviews_for(order=order, user=seller)
    assert state.can_review and state.opens_at == order.released_at
    assert state.window_ends_at > clock.now() + timedelta(days=settings.REVIEW_WINDOW_DAYS - 1)
    services.review_create(order=order, author=seller, rating=4)


def test_a_milestone_order_opens_reviews_only_when_its_last_milestone_is_released(
    client,
    seller,
    buyer,
    django_capture_on_commit_callbacks,
):
    service = ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")
    order = escrow.order_create(buyer=buyer, listing_id=service.pk)
    due = (clock.now() + timedelta(days=7)).date().isoformat()
    escrow.milestone_plan_propose(
        order=order,
        actor=seller,
        milestones=[
            {"title": "Sketches", "amount_cents": 4000, "due_date": due},
            {"title": "Final", "amount_cents": 6000, "due_date": due},
        ],
    )
    escrow.milestone_plan_accept(order=order, actor=buyer)
    _, url = escrow.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)
    first, last = order.milestones.order_by("position")

    with django_capture_on_commit_callbacks(execute=True):
        escrow.milestone_deliver(milestone=first, actor=seller)
        escrow.milestone_approve(milestone=first, actor=buyer)
    with pytest.raises(InvalidTransition):
        services.review_create(order=order, author=buyer, rating=5)
    with django_capture_on_commit_callbacks(execute=True):
        escrow.milestone_deliver(milestone=last, actor=seller)
        escrow.milestone_approve(milestone=last, actor=buyer)

    order.refresh_from_db()
    review = services.review_create(order=order, author=buyer, rating=5)
    assert review.window_ends_at == order.released_at + timedelta(days=settings.REVIEW_WINDOW_DAYS)
