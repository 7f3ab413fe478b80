"""A new user signs up, opens a store, lists something and, once staff approve it, buyers see it."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.factories import StaffFactory
from marketplace.models import Listing, ListingStatus
from marketplace.services import listing_approve

pytestmark = pytest.mark.browser

TITLE = "Speckled stoneware mug"
PASSWORD = "quiet-lantern-harbour-42"


def test_seller_lists_and_buyer_sees_approved_listing(
    live_server, transactional_db, browser, csp_watch, artifacts_dir
):
    url = live_server.url

    # --- The seller, in their own browser context --------------------------------------------
    seller_context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = csp_watch.attach(seller_context.new_page())

    page.goto(url + reverse("signup"))
    page.get_by_label("Email").fill("potter@example.com")
    page.get_by_label("Full name").fill("Pat Potter")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(url + reverse("home"))
    welcome = page.get_by_role("status").filter(has_text="Welcome to Bazaar")
    assert welcome.is_visible()
    # site.js is served under the strict CSP: the dismiss button works.
    welcome.get_by_role("button", name="Dismiss this message").click()
    assert page.get_by_text("Welcome to Bazaar").count() == 0
    # Selling needs a confirmed address: open the link sign-up emailed.
    key = re.search(r"/accounts/email/confirm/(\S+?)/", mail.outbox[-1].body).group(1)
    page.goto(url + reverse("email-confirm", args=[key]))
    page.get_by_role("button", name="Confirm potter@example.com").click()
    page.wait_for_url(url + reverse("account"))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sell").click()
    page.wait_for_url(url + reverse("seller-onboard"))
    page.get_by_label("Display name").fill("Pat Potter Ceramics")
    page.get_by_label("Store name").fill("Potter's Wheel")
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Default currency").select_option("usd")
    page.get_by_role("button", name="Open my store").click()
    page.wait_for_url(url + reverse("seller-dashboard"))
    assert page.get_by_role("heading", name="Your listings").is_visible()

    page.get_by_role("link", name="New listing").first.click()
    page.wait_for_url(url + reverse("seller-listing-create"))
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Description").fill("Wheel-thrown, holds 350 ml. Dishwasher safe.")
    page.get_by_label("Price").fill("12.50")
    page.get_by_role("button", name="Save and submit for review").click()
    page.wait_for_url(url + reverse("seller-dashboard"))
    row = page.locator(".seller-listing", has_text=TITLE)
    assert row.locator(".badge:not(.amazon-badge)").inner_text() == "Pending review"
    assert "US$12.50" in row.inner_text()
    seller_context.close()

    listing = Listing.objects.get(title=TITLE)
    assert (listing.status, listing.price_cents, listing.currency) == (
        ListingStatus.PENDING_REVIEW,
        1250,
        "usd",
    )

    # --- Staff approve it (the admin action is another page; the service is the same) -------
    listing_approve(listing=listing, actor=StaffFactory())

    # --- A buyer who is not signed in -------------------------------------------------------
    buyer_context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = csp_watch.attach(buyer_context.new_page())

    page.goto(url + reverse("home"))
    # The stylesheet loaded (a broken static setup would leave the page unstyled).
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).position") == (
        "sticky"
    )
    page.screenshot(path=str(artifacts_dir / "home-1280.png"), full_page=True)

    page.goto(url + reverse("listing-list"))
    card = page.locator(".listing-card", has_text=TITLE)
    assert card.is_visible()
    assert card.locator(".listing-card__price").inner_text() == "US$12.50"
    assert "Potter's Wheel" in card.inner_text()
    page.screenshot(path=str(artifacts_dir / "listing-list-1280.png"), full_page=True)

    card.click()
    page.wait_for_url(re.compile(r".*/listings/\d+/$"))
    assert page.get_by_role("heading", name=TITLE).is_visible()
    assert page.locator(".buy-box__price").inner_text() == "US$12.50"
    page.screenshot(path=str(artifacts_dir / "listing-detail-1280.png"), full_page=True)

    # The same pages on a phone-sized screen.
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in [("home", reverse("home")), ("listing-list", reverse("listing-list"))]:
        page.goto(url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name} overflows"
        page.screenshot(path=str(artifacts_dir / f"{name}-390.png"), full_page=True)
    buyer_context.close()

    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
