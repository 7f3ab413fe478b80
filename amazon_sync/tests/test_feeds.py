"""Bulk sync: a store's catalogue in one JSON listings feed, Amazon's processing report read back
and each listing's result recorded and shown."""

import pytest

from accounts.factories import SellerFactory
from amazon_sync import tasks
from amazon_sync.models import AmazonFeed, AmazonListing, FeedStatus, SyncStatus
from marketplace.factories import ListingFactory, ServiceListingFactory
from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(amazon):
    store = SellerFactory().store
    amazon.connect(store)
    mug = ListingFactory(store=store, title="Mug", price_cents=1800, stock=4)
    bowl = ListingFactory(store=store, title="Bowl", price_cents=3200, stock=2)
    vase = ListingFactory(store=store, title="Vase", price_cents=5000, stock=1)
    # Not for Amazon: a service, a product priced in euros, one whose stock is not counted.
    ServiceListingFactory(store=store)
    ListingFactory(store=store, currency="eur")
    ListingFactory(store=store, stock=None)
    # The vase was set up as HOME, which needs a material Bazaar does not have.
    AmazonListing.objects.create(listing=vase, sku=f"BZ-{vase.pk}", product_type="HOME")
    return store, mug, bowl, vase


def test_a_feed_with_some_failing_items_reports_each(
    client, amazon, catalogue, django_capture_on_commit_callbacks
):
    store, mug, bowl, vase = catalogue
    client.force_login(store.owner)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/seller/amazon/feeds/")

    feed = AmazonFeed.objects.get(store=store)
    assert response.status_code == 302
    assert response["Location"] == f"/seller/amazon/feeds/{feed.pk}/"
    assert feed.status == FeedStatus.PROCESSING  # Amazon has not processed it yet
    assert [i.sku for i in feed.items.all()] == [f"BZ-{x.pk}" for x in (mug, bowl, vase)]

    amazon.process_feeds()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_due.delay()

    feed.refresh_from_db()
    assert feed.status == FeedStatus.DONE
    results = {i.sku: (i.result, i.messages) for i in feed.items.all()}
    assert results == {
        f"BZ-{mug.pk}": ("accepted", []),
        f"BZ-{bowl.pk}": ("accepted", []),
        f"BZ-{vase.pk}": ("invalid", ["'material' is required but not supplied."]),
    }
    assert amazon.quantity(f"BZ-{mug.pk}") == 4
    assert amazon.price(f"BZ-{bowl.pk}") == (32.0, "USD")
    statuses = dict(AmazonListing.objects.values_list("listing__title", "status"))
    assert statuses == {"Mug": SyncStatus.PENDING, "Bowl": SyncStatus.PENDING, "Vase": "error"}
    failed = Notification.objects.get(event_code="amazon.sync_failed")
    assert failed.context["listing_title"] == "Vase"

    page = client.get(f"/seller/amazon/feeds/{feed.pk}/").content.decode()
    assert page.count('data-result="accepted"') == 2
    assert "&#x27;material&#x27; is required but not supplied." in page

    api = client.get(f"/api/v1/seller/amazon/feeds/{feed.pk}/").json()
    assert [(i["sku"], i["result"]) for i in api["items"]] == [
        (f"BZ-{mug.pk}", "accepted"),
        (f"BZ-{bowl.pk}", "accepted"),
        (f"BZ-{vase.pk}", "invalid"),
    ]
    assert api["items"][2]["issues"][0]["attribute_names"] == ["material"]

    # Accepted items then go live like any listing once Amazon assigns their ASIN.
    amazon.assign_asin(f"BZ-{mug.pk}")
    tasks.refresh_due.delay()
    assert AmazonListing.objects.get(listing=mug).status == SyncStatus.LIVE


def test_a_feed_with_nothing_amazon_can_sell_is_refused(api_client, amazon):
    store = SellerFactory().store
    amazon.connect(store)
    ServiceListingFactory(store=store)
    api_client.force_authenticate(store.owner)

    response = api_client.post("/api/v1/seller/amazon/feeds/")

    assert response.status_code == 400
    assert "approved products with their stock set, priced in USD" in response.json()["listings"][0]
    assert not AmazonFeed.objects.exists()
    assert not amazon.calls


def test_a_feed_is_retried_when_amazon_throttles_its_upload(
    api_client, amazon, catalogue, django_capture_on_commit_callbacks, eager_retries
):
    store = catalogue[0]
    api_client.force_authenticate(store.owner)
    amazon.throttle(1)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/seller/amazon/feeds/")

    assert response.status_code == 202
    assert amazon.calls["submit_listings_feed"] == 2
    assert AmazonFeed.objects.get().status == FeedStatus.PROCESSING
