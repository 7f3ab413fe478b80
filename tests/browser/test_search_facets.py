"""Searching and narrowing by a facet on a phone (390 px): the counts sit beside each choice in
the filters panel, every choice is a comfortable tap, nothing scrolls sideways, and a choice
keeps the search."""

import pytest

from marketplace.factories import CategoryFactory, ListingFactory, StoreFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def test_a_buyer_narrows_a_search_by_category_on_a_phone(
    live_server, transactional_db, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    store = StoreFactory(name="Plain shop")
    lighting = CategoryFactory(slug="lighting", name="Lighting and lamps for every room")
    seating = CategoryFactory(slug="seating", name="Seating")
    ListingFactory(title="Walnut lamp", category=lighting, store=store, price_cents=4500)
    ListingFactory(title="Walnut desk lamp", category=lighting, store=store, price_cents=9000)
    ListingFactory(title="Walnut stool", category=seating, store=store, price_cents=12000)

    context = browser.new_context(viewport=PHONE)
    page = csp_watch.attach(context.new_page())
    page.goto(f"{live_server.url}/listings/?q=walnut")
    page.locator(".filters-toggle").click()  # folded on a phone so the listings come first

    facets = page.get_by_role("navigation", name="Narrow the results")
    expect(facets).to_be_visible()
    choice = facets.get_by_role("link", name="Lighting and lamps for every room 2 listings")
    expect(choice).to_be_visible()
    assert choice.bounding_box()["height"] >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir / "search-facets-390.png"), full_page=True)

    choice.click()
    page.wait_for_url(f"{live_server.url}/listings/?q=walnut&category=lighting")
    expect(page.locator(".results-count")).to_have_text("2 listings")
    assert not csp_watch.violations and not csp_watch.page_errors
    context.close()
