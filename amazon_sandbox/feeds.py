"""The Feeds API 2021-06-30 for JSON_LISTINGS_FEED: feed documents (upload URL, then the bytes at
it), feeds, their processing (when the control says) and the JSON processing report."""

import gzip
import json
import uuid

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import get_random_string

from amazon_sandbox import listings
from amazon_sandbox.http import Answer, ApiFailure, invalid_input, json_answer, not_found
from amazon_sandbox.models import SandboxDocument, SandboxFeed, SandboxListing

SUPPORTED_FEED_TYPES = {"JSON_LISTINGS_FEED"}
OPERATIONS = {"UPDATE", "PARTIAL_UPDATE", "PATCH", "DELETE"}


def documents_base() -> str:
    """Where feed documents are uploaded and downloaded: under the sandbox's own URLs, so the
    in-process transport and a browser or curl against a running site reach the same ones."""
    return f"{settings.SITE_URL}/amazon-sandbox/documents/"


def _document_url(document):
    return f"{documents_base()}{document.document_id}/?X-Amz-Signature={get_random_string(32)}"


def create_document(seller_id, body):
    content_type = body.get("contentType") if isinstance(body, dict) else None
    if not content_type:
        raise invalid_input("Request body is missing required property 'contentType'.")
    document = SandboxDocument.objects.create(
        document_id=f"amzn1.tortuga.4.na.{uuid.uuid4()}.T{get_random_string(12).upper()}",
        seller_id=seller_id,
        content_type=content_type,
    )
    return json_answer(
        201, {"feedDocumentId": document.document_id, "url": _document_url(document)}
    )


def get_document(seller_id, document_id):
    document = SandboxDocument.objects.filter(document_id=document_id, seller_id=seller_id).first()
    if document is None:
        raise not_found(f"Feed document {document_id} not found.")
    answer = {"feedDocumentId": document.document_id, "url": _document_url(document)}
    if document.compressed:
        answer["compressionAlgorithm"] = "GZIP"
    return json_answer(200, answer)


def transfer_document(method, document_id, body, content_type):
    """The presigned URL itself (S3 in Amazon's case): PUT stores the input, GET returns it."""
    document = SandboxDocument.objects.filter(document_id=document_id).first()
    if document is None:
        return Answer(
            404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"}
        )
    if method == "PUT":
        if document.input_feeds.exists() or document.compressed:
            return Answer(
                403,
                b"<Error><Code>AccessDenied</Code></Error>",
                {"Content-Type": "application/xml"},
            )
        document.content = body
        document.content_type = content_type or document.content_type
        document.save(update_fields=["content", "content_type"])
        return Answer(200, b"", {"ETag": f'"{uuid.uuid4().hex}"'})
    if method == "GET":
        if document.content is None:
            return Answer(
                404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"}
            )
        return Answer(200, bytes(document.content), {"Content-Type": document.content_type})
    return Answer(405, b"", {})


def create_feed(seller_id, body):
    if not isinstance(body, dict):
        raise invalid_input("The request body must be a JSON object.")
    feed_type = body.get("feedType")
    if feed_type not in SUPPORTED_FEED_TYPES:
        raise invalid_input(
            f"Invalid feedType: {feed_type!r}. The sandbox takes JSON_LISTINGS_FEED."
        )
    marketplace_ids = body.get("marketplaceIds")
    if not isinstance(marketplace_ids, list) or not marketplace_ids:
        raise invalid_input("Request body is missing required property 'marketplaceIds'.")
    document = SandboxDocument.objects.filter(
        document_id=body.get("inputFeedDocumentId", ""), seller_id=seller_id
    ).first()
    if document is None or document.content is None:
        raise invalid_input(
            "inputFeedDocumentId is not a feed document whose contents were uploaded."
        )
    feed = SandboxFeed.objects.create(
        feed_id="5" + get_random_string(10, "0123456789"),
        seller_id=seller_id,
        feed_type=feed_type,
        marketplace_ids=marketplace_ids,
        input_document=document,
    )
    return json_answer(202, {"feedId": feed.feed_id})


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00") if moment else None


def feed_json(feed):
    answer = {
        "feedId": feed.feed_id,
        "feedType": feed.feed_type,
        "marketplaceIds": feed.marketplace_ids,
        "createdTime": _iso(feed.created),
        "processingStatus": feed.status,
    }
    if feed.processing_started:
        answer["processingStartTime"] = _iso(feed.processing_started)
    if feed.processing_ended:
        answer["processingEndTime"] = _iso(feed.processing_ended)
    if feed.result_document_id:
        answer["resultFeedDocumentId"] = feed.result_document.document_id
    return answer


def get_feed(seller_id, feed_id):
    feed = SandboxFeed.objects.filter(feed_id=feed_id, seller_id=seller_id).first()
    if feed is None:
        raise not_found(f"Feed {feed_id} not found.")
    return json_answer(200, feed_json(feed))


