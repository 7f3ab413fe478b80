"""Saving a listing in a real browser: a visitor is sent to log in and brought back, the Save
button turns to Saved without a reload (static/js/favourites.js, under the strict CSP), and the
Saved page lists it, also at a phone's width."""

import pytest

from accounts.factories import DEFAULT_PASSWORD, UserFactory
from favourites.models import ListingFavourite, StoreFavourite
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.browser


def test_a_visitor_logs_in_saves_a_listing_in_place_and_finds_it_on_the_saved_page(
    live_server, transactional_db, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    user = UserFactory(email="sam@example.com")
    listing = ListingFactory(title="Speckled stoneware mug", price_cents=2500, currency="usd")
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = csp_watch.attach(context.new_page())
    page.goto(live_server.url + listing.get_absolute_url())

    # Logged out, Save is a link to log in that brings the visitor back.
    page.locator(".listing-detail__heading").get_by_role("link", name="Save").click()
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + listing.get_absolute_url())
    # The redirect's URL shows before the page's deferred scripts have run: clicking then posts
    # the form the ordinary way (a reload), which the assertion below would take for a bug.
    page.wait_for_load_state("domcontentloaded")

    button = page.locator(".listing-detail__heading [data-favourite-button]")
    expect(button).to_contain_text("Save")
    page.evaluate("window.__notReloaded = true")
    button.click()
    expect(button).to_contain_text("Saved")
    expect(button).to_have_class("favourite-button is-saved")
    assert page.evaluate("window.__notReloaded") is True  # the script did it in place
    page.screenshot(path=str(artifacts_dir / "favourites-listing-360.png"))
    assert ListingFavourite.objects.filter(user=user, listing=listing).count() == 1

    page.goto(live_server.url + "/favourites/")
    expect(page.get_by_role("heading", name="Saved", level=1)).to_be_visible()
    expect(page.locator(".listing-card__title")).to_have_text("Speckled stoneware mug")
    expect(page.get_by_text("US$25.00")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(artifacts_dir / "favourites-saved-360.png"), full_page=True)
    assert width <= 360, f"the Saved page scrolls sideways at 360 px ({width} px)"

    # Unsaving from the card works the same way.
    card_button = page.locator(".listing-card [data-favourite-button]")
    card_button.click()
    expect(card_button).to_contain_text("Save")
    expect(card_button).not_to_have_class("favourite-button is-saved")
    assert not ListingFavourite.objects.exists()

    # A store is saved from its header.
    page.goto(live_server.url + listing.store.get_absolute_url())
    store_button = page.locator(".store-header [data-favourite-button]")
    store_button.click()
    expect(store_button).to_contain_text("Saved")
    page.screenshot(path=str(artifacts_dir / "favourites-store-360.png"))
    assert StoreFavourite.objects.filter(user=user, store=listing.store).exists()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # On a wide screen the cards keep their grid with the button under each.
    ListingFactory.create_batch(3, store=listing.store)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/listings/")
    expect(page.locator(".listing-card [data-favourite-button]")).to_have_count(4)
    page.screenshot(path=str(artifacts_dir / "favourites-browse-1280.png"))
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
    context.close()
