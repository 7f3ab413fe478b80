"""End-to-end tests in Debian's headless Chromium, driven by Playwright against live_server."""

import os
from pathlib import Path

import pytest

from accounts.factories import SellerFactory, UserFactory
from accounts.selectors import seller_can_accept_payments
from escrow.testing import onboard
from marketplace.factories import ListingFactory

# Playwright's sync API runs an asyncio event loop in this thread; Django would otherwise refuse
# the test's own database calls ("You cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOP_TITLE = "Speckled stoneware mug"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Browser tests need Debian's Chromium at {CHROMIUM}; it is not installed.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class CSPWatch:
    """Collects Chromium's reports of Content Security Policy breaches and uncaught JS errors."""

    def __init__(self):
        self.violations = []
        self.page_errors = []

    def attach(self, page):
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        return page

    def _on_console(self, message):
        if "Content Security Policy" in message.text:
            self.violations.append(f"{message.type}: {message.text}")


@pytest.fixture
def csp_watch():
    return CSPWatch()


@pytest.fixture
def shop(live_server, transactional_db, client, settings):
    """A seller who can take payments (webhooks reach the live server) and one listing."""
    from core.stripe_webhooks import ensure_webhook_endpoints

    settings.SITE_URL = live_server.url
    ensure_webhook_endpoints(live_server.url)
    seller = SellerFactory(email="potter@example.com", full_name="Pat Potter")
    onboard(client, seller)
    assert seller_can_accept_payments(seller)
    listing = ListingFactory(
        store=seller.store, title=SHOP_TITLE, price_cents=2500, currency="usd", stock=5
    )
    buyer = UserFactory(email="sam@example.com", full_name="Sam Buyer")
    return seller, buyer, listing
