"""amazon_sync.spapi through the real python-amazon-sp-api library, answered by the offline
SP-API sandbox at the HTTP layer (settings' AMAZON_SPAPI_TRANSPORT): Login with Amazon, the
Listings Items API, the Feeds API with its processing report, throttling and the consent page."""

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from amazon_sandbox import control
from amazon_sync import spapi

pytestmark = pytest.mark.django_db

MARKETPLACE = "ATVPDKIKX0DER"


@pytest.fixture
def creds():
    seller = control.new_selling_partner_id()
    return spapi.Credentials(
        refresh_token=control.refresh_token(seller),
        selling_partner_id=seller,
        marketplace_id=MARKETPLACE,
    )


def attributes(creds, **overrides):
    values = {
        "title": "Speckled stoneware mug",
        "brand": "Okafor Ceramics",
        "description": "Wheel-thrown, 350 ml.",
        "price_cents": 2450,
        "currency": "usd",
        "quantity": 7,
    }
    values.update(overrides)
    return spapi.listing_attributes(creds, **values)


def test_a_listing_is_created_goes_live_with_its_asin_changes_price_and_stock_and_is_deleted(
    creds,
):
    submitted = spapi.put_listing(
        creds, sku="mug-1", product_type="PRODUCT", attributes=attributes(creds)
    )
    assert submitted.status == "ACCEPTED"
    assert submitted.submission_id
    assert submitted.issues == []

    pending = spapi.get_listing(creds, sku="mug-1")
    assert pending.asin is None
    assert pending.statuses == []
    assert (pending.price_cents, pending.currency, pending.quantity) == (2450, "usd", 7)

    asin = control.assign_asin(creds.selling_partner_id, "mug-1")
    live = spapi.get_listing(creds, sku="mug-1")
    assert live.asin == asin
    assert live.statuses == ["BUYABLE", "DISCOVERABLE"]

    assert spapi.update_price(
        creds, sku="mug-1", product_type="PRODUCT", price_cents=1999, currency="usd"
    ).accepted
    assert spapi.update_quantity(creds, sku="mug-1", product_type="PRODUCT", quantity=0).accepted
    changed = spapi.get_listing(creds, sku="mug-1")
    assert (changed.price_cents, changed.quantity, changed.asin) == (1999, 0, asin)
    assert changed.statuses == ["DISCOVERABLE"]  # no stock: still listed, not buyable

    deleted = spapi.delete_listing(creds, sku="mug-1")
    assert deleted.status == "ACCEPTED"
    assert spapi.get_listing(creds, sku="mug-1") is None
    with pytest.raises(spapi.SpApiError) as missing:
        spapi.delete_listing(creds, sku="mug-1")
    assert missing.value.status == 404
    assert "mug-1" in missing.value.message


def test_a_sku_with_spaces_and_slashes_is_the_same_sku_at_amazon(creds):
    sku = "mug 1/blue & white"
    spapi.put_listing(creds, sku=sku, product_type="PRODUCT", attributes=attributes(creds))

    assert control.listing(creds.selling_partner_id, sku) is not None
    assert spapi.get_listing(creds, sku=sku).sku == sku
    assert spapi.delete_listing(creds, sku=sku).accepted


def test_missing_attributes_are_invalid_with_amazons_issue_for_each(creds):
    incomplete = attributes(creds)
    del incomplete["brand"], incomplete["fulfillment_availability"]

    result = spapi.put_listing(creds, sku="mug-2", product_type="PRODUCT", attributes=incomplete)

    assert result.status == "INVALID"
    assert {tuple(issue.attribute_names) for issue in result.issues} == {
        ("brand",),
        ("fulfillment_availability",),
    }
    brand = next(i for i in result.issues if i.attribute_names == ["brand"])
    assert brand.severity == "ERROR"
    assert brand.message == "'brand' is required but not supplied."
    assert spapi.get_listing(creds, sku="mug-2") is None  # nothing was created


