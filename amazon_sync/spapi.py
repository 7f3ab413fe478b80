"""The one place that talks to Amazon's Selling Partner API.

Everything goes through python-amazon-sp-api (`sp_api`): Login with Amazon (the seller's refresh
token for an access token, cached per token by the library; the authorization code for a refresh
token), the Listings Items API 2021-08-01 and the Feeds API 2021-06-30. Its HTTP is httpx; every
client made here is given one httpx client whose transport settings choose
(AMAZON_SPAPI_TRANSPORT): empty for the network, the offline sandbox's when no Amazon app is
configured. So the tests run the production code path, library included, against the sandbox.

Money crosses as integer cents and a currency; Amazon's amounts are decimals (core.money).
Amazon's answers are turned into the small dataclasses below, its errors into SpApiError (and
SpApiThrottled for 429, with how long to wait), so callers never see the library's types.
"""

import gzip
import json
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from core.money import MoneyError, from_minor_units, to_minor_units

LISTINGS_FEED_TYPE = "JSON_LISTINGS_FEED"
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
# Seller Central per region, where a seller authorizes the app (the consent page).
SELLER_CENTRAL = {
    "NA": "https://sellercentral.amazon.com",
    "EU": "https://sellercentral-europe.amazon.com",
    "FE": "https://sellercentral.amazon.co.jp",
}
# When Amazon answers 429 without a usable rate header: its slowest Listings Items rate is 5/s,
# the Feeds API's much lower; a few seconds is a safe first wait.
DEFAULT_RETRY_AFTER_SECONDS = 2.0
# The fulfilment channel of a seller-fulfilled offer (Bazaar's sellers ship themselves).
MERCHANT_FULFILLMENT_CHANNEL = "DEFAULT"


@dataclass(frozen=True)
class Credentials:
    """One seller's authorization: what the connect flow stores (the token encrypted)."""

    refresh_token: str
    selling_partner_id: str
    marketplace_id: str
    region: str = "NA"


@dataclass
class Issue:
    """One of Amazon's issues with a listing or a feed message (Amazon's words, for the seller)."""

    code: str
    message: str
    severity: str  # ERROR, WARNING or INFO
    attribute_names: list[str] = field(default_factory=list)


