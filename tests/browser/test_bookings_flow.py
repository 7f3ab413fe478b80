"""A booking in a real browser at phone size (390x844): the buyer picks a free slot on the
service's week, pays on the sandbox's checkout, and the seller finds the booking, at the buyer's
time in their own zone, on /seller/bookings/ (the list and the week). Nothing scrolls sideways;
no CSP breach."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from core import clock
from escrow.models import BookingStatus, Order, OrderStatus
from marketplace.factories import ServiceListingFactory, availability_for
from tests.browser.test_checkout_flow import log_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def test_a_buyer_books_a_slot_on_a_phone_pays_and_the_seller_sees_it(
    live_server, shop, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    url = live_server.url
    seller, buyer, _ = shop
    seller.time_zone = "Europe/Berlin"
    seller.save()
    buyer.time_zone = "America/New_York"
    buyer.save()
    service = ServiceListingFactory(
        store=seller.store,
        title="Wheel-throwing lesson",
        price_cents=6000,
        currency="usd",
        duration_minutes=60,
    )
    availability_for(service, time_zone="Europe/Berlin", weekly={0: [("09:00", "12:00")]})
    next_week = (clock.now() + timedelta(days=7)).date().isoformat()
    listing_path = f"{service.get_absolute_url()}?week={next_week}"

    context, page = log_in(browser, csp_watch, url, buyer, service.get_absolute_url())
    page.set_viewport_size(PHONE)
    page.goto(url + listing_path)
    box = page.locator("#buy-box")
    expect(box).to_contain_text("Times in America/New_York")
    first = box.locator("button.slot-week__slot").first
    expect(first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "booking-week-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # 9:00 in Berlin on a Monday is 3:00 in New York (both on winter time or both on summer).
    label = first.inner_text()
    first.click()

    page.wait_for_url(re.compile(re.escape(url) + r"/orders/\d+/$"))
    order = Order.objects.get(listing=service)
    booking = order.booking
    assert booking.status == BookingStatus.HELD
    assert f"{booking.starts_at.astimezone(ZoneInfo('America/New_York')):%H:%M}" == label
    expect(page.locator("#booking")).to_contain_text(label)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_role("button", name="Pay US$60.00").click()
    page.wait_for_url(url + "/stripe-sandbox/checkout/**")
    email = page.get_by_label("Email")
    if email.count():
        email.fill("sam@example.com")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Name on card").fill("Sam Buyer")
    page.get_by_role("button", name="Pay US$60.00").click()
    page.wait_for_url(re.compile(re.escape(url + f"/orders/{order.pk}/paid/")))
    expect(page.get_by_role("heading", name="Payment confirmed, held in escrow")).to_be_visible()
    order.refresh_from_db()
    booking.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert booking.status == BookingStatus.CONFIRMED

    seller_context, seller_page = log_in(
        browser, csp_watch, url, seller, reverse("seller-bookings")
    )
    seller_page.set_viewport_size(PHONE)
    item = seller_page.locator(f'[data-booking-status="{BookingStatus.CONFIRMED}"]')
    expect(item).to_contain_text(f"Order #{order.pk}: Wheel-throwing lesson")
    in_berlin = booking.starts_at.astimezone(ZoneInfo("Europe/Berlin"))
    expect(item).to_contain_text(f"{in_berlin:%H:%M}")
    expect(seller_page.locator(".booking-list__zone")).to_contain_text("Europe/Berlin")
    seller_page.screenshot(path=str(artifacts_dir / "seller-bookings-390.png"), full_page=True)
    assert seller_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The calendar by week: the booking under its Berlin day, and the weeks around it.
    week = in_berlin.date() - timedelta(days=in_berlin.weekday())
    seller_page.goto(url + reverse("seller-bookings") + f"?week={week.isoformat()}")
    expect(seller_page.locator("#booking-week-range")).to_contain_text(
        f"Week of {week:%a} {week.day} {week:%b %Y}"
    )
    expect(
        seller_page.locator(".booking-week__day", has_text=f"{in_berlin:%H:%M}")
    ).to_contain_text(f"{in_berlin:%a} {in_berlin.day} {in_berlin:%b}")
    seller_page.screenshot(path=str(artifacts_dir / "seller-bookings-week-390.png"), full_page=True)
    assert seller_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    seller_page.get_by_role("link", name="Next week →").click()
    expect(seller_page.locator("#booking-week-range")).to_contain_text(
        f"Week of {week + timedelta(days=7):%a} {(week + timedelta(days=7)).day}"
    )
    expect(seller_page.get_by_text(f"Order #{order.pk}")).to_have_count(0)
    seller_page.get_by_role("link", name="← Previous week").click()
    item = seller_page.locator(f'[data-booking-status="{BookingStatus.CONFIRMED}"]')
    item.get_by_role("link").click()
    seller_page.wait_for_url(url + order.get_absolute_url())
    expect(seller_page.locator("#booking")).to_contain_text("Europe/Berlin (your time zone)")

    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
    context.close()
    seller_context.close()
