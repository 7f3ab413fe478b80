"""A milestone order in a real browser: the seller splits a service order into two milestones,
the buyer accepts and pays once, the seller delivers the first and the buyer approves it: only
that milestone's money goes to the seller. At phone width nothing scrolls sideways."""

from datetime import timedelta

import pytest
from django.urls import reverse

from core import clock
from escrow import services
from escrow.models import EscrowRelease, MilestoneStatus, OrderStatus
from escrow.testing import pay_on_checkout_page, place_order
from marketplace.factories import ServiceListingFactory
from tests.browser.test_checkout_flow import log_in, shoot

pytestmark = pytest.mark.browser


def test_a_service_order_in_two_milestones_pays_the_first_on_its_own(
    live_server, shop, client, browser, csp_watch, artifacts_dir
):
    from playwright.sync_api import expect

    url = live_server.url
    seller, buyer, _ = shop
    service = ServiceListingFactory(
        store=seller.store, title="Logo design", price_cents=10000, currency="usd"
    )
    order = place_order(buyer=buyer, listing_id=service.pk)

    seller_context, page = log_in(browser, csp_watch, url, seller, order.get_absolute_url())
    page.get_by_role("link", name="Split into milestones").click()
    page.wait_for_url(url + reverse("order-milestones", args=[order.pk]))
    shoot(page, artifacts_dir / "milestone-plan-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})
    rows = page.locator("fieldset.milestone-plan__row")
    due = (clock.now().date() + timedelta(days=14)).isoformat()

    def fill(plan):
        for index, (title, amount) in enumerate(plan):
            rows.nth(index).get_by_label("Title").fill(title)
            rows.nth(index).get_by_label("Amount").fill(amount)
            rows.nth(index).get_by_label("Due date").fill(due)
        page.get_by_role("button", name="Propose these milestones").click()

    fill((("Sketches", "40.00"), ("Final files", "50.00")))
    # 40 + 50 is not the order's 100.00: said above the form, nothing saved.
    expect(page.locator("[data-plan-errors]")).to_contain_text("US$100.00")
    fill((("Sketches", "40.00"), ("Final files", "60.00")))
    page.wait_for_url(url + order.get_absolute_url())
    expect(page.locator('[data-milestone-plan="proposed"]')).to_be_visible()

    buyer_context, buyer_page = log_in(browser, csp_watch, url, buyer, order.get_absolute_url())
    buyer_page.get_by_role("button", name="Accept the milestones").click()
    expect(buyer_page.locator('[data-milestone-plan="accepted"]')).to_be_visible()
    _, checkout = services.payment_checkout_start(
        order=order,
        buyer=buyer,
        success_url="http://testserver/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/cancelled",
    )
    assert pay_on_checkout_page(client, checkout).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    first, second = order.milestones.order_by("position")

    page.reload()
    page.get_by_label("Delivery note for “Sketches”").fill("Three concepts attached.")
    page.get_by_role("button", name="Mark “Sketches” delivered").click()
    expect(page.locator(f'[data-milestone="{first.pk}"]')).to_have_attribute(
        "data-milestone-status", MilestoneStatus.DELIVERED
    )

    buyer_page.reload()
    buyer_page.get_by_role("button", name="Approve “Sketches” and release US$40.00").click()
    item = buyer_page.locator(f'[data-milestone="{first.pk}"]')
    expect(item).to_have_attribute("data-milestone-status", MilestoneStatus.RELEASED)
    expect(buyer_page.locator(f'[data-milestone="{second.pk}"]')).to_have_attribute(
        "data-milestone-status", MilestoneStatus.PENDING
    )
    shoot(buyer_page, artifacts_dir / "milestone-order-390.png", 390)
    assert buyer_page.evaluate("document.documentElement.scrollWidth") <= 390

    (release,) = EscrowRelease.objects.filter(order=order)
    assert (release.milestone_id, release.gross_cents) == (first.pk, 4000)
    seller_context.close()
    buyer_context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
