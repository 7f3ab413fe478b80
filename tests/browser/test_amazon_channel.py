"""A seller connects Amazon through the sandbox's Seller Central consent page and publishes a
listing, in a real browser: the sync status moves from not published to pending to live with
its ASIN on the seller's pages."""

import pytest

from accounts.factories import DEFAULT_PASSWORD, SellerFactory
from amazon_sandbox import control
from amazon_sync.models import AmazonAccount, AmazonListing, SyncStatus
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.browser


def test_a_seller_connects_amazon_and_publishes_a_listing(
    live_server, transactional_db, browser, csp_watch, artifacts_dir, settings
):
    from playwright.sync_api import expect

    settings.SITE_URL = live_server.url
    settings.AMAZON_SELLER_CENTRAL_URL = f"{live_server.url}/amazon-sandbox"
    seller = SellerFactory(email="potter@example.com")
    listing = ListingFactory(store=seller.store, title="Speckled mug", stock=5, currency="usd")
    page = csp_watch.attach(browser.new_context().new_page())
    page.goto(live_server.url + "/seller/amazon/")
    page.get_by_label("Email").fill(seller.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("button", name="Connect Amazon").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Authorize")
    page.get_by_label("Selling partner id").fill("A1BROWSERTEST1")
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(live_server.url + "/seller/amazon/")
    expect(page.get_by_text("Your Amazon seller account is connected.")).to_be_visible()
    expect(page.get_by_text("A1BROWSERTEST1")).to_be_visible()
    assert AmazonAccount.objects.get(store=seller.store).selling_partner_id == "A1BROWSERTEST1"

    page.get_by_role("link", name="Manage Speckled mug on Amazon").click()
    expect(page.locator("[data-amazon-status]").first).to_have_text("Amazon: not published")
    page.get_by_label("Amazon product type").select_option("PRODUCT")
    page.get_by_role("button", name="Publish to Amazon").click()
    expect(page.locator("[data-amazon-status]").first).to_have_text("Amazon: Pending")

    control.assign_asin("A1BROWSERTEST1", f"BZ-{listing.pk}", asin="B0BROWSER1")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("[data-amazon-status]").first).to_have_text("Amazon: Live · B0BROWSER1")
    page.screenshot(path=str(artifacts_dir / "amazon-listing-live.png"), full_page=True)
    assert AmazonListing.objects.get(listing=listing).status == SyncStatus.LIVE

    page.goto(live_server.url + "/seller/")
    expect(page.locator('[data-amazon-status="live"]')).to_have_count(1)
    assert csp_watch.violations == [] and csp_watch.page_errors == []
