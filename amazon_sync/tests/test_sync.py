"""A listing's life on Amazon, through the seller's API and pages, the catalogue's own changes
(edits, sales, cancellations) and the tasks that talk to Amazon."""

import pytest
from django.db.models import F

from amazon_sync import tasks
from amazon_sync.factories import AmazonAccountFactory
from amazon_sync.models import AmazonListing, SyncStatus
from escrow import services as escrow
from escrow.models import OrderStatus
from escrow.services.cancellations import order_cancel
from escrow.services.orders import order_cancel_unpaid
from escrow.testing import pay_on_checkout_page, place_order
from marketplace import services as catalogue
from marketplace.factories import ListingFactory
from marketplace.models import Listing
from notifications.models import Notification

pytestmark = pytest.mark.django_db

SKU = "BZ-{}"


@pytest.fixture
def shop(seller, amazon):
    """The Stripe-onboarded seller's store, connected to a sandbox Amazon seller account."""
    amazon.connect(seller.store)
    return seller


def publish(api_client, seller, listing, capture, **body):
    api_client.force_authenticate(seller)
    with capture(execute=True):
        response = api_client.post(
            f"/api/v1/seller/amazon/listings/{listing.pk}/publish/", body, format="json"
        )
    return response


def row_of(listing):
    return AmazonListing.objects.get(listing=listing)


def refresh(listing):
    tasks.refresh_listing.delay(amazon_listing_id=row_of(listing).pk)
    return row_of(listing)


def test_publish_then_asin_then_price_and_stock_follow_then_delist(
    api_client, shop, listing, amazon, django_capture_on_commit_callbacks
):
    sku = SKU.format(listing.pk)
    response = publish(
        api_client, shop, listing, django_capture_on_commit_callbacks, product_type="PRODUCT"
    )

    assert response.status_code == 202
    detail = api_client.get(f"/api/v1/seller/amazon/listings/{listing.pk}/").json()
    assert detail["amazon"]["status"] == "pending"
    assert amazon.quantity(sku) == 5
    assert amazon.price(sku) == (25.0, "USD")
    assert amazon.product_type(sku) == "PRODUCT"
    assert amazon.attribute(sku, "item_name") == listing.title
    assert amazon.attribute(sku, "brand") == shop.store.name
    assert amazon.attribute(sku, "condition_type") == "new_new"

    amazon.assign_asin(sku, "B0TESTASIN")
    row = refresh(listing)
    assert (row.status, row.asin) == (SyncStatus.LIVE, "B0TESTASIN")
    live = Notification.objects.get(recipient=shop, event_code="amazon.listing_live")
    assert "B0TESTASIN" in live.message

    with django_capture_on_commit_callbacks(execute=True):
        catalogue.listing_update(listing=listing, actor=shop, price_cents=1999, stock=3)
    assert amazon.price(sku) == (19.99, "USD")
    assert amazon.quantity(sku) == 3
    row = row_of(listing)
    assert (row.pushed_price_cents, row.pushed_quantity) == (1999, 3)
    assert row.pushed_seq == row.desired_seq

    detail = api_client.get(f"/api/v1/seller/amazon/listings/{listing.pk}/").json()
    assert detail["amazon"]["asin"] == "B0TESTASIN"
    assert detail["amazon"]["pushed_quantity"] == 3

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/v1/seller/amazon/listings/{listing.pk}/delist/")
    assert response.status_code == 202
    assert not amazon.has(sku)
    assert row_of(listing).status == SyncStatus.DELISTED

    # Delisted: Bazaar's changes no longer go to Amazon.
    with django_capture_on_commit_callbacks(execute=True):
        catalogue.listing_update(listing=listing, actor=shop, stock=9)
    assert not amazon.has(sku)


