"""A dispute end to end in headless Chromium: the buyer pays, the seller delivers, the buyer
reports a problem on the order page (its form's errors first), staff split what is held on the
admin's "Resolve…" page (a split that does not add up first), and the seller sees their share
in their ledger while the buyer sees the refund on the order page.

Payments and Stripe's webhooks go through the sandbox against the live server, as in
test_checkout_flow.py, whose helpers this uses.
"""

import re

import pytest
from django.urls import reverse

from accounts.factories import DEFAULT_PASSWORD, StaffFactory
from escrow.models import Dispute, DisputeStatus, EscrowRefund, OrderStatus, RefundStatus
from escrow.testing import deliver_order
from tests.browser.test_checkout_flow import buy_one, fill_card, log_in, shoot

pytestmark = pytest.mark.browser


def test_buyer_reports_a_problem_and_staff_split_it_in_the_admin(
    live_server,
    shop,
    browser,
    csp_watch,
    artifacts_dir,  # noqa: F811
):
    from playwright.sync_api import expect

    url = live_server.url
    seller, buyer, listing = shop

    # --- Paid and delivered -------------------------------------------------------------------
    buyer_context, page = log_in(browser, csp_watch, url, buyer, listing.get_absolute_url())
    order = buy_one(page, url, listing)
    fill_card(page, "4242 4242 4242 4242")
    page.wait_for_url(re.compile(re.escape(url + f"/orders/{order.pk}/paid/")))
    deliver_order(order=order, actor=seller, note="Posted today")

    # --- The buyer reports a problem ----------------------------------------------------------
    page.goto(url + order.get_absolute_url())
    page.get_by_role("link", name="Report a problem").click()
    page.wait_for_url(url + reverse("order-dispute", args=[order.pk]))
    page.get_by_role("button", name="Report the problem").click()
    expect(page.locator(".field--name-description .errorlist")).to_contain_text(
        "This field is required."
    )
    expect(page.locator(".field--name-reason .errorlist")).to_contain_text("required")
    shoot(page, artifacts_dir / "dispute-form-errors-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("It is not as described").check()
    page.get_by_label("Describe the problem").fill("The mug arrived with a crack along the rim.")
    page.get_by_role("button", name="Report the problem").click()
    page.wait_for_url(url + order.get_absolute_url() + "#dispute")
    expect(page.locator(".order-step")).to_contain_text("Problem reported — payment frozen")
    card = page.locator("#dispute")
    expect(card).to_contain_text("Waiting for the seller")
    expect(card).to_contain_text("The mug arrived with a crack along the rim.")
    expect(card).to_contain_text("Bazaar decides by")
    expect(page.locator(".message--note")).to_contain_text("Dispute opened: It is not as described")
    shoot(page, artifacts_dir / "dispute-order-buyer-390.png", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, artifacts_dir / "dispute-order-buyer-1280.png", 1280)
    dispute = Dispute.objects.get(order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED

    # --- Staff split it: 10.00 back to the buyer, 15.00 to the seller -------------------------
    staff = StaffFactory(email="finance@example.com")
    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = csp_watch.attach(admin_context.new_page())
    admin.goto(url + reverse("admin:login"))
    admin.get_by_label("Email").fill(staff.email)
    admin.get_by_label("Password").fill(DEFAULT_PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    admin.goto(url + reverse("admin:escrow_dispute_changelist"))
    admin.get_by_role("link", name=str(dispute.pk), exact=True).click()
    admin.get_by_role("link", name="Resolve…").click()
    expect(admin.locator("#held-amount")).to_have_text("US$25.00")
    admin.get_by_label("Split").check()
    admin.get_by_role("textbox", name="Refund to the buyer").fill("10.00")
    admin.get_by_role("textbox", name="Release to the seller").fill("10.00")
    admin.get_by_label("Why").fill("The crack is on one side; the buyer keeps the mug.")
    admin.get_by_role("button", name="Resolve the dispute").click()
    expect(admin.locator(".field-release .errorlist")).to_contain_text(
        "must add up to exactly the US$25.00 held"
    )
    shoot(admin, artifacts_dir / "dispute-admin-resolve-error-1280.png", 1280)
    admin.get_by_role("textbox", name="Release to the seller").fill("15.00")
    admin.get_by_role("button", name="Resolve the dispute").click()
    expect(admin.locator(".messagelist")).to_contain_text(f"Dispute #{dispute.pk} resolved")
    shoot(admin, artifacts_dir / "dispute-admin-resolved-1280.png", 1280)
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.RESOLVED
    assert EscrowRefund.objects.get(order=order).status == RefundStatus.SUCCEEDED

    # --- The buyer sees the refund; the seller sees their share in their ledger --------------
    page.goto(url + order.get_absolute_url())
    expect(page.locator("#dispute")).to_contain_text("US$10.00 refunded to you")
    seller_context, seller_page = log_in(browser, csp_watch, url, seller, reverse("seller-ledger"))
    expect(seller_page.locator('[data-total="released"]')).to_have_text("US$13.50")
    expect(seller_page.locator('[data-total="held"]')).to_have_text("US$0.00")
    lines, refunds = seller_page.locator(".ledger-table").all()
    expect(lines).to_contain_text(f"Transfer to the seller for order #{order.pk}")
    # The buyer's part of the split is listed among the seller's refunds.
    expect(refunds).to_contain_text(f"#{order.pk}")
    expect(refunds.locator('[data-amount="refunded"]').first).to_have_text("US$10.00")
    shoot(seller_page, artifacts_dir / "dispute-seller-ledger-390.png", 390)
    seller_page.goto(url + order.get_absolute_url())
    expect(seller_page.locator("#dispute")).to_contain_text("US$15.00 released to you")

    for context in (buyer_context, admin_context, seller_context):
        context.close()
    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