class SpApiError(Exception):
    """Amazon refused or failed a call. `status` is the HTTP status (0: no answer at all)."""

    def __init__(self, message, *, status=0, code="", issues=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.issues = issues or []

    @property
    def retryable(self):
        return self.status == 0 or self.status == 429 or self.status >= 500


class SpApiThrottled(SpApiError):
    """429: Amazon's rate limit for the operation was exceeded; try again after `retry_after`
    seconds (from x-amzn-RateLimit-Limit, requests per second, or Retry-After)."""

    def __init__(self, message, *, retry_after, **kwargs):
        super().__init__(message, status=429, **kwargs)
        self.retry_after = retry_after


@dataclass
class SubmissionResult:
    """Amazon's answer to a put, patch or delete: ACCEPTED (processed asynchronously) or
    INVALID (nothing changed; the issues say why)."""

    status: str
    submission_id: str
    issues: list[Issue] = field(default_factory=list)
    # The operation's rate (requests per second) Amazon answered with, to pace a batch by.
    rate_limit: float | None = None

    @property
    def accepted(self):
        return self.status == "ACCEPTED"


@dataclass
class ListingState:
    """A listing as Amazon has it now in the seller's marketplace."""

    sku: str
    asin: str | None
    statuses: list[str]  # BUYABLE, DISCOVERABLE; empty while Amazon is still processing
    issues: list[Issue]
    price_cents: int | None
    currency: str | None
    quantity: int | None

    @property
    def errors(self):
        return [issue for issue in self.issues if issue.severity == "ERROR"]


@dataclass
class FeedMessageResult:
    message_id: int
    sku: str
    status: str  # ACCEPTED or INVALID
    issues: list[Issue] = field(default_factory=list)


@dataclass
class FeedResult:
    feed_id: str
    processing_status: str  # IN_QUEUE, IN_PROGRESS, DONE, CANCELLED, FATAL
    messages: list[FeedMessageResult] = field(default_factory=list)

    @property
    def done(self):
        return self.processing_status in {"DONE", "CANCELLED", "FATAL"}


# --- Authorization (Login with Amazon) ------------------------------------------------------------


def authorization_url(*, state: str, redirect_uri: str) -> str:
    """Seller Central's consent page for this app. Amazon sends the seller back to redirect_uri
    with spapi_oauth_code, state and selling_partner_id. (`version=beta` while the app is not
    published in the Appstore, as Amazon requires for draft apps.)"""
    if not settings.AMAZON_SPAPI_APP_ID:
        raise SpApiError("Amazon is not configured: set AMAZON_SPAPI_APP_ID.")
    base = (
        settings.AMAZON_SELLER_CENTRAL_URL
        or SELLER_CENTRAL[_library().region_of(settings.AMAZON_MARKETPLACE_ID)]
    )
    query = urlencode(
        {
            "application_id": settings.AMAZON_SPAPI_APP_ID,
            "state": state,
            "redirect_uri": redirect_uri,
            "version": "beta",
        }
    )
    return f"{base}/apps/authorize/consent?{query}"


def exchange_authorization_code(*, code: str, redirect_uri: str) -> str:
    """The seller's refresh token for the spapi_oauth_code Amazon redirected back with (valid for
    five minutes, once). SP-API's exchange takes no redirect_uri; it is accepted so callers need
    not know that."""
    del redirect_uri
    answer = _library().authorize_auth_code(code)
    token = answer.get("refresh_token")
    if not token:
        raise SpApiError("Amazon did not return a refresh token for this authorization.")
    return token


# --- Listings Items API 2021-08-01 --------------------------------------------------------------


def put_listing(creds: Credentials, *, sku, product_type, attributes: dict) -> SubmissionResult:
    """Create or fully replace the listing for `sku` (productType and attributes as Amazon's
    product type definition names them; see listing_attributes())."""
    body = {"productType": product_type, "requirements": "LISTING", "attributes": attributes}
    answer = _call(
        creds,
        "listings",
        "put_listings_item",
        creds.selling_partner_id,
        sku,
        body=body,
        marketplaceIds=[creds.marketplace_id],
        includedData="issues",
    )
    return _submission(answer)


def patch_listing(
    creds: Credentials, *, sku, product_type, patches: list[dict]
) -> SubmissionResult:
    """JSON Patch operations on the listing's attributes ({"op": "replace", "path":
    "/attributes/<name>", "value": [...]})."""
    answer = _call(
        creds,
        "listings",
        "patch_listings_item",
        creds.selling_partner_id,
        sku,
        body={"productType": product_type, "patches": patches},
        marketplaceIds=[creds.marketplace_id],
        includedData="issues",
    )
    return _submission(answer)


def update_price(
    creds: Credentials, *, sku, product_type, price_cents: int, currency: str
) -> SubmissionResult:
    return patch_listing(
        creds,
        sku=sku,
        product_type=product_type,
        patches=[
            {
                "op": "replace",
                "path": "/attributes/purchasable_offer",
                "value": purchasable_offer(creds, price_cents=price_cents, currency=currency),
            }
        ],
    )


def update_quantity(creds: Credentials, *, sku, product_type, quantity: int) -> SubmissionResult:
    return patch_listing(
        creds,
        sku=sku,
        product_type=product_type,
        patches=[
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": fulfillment_availability(quantity=quantity),
            }
        ],
    )


def get_listing(creds: Credentials, *, sku) -> ListingState | None:
    """The listing as Amazon has it (ASIN once assigned, statuses, issues, offer, quantity), or
    None when Amazon has no listing for this SKU."""
    try:
        answer = _call(
            creds,
            "listings",
            "get_listings_item",
            creds.selling_partner_id,
            sku,
            marketplaceIds=[creds.marketplace_id],
            includedData="summaries,issues,offers,fulfillmentAvailability",
        )
    except SpApiError as exc:
        if exc.status == 404:
            return None
        raise
    return _listing_state(answer, sku=sku, marketplace_id=creds.marketplace_id)