def test_amazons_validation_errors_are_shown_to_the_seller_on_the_page_and_api(
    api_client, client, shop, listing, amazon, django_capture_on_commit_callbacks
):
    # Amazon's HOME product type needs a material, which Bazaar's listings do not have.
    response = publish(
        api_client, shop, listing, django_capture_on_commit_callbacks, product_type="HOME"
    )

    assert response.status_code == 202
    body = api_client.get(f"/api/v1/seller/amazon/listings/{listing.pk}/").json()["amazon"]
    assert body["status"] == "error"
    assert body["issues"][0]["message"] == "'material' is required but not supplied."
    assert body["issues"][0]["attribute_names"] == ["material"]
    client.force_login(shop)
    page = client.get(f"/seller/amazon/listings/{listing.pk}/").content.decode()
    assert "&#x27;material&#x27; is required but not supplied." in page
    note = Notification.objects.get(recipient=shop, event_code="amazon.sync_failed")
    assert "'material' is required but not supplied." in note.message
    listing_api = api_client.get(f"/api/v1/seller/listings/{listing.pk}/").json()
    assert listing_api["amazon"]["status"] == "error"

    # The seller picks a product type Bazaar can fill in: sent again, the error is gone.
    publish(api_client, shop, listing, django_capture_on_commit_callbacks, product_type="PRODUCT")
    row = row_of(listing)
    assert (row.status, row.issues) == (SyncStatus.PENDING, [])


def test_throttled_calls_are_retried_until_amazon_answers(
    api_client, shop, listing, amazon, django_capture_on_commit_callbacks, eager_retries
):
    amazon.throttle(2)

    publish(api_client, shop, listing, django_capture_on_commit_callbacks)

    assert amazon.calls["put_listing"] == 3
    assert row_of(listing).status == SyncStatus.PENDING
    assert amazon.quantity(SKU.format(listing.pk)) == 5


def test_a_listing_throttled_past_every_retry_shows_the_error(
    api_client, shop, listing, amazon, django_capture_on_commit_callbacks, eager_retries
):
    amazon.throttle(100)

    publish(api_client, shop, listing, django_capture_on_commit_callbacks)

    row = row_of(listing)
    assert row.status == SyncStatus.ERROR
    assert "Amazon did not answer after several tries" in row.last_error
    assert amazon.calls["put_listing"] == tasks.put_listing.max_retries + 1


def test_a_sale_lowers_amazons_stock_exactly_once_even_when_the_push_runs_twice(
    api_client, client, shop, listing, buyer, amazon, django_capture_on_commit_callbacks
):
    sku = SKU.format(listing.pk)
    publish(api_client, shop, listing, django_capture_on_commit_callbacks)
    pushes = amazon.calls["update_quantity"]

    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
    _, url = escrow.payment_checkout_start(
        order=order,
        buyer=buyer,
        success_url="http://testserver/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/cancelled",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED

    assert amazon.quantity(sku) == 3
    assert amazon.calls["update_quantity"] == pushes + 1
    row = row_of(listing)
    # The same push again (a retried or duplicated task), and an older one arriving late.
    assert tasks.push_offer.delay(amazon_listing_id=row.pk, seq=row.desired_seq).get() == "done"
    assert (
        tasks.push_offer.delay(amazon_listing_id=row.pk, seq=row.desired_seq - 1).get()
        == "superseded"
    )
    assert amazon.quantity(sku) == 3
    assert amazon.calls["update_quantity"] == pushes + 1


def test_a_cancelled_order_gives_its_stock_back_on_amazon_too(
    api_client, shop, listing, buyer, amazon, django_capture_on_commit_callbacks
):
    sku = SKU.format(listing.pk)
    publish(api_client, shop, listing, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=5)
    assert amazon.quantity(sku) == 0

    with django_capture_on_commit_callbacks(execute=True):
        order_cancel_unpaid(order=order, actor=buyer)

    assert amazon.quantity(sku) == 5


def test_a_paid_order_cancelled_and_refunded_puts_its_stock_back_on_amazon(
    api_client, client, shop, listing, buyer, amazon, django_capture_on_commit_callbacks
):
    sku = SKU.format(listing.pk)
    publish(api_client, shop, listing, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=1)
    _, url = escrow.payment_checkout_start(
        order=order,
        buyer=buyer,
        success_url="http://testserver/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/cancelled",
    )
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)
    assert amazon.quantity(sku) == 4

    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order=order, actor=shop, reason="Broke in the kiln")

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert amazon.quantity(sku) == 5


