"""Reviews end to end in headless Chromium: after release the buyer reviews the seller on the
order page (the form's error first), the seller sees only that a review is waiting, reviews
back, reads the buyer's review and replies on the store's reviews tab, where the rating shows.
At 360 px nothing scrolls sideways, and no page breaks the Content Security Policy."""

import re

import pytest
from django.urls import reverse

from accounts.factories import SellerFactory, UserFactory
from escrow.factories import OrderFactory
from marketplace.factories import ListingFactory
from tests.browser.test_checkout_flow import log_in, shoot

pytestmark = pytest.mark.browser


def test_buyer_and_seller_review_each_other_and_the_seller_replies(
    live_server, transactional_db, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    url = live_server.url
    seller = SellerFactory(email="potter@example.com", full_name="Pat Potter")
    buyer = UserFactory(email="sam@example.com", full_name="Sam Buyer")
    listing = ListingFactory(store=seller.store, title="Speckled stoneware mug")
    order = OrderFactory(listing=listing, buyer=buyer, released=True)
    order_path = order.get_absolute_url()

    # --- The buyer reviews from the order page --------------------------------------------------
    buyer_context, page = log_in(browser, csp_watch, url, buyer, order_path)
    card = page.locator("#review")
    expect(card).to_contain_text("How did it go?")
    card.get_by_role("button", name="Leave a review").click()
    page.wait_for_url(url + reverse("order-review", args=[order.pk]))
    expect(page.locator(".field--name-rating .errorlist")).to_contain_text("required")
    shoot(page, artifacts_dir / "review-form-errors-360.png", 360)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("4 – Good").check()
    page.get_by_label("Your review").fill("Lovely glaze, packed with care.")
    page.get_by_role("button", name="Leave a review").click()
    page.wait_for_url(url + order_path + "#review")
    expect(page.locator('[data-review-state="sealed"]')).to_be_visible()
    buyer_context.close()

    # --- The seller sees a sealed review, reviews back, then reads it ---------------------------
    seller_context, page = log_in(browser, csp_watch, url, seller, order_path)
    card = page.locator("#review")
    expect(card.locator('[data-review-state="theirs-sealed"]')).to_be_visible()
    expect(card).not_to_contain_text("Lovely glaze")
    card.get_by_label("5 – Excellent").check()
    card.get_by_label("Your review").fill("Quick to pay, friendly.")
    card.get_by_role("button", name="Leave a review").click()
    page.wait_for_url(url + order_path + "#review")
    expect(page.locator("#review")).to_contain_text("Lovely glaze, packed with care.")
    shoot(page, artifacts_dir / "order-reviews-360.png", 360)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})

    # --- The store's reviews tab: the rating, the review, the seller's reply ---------------------
    page.goto(url + reverse("store-reviews", args=[seller.store.slug]))
    expect(page.locator(".store-header__rating")).to_contain_text("4.0 out of 5 · 1 review")
    page.get_by_label("Your public reply").fill("Thank you, Sam!")
    page.get_by_role("button", name="Publish my reply").click()
    page.wait_for_url(
        re.compile(re.escape(url + reverse("store-reviews", args=[seller.store.slug])))
    )
    expect(page.locator(".review__reply")).to_contain_text("Thank you, Sam!")
    shoot(page, artifacts_dir / "store-reviews-360.png", 360)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    seller_context.close()

    assert csp_watch.violations == [] and csp_watch.page_errors == []
