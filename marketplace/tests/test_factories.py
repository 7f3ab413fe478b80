"""Every factory builds a saved object that passes model validation and the domain's own rules."""

import pytest

from marketplace import factories, services
from marketplace.models import ListingKind, ListingStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", factories.__all__)
def test_factory_builds_a_valid_saved_object(name):
    obj = getattr(factories, name)()

    assert obj.pk is not None
    type(obj).objects.get(pk=obj.pk)  # really in the database
    obj.full_clean()


def test_listing_factory_makes_an_approved_product_its_seller_can_edit():
    listing = factories.ListingFactory()
    assert listing.status == ListingStatus.APPROVED
    assert listing.kind == ListingKind.PRODUCT
    assert listing.store.owner.is_seller

    # The service re-checks every field together: a factory listing must pass the same rules.
    services.listing_update(listing=listing, actor=listing.store.owner, price_cents=2600)
    listing.refresh_from_db()
    assert listing.price_cents == 2600
    assert listing.status == ListingStatus.APPROVED


def test_service_listing_factory_follows_the_service_rules():
    listing = factories.ServiceListingFactory()
    assert listing.kind == ListingKind.SERVICE
    assert listing.stock is None
    assert listing.duration_minutes > 0
    services.listing_update(listing=listing, actor=listing.store.owner, price_cents=9900)
    listing.refresh_from_db()
    assert listing.price_cents == 9900


@pytest.mark.parametrize("status", list(ListingStatus))
def test_listing_factory_builds_every_status(status):
    listing = factories.ListingFactory(status=status)
    listing.refresh_from_db()
    assert listing.status == status
    reviewed = status in (ListingStatus.APPROVED, ListingStatus.REJECTED)
    assert (listing.reviewed_at is not None) == reviewed


def test_listing_image_factory_stores_a_real_image_file():
    image = factories.ListingImageFactory()
    assert image.image.storage.exists(image.image.name)
    assert image.image.width == 64


def test_audit_entry_factory_points_at_its_target():
    entry = factories.AuditEntryFactory()
    entry.refresh_from_db()
    assert entry.target is not None
    assert entry.target_id == str(entry.target.pk)
