"""Paging through the catalogue on a phone: Previous and Next by cursor, served from the cache to
a visitor who is not signed in, and nothing wider than the screen."""

import pytest
from django.urls import reverse

from accounts.factories import SellerFactory
from marketplace.factories import ListingFactory

pytestmark = pytest.mark.browser


def test_a_visitor_pages_forwards_and_back_on_a_phone(
    live_server, transactional_db, browser, csp_watch, artifacts_dir, settings
):
    settings.BAZAAR_PAGE_SIZE = 4
    settings.BAZAAR_BROWSE_COUNT_CAP = 6
    settings.BAZAAR_HTTP_CACHE_SECONDS = 60
    store = SellerFactory().store
    for n in range(10):
        ListingFactory(store=store, title=f"Glazed cup {n:02d}", price_cents=1000 + n)

    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = csp_watch.attach(context.new_page())
    page.goto(live_server.url + reverse("listing-list") + "?sort=price_asc")

    assert page.get_by_role("heading", name="6+ listings").is_visible()
    titles = page.locator(".listing-card__title")
    assert titles.all_inner_texts() == [f"Glazed cup {n:02d}" for n in range(4)]
    pager = page.get_by_role("navigation", name="Pages")
    assert pager.get_by_role("link", name="Previous").count() == 0

    seen = []
    for _ in range(2):
        seen += titles.all_inner_texts()
        pager.get_by_role("link", name="Next").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
    seen += titles.all_inner_texts()
    assert seen == [f"Glazed cup {n:02d}" for n in range(10)]
    assert pager.get_by_role("link", name="Next").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts_dir / "browse-last-page-390.png"), full_page=True)

    with page.expect_navigation():
        pager.get_by_role("link", name="Previous").click()
    assert titles.all_inner_texts() == [f"Glazed cup {n:02d}" for n in range(4, 8)]
    assert "sort=price_asc" in page.url
    context.close()

    assert csp_watch.violations == []