def test_a_product_type_asks_for_its_own_attributes(creds):
    result = spapi.put_listing(creds, sku="bowl", product_type="HOME", attributes=attributes(creds))

    assert result.status == "INVALID"
    assert [issue.attribute_names for issue in result.issues] == [["material"]]


def test_an_invalid_patch_changes_nothing(creds):
    spapi.put_listing(creds, sku="mug-3", product_type="PRODUCT", attributes=attributes(creds))

    result = spapi.patch_listing(
        creds,
        sku="mug-3",
        product_type="PRODUCT",
        patches=[{"op": "delete", "path": "/attributes/item_name"}],
    )

    assert result.status == "INVALID"
    assert result.issues[0].attribute_names == ["item_name"]
    assert spapi.get_listing(creds, sku="mug-3").statuses == []  # still there, as it was
    with pytest.raises(ValueError):
        spapi.update_quantity(creds, sku="mug-3", product_type="PRODUCT", quantity=-1)


def test_a_rejected_listing_shows_amazons_message(creds):
    spapi.put_listing(creds, sku="mug-4", product_type="PRODUCT", attributes=attributes(creds))
    control.reject(
        creds.selling_partner_id,
        "mug-4",
        message="The brand name is not approved for this category.",
        attribute_names=["brand"],
    )

    state = spapi.get_listing(creds, sku="mug-4")

    assert state.statuses == []
    assert [(e.message, e.severity, e.attribute_names) for e in state.errors] == [
        ("The brand name is not approved for this category.", "ERROR", ["brand"])
    ]


def test_a_throttled_call_raises_with_how_long_to_wait_and_the_next_goes_through(creds):
    spapi.put_listing(creds, sku="mug-5", product_type="PRODUCT", attributes=attributes(creds))
    control.throttle(1, operation="patchListingsItem")

    with pytest.raises(spapi.SpApiThrottled) as throttled:
        spapi.update_quantity(creds, sku="mug-5", product_type="PRODUCT", quantity=3)

    assert throttled.value.status == 429
    assert throttled.value.code == "QuotaExceeded"
    assert throttled.value.retry_after == pytest.approx(0.2)  # 5 requests per second
    assert throttled.value.retryable
    assert spapi.get_listing(creds, sku="mug-5").quantity == 7  # the 429 changed nothing
    assert spapi.update_quantity(creds, sku="mug-5", product_type="PRODUCT", quantity=3).accepted
    assert spapi.get_listing(creds, sku="mug-5").quantity == 3


def test_a_429_stays_counted_when_the_callers_transaction_rolls_back(creds):
    from django.db import transaction

    spapi.put_listing(creds, sku="mug-6", product_type="PRODUCT", attributes=attributes(creds))
    control.throttle(1)

    with pytest.raises(spapi.SpApiThrottled), transaction.atomic():
        spapi.update_quantity(creds, sku="mug-6", product_type="PRODUCT", quantity=2)

    assert spapi.update_quantity(creds, sku="mug-6", product_type="PRODUCT", quantity=2).accepted


