"""Factories for reviews: rows written directly, for tests that need data rather than a flow (a
test about the rules uses reviews.services)."""

from datetime import timedelta

import factory
from django.conf import settings
from django.utils import timezone

from escrow.factories import OrderFactory
from reviews.models import Review, ReviewSide

__all__ = ["ReviewFactory"]


class ReviewFactory(factory.django.DjangoModelFactory):
    """A buyer's published review of a released order (trait `sealed`: not revealed yet)."""

    class Meta:
        model = Review

    class Params:
        sealed = factory.Trait(reveals_at=factory.LazyAttribute(lambda o: o.window_ends_at))

    order = factory.SubFactory(OrderFactory, released=True)
    side = ReviewSide.BUYER
    author = factory.LazyAttribute(
        lambda o: o.order.buyer if o.side == ReviewSide.BUYER else o.order.seller
    )
    subject = factory.LazyAttribute(
        lambda o: o.order.seller if o.side == ReviewSide.BUYER else o.order.buyer
    )
    store = factory.SelfAttribute("order.store")
    listing = factory.SelfAttribute("order.listing")
    rating = 5
    text = factory.Sequence(lambda n: f"Lovely work, would buy again ({n}).")
    created_at = factory.LazyFunction(timezone.now)
    window_ends_at = factory.LazyAttribute(
        lambda o: o.created_at + timedelta(days=settings.REVIEW_WINDOW_DAYS)
    )
    reveals_at = factory.LazyAttribute(lambda o: o.created_at)
