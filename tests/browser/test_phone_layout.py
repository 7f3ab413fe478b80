"""The site on a phone (390 x 844, an iPhone 12-15) in headless Chromium: no page scrolls
sideways, the top bar is one compact row whose menu button opens the navigation, and the browse
filters fold away so the first listing shows without scrolling (#15)."""

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from escrow import services as escrow_services
from escrow.models import OrderStatus
from escrow.testing import pay_on_checkout_page, place_order
from marketplace.factories import ListingFactory, ListingImageFactory, ServiceListingFactory
from messaging.services import message_send

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
HEADER_MAX_PX = 80

# Every element whose box reaches past the right edge of the screen, for the failure message.
OVERFLOWING = """() => {
  const width = window.innerWidth;
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 0.5) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.className && typeof el.className === "string"
           ? "." + el.className.trim().split(/\\s+/).join(".") : "");
      found.push(name + " right=" + Math.round(box.right));
    }
  }
  return found.slice(0, 15);
}"""


def phone_page(browser, csp_watch, live_server, client, user=None):
    context = browser.new_context(viewport=PHONE, has_touch=True)
    if user is not None:
        client.force_login(user)
        session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [
                {
                    "name": django_settings.SESSION_COOKIE_NAME,
                    "value": session,
                    "url": live_server.url,
                }
            ]
        )
    return context, csp_watch.attach(context.new_page())


def assert_fits_the_phone(page, what):
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    # A desktop-mode viewport: a mobile one would widen itself to fit a page that overflows.
    assert inner_width == PHONE["width"]
    assert scroll_width <= inner_width, (
        f"{what} scrolls sideways: {scroll_width}px wide on a {inner_width}px screen; "
        f"overflowing: {page.evaluate(OVERFLOWING)}"
    )
    header = page.locator("header.topbar").bounding_box()
    assert header["height"] < HEADER_MAX_PX, f"{what}: the top bar is {header['height']}px tall"


def open_menu_and_follow(page, link_name, expected_path, base_url):
    """The menu button is the way to the navigation on a phone: closed at first, it opens it,
    says so (aria-expanded) and a link in it works."""
    from playwright.sync_api import expect

    nav = page.get_by_role("navigation", name="Main")
    link = nav.get_by_role("link", name=link_name, exact=True)
    button = page.get_by_role("button", name="Menu")
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(link).to_be_hidden()
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(link).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    link.click()
    page.wait_for_url(base_url + expected_path)


