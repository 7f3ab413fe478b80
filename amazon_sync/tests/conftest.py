"""The Amazon the channel's tests talk to: the offline SP-API sandbox, reached through
amazon_sync.spapi and the real python-amazon-sp-api library at the HTTP layer, and steered as
Amazon's side would be through amazon_sandbox.control (assign an ASIN, reject, throttle, process
feeds). `amazon` wraps the control with what the tests read: a listing's quantity and price as
Amazon holds them, and how many calls of each operation Bazaar made (counted on the way through,
each call still going to the sandbox)."""

from collections import Counter

import pytest
from celery import current_app

from amazon_sandbox import control
from amazon_sync import spapi
from amazon_sync.factories import AmazonAccountFactory
from escrow.testing import buyer, listing, seller  # noqa: F401  (fixtures)

COUNTED = (
    "put_listing",
    "update_price",
    "update_quantity",
    "get_listing",
    "delete_listing",
    "submit_listings_feed",
    "get_feed_result",
)


class Amazon:
    def __init__(self, monkeypatch):
        self.calls = Counter()
        for name in COUNTED:
            monkeypatch.setattr(spapi, name, self._counted(name, getattr(spapi, name)))

    def _counted(self, name, operation):
        def call(*args, **kwargs):
            self.calls[name] += 1
            return operation(*args, **kwargs)

        return call

    def connect(self, store):
        """`store` connected to a sandbox seller account (as the consent flow leaves it)."""
        seller_id = control.new_selling_partner_id()
        return AmazonAccountFactory(
            store=store, selling_partner_id=seller_id, token=control.refresh_token(seller_id)
        )

    @staticmethod
    def _row(sku):
        rows = [row for row in control.listings() if row.sku == sku]
        return rows[0] if rows else None

    def has(self, sku):
        return self._row(sku) is not None

    def quantity(self, sku):
        return self._row(sku).attributes["fulfillment_availability"][0]["quantity"]

    def price(self, sku):
        offer = self._row(sku).attributes["purchasable_offer"][0]
        return offer["our_price"][0]["schedule"][0]["value_with_tax"], offer["currency"]

    def product_type(self, sku):
        return self._row(sku).product_type

    def attribute(self, sku, name):
        return self._row(sku).attributes[name][0]["value"]

    def assign_asin(self, sku, asin=None):
        return control.assign_asin(self._row(sku).seller_id, sku, asin=asin)

    def reject(self, sku, message):
        control.reject(self._row(sku).seller_id, sku, message=message)

    throttle = staticmethod(control.throttle)
    process_feeds = staticmethod(control.process_feeds)


@pytest.fixture
def amazon(db, monkeypatch):
    return Amazon(monkeypatch)


@pytest.fixture
def eager_retries():
    """Eager tasks that retry run their retries at once, as a worker would after the backoff.
    (Celery's eager mode raises a task's Retry to the caller while it propagates errors.)"""
    before = current_app.conf.task_eager_propagates
    current_app.conf.task_eager_propagates = False
    yield
    current_app.conf.task_eager_propagates = before