def test_a_bulk_feed_reports_each_message(creds):
    spapi.put_listing(creds, sku="old", product_type="PRODUCT", attributes=attributes(creds))
    broken = attributes(creds)
    del broken["item_name"]
    messages = [
        {
            "sku": "feed-1",
            "operationType": "UPDATE",
            "productType": "PRODUCT",
            "requirements": "LISTING",
            "attributes": attributes(creds, title="Jug"),
        },
        {
            "sku": "feed-2",
            "operationType": "UPDATE",
            "productType": "PRODUCT",
            "requirements": "LISTING",
            "attributes": broken,
        },
        {
            "sku": "old",
            "operationType": "PATCH",
            "productType": "PRODUCT",
            "patches": [
                {
                    "op": "replace",
                    "path": "/attributes/fulfillment_availability",
                    "value": spapi.fulfillment_availability(quantity=1),
                }
            ],
        },
        {"sku": "never-listed", "operationType": "DELETE"},
    ]
    feed_id = spapi.submit_listings_feed(creds, messages=messages)
    skus = [message["sku"] for message in messages]

    queued = spapi.get_feed_result(creds, feed_id=feed_id, skus=skus)
    assert (queued.processing_status, queued.messages, queued.done) == ("IN_QUEUE", [], False)
    control.process_feeds(feed_id, finish=False)
    assert spapi.get_feed_result(creds, feed_id=feed_id).processing_status == "IN_PROGRESS"

    control.process_feeds()
    result = spapi.get_feed_result(creds, feed_id=feed_id, skus=skus)

    assert result.processing_status == "DONE"
    assert [(m.message_id, m.sku, m.status) for m in result.messages] == [
        (1, "feed-1", "ACCEPTED"),
        (2, "feed-2", "INVALID"),
        (3, "old", "ACCEPTED"),
        (4, "never-listed", "INVALID"),
    ]
    assert result.messages[1].issues[0].attribute_names == ["item_name"]
    assert "never-listed" in result.messages[3].issues[0].message
    assert spapi.get_listing(creds, sku="feed-1").quantity == 7
    assert spapi.get_listing(creds, sku="feed-2") is None
    assert spapi.get_listing(creds, sku="old").quantity == 1


def test_a_feed_amazon_cannot_read_fails_every_message_and_applies_none(creds):
    # Another seller's id in the header (the token is the first seller's): Amazon refuses the feed.
    confused = spapi.Credentials(
        refresh_token=creds.refresh_token,
        selling_partner_id="ASOMEONEELSE1",
        marketplace_id=MARKETPLACE,
    )
    messages = [
        {
            "sku": sku,
            "operationType": "UPDATE",
            "productType": "PRODUCT",
            "attributes": attributes(creds),
        }
        for sku in ("jug-a", "jug-b")
    ]
    feed_id = spapi.submit_listings_feed(confused, messages=messages)
    control.process_feeds()

    result = spapi.get_feed_result(creds, feed_id=feed_id, skus=["jug-a", "jug-b"])

    assert result.processing_status == "FATAL"
    assert result.done
    assert [(m.sku, m.status) for m in result.messages] == [
        ("jug-a", "INVALID"),
        ("jug-b", "INVALID"),
    ]
    assert "sellerId" in result.messages[0].issues[0].message
    assert spapi.get_listing(creds, sku="jug-a") is None


def test_the_consent_page_sends_the_seller_back_and_the_code_becomes_a_refresh_token(client):
    url = spapi.authorization_url(state="st-42", redirect_uri="http://testserver/amazon/callback/")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/amazon-sandbox/apps/authorize/consent"
    assert query["application_id"] == ["amzn1.sp.solution.bazaar-offline-sandbox"]
    assert query["version"] == ["beta"]

    page = client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200
    assert b"Confirm" in page.content
    answer = client.post(f"{parts.path}?{parts.query}", {"selling_partner_id": "A1SELLER00042"})

    assert answer.status_code == 302
    back = urlsplit(answer["Location"])
    params = parse_qs(back.query)
    assert back.path == "/amazon/callback/"
    assert params["state"] == ["st-42"]
    assert params["selling_partner_id"] == ["A1SELLER00042"]

    token = spapi.exchange_authorization_code(
        code=params["spapi_oauth_code"][0], redirect_uri="http://testserver/amazon/callback/"
    )
    creds = spapi.Credentials(
        refresh_token=token, selling_partner_id="A1SELLER00042", marketplace_id=MARKETPLACE
    )
    assert spapi.put_listing(
        creds, sku="via-consent", product_type="PRODUCT", attributes=attributes(creds)
    ).accepted

    with pytest.raises(spapi.SpApiError) as reused:
        spapi.exchange_authorization_code(
            code=params["spapi_oauth_code"][0], redirect_uri="http://testserver/amazon/callback/"
        )
    assert (reused.value.status, reused.value.code) == (400, "invalid_grant")


