"""Escrow end to end in a real browser: a buyer orders, pays on Stripe Checkout (the sandbox's
stand-in), the seller ships it, the buyer confirms receipt and approves, and the seller sees the
money released.

The seller is onboarded through the sandbox's hosted onboarding with Django's test client
(as escrow/tests/conftest.py does); everything else happens in headless Chromium against the
live server, with Stripe's webhooks delivered to the live server's endpoints.
"""

import re

import pytest
from django.urls import reverse

from accounts.factories import DEFAULT_PASSWORD
from escrow.models import EscrowRelease, Order, OrderStatus, ReleaseStatus
from tests.browser.conftest import SHOP_TITLE

pytestmark = pytest.mark.browser

TITLE = SHOP_TITLE


def log_in(browser, csp_watch, base_url, user, next_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = csp_watch.attach(context.new_page())
    page.goto(f"{base_url}{reverse('login')}?next={next_path}")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + next_path)
    return context, page


def buy_one(page, url, listing, screenshot=None):
    from playwright.sync_api import expect

    box = page.locator("#buy-box")
    expect(box).to_contain_text("US$25.00")
    expect(box).to_contain_text("Your payment is held in escrow until you approve the delivery.")
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    page.get_by_label("Quantity").fill("1")
    box.get_by_role("button", name=re.compile("^Buy now")).click()
    # The checkout step: where to ship it.
    expect(page.get_by_role("heading", level=1)).to_contain_text("send it?")
    page.get_by_label("Full name").fill("Sam Buyer")
    page.get_by_label("Address line 1").fill("1 Main Street")
    page.get_by_label("Town or city").fill("Springfield")
    page.get_by_label("Postal code").fill("62701")
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Save this address for next time").check()
    page.get_by_role("button", name=re.compile("^Place order")).click()
    page.wait_for_url(re.compile(re.escape(url) + r"/orders/\d+/$"))
    order = Order.objects.get(listing=listing)
    page.get_by_role("button", name="Pay US$25.00").click()
    page.wait_for_url(url + "/stripe-sandbox/checkout/**")
    expect(page.get_by_text("Stripe sandbox — test mode")).to_be_visible()
    return order


def fill_card(page, number):
    email = page.get_by_label("Email")
    if email.count():
        email.fill("sam@example.com")
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Name on card").fill("Sam Buyer")
    page.get_by_role("button", name="Pay US$25.00").click()


def shoot(page, path, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=str(path), full_page=True)


