"""The sandbox over HTTP, as another process (curl, a mobile build) would use it: Login with
Amazon, SP-API operations with Amazon's status codes, error bodies and headers, feed documents."""

import gzip
import json

import pytest

from amazon_sandbox import control
from amazon_sandbox.tests.helpers import lwa

pytestmark = pytest.mark.django_db

SP = "/amazon-sandbox/sp"
MARKETPLACE = "ATVPDKIKX0DER"


def listing_body(**attributes):
    body = {
        "productType": "PRODUCT",
        "requirements": "LISTING",
        "attributes": {
            "item_name": [{"value": "Oak board", "marketplace_id": MARKETPLACE}],
            "brand": [{"value": "Brandt", "marketplace_id": MARKETPLACE}],
            "condition_type": [{"value": "new_new", "marketplace_id": MARKETPLACE}],
            "purchasable_offer": [
                {
                    "marketplace_id": MARKETPLACE,
                    "currency": "USD",
                    "our_price": [{"schedule": [{"value_with_tax": 45.5}]}],
                }
            ],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 2}],
        },
    }
    body["attributes"].update(attributes)
    return body


def call(client, method, path, token, body=None):
    return client.generic(
        method,
        f"{SP}{path}",
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers={"x-amz-access-token": token},
    )


def test_login_with_amazon_refuses_what_amazon_refuses(client, settings, seller):
    token = control.refresh_token(seller)
    app = {"client_id": settings.AMAZON_LWA_CLIENT_ID, "client_secret": "x"}

    missing_client = lwa(client, grant_type="refresh_token", refresh_token=token)
    other_app = lwa(
        client,
        grant_type="refresh_token",
        refresh_token=token,
        client_id="amzn1.application-oa2-client.someoneelse",
        client_secret="x",
    )
    unknown_grant = lwa(client, grant_type="password", **app)
    granted = lwa(client, grant_type="refresh_token", refresh_token=token, **app)

    assert (missing_client.status_code, missing_client.json()["error"]) == (401, "invalid_client")
    assert (other_app.status_code, other_app.json()["error"]) == (400, "invalid_grant")
    assert (unknown_grant.status_code, unknown_grant.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )
    assert granted.status_code == 200
    assert granted.json()["access_token"].startswith("Atza|")
    assert (granted.json()["token_type"], granted.json()["expires_in"]) == ("bearer", 3600)


def test_a_listing_round_trip_with_amazons_headers(client, seller, access_token):
    path = f"/listings/2021-08-01/items/{seller}/board-1?marketplaceIds={MARKETPLACE}"

    put = call(client, "PUT", path, access_token, listing_body())
    got = call(
        client, "GET", path + "&includedData=summaries,offers,fulfillmentAvailability", access_token
    )

    assert put.status_code == 200
    assert put.json()["status"] == "ACCEPTED"
    assert put["x-amzn-RateLimit-Limit"] == "5.0"
    assert put["x-amzn-RequestId"]
    assert got.json()["offers"][0]["price"] == {"currencyCode": "USD", "amount": "45.50"}
    assert got.json()["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 2}
    ]
    assert got.json()["summaries"][0]["status"] == []
    assert "asin" not in got.json()["summaries"][0]


def test_errors_have_amazons_body(client, seller, access_token):
    path = f"/listings/2021-08-01/items/{seller}/nothing?marketplaceIds={MARKETPLACE}"

    no_token = call(client, "GET", path, "Atza|forged")
    missing = call(client, "GET", path, access_token)
    no_marketplace = call(client, "GET", f"/listings/2021-08-01/items/{seller}/x", access_token)
    no_route = call(client, "GET", "/orders/v0/orders", access_token)

    assert no_token.status_code == 403
    assert no_token.json()["errors"][0]["code"] == "Unauthorized"
    assert missing.status_code == 404
    assert missing.json() == {
        "errors": [
            {
                "code": "NOT_FOUND",
                "message": f"SKU 'nothing' not found in marketplace {MARKETPLACE}",
                "details": "",
            }
        ]
    }
    assert no_marketplace.status_code == 400
    assert no_marketplace.json()["errors"][0]["code"] == "InvalidInput"
    assert no_route.status_code == 404


def test_a_price_that_is_not_a_number_or_finer_than_a_cent_is_an_issue(
    client, seller, access_token
):
    path = f"/listings/2021-08-01/items/{seller}/board-2?marketplaceIds={MARKETPLACE}"
    for price in ("45.50", 45.505, 0):
        offer = listing_body()["attributes"]["purchasable_offer"]
        offer[0]["our_price"][0]["schedule"][0]["value_with_tax"] = price

        answer = call(client, "PUT", path, access_token, listing_body(purchasable_offer=offer))

        assert answer.json()["status"] == "INVALID", price
        assert answer.json()["issues"][0]["attributeNames"] == ["purchasable_offer"]


