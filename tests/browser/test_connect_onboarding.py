"""A seller sets up payouts through Stripe's hosted onboarding (the sandbox's stand-in) in a real
browser: first leaving requirements due, then fixing them, and ends up able to sell."""

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.factories import SellerFactory
from accounts.models import ConnectedAccount
from accounts.selectors import seller_can_accept_payments

pytestmark = pytest.mark.browser


def signed_in_context(browser, client, live_server, user):
    """A browser context carrying the session `client.force_login` created."""
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    return context


def test_seller_onboards_on_stripe_and_becomes_able_to_sell(
    live_server, transactional_db, browser, csp_watch, client, settings, artifacts_dir
):
    from playwright.sync_api import expect

    from core.stripe_webhooks import ensure_webhook_endpoints

    url = live_server.url
    settings.SITE_URL = url
    ensure_webhook_endpoints(url)
    seller = SellerFactory(email="potter@example.com", seller__country="US")

    context = signed_in_context(browser, client, live_server, seller)
    page = csp_watch.attach(context.new_page())

    # --- The dashboard invites the seller to set up payouts ----------------------------------
    page.goto(url + reverse("seller-dashboard"))
    panel = page.locator(".connect-status")
    expect(panel).to_contain_text("Set up payouts to get paid")
    panel.get_by_role("button", name="Set up payouts with Stripe").click()

    # --- Stripe's hosted onboarding (sandbox) -------------------------------------------------
    page.wait_for_url(url + "/stripe-sandbox/onboarding/**")
    expect(page.get_by_text("Stripe sandbox — test mode")).to_be_visible()
    expect(page.get_by_role("heading", name="Set up payouts for Bazaar")).to_be_visible()
    page.get_by_label("Business name").fill("Clay & Co")
    page.get_by_label("Support email").fill("help@clay.example.com")
    page.get_by_label("Business website").fill("https://clay.example.com")
    page.get_by_label("Product description").fill("Hand-thrown mugs")
    page.screenshot(path=str(artifacts_dir / "connect-onboarding-form.png"), full_page=True)
    page.get_by_role("button", name="Save and leave requirements due").click()

    # --- Back on Bazaar: the webhook already arrived; reasons in plain words ----------------
    page.wait_for_url(url + reverse("connect-return"))
    status = page.locator(".connect-status")
    expect(status).to_contain_text(
        "Stripe needs a bank account and a photo ID before you can be paid."
    )
    account = ConnectedAccount.objects.get()
    assert (account.charges_enabled, account.payouts_enabled) == (True, False)

    page.goto(url + reverse("seller-dashboard"))
    panel = page.locator(".connect-status")
    expect(panel).to_contain_text("Buyers can pay you, but payouts are on hold")
    expect(panel).to_contain_text("Stripe needs a bank account and a photo ID")
    page.screenshot(path=str(artifacts_dir / "connect-requirements-due.png"), full_page=True)

    # --- Fix it on Stripe ---------------------------------------------------------------------
    panel.get_by_role("button", name="Fix it on Stripe").click()
    page.wait_for_url(url + "/stripe-sandbox/onboarding/**")
    expect(page.get_by_role("heading", name="Update your details for Bazaar")).to_be_visible()
    expect(page.get_by_label("Business name")).to_have_value("Clay & Co")
    page.get_by_label("Test bank account 000123456789").check()
    page.get_by_role("button", name="Complete onboarding").click()

    page.wait_for_url(url + reverse("connect-return"))
    expect(page.locator(".connect-status")).to_contain_text(
        "You can take payments and receive payouts."
    )
    account.refresh_from_db()
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        True,
        True,
        True,
    )
    assert seller_can_accept_payments(seller) is True
    seller.store.refresh_from_db()
    assert seller.store.contact_email == "help@clay.example.com"

    # --- The Stripe Express dashboard opens through a login link ------------------------------
    page.goto(url + reverse("connect"))
    page.get_by_role("button", name="Open your Stripe dashboard").click()
    page.wait_for_url(url + f"/stripe-sandbox/express/{account.stripe_account_id}/")
    expect(page.get_by_role("heading", name="Account status")).to_be_visible()
    expect(page.locator(".sb-table").first).to_contain_text("····6789")
    page.screenshot(path=str(artifacts_dir / "connect-express-dashboard.png"), full_page=True)

    context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
