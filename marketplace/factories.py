from datetime import datetime

import factory
from django.utils import timezone

from accounts.factories import SellerFactory, UserFactory
from core.models import AuditEntry
from marketplace.models import (
    AvailabilityException,
    AvailabilityWindow,
    Category,
    Listing,
    ListingImage,
    ListingKind,
    ListingStatus,
    ServiceAvailability,
    Store,
)

__all__ = [
    "CategoryFactory",
    "StoreFactory",
    "ListingFactory",
    "ServiceListingFactory",
    "ListingImageFactory",
    "AuditEntryFactory",
    "availability_for",
]


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    description = factory.Faker("sentence")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Store {n}")
    slug = factory.Sequence(lambda n: f"store-{n}")
    tagline = factory.Faker("catch_phrase")
    description = factory.Faker("paragraph")
    about = factory.Faker("paragraph")
    contact_email = factory.LazyAttribute(lambda o: o.owner.email)


class ListingFactory(factory.django.DjangoModelFactory):
    """An approved product by default (what buyers see); pass status= for others."""

    class Meta:
        model = Listing

    store = factory.LazyFunction(lambda: SellerFactory().store)
    category = factory.SubFactory(CategoryFactory)
    kind = ListingKind.PRODUCT
    title = factory.Sequence(lambda n: f"Handmade thing {n}")
    description = factory.Faker("paragraph")
    price_cents = 2500
    currency = "usd"
    stock = 10
    status = ListingStatus.APPROVED
    submitted_at = factory.LazyFunction(timezone.now)
    reviewed_at = factory.LazyAttribute(
        lambda o: (
            timezone.now() if o.status in (ListingStatus.APPROVED, ListingStatus.REJECTED) else None
        )
    )


class ServiceListingFactory(ListingFactory):
    kind = ListingKind.SERVICE
    stock = None
    duration_minutes = 60


class ListingImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ListingImage

    listing = factory.SubFactory(ListingFactory)
    image = factory.django.ImageField(width=64, height=64, color="teal")
    alt_text = factory.Faker("sentence", nb_words=4)


class AuditEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEntry

    action = "marketplace.listing.created"
    actor = factory.SubFactory(UserFactory)
    target = factory.SubFactory(ListingFactory)
    target_id = factory.LazyAttribute(lambda o: str(o.target.pk))


def _time(text):
    return datetime.strptime(text, "%H:%M").time()


def availability_for(
    listing=None,
    *,
    time_zone="UTC",
    weekly=None,
    exceptions=(),
    buffer_minutes=0,
    horizon_days=60,
    min_notice_minutes=0,
):
    """A service's availability for tests: `weekly` maps weekday (0 = Monday) to
    [("09:00", "12:00"), ...] (default: every day 09:00-17:00); `exceptions` is
    [(date, None)] for a closed day or [(date, ("10:00", "12:00"))] for extra hours."""
    if weekly is None:
        weekly = dict.fromkeys(range(7), [("09:00", "17:00")])
    listing = listing or ServiceListingFactory()
    availability = ServiceAvailability.objects.create(
        listing=listing,
        time_zone=time_zone,
        buffer_minutes=buffer_minutes,
        horizon_days=horizon_days,
        min_notice_minutes=min_notice_minutes,
    )
    for weekday, hours in weekly.items():
        for start, end in hours:
            AvailabilityWindow.objects.create(
                availability=availability,
                weekday=weekday,
                start_time=_time(start),
                end_time=_time(end),
            )
    for day, hours in exceptions:
        AvailabilityException.objects.create(
            availability=availability,
            date=day,
            start_time=_time(hours[0]) if hours else None,
            end_time=_time(hours[1]) if hours else None,
        )
    return availability