def test_a_burst_of_changes_is_pushed_once_with_the_newest_values(
    api_client, shop, listing, amazon, django_capture_on_commit_callbacks
):
    sku = SKU.format(listing.pk)
    publish(api_client, shop, listing, django_capture_on_commit_callbacks)
    before = amazon.calls["update_quantity"]

    # Three edits in a row: their three tasks run after the debounce, oldest first.
    with django_capture_on_commit_callbacks(execute=False) as queued:
        catalogue.listing_update(listing=listing, actor=shop, stock=4)
    with django_capture_on_commit_callbacks(execute=False) as queued_too:
        catalogue.listing_update(listing=listing, actor=shop, stock=2)
    with django_capture_on_commit_callbacks(execute=True):
        catalogue.listing_update(listing=listing, actor=shop, stock=7)
    for callback in [*queued, *queued_too]:
        with django_capture_on_commit_callbacks(execute=True):
            callback()

    assert amazon.quantity(sku) == 7
    assert amazon.calls["update_quantity"] == before + 1


def test_archiving_a_listing_takes_its_stock_off_amazon(
    api_client, shop, listing, amazon, django_capture_on_commit_callbacks
):
    sku = SKU.format(listing.pk)
    publish(api_client, shop, listing, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        catalogue.listing_archive(listing=listing, actor=shop)

    assert amazon.quantity(sku) == 0


def test_amazon_reporting_a_problem_later_turns_the_listing_to_error(
    api_client, shop, listing, amazon, django_capture_on_commit_callbacks
):
    sku = SKU.format(listing.pk)
    publish(api_client, shop, listing, django_capture_on_commit_callbacks)
    amazon.assign_asin(sku)
    refresh(listing)
    amazon.reject(sku, "This product may be a restricted product.")

    row = refresh(listing)

    assert row.status == SyncStatus.ERROR
    assert row.problems == ["This product may be a restricted product."]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "draft"}, "Only an approved listing"),
        ({"stock": None}, "Set how many you have in stock"),
        ({"currency": "eur"}, "sells in USD"),
    ],
)
def test_a_listing_amazon_cannot_sell_is_refused_with_the_reason(
    api_client, amazon, change, message
):
    account = AmazonAccountFactory()
    seller = account.store.owner
    listing = ListingFactory(store=account.store, **change)
    api_client.force_authenticate(seller)

    response = api_client.post(
        f"/api/v1/seller/amazon/listings/{listing.pk}/publish/", {}, format="json"
    )

    assert response.status_code == 400
    assert message in response.json()["listing"][0]
    assert not amazon.calls


def test_publishing_without_an_amazon_account_is_refused(api_client, amazon):
    listing = ListingFactory()
    api_client.force_authenticate(listing.store.owner)

    response = api_client.post(
        f"/api/v1/seller/amazon/listings/{listing.pk}/publish/", {}, format="json"
    )

    assert response.status_code == 409
    assert "Connect your Amazon seller account" in response.json()["detail"]


def test_an_unknown_product_type_is_a_field_error(api_client, amazon):
    account = AmazonAccountFactory()
    listing = ListingFactory(store=account.store)
    api_client.force_authenticate(account.store.owner)

    response = api_client.post(
        f"/api/v1/seller/amazon/listings/{listing.pk}/publish/",
        {"product_type": "SPACESHIP"},
        format="json",
    )

    assert response.status_code == 400
    assert "product_type" in response.json()


def test_the_beat_job_pushes_a_change_whose_task_was_lost_and_refreshes_pending_listings(
    api_client, shop, listing, amazon, django_capture_on_commit_callbacks, settings
):
    sku = SKU.format(listing.pk)
    publish(api_client, shop, listing, django_capture_on_commit_callbacks)
    amazon.assign_asin(sku)
    # A change recorded whose push task never reached the broker.
    Listing.objects.filter(pk=listing.pk).update(stock=1)
    AmazonListing.objects.filter(listing=listing).update(desired_seq=F("desired_seq") + 1)
    settings.AMAZON_SYNC_POLL_SECONDS = -60

    result = tasks.refresh_due.delay().get()

    assert result == {"refreshed": 1, "feeds": 0, "pushed": 1}
    assert amazon.quantity(sku) == 1
    assert row_of(listing).status == SyncStatus.LIVE