def test_throttled_calls_answer_429_quota_exceeded(client, seller, access_token):
    path = f"/listings/2021-08-01/items/{seller}/board-3?marketplaceIds={MARKETPLACE}"
    control.throttle(2)

    first, second = (call(client, "GET", path, access_token) for _ in range(2))
    third = call(client, "GET", path, access_token)

    for answer in (first, second):
        assert answer.status_code == 429
        assert answer["x-amzn-RateLimit-Limit"] == "5.0"
        assert answer.json()["errors"][0]["code"] == "QuotaExceeded"
    assert third.status_code == 404
    assert control.throttle_state().throttle_remaining == 0


def test_a_feed_document_is_uploaded_to_its_url_and_the_report_is_gzipped_json(
    client, seller, access_token
):
    created = call(
        client,
        "POST",
        "/feeds/2021-06-30/documents",
        access_token,
        {"contentType": "application/json"},
    )
    assert created.status_code == 201
    url = created.json()["url"]
    feed_document = {
        "header": {"sellerId": seller, "version": "2.0"},
        "messages": [
            {"messageId": 1, "sku": "a", "operationType": "UPDATE", **listing_body()},
            {
                "messageId": 2,
                "sku": "b",
                "operationType": "UPDATE",
                "productType": "PRODUCT",
                "attributes": {},
            },
        ],
    }
    uploaded = client.put(url, json.dumps(feed_document), content_type="application/json")
    assert uploaded.status_code == 200
    feed = call(
        client,
        "POST",
        "/feeds/2021-06-30/feeds",
        access_token,
        {
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [MARKETPLACE],
            "inputFeedDocumentId": created.json()["feedDocumentId"],
        },
    )
    assert feed.status_code == 202
    assert feed["x-amzn-RateLimit-Limit"] == "0.0083"

    control.process_feeds()
    done = call(client, "GET", f"/feeds/2021-06-30/feeds/{feed.json()['feedId']}", access_token)
    report_document = call(
        client,
        "GET",
        f"/feeds/2021-06-30/documents/{done.json()['resultFeedDocumentId']}",
        access_token,
    )
    report = json.loads(gzip.decompress(client.get(report_document.json()["url"]).content))

    assert done.json()["processingStatus"] == "DONE"
    assert report_document.json()["compressionAlgorithm"] == "GZIP"
    assert report["summary"] == {
        "errors": 5,
        "warnings": 0,
        "messagesProcessed": 2,
        "messagesAccepted": 1,
        "messagesInvalid": 1,
    }
    assert {issue["messageId"] for issue in report["issues"]} == {2}
    # A document a feed was made from cannot be changed afterwards.
    assert client.put(url, b"{}", content_type="application/json").status_code == 403


def test_a_feed_needs_an_uploaded_document_and_a_type_the_sandbox_knows(client, access_token):
    created = call(
        client, "POST", "/feeds/2021-06-30/documents", access_token, {"contentType": "text/tsv"}
    )
    not_uploaded = call(
        client,
        "POST",
        "/feeds/2021-06-30/feeds",
        access_token,
        {
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [MARKETPLACE],
            "inputFeedDocumentId": created.json()["feedDocumentId"],
        },
    )
    flat_file = call(
        client,
        "POST",
        "/feeds/2021-06-30/feeds",
        access_token,
        {"feedType": "POST_FLAT_FILE_LISTINGS_DATA", "marketplaceIds": [MARKETPLACE]},
    )

    assert not_uploaded.status_code == 400
    assert flat_file.status_code == 400
    assert "JSON_LISTINGS_FEED" in flat_file.json()["errors"][0]["message"]


def test_a_feed_that_is_not_json_is_fatal(client, seller, access_token):
    created = call(
        client,
        "POST",
        "/feeds/2021-06-30/documents",
        access_token,
        {"contentType": "application/json"},
    )
    client.put(created.json()["url"], b"sku\tprice", content_type="text/tsv")
    feed = call(
        client,
        "POST",
        "/feeds/2021-06-30/feeds",
        access_token,
        {
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [MARKETPLACE],
            "inputFeedDocumentId": created.json()["feedDocumentId"],
        },
    )

    control.process_feeds()

    done = call(client, "GET", f"/feeds/2021-06-30/feeds/{feed.json()['feedId']}", access_token)
    assert done.json()["processingStatus"] == "FATAL"