def test_a_refresh_token_that_is_not_amazons_is_refused(creds):
    forged = spapi.Credentials(
        refresh_token="Atzr|forged", selling_partner_id="AFORGED0000", marketplace_id=MARKETPLACE
    )

    with pytest.raises(spapi.SpApiError) as refused:
        spapi.get_listing(forged, sku="anything")

    assert (refused.value.status, refused.value.code) == (400, "invalid_grant")


def test_a_seller_cannot_reach_another_sellers_listings(creds):
    spapi.put_listing(creds, sku="mine", product_type="PRODUCT", attributes=attributes(creds))
    other = spapi.Credentials(
        refresh_token=creds.refresh_token,
        selling_partner_id="AOTHERSELLER1",
        marketplace_id=MARKETPLACE,
    )

    with pytest.raises(spapi.SpApiError) as denied:
        spapi.get_listing(other, sku="mine")

    assert (denied.value.status, denied.value.code) == (403, "Unauthorized")


def test_prices_cross_as_exact_decimals(creds):
    offer = spapi.purchasable_offer(creds, price_cents=123456789, currency="usd")
    body = json.dumps(offer)

    assert '"value_with_tax": 1234567.89' in body
    spapi.put_listing(
        creds,
        sku="dear",
        product_type="PRODUCT",
        attributes=attributes(creds, price_cents=123456789),
    )
    assert spapi.get_listing(creds, sku="dear").price_cents == 123456789


def test_amazon_out_of_reach_is_an_error_a_task_can_retry(creds, settings):
    settings.AMAZON_SPAPI_TRANSPORT = "tests.test_amazon_spapi.Unreachable"

    with pytest.raises(spapi.SpApiError) as unreachable:
        spapi.get_listing(creds, sku="x")

    assert unreachable.value.status == 0
    assert unreachable.value.retryable


class Unreachable(httpx.BaseTransport):
    def handle_request(self, request):
        raise httpx.ConnectError("no route to host", request=request)


class GatewayDown(httpx.BaseTransport):
    """What stands in front of Amazon answering for it: HTML, or nothing at all."""

    def handle_request(self, request):
        if request.url.path.endswith("/throttled"):
            return httpx.Response(429, headers={"x-amzn-RateLimit-Limit": "0.5"})
        return httpx.Response(503, html="<html><body>Service Unavailable</body></html>")


def test_a_failure_without_amazons_error_body_is_an_error_not_an_empty_success(creds, settings):
    spapi.put_listing(creds, sku="mug-7", product_type="PRODUCT", attributes=attributes(creds))
    settings.AMAZON_SPAPI_TRANSPORT = "tests.test_amazon_spapi.GatewayDown"

    with pytest.raises(spapi.SpApiError) as unavailable:
        spapi.get_listing(creds, sku="mug-7")
    with pytest.raises(spapi.SpApiThrottled) as throttled:
        spapi.get_listing(creds, sku="throttled")

    assert (unavailable.value.status, unavailable.value.retryable) == (503, True)
    assert throttled.value.retry_after == pytest.approx(2.0)


def test_login_with_amazon_failing_without_json_is_an_error(creds, settings):
    settings.AMAZON_SPAPI_TRANSPORT = "tests.test_amazon_spapi.GatewayDown"

    with pytest.raises(spapi.SpApiError) as unavailable:
        spapi.get_listing(creds, sku="mug-8")

    assert unavailable.value.status == 503


def test_an_answer_says_how_fast_the_operation_may_be_called(creds):
    result = spapi.put_listing(
        creds, sku="mug-9", product_type="PRODUCT", attributes=attributes(creds)
    )

    assert result.rate_limit == 5.0
