"""A buyer cancels a paid order in a real browser: the listing says its cancellation policy in
plain words, the cancel page shows the exact refund before they confirm, and Stripe refunds that
amount. Webhooks reach the live server, as in test_checkout_flow.py."""

import re

import pytest
from django.urls import reverse

from core.stripe_client import client as stripe
from escrow.models import EscrowRefund, Order, OrderStatus, RefundStatus
from tests.browser.test_checkout_flow import (
    TITLE,
    buy_one,
    fill_card,
    log_in,
    shoot,
)

pytestmark = pytest.mark.browser


def test_a_buyer_cancels_under_moderate_and_gets_the_exact_refund(
    live_server, shop, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    url = live_server.url
    seller, buyer, listing = shop
    listing.cancellation_policy = "moderate"
    listing.save(update_fields=["cancellation_policy"])

    context, page = log_in(browser, csp_watch, url, buyer, listing.get_absolute_url())
    expect(page.locator("#buy-box")).to_contain_text("Moderate")
    order = buy_one(page, url, listing)
    fill_card(page, "4242 4242 4242 4242")
    page.wait_for_url(re.compile(re.escape(url + f"/orders/{order.pk}/paid/") + r"\?session_id="))
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED

    page.goto(url + order.get_absolute_url())
    page.get_by_role("link", name="Cancel the order").click()
    page.wait_for_url(url + reverse("order-cancel", args=[order.pk]))
    preview = page.locator("[data-cancel-preview]")
    expect(preview.locator("[data-refund-cents]")).to_have_text("US$25.00")
    expect(preview).to_contain_text("Cancellation policy: Moderate.")
    shoot(page, artifacts_dir / "order-cancel-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Cancel the order and refund US$25.00").click()
    page.wait_for_url(url + order.get_absolute_url())
    expect(page.locator(".messages")).to_contain_text("was cancelled. The refund is on its way.")
    expect(page.locator(".order-step")).to_contain_text("This order was cancelled")

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.CANCELLED
    refund = EscrowRefund.objects.get(order=order)
    assert (refund.status, refund.amount_cents) == (RefundStatus.SUCCEEDED, 2500)
    charge = stripe().v1.charges.retrieve(order.payments.get(status="succeeded").stripe_charge_id)
    assert charge.amount_refunded == 2500
    assert TITLE in page.content()

    # The seller sees the cancellation's refund in their ledger.
    seller_context, seller_page = log_in(browser, csp_watch, url, seller, reverse("seller-ledger"))
    row = seller_page.locator(f'.ledger-refunds [data-refund="{refund.pk}"]')
    expect(row).to_contain_text(f"#{order.pk}")
    expect(row).to_contain_text("Cancelled by the buyer.")
    expect(row.locator('[data-amount="refunded"]')).to_have_text("US$25.00")

    context.close()
    seller_context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