def delete_listing(creds: Credentials, *, sku) -> SubmissionResult:
    """Remove the listing for `sku` from the marketplace. A SKU Amazon does not know raises
    SpApiError with status 404."""
    answer = _call(
        creds,
        "listings",
        "delete_listings_item",
        creds.selling_partner_id,
        sku,
        marketplaceIds=[creds.marketplace_id],
    )
    return _submission(answer)


# --- The attributes Bazaar sends ------------------------------------------------------------------


def purchasable_offer(creds: Credentials, *, price_cents: int, currency: str) -> list[dict]:
    """The `purchasable_offer` attribute: the price as Amazon's schema has it, a JSON number.

    The library serializes bodies with json.dumps, which takes no Decimal, so the exact decimal
    from core.money crosses as the float whose shortest repr is that same decimal: true for every
    amount with at most 15 significant digits, and checked here rather than assumed."""
    return [
        {
            "marketplace_id": creds.marketplace_id,
            "currency": currency.upper(),
            "our_price": [{"schedule": [{"value_with_tax": _json_number(price_cents, currency)}]}],
        }
    ]


def fulfillment_availability(*, quantity: int) -> list[dict]:
    """The `fulfillment_availability` attribute of a seller-fulfilled offer."""
    if quantity < 0:
        raise ValueError("A quantity cannot be negative.")
    return [{"fulfillment_channel_code": MERCHANT_FULFILLMENT_CHANNEL, "quantity": int(quantity)}]


def listing_attributes(
    creds: Credentials,
    *,
    title: str,
    brand: str,
    description: str,
    price_cents: int,
    currency: str,
    quantity: int,
    condition: str = "new_new",
) -> dict:
    """The attributes every product type asks for to create an offer-bearing listing."""
    marketplace = creds.marketplace_id
    return {
        "item_name": [{"value": title, "marketplace_id": marketplace}],
        "brand": [{"value": brand, "marketplace_id": marketplace}],
        "product_description": [{"value": description, "marketplace_id": marketplace}],
        "condition_type": [{"value": condition, "marketplace_id": marketplace}],
        "purchasable_offer": purchasable_offer(creds, price_cents=price_cents, currency=currency),
        "fulfillment_availability": fulfillment_availability(quantity=quantity),
    }


# --- Feeds API 2021-06-30 -------------------------------------------------------------------------


def submit_listings_feed(creds: Credentials, *, messages: list[dict]) -> str:
    """Send many listings at once as a JSON_LISTINGS_FEED; returns the feed id.

    Each message is Amazon's (sku, operationType UPDATE/PARTIAL_UPDATE/PATCH/DELETE, productType,
    attributes or patches). Messages without a messageId are numbered 1, 2, ... in order, which
    get_feed_result(skus=...) relies on to name the SKU of each result."""
    numbered = [
        {"messageId": position, **message} if "messageId" not in message else message
        for position, message in enumerate(messages, start=1)
    ]
    document = {
        "header": {"sellerId": creds.selling_partner_id, "version": "2.0", "issueLocale": "en_US"},
        "messages": numbered,
    }
    content = json.dumps(document).encode()
    # Without a file the library only asks for the upload URL; the upload goes through the same
    # transport as every other call (the library's own upload would open a client of its own).
    upload = _call(creds, "feeds", "create_feed_document", None, FEED_CONTENT_TYPE)
    try:
        response = _http_client().put(
            upload.payload["url"], content=content, headers={"Content-Type": FEED_CONTENT_TYPE}
        )
    except httpx.HTTPError as exc:
        raise SpApiError(f"Amazon's feed upload did not answer: {exc}") from exc
    if not response.is_success:
        raise SpApiError(
            f"Amazon refused the feed upload (HTTP {response.status_code}).",
            status=response.status_code,
        )
    feed = _call(
        creds,
        "feeds",
        "create_feed",
        LISTINGS_FEED_TYPE,
        upload.payload["feedDocumentId"],
        marketplaceIds=[creds.marketplace_id],
    )
    return str(feed.payload["feedId"])