def cancel_feed(seller_id, feed_id):
    feed = (
        SandboxFeed.objects.select_for_update().filter(feed_id=feed_id, seller_id=seller_id).first()
    )
    if feed is None:
        raise not_found(f"Feed {feed_id} not found.")
    if feed.status != SandboxFeed.Status.IN_QUEUE:
        raise ApiFailure(
            400,
            "InvalidInput",
            f"Feed {feed_id} is {feed.status}: only a queued feed can be cancelled.",
        )
    feed.status = SandboxFeed.Status.CANCELLED
    feed.save(update_fields=["status"])
    return Answer(200, b"", {})


# --- Processing -----------------------------------------------------------------------------------


def start(feed):
    if feed.status == SandboxFeed.Status.IN_QUEUE:
        feed.status = SandboxFeed.Status.IN_PROGRESS
        feed.processing_started = timezone.now()
        feed.save(update_fields=["status", "processing_started"])


def process(feed):
    """Apply every message of a queued or started feed, then write its processing report. Each
    message stands alone: an invalid one is reported and the others are applied."""
    start(feed)
    marketplace_id = feed.marketplace_ids[0]
    try:
        document = json.loads(bytes(feed.input_document.content))
        messages = document["messages"]
        if not isinstance(messages, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _fatal(
            feed,
            "The feed is not a JSON listings feed: it must be a JSON object with a 'messages' "
            "array.",
        )
    header_seller = (document.get("header") or {}).get("sellerId")
    if header_seller != feed.seller_id:
        return _fatal(
            feed,
            f"The sellerId in the feed's header ({header_seller!r}) is not the selling partner "
            "who submitted the feed.",
        )
    issues = []
    accepted = invalid = 0
    for message in messages:
        message_issues = _apply(feed.seller_id, marketplace_id, message)
        message_id = message.get("messageId", 0) if isinstance(message, dict) else 0
        issues += [
            {
                "messageId": message_id,
                "code": problem["code"],
                "severity": problem["severity"],
                "message": problem["message"],
                "attributeNames": problem.get("attributeNames", []),
            }
            for problem in message_issues
        ]
        if any(problem["severity"] == "ERROR" for problem in message_issues):
            invalid += 1
        else:
            accepted += 1
    return _finish(
        feed,
        SandboxFeed.Status.DONE,
        issues=issues,
        summary={
            "messagesProcessed": len(messages),
            "messagesAccepted": accepted,
            "messagesInvalid": invalid,
        },
    )


def _fatal(feed, message):
    return _finish(
        feed,
        SandboxFeed.Status.FATAL,
        issues=[{"messageId": 0, "code": "100001", "severity": "ERROR", "message": message}],
        summary={"messagesProcessed": 0, "messagesAccepted": 0, "messagesInvalid": 0},
    )


def _apply(seller_id, marketplace_id, message) -> list[dict]:
    if not isinstance(message, dict) or not message.get("sku"):
        return [listings.issue("100002", "The message has no 'sku'.")]
    sku, operation = message["sku"], message.get("operationType")
    if operation not in OPERATIONS:
        return [listings.issue("100003", f"'operationType' {operation!r} is not valid.")]
    existing = SandboxListing.objects.filter(
        seller_id=seller_id, marketplace_id=marketplace_id, sku=sku
    ).first()
    if operation == "DELETE":
        if existing is None:
            return [
                listings.issue("100004", f"SKU '{sku}' not found in marketplace {marketplace_id}")
            ]
        existing.delete()
        return []
    product_type = message.get("productType")
    if operation == "UPDATE":
        attributes = message.get("attributes")
    elif existing is None:
        return [listings.issue("100004", f"SKU '{sku}' not found in marketplace {marketplace_id}")]
    elif operation == "PATCH":
        try:
            attributes = listings.apply_patches(existing.attributes, message.get("patches"))
        except ValueError as exc:
            return [listings.issue("4000003", str(exc))]
    else:  # PARTIAL_UPDATE: the attributes given replace those of the same name
        attributes = {**existing.attributes, **(message.get("attributes") or {})}
    product_type = product_type or (existing.product_type if existing else "")
    problems = listings.validate(product_type, attributes, marketplace_id)
    if problems:
        return problems
    listings.store(seller_id, marketplace_id, sku, product_type, attributes)
    return []


def _finish(feed, status, *, issues, summary):
    errors = sum(1 for i in issues if i["severity"] == "ERROR")
    report = {
        "header": {"sellerId": feed.seller_id, "version": "2.0", "feedId": feed.feed_id},
        "issues": issues,
        "summary": {"errors": errors, "warnings": len(issues) - errors, **summary},
    }
    feed.result_document = SandboxDocument.objects.create(
        document_id=f"amzn1.tortuga.4.na.{uuid.uuid4()}.T{get_random_string(12).upper()}",
        seller_id=feed.seller_id,
        content_type="application/json",
        content=gzip.compress(json.dumps(report).encode()),
        compressed=True,
    )
    feed.status = status
    feed.processing_ended = timezone.now()
    feed.save(update_fields=["result_document", "status", "processing_ended"])
    return report
