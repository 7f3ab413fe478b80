"""A seller follows their money to the bank in a real browser: the balances page shows a released
sale available, they request a payout (reviewing it first), see it paid once the sandbox's clock
passes its arrival, find the order it paid out in the history, read the earnings chart and
download its CSV. At phone width nothing scrolls sideways. Webhooks reach the live server, as in
test_checkout_flow.py."""

import re

import pytest
from django.urls import reverse

from escrow.testing import sell_and_release
from payouts.models import Payout, PayoutStatus
from stripe_sandbox import control as sandbox
from tests.browser.test_checkout_flow import log_in, shoot

pytestmark = pytest.mark.browser


def test_a_seller_requests_a_payout_sees_it_paid_and_reads_their_earnings(
    live_server, shop, client, browser, csp_watch, artifacts_dir, settings
):
    from playwright.sync_api import expect

    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    url = live_server.url
    seller, buyer, listing = shop
    order = sell_and_release(client, buyer=buyer, seller=seller, listing=listing)
    sandbox.advance_clock(days=3)  # the transfer settles: available at Stripe

    context, page = log_in(browser, csp_watch, url, seller, reverse("seller-payouts"))
    usd = page.locator('[data-currency="usd"]')
    expect(usd.locator('[data-figure="available"]')).to_have_text("US$45.00")
    expect(usd.locator('[data-figure="in-escrow"]')).to_have_text("US$0.00")
    shoot(page, artifacts_dir / "seller-payouts-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Amount").fill("45.00")
    page.get_by_label("Standard").check()
    page.get_by_role("button", name="Review payout").click()
    quote = page.locator("[data-quote]")
    expect(quote.locator("[data-quote-bank]")).to_have_text("US$45.00")
    page.get_by_role("button", name="Confirm payout").click()
    page.wait_for_url(url + reverse("seller-payouts"))
    expect(page.locator(".messages")).to_contain_text("US$45.00 is on its way to your bank.")
    payout = Payout.objects.get(seller=seller)
    row = page.locator(f'[data-payout="{payout.pk}"]')
    expect(row).to_have_attribute("data-status", re.compile("pending|in_transit"))

    sandbox.advance_clock(days=3)  # past the arrival date: Stripe says payout.paid
    page.reload()
    expect(row).to_have_attribute("data-status", PayoutStatus.PAID)
    expect(row).to_contain_text("Paid")
    expect(usd.locator('[data-figure="available"]')).to_have_text("US$0.00")
    expect(usd.locator('[data-figure="paid-out"]')).to_have_text("US$45.00")

    page.locator("[data-history-link]").click()
    page.wait_for_url(url + reverse("seller-payout-history"))
    covered = page.locator(f'[data-payout="{payout.pk}"] [data-covers="{order.pk}"]')
    expect(covered).to_contain_text("US$45.00")
    shoot(page, artifacts_dir / "seller-payout-history-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(url + reverse("seller-earnings") + "?period=month")
    chart = page.locator('[data-currency="usd"] svg[role="img"]')
    expect(chart).to_be_visible()
    expect(page.locator('[data-currency="usd"] [data-total]')).to_have_text("US$45.00")
    with page.expect_download() as download_info:
        page.locator("[data-export]").click()
    with open(download_info.value.path(), encoding="utf-8") as downloaded:
        csv_text = downloaded.read()
    assert csv_text.startswith("date,order_id,account,description,amount")
    assert f",{order.pk}," in csv_text
    shoot(page, artifacts_dir / "seller-earnings-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