@pytest.fixture
def marketplace(shop, client):
    """The shop of conftest (a seller who takes payments) with pictures and more listings, a
    second store, and a paid order with a message in its conversation."""
    seller, buyer, listing = shop
    ListingImageFactory(listing=listing, alt_text="A speckled mug on a shelf")
    for n in range(5):
        ListingImageFactory(
            listing=ListingFactory(store=seller.store, title=f"Stoneware bowl no. {n + 1}"),
            alt_text="A bowl",
        )
    other = ServiceListingFactory(title="Wheel-throwing taster lesson for complete beginners")
    ListingImageFactory(listing=other, alt_text="Hands on clay")

    # Long words do not wrap by themselves: a store named after its web address, a title of one
    # long word, a buyer known only by a long email address (the order page's header, the
    # conversation's heading and the details once pushed the page ~330px sideways).
    seller.store.name = "www.speckledstonewareandporcelain.example"
    seller.store.save()
    listing.title = "Handthrownstonewareespressocupwithsaucer"
    listing.save()
    buyer.full_name = ""
    buyer.email = "sam.rivera.buys.handmade.things@example-mail-provider.example"
    buyer.save()
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=1)
    _, checkout_url = escrow_services.payment_checkout_start(
        order=order,
        buyer=buyer,
        success_url="http://testserver/orders/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/orders/cancelled",
    )
    assert pay_on_checkout_page(client, checkout_url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    conversation = order.conversation
    message_send(
        conversation=conversation,
        sender=buyer,
        body="Could you wrap it as a present? Order reference ORD-2024-00000123456789-GIFTWRAP.",
    )
    return seller, buyer, listing, order


def test_public_pages_fit_a_phone_and_the_menu_opens_the_navigation(
    live_server, marketplace, browser, csp_watch, client
):
    from playwright.sync_api import expect

    url = live_server.url
    seller, _, listing, _ = marketplace
    context, page = phone_page(browser, csp_watch, live_server, client)

    for what, path in [
        ("home", reverse("home")),
        ("browse", reverse("listing-list")),
        ("listing", listing.get_absolute_url()),
        ("store", seller.store.get_absolute_url()),
    ]:
        page.goto(url + path)
        assert_fits_the_phone(page, what)

    page.goto(url + reverse("home"))
    # The search stays in the bar; the menu closes with Escape, giving focus back to its button.
    expect(page.get_by_role("search").first).to_be_visible()
    menu = page.get_by_role("button", name="Menu")
    menu.click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(menu).to_be_focused()
    open_menu_and_follow(page, "Log in", reverse("login"), url)

    context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []


def test_browse_filters_fold_away_on_a_phone_and_say_how_many_are_on(
    live_server, marketplace, browser, csp_watch, client
):
    from playwright.sync_api import expect

    url = live_server.url
    context, page = phone_page(browser, csp_watch, live_server, client)

    page.goto(url + reverse("listing-list"))
    toggle = page.locator(".filters-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_contain_text("Filters")
    expect(page.get_by_label("Sort by")).to_be_hidden()
    first = page.locator(".listing-card").first
    box = first.bounding_box()
    assert box["y"] + box["height"] / 2 < PHONE["height"], (
        f"The first listing starts {box['y']}px down: below the fold of a {PHONE['height']}px "
        "screen"
    )

    # Opening them shows the form; applying two filters keeps them counted on the closed toggle.
    toggle.click()
    expect(page.get_by_label("Sort by")).to_be_visible()
    page.get_by_role("combobox", name="Kind").select_option("product")
    page.get_by_label("Min price").fill("5")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/listings/?*")
    expect(page.locator(".filters-toggle")).to_contain_text("Filters (2 active)")
    expect(page.get_by_label("Sort by")).to_be_hidden()
    assert_fits_the_phone(page, "browse, filtered")

    # On a desktop the filters are open beside the results and the links are in the bar, as
    # before: no menu button.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url + reverse("listing-list"))
    expect(page.get_by_label("Sort by")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    assert page.locator("header.topbar").bounding_box()["height"] < HEADER_MAX_PX

    context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []


def test_signed_in_pages_fit_a_phone_with_the_bell_and_menu_in_one_row(
    live_server, marketplace, browser, csp_watch, client
):
    from playwright.sync_api import expect

    url = live_server.url
    seller, buyer, listing, order = marketplace

    context, page = phone_page(browser, csp_watch, live_server, client, user=buyer)
    page.goto(url + order.get_absolute_url())
    assert_fits_the_phone(page, "the buyer's order page")
    # Buying a product again: the checkout step asks where to ship it, on one screen's width.
    page.goto(url + listing.get_absolute_url())
    page.get_by_role("button", name="Buy now").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("send it?")
    expect(page.get_by_label("Address line 1")).to_be_visible()
    assert_fits_the_phone(page, "the checkout step")
    # The bell stays in the top bar, usable without opening the menu.
    expect(page.locator(".topbar .bell__toggle")).to_be_visible()
    open_menu_and_follow(page, "Orders", reverse("orders-buying"), url)
    context.close()

    context, page = phone_page(browser, csp_watch, live_server, client, user=seller)
    for what, path in [
        ("the seller's order page", order.get_absolute_url()),
        ("the seller dashboard", reverse("seller-dashboard")),
        ("the seller's inbox", reverse("messaging:inbox")),
    ]:
        page.goto(url + path)
        assert_fits_the_phone(page, what)
    open_menu_and_follow(page, "Account", reverse("account"), url)

    # Without JavaScript there is no button that would do nothing: the links show below the bar.
    context.close()
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(url + reverse("home"))
    nav = page.get_by_role("navigation", name="Main")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(nav.get_by_role("link", name="Browse", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    nav.get_by_role("link", name="Browse", exact=True).click()
    page.wait_for_url(url + reverse("listing-list"))
    context.close()

    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
