"""Staff see bookings in the admin (#14): inline on the order, and a list filtered by status and
seller, read-only (a booking changes only with its order or by the parties' agreement)."""

from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.factories import StaffFactory, UserFactory
from core import clock
from escrow import selectors, services
from escrow.models import BookingStatus
from marketplace.factories import ServiceListingFactory, availability_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(seller):
    listing = ServiceListingFactory(
        store=seller.store, price_cents=5000, currency="usd", duration_minutes=30
    )
    availability_for(listing, time_zone="Europe/Paris")
    return listing


def test_the_order_shows_its_booking_and_the_list_filters_by_status_and_seller(
    client, service, buyer, seller, django_assert_max_num_queries
):
    now = clock.now()
    slots = selectors.listing_free_slots(
        listing=service,
        availability=service.availability,
        start=now + timedelta(days=2),
        end=now + timedelta(days=3),
    )
    held = services.order_create(buyer=buyer, listing_id=service.pk, slot_start=slots[0])
    cancelled = services.order_create(
        buyer=UserFactory(), listing_id=service.pk, slot_start=slots[1]
    )
    services.order_cancel(order=cancelled, actor=cancelled.buyer)
    client.force_login(StaffFactory(is_superuser=True))

    order_page = client.get(reverse("admin:escrow_order_change", args=[held.pk]))
    listing = client.get(reverse("admin:escrow_booking_changelist"))
    only_held = client.get(
        reverse("admin:escrow_booking_changelist"), {"status__exact": BookingStatus.HELD}
    )
    by_seller = client.get(
        reverse("admin:escrow_booking_changelist"), {"seller__id__exact": str(seller.pk)}
    )

    assert order_page.status_code == 200
    assert (
        reverse("admin:escrow_booking_change", args=[held.booking.pk])
        in order_page.content.decode()
    )
    assert "(Europe/Paris)" in order_page.content.decode()
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    assert [b.order_id for b in only_held.context["cl"].result_list] == [held.pk]
    assert by_seller.context["cl"].result_count == 2
    with django_assert_max_num_queries(20):
        client.get(reverse("admin:escrow_booking_changelist"))
    detail = client.get(reverse("admin:escrow_booking_change", args=[held.booking.pk]))
    assert detail.status_code == 200