def test_buy_pay_deliver_approve_and_the_seller_is_paid(
    live_server, shop, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    url = live_server.url
    seller, buyer, listing = shop

    # --- The buyer logs in, opens the listing, buys one and pays on Stripe Checkout ----------
    buyer_context, page = log_in(browser, csp_watch, url, buyer, listing.get_absolute_url())
    order = buy_one(page, url, listing, screenshot=artifacts_dir / "listing-buy-box-1280.png")
    fill_card(page, "4242 4242 4242 4242")

    page.wait_for_url(
        re.compile(re.escape(url + f"/orders/{order.pk}/paid/") + r"\?session_id=cs_")
    )
    expect(page.get_by_role("heading", name="Payment confirmed, held in escrow")).to_be_visible()
    shoot(page, artifacts_dir / "order-paid-1280.png", 1280)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED

    # --- The seller sees the address and marks it shipped --------------------------------------
    seller_context, seller_page = log_in(browser, csp_watch, url, seller, reverse("orders-selling"))
    row = seller_page.locator(".order-row", has_text=TITLE)
    expect(row).to_contain_text("Paid, held in escrow")
    expect(row).to_contain_text("you get US$22.50")
    shoot(seller_page, artifacts_dir / "orders-selling-390.png", 390)
    seller_page.set_viewport_size({"width": 1280, "height": 900})
    row.get_by_role("link").click()
    seller_page.wait_for_url(url + order.get_absolute_url())
    expect(seller_page.locator("[data-shipping-address]")).to_contain_text("1 Main Street")
    assert seller_page.get_by_role("button", name="Mark delivered").count() == 0
    seller_page.get_by_label("Carrier").select_option("ups")
    seller_page.get_by_label("Tracking number").fill("1Z999AA10123456784")
    seller_page.get_by_role("button", name="Mark shipped").click()
    expect(seller_page.locator(".order-step")).to_contain_text("Shipped — on its way to the buyer")

    # --- The buyer follows the parcel, confirms receipt, sees the countdown and approves ------
    page.goto(url + order.get_absolute_url())
    step = page.locator(".order-step")
    expect(step).to_contain_text("1Z999AA10123456784")
    expect(step.get_by_role("link", name="Track the parcel")).to_have_attribute(
        "href", "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
    expect(step.locator("[data-countdown-seconds]")).to_have_text("21 days")
    page.get_by_role("button", name="I received it").click()
    expect(page.locator(".order-step")).to_contain_text("Received — check it and approve")
    expect(step.locator("[data-countdown-seconds]")).to_have_text("14 days")
    shoot(page, artifacts_dir / "order-delivered-buyer-390.png", 390)
    # On a phone the order room fits the screen: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Approve and release payment").click()
    expect(page.locator(".messages")).to_contain_text(
        f"US$22.50 was released to {seller.store.name}"
    )
    release = EscrowRelease.objects.get(order=order)
    assert (release.status, release.transfer_cents) == (ReleaseStatus.TRANSFERRED, 2250)

    # --- The seller sees it completed and the money on the ledger ----------------------------
    seller_page.goto(url + order.get_absolute_url())
    expect(seller_page.locator(".order-header")).to_contain_text("Completed")
    expect(seller_page.locator("[data-released-amount]")).to_have_text("US$22.50")
    expect(seller_page.locator('[data-amount="commission"]')).to_have_text("−US$2.50")
    expect(seller_page.locator(".timeline")).to_contain_text(
        "Buyer approved; payment released to the seller"
    )
    shoot(seller_page, artifacts_dir / "order-page-1280.png", 1280)
    shoot(seller_page, artifacts_dir / "order-page-390.png", 390)

    seller_page.set_viewport_size({"width": 1280, "height": 900})
    seller_page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    seller_page.get_by_role("navigation", name="Seller").get_by_role("link", name="Ledger").click()
    seller_page.wait_for_url(url + reverse("seller-ledger"))
    expect(seller_page.locator('[data-total="released"]')).to_have_text("US$22.50")
    expect(seller_page.locator('[data-total="commission"]')).to_have_text("US$2.50")
    expect(seller_page.locator('[data-total="held"]')).to_have_text("US$0.00")
    expect(seller_page.locator(".ledger-table")).to_contain_text(
        f"Transfer to the seller for order #{order.pk}"
    )
    expect(seller_page.locator(".ledger-line--in [data-amount]")).to_have_text("+US$22.50")
    shoot(seller_page, artifacts_dir / "seller-ledger-1280.png", 1280)
    shoot(seller_page, artifacts_dir / "seller-ledger-390.png", 390)

    buyer_context.close()
    seller_context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []


def test_a_declined_card_is_shown_and_the_order_can_still_be_paid(
    live_server, shop, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    url = live_server.url
    _, buyer, listing = shop
    context, page = log_in(browser, csp_watch, url, buyer, listing.get_absolute_url())
    order = buy_one(page, url, listing)

    fill_card(page, "4000 0000 0000 0002")
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined")
    assert page.url.startswith(url + "/stripe-sandbox/checkout/")

    page.goto(url + order.get_absolute_url())
    error = page.locator("[data-payment-error]")
    expect(error).to_contain_text("Your last payment did not go through.")
    expect(error).to_contain_text("declined")
    expect(page.get_by_role("button", name="Pay US$25.00")).to_be_visible()
    shoot(page, artifacts_dir / "order-payment-declined-390.png", 390)
    shoot(page, artifacts_dir / "order-payment-declined-1280.png", 1280)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT

    context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
