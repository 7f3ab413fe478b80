"""A milestone order in a real browser, released in two steps: the seller splits a service order
into two milestones, the buyer accepts and pays once, the seller delivers the first and the buyer
approves it (only that milestone's money goes to the seller), then the second the same way: the
order ends released, with two Stripe transfers in its one transfer group and the seller's ledger
showing both. At phone width nothing scrolls sideways."""

from datetime import timedelta

import pytest
from django.urls import reverse

from core import clock
from core.money import format_money
from escrow import selectors as escrow_selectors
from escrow import services
from escrow.models import EscrowRelease, MilestoneStatus, OrderStatus, ReleaseStatus
from escrow.testing import pay_on_checkout_page, place_order
from escrow.tests import harness
from marketplace.factories import ServiceListingFactory
from tests.browser.test_checkout_flow import log_in, shoot

pytestmark = pytest.mark.browser


def test_a_service_order_in_two_milestones_is_released_in_two_steps(
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
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED  # the second milestone still holds its money

    # The second step: the seller delivers the rest, the buyer approves it, the order is done.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.get_by_label("Delivery note for “Final files”").fill("Logo in SVG and PNG.")
    page.get_by_role("button", name="Mark “Final files” delivered").click()
    expect(page.locator(f'[data-milestone="{second.pk}"]')).to_have_attribute(
        "data-milestone-status", MilestoneStatus.DELIVERED
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    buyer_page.reload()
    buyer_page.get_by_role("button", name="Approve “Final files” and release US$60.00").click()
    expect(buyer_page.locator(f'[data-milestone="{second.pk}"]')).to_have_attribute(
        "data-milestone-status", MilestoneStatus.RELEASED
    )
    shoot(buyer_page, artifacts_dir / "milestone-order-released-390.png", 390)
    assert buyer_page.evaluate("document.documentElement.scrollWidth") <= 390

    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    releases = list(EscrowRelease.objects.filter(order=order).order_by("milestone__position"))
    assert [(r.milestone_id, r.gross_cents, r.status) for r in releases] == [
        (first.pk, 4000, ReleaseStatus.TRANSFERRED),
        (second.pk, 6000, ReleaseStatus.TRANSFERRED),
    ]
    # Two Stripe transfers, one per milestone, in the order's one transfer group.
    transfers = harness.stripe_transfers_for(order)
    assert sorted(t.id for t in transfers) == sorted(r.stripe_transfer_id for r in releases)
    assert {t.transfer_group for t in transfers} == {order.transfer_group}
    paid = sum(r.transfer_cents for r in releases)
    assert sum(t.amount for t in transfers) == paid
    assert paid == 10000 - order.commission_cents

    # The seller's ledger: nothing held any more, both milestones released.
    page.goto(url + reverse("seller-ledger"))
    expect(page.locator('[data-total="held"]')).to_contain_text("US$0.00")
    expect(page.locator('[data-total="released"]')).to_contain_text(format_money(paid, "usd"))
    expect(page.get_by_text(f"Escrow of milestone 1 of order #{order.pk} released")).to_be_visible()
    expect(page.get_by_text(f"Escrow of milestone 2 of order #{order.pk} released")).to_be_visible()
    shoot(page, artifacts_dir / "milestone-seller-ledger-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    (totals,) = escrow_selectors.seller_ledger_totals(seller=seller)
    assert (totals.held_cents, totals.released_cents) == (0, paid)
    seller_context.close()
    buyer_context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