def get_feed_result(creds: Credentials, *, feed_id, skus=()) -> FeedResult:
    """The feed's processing status; once DONE, its processing report read back: one result per
    message. The report names messages by messageId only, so `skus` (in the order the messages
    were submitted) names them and lets messages without issues be reported as ACCEPTED too."""
    feed = _call(creds, "feeds", "get_feed", feed_id)
    status = feed.payload.get("processingStatus", "")
    result = FeedResult(feed_id=str(feed_id), processing_status=status)
    document_id = feed.payload.get("resultFeedDocumentId")
    if status not in {"DONE", "FATAL"} or not document_id:
        return result
    report = _read_document(creds, document_id)
    if status == "FATAL":
        # Amazon could not read the feed at all: nothing was applied, every message failed.
        issues = [_issue(raw) for raw in report.get("issues") or []]
        result.messages = [
            FeedMessageResult(message_id=position, sku=sku, status="INVALID", issues=issues)
            for position, sku in enumerate(skus, start=1)
        ] or [FeedMessageResult(message_id=0, sku="", status="INVALID", issues=issues)]
        return result
    result.messages = _feed_messages(report, skus=list(skus))
    return result


# --- The library, bound to the transport settings choose --------------------------------------


_http_clients: dict[tuple, httpx.Client] = {}


def _http_client() -> httpx.Client:
    """One httpx client per process and configuration (it pools connections to Amazon), made on
    first use: never at import, so a forked worker makes its own."""
    key = (settings.AMAZON_SPAPI_TRANSPORT, settings.AMAZON_SPAPI_TIMEOUT_SECONDS)
    if key not in _http_clients:
        transport = (
            import_string(settings.AMAZON_SPAPI_TRANSPORT)()
            if settings.AMAZON_SPAPI_TRANSPORT
            else None
        )
        _http_clients[key] = httpx.Client(
            timeout=settings.AMAZON_SPAPI_TIMEOUT_SECONDS,
            transport=transport,
            event_hooks={"response": [_refuse_unreadable_failures]},
        )
    return _http_clients[key]


def _refuse_unreadable_failures(response: httpx.Response):
    """A failure whose body is not Amazon's error JSON (a gateway's HTML 503, an empty 429, S3's
    XML) becomes SpApiError here: the library would read an SP-API one as an empty success and
    fail on Login with Amazon's with a JSON decoding error."""
    if response.status_code < 400:
        return
    response.read()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("errors") or body.get("error")):
        return  # Amazon's own error body: the library raises its typed exception
    message = f"Amazon answered HTTP {response.status_code} ({response.request.url.host})."
    if response.status_code == 429:
        raise SpApiThrottled(message, retry_after=_retry_after(response.headers))
    raise SpApiError(message, status=response.status_code)


def _lwa_credentials():
    if not (settings.AMAZON_LWA_CLIENT_ID and settings.AMAZON_LWA_CLIENT_SECRET):
        raise SpApiError("Amazon is not configured: set AMAZON_LWA_CLIENT_ID and its secret.")
    return {
        "lwa_app_id": settings.AMAZON_LWA_CLIENT_ID,
        "lwa_client_secret": settings.AMAZON_LWA_CLIENT_SECRET,
    }


def _library():
    """The calls bound to python-amazon-sp-api (amazon_sync/spapi_library.py), imported on
    first use: importing the library costs each process about 5 MB, and only Celery's Amazon
    tasks and a seller connecting an account call Amazon, never a web worker serving pages."""
    from amazon_sync import spapi_library

    return spapi_library


def _call(creds, api, operation, *args, **kwargs):
    """`operation` of the library's `api` ("listings", "feeds", "feed_documents") for the
    seller `creds` names, its errors turned into SpApiError."""
    return _library().call(creds, api, operation, *args, **kwargs)


