"""The Amazon the channel's tests talk to, with what a test needs to steer it: assign an ASIN,
reject the next submission, throttle, process feeds, and look at what Amazon holds.

Stand-in until the SP-API sandbox (amazon_sandbox, spapi helper) is merged: the fixture replaces
amazon_sync.spapi's operations, keeping its types and errors, so the tests speak only to the
`amazon` fixture's methods and move to the sandbox unchanged.
"""

import itertools
from dataclasses import dataclass, field

import pytest

from amazon_sync import spapi
from escrow.testing import buyer, listing, seller  # noqa: F401  (fixtures)


@dataclass
class FakeListing:
    sku: str
    product_type: str
    attributes: dict
    asin: str | None = None
    issues: list = field(default_factory=list)


class FakeAmazon:
    def __init__(self):
        self.listings: dict[str, FakeListing] = {}
        self.calls: list[tuple[str, str]] = []
        self.feeds: dict[str, dict] = {}
        self._throttle = 0
        self._retry_after = 0.0
        self._reject_next: list[spapi.Issue] | None = None
        self._reject_skus: dict[str, str] = {}
        self._ids = itertools.count(1)
        self.refresh_token = "Atzr|sandbox-refresh-token"

    # --- Steering ---------------------------------------------------------------------------

    def throttle(self, times, retry_after=0.0):
        self._throttle, self._retry_after = times, retry_after

    def reject_next(self, message, attribute="brand"):
        self._reject_next = [
            spapi.Issue(code="90220", message=message, severity="ERROR", attribute_names=[attribute])
        ]

    def reject_in_feed(self, sku, message):
        self._reject_skus[sku] = message

    def assign_asin(self, sku, asin="B0SANDBOX1"):
        self.listings[sku].asin = asin

    def flag(self, sku, message):
        self.listings[sku].issues = [
            spapi.Issue(code="18027", message=message, severity="ERROR", attribute_names=[])
        ]

    def process_feeds(self):
        for feed in self.feeds.values():
            if feed["status"] != "DONE":
                self._process(feed)

    # --- Reading ----------------------------------------------------------------------------

    def quantity(self, sku):
        return self.listings[sku].attributes["fulfillment_availability"][0]["quantity"]

    def price(self, sku):
        offer = self.listings[sku].attributes["purchasable_offer"][0]
        return offer["our_price"][0]["schedule"][0]["value_with_tax"], offer["currency"]

    def has(self, sku):
        return sku in self.listings

    def count(self, operation, sku=None):
        return sum(1 for op, s in self.calls if op == operation and (sku is None or s == sku))

    # --- The operations ---------------------------------------------------------------------

    def _gate(self, operation, sku=""):
        self.calls.append((operation, sku))
        if self._throttle:
            self._throttle -= 1
            raise spapi.SpApiThrottled(
                "You exceeded your quota for the requested resource.",
                retry_after=self._retry_after,
                code="QuotaExceeded",
            )

    def _result(self, status="ACCEPTED", issues=()):
        return spapi.SubmissionResult(
            status=status, submission_id=f"sub-{next(self._ids)}", issues=list(issues)
        )

    def exchange_authorization_code(self, *, code, redirect_uri):
        self._gate("exchange_authorization_code")
        if code != "good-code":
            raise spapi.SpApiError("The authorization code is invalid.", status=400)
        return self.refresh_token

    def authorization_url(self, *, state, redirect_uri):
        return f"https://sellercentral.example/apps/authorize/consent?state={state}"

    def put_listing(self, creds, *, sku, product_type, attributes):
        self._gate("put_listing", sku)
        if self._reject_next:
            issues, self._reject_next = self._reject_next, None
            return self._result("INVALID", issues)
        existing = self.listings.get(sku)
        self.listings[sku] = FakeListing(
            sku=sku,
            product_type=product_type,
            attributes=attributes,
            asin=existing.asin if existing else None,
        )
        return self._result()

    def patch_listing(self, creds, *, sku, product_type, patches):
        self._gate("patch_listing", sku)
        if sku not in self.listings:
            return self._result(
                "INVALID", [spapi.Issue("4000", "SKU not found", "ERROR", [])]
            )
        for patch in patches:
            self.listings[sku].attributes[patch["path"].split("/")[-1]] = patch["value"]
        return self._result()

    def update_price(self, creds, *, sku, product_type, price_cents, currency):
        self.calls.append(("update_price", sku))
        return self.patch_listing(
            creds,
            sku=sku,
            product_type=product_type,
            patches=[
                {
                    "op": "replace",
                    "path": "/attributes/purchasable_offer",
                    "value": spapi.purchasable_offer(
                        creds, price_cents=price_cents, currency=currency
                    ),
                }
            ],
        )

    def update_quantity(self, creds, *, sku, product_type, quantity):
        self.calls.append(("update_quantity", sku))
        return self.patch_listing(
            creds,
            sku=sku,
            product_type=product_type,
            patches=[
                {
                    "op": "replace",
                    "path": "/attributes/fulfillment_availability",
                    "value": spapi.fulfillment_availability(quantity=quantity),
                }
            ],
        )

    def get_listing(self, creds, *, sku):
        self._gate("get_listing", sku)
        item = self.listings.get(sku)
        if item is None:
            return None
        return spapi.ListingState(
            sku=sku,
            asin=item.asin,
            statuses=["BUYABLE"] if item.asin else [],
            issues=list(item.issues),
            price_cents=None,
            currency=None,
            quantity=item.attributes["fulfillment_availability"][0]["quantity"],
        )

    def delete_listing(self, creds, *, sku):
        self._gate("delete_listing", sku)
        if sku not in self.listings:
            raise spapi.SpApiError("Not found", status=404)
        del self.listings[sku]
        return self._result()

    def submit_listings_feed(self, creds, *, messages):
        self._gate("submit_listings_feed")
        feed_id = f"feed-{next(self._ids)}"
        self.feeds[feed_id] = {"status": "IN_QUEUE", "messages": messages, "results": []}
        return feed_id

    def _process(self, feed):
        for message in feed["messages"]:
            sku = message["sku"]
            if sku in self._reject_skus:
                issue = spapi.Issue("8541", self._reject_skus[sku], "ERROR", ["item_name"])
                feed["results"].append(
                    spapi.FeedMessageResult(message["messageId"], sku, "INVALID", [issue])
                )
                continue
            self.listings[sku] = FakeListing(
                sku=sku, product_type=message["productType"], attributes=message["attributes"]
            )
            feed["results"].append(spapi.FeedMessageResult(message["messageId"], sku, "ACCEPTED"))
        feed["status"] = "DONE"

    def get_feed_result(self, creds, *, feed_id, skus=()):
        self._gate("get_feed_result")
        feed = self.feeds[feed_id]
        return spapi.FeedResult(
            feed_id=feed_id,
            processing_status=feed["status"],
            messages=list(feed["results"]) if feed["status"] == "DONE" else [],
        )


OPERATIONS = (
    "authorization_url",
    "exchange_authorization_code",
    "put_listing",
    "patch_listing",
    "update_price",
    "update_quantity",
    "get_listing",
    "delete_listing",
    "submit_listings_feed",
    "get_feed_result",
)


@pytest.fixture
def amazon(monkeypatch):
    fake = FakeAmazon()
    for name in OPERATIONS:
        monkeypatch.setattr(spapi, name, getattr(fake, name))
    return fake


@pytest.fixture
def eager_retries():
    """Eager tasks that retry run their retries at once, as a worker would after the backoff.
    (Celery's eager mode raises a task's Retry to the caller while it propagates errors.)"""
    from config.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before
