"""The seller's Amazon pages and API as a whole: what each shows, that another seller's listing or
feed does not exist for them, the lists' query counts, and staff's "Sync now" in the admin."""

import pytest
from django.contrib.messages import get_messages

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from amazon_sync import services, tasks
from amazon_sync.models import AmazonFeed, AmazonListing, SyncStatus
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(amazon, django_capture_on_commit_callbacks):
    """A connected store with one listing on Amazon (pending its ASIN)."""
    store = SellerFactory().store
    amazon.connect(store)
    listing = ListingFactory(store=store, title="Speckled mug", stock=6)
    with django_capture_on_commit_callbacks(execute=True):
        services.amazon_listing_publish(listing=listing, actor=store.owner)
    return listing


def test_the_sync_status_shows_on_the_dashboard_the_listing_form_and_the_amazon_pages(
    client, published, amazon
):
    seller = published.store.owner
    client.force_login(seller)
    amazon.assign_asin(f"BZ-{published.pk}", asin="B0MUGMUG01")
    tasks.refresh_listing.delay(amazon_listing_id=AmazonListing.objects.get().pk)

    dashboard = client.get("/seller/").content.decode()
    assert 'data-amazon-status="live"' in dashboard
    assert "B0MUGMUG01" in dashboard
    form = client.get(f"/seller/listings/{published.pk}/edit/").content.decode()
    assert 'data-amazon-status="live"' in form
    home = client.get("/seller/amazon/").content.decode()
    assert "Speckled mug" in home and "B0MUGMUG01" in home
    page = client.get(f"/seller/amazon/listings/{published.pk}/").content.decode()
    assert "BZ-" in page and "Sync now" in page and "Delist from Amazon" in page


def test_an_unpublished_listing_offers_publishing_with_a_product_type(client, amazon):
    store = SellerFactory().store
    amazon.connect(store)
    listing = ListingFactory(store=store)
    client.force_login(store.owner)

    page = client.get(f"/seller/amazon/listings/{listing.pk}/").content.decode()

    assert "Publish to Amazon" in page
    assert 'name="product_type"' in page
    assert 'data-amazon-status="not_published"' in page


def test_a_page_publish_refused_shows_the_reason_on_the_form(client, amazon):
    store = SellerFactory().store
    amazon.connect(store)
    listing = ListingFactory(store=store, stock=None)
    client.force_login(store.owner)

    response = client.post(
        f"/seller/amazon/listings/{listing.pk}/publish/", {"product_type": "PRODUCT"}
    )

    assert response.status_code == 400
    assert "Set how many you have in stock first" in response.content.decode()
    assert not AmazonListing.objects.exists()


def test_another_seller_gets_404_for_every_listing_and_feed_page_and_endpoint(
    client, api_client, published
):
    feed = AmazonFeed.objects.create(store=published.store)
    other = SellerFactory()
    client.force_login(other)
    api_client.force_authenticate(other)
    pk = published.pk

    for url in (
        f"/seller/amazon/listings/{pk}/",
        f"/seller/amazon/feeds/{feed.pk}/",
        f"/seller/listings/{pk}/edit/",
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        f"/seller/amazon/listings/{pk}/publish/",
        f"/seller/amazon/listings/{pk}/sync/",
        f"/seller/amazon/listings/{pk}/delist/",
    ):
        assert client.post(url, {"product_type": "PRODUCT"}).status_code == 404, url
    for url in (f"/api/v1/seller/amazon/listings/{pk}/", f"/api/v1/seller/amazon/feeds/{feed.pk}/"):
        assert api_client.get(url).status_code == 404, url
    for action in ("publish", "sync", "delist"):
        url = f"/api/v1/seller/amazon/listings/{pk}/{action}/"
        assert api_client.post(url, {}, format="json").status_code == 404, url
    assert api_client.get("/api/v1/seller/amazon/listings/").json()["results"] == []
    assert api_client.get("/api/v1/seller/amazon/feeds/").json()["results"] == []
    assert AmazonListing.objects.get(listing=published).status == SyncStatus.PENDING


def test_a_buyer_is_told_to_become_a_seller(api_client):
    api_client.force_authenticate(UserFactory())

    assert api_client.get("/api/v1/seller/amazon/").status_code == 403
    assert api_client.get("/api/v1/seller/amazon/listings/").status_code == 403


def _many(store, count):
    for n in range(count):
        listing = ListingFactory(store=store)
        if n % 2:
            AmazonListing.objects.create(
                listing=listing, sku=f"BZ-{listing.pk}", status=SyncStatus.LIVE, asin="B0X"
            )


def test_the_lists_query_counts_stay_flat(
    client, api_client, amazon, django_assert_max_num_queries
):
    store = SellerFactory().store
    amazon.connect(store)
    _many(store, 3)
    client.force_login(store.owner)
    api_client.force_authenticate(store.owner)

    def counts():
        with django_assert_max_num_queries(30) as pages:
            client.get("/seller/amazon/")
            client.get("/seller/")
        with django_assert_max_num_queries(30) as api:
            api_client.get("/api/v1/seller/amazon/listings/")
            api_client.get("/api/v1/seller/listings/")
        return len(pages.captured_queries), len(api.captured_queries)

    few = counts()
    _many(store, 12)
    assert counts() == few


def test_staff_sync_now_from_the_admin(
    client, published, amazon, django_capture_on_commit_callbacks
):
    staff = StaffFactory()
    client.force_login(staff)
    row = AmazonListing.objects.get(listing=published)
    amazon.assign_asin(row.sku, asin="B0ADMINSYN")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/amazon_sync/amazonlisting/",
            {"action": "sync_now", "_selected_action": [row.pk], "index": 0},
        )

    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["1 listing queued to sync with Amazon."]
    row.refresh_from_db()
    assert (row.status, row.asin) == (SyncStatus.LIVE, "B0ADMINSYN")
    # The account's page in the admin never shows the token.
    account = published.store.amazon_account
    page = client.get(f"/admin/amazon_sync/amazonaccount/{account.pk}/change/").content.decode()
    assert account.selling_partner_id in page
    assert account.refresh_token not in page