def _retry_after(headers) -> float:
    headers = headers or {}
    retry_after = headers.get("Retry-After") or headers.get("retry-after")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            pass
    limit = headers.get("x-amzn-RateLimit-Limit") or headers.get("x-amzn-ratelimit-limit")
    try:
        rate = float(limit)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    # The header is the operation's sustained rate in requests per second: one token refills
    # after 1/rate seconds.
    return 1.0 / rate if rate > 0 else DEFAULT_RETRY_AFTER_SECONDS


# --- Amazon's answers, as Bazaar's values ---------------------------------------------------------


def _issue(raw) -> Issue:
    names = raw.get("attributeNames")
    if names is None and raw.get("attributeName"):
        names = [raw["attributeName"]]
    return Issue(
        code=str(raw.get("code", "")),
        message=raw.get("message", ""),
        severity=raw.get("severity", "ERROR"),
        attribute_names=list(names or []),
    )


def _submission(answer) -> SubmissionResult:
    payload = answer.payload
    return SubmissionResult(
        status=payload.get("status", ""),
        submission_id=str(payload.get("submissionId", "")),
        issues=[_issue(raw) for raw in payload.get("issues") or []],
        rate_limit=_float_or_none(answer.rate_limit),
    )


def _float_or_none(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _listing_state(answer, *, sku, marketplace_id) -> ListingState:
    payload = answer.payload
    summary = next(
        (s for s in payload.get("summaries") or [] if s.get("marketplaceId") == marketplace_id),
        {},
    )
    offer = next(
        (
            o
            for o in payload.get("offers") or []
            if o.get("marketplaceId") == marketplace_id and o.get("offerType", "B2C") == "B2C"
        ),
        None,
    )
    price_cents = currency = None
    if offer and offer.get("price"):
        currency = offer["price"].get("currencyCode", "").lower() or None
        try:
            price_cents = to_minor_units(offer["price"].get("amount"), currency or "usd")
        except MoneyError:
            price_cents = None
    quantity = next(
        (
            f.get("quantity")
            for f in payload.get("fulfillmentAvailability") or []
            if f.get("fulfillmentChannelCode") == MERCHANT_FULFILLMENT_CHANNEL
        ),
        None,
    )
    return ListingState(
        sku=payload.get("sku", sku),
        asin=summary.get("asin") or None,
        statuses=list(summary.get("status") or []),
        issues=[_issue(raw) for raw in payload.get("issues") or []],
        price_cents=price_cents,
        currency=currency,
        quantity=quantity,
    )


def _json_number(price_cents: int, currency: str) -> float:
    amount = from_minor_units(int(price_cents), currency)
    number = float(amount)
    if Decimal(repr(number)) != amount:
        raise ValueError(f"{amount} cannot be sent to Amazon exactly.")
    return number


def _read_document(creds, document_id) -> dict:
    document = _call(creds, "feed_documents", "feed_document", document_id).payload
    try:
        response = _http_client().get(document["url"])
    except httpx.HTTPError as exc:
        raise SpApiError(f"Amazon's feed report did not download: {exc}") from exc
    if not response.is_success:
        raise SpApiError(
            f"Amazon's feed report did not download (HTTP {response.status_code}).",
            status=response.status_code,
        )
    content = response.content
    if document.get("compressionAlgorithm") == "GZIP":
        content = gzip.decompress(content)
    try:
        return json.loads(content)
    except ValueError as exc:
        raise SpApiError("Amazon's feed report is not the JSON processing report.") from exc


def _feed_messages(report, *, skus) -> list[FeedMessageResult]:
    issues_by_message: dict[int, list[Issue]] = {}
    for raw in report.get("issues") or []:
        issues_by_message.setdefault(int(raw.get("messageId", 0)), []).append(_issue(raw))
    message_ids = set(issues_by_message) | set(range(1, len(skus) + 1))
    results = []
    for message_id in sorted(message_ids):
        issues = issues_by_message.get(message_id, [])
        invalid = any(issue.severity == "ERROR" for issue in issues)
        results.append(
            FeedMessageResult(
                message_id=message_id,
                sku=skus[message_id - 1] if 0 < message_id <= len(skus) else "",
                status="INVALID" if invalid else "ACCEPTED",
                issues=issues,
            )
        )
    return results
