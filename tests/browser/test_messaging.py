"""Messaging in a real browser: a buyer asks a seller about a listing with a PDF attached; the
seller sees the unread badge, opens the conversation and downloads the very same file."""

import re

import pytest
from django.urls import reverse

from accounts.factories import DEFAULT_PASSWORD, SellerFactory, UserFactory
from marketplace.factories import ListingFactory
from messaging.models import Attachment, Conversation

pytestmark = pytest.mark.browser

PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def nav(page):
    return page.get_by_role("navigation", name="Main")


def log_in(browser, csp_watch, base_url, user, next_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = csp_watch.attach(context.new_page())
    page.goto(f"{base_url}{reverse('login')}?next={next_path}")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + next_path)
    return context, page


def test_buyer_asks_with_a_pdf_and_the_seller_reads_and_downloads_it(
    live_server, transactional_db, browser, csp_watch, settings, tmp_path, artifacts_dir
):
    from playwright.sync_api import expect

    # Local signed download links are absolute on SITE_URL: make them point at this server.
    settings.SITE_URL = live_server.url
    base = live_server.url
    seller = SellerFactory(email="potter@example.com", full_name="Pat Potter")
    seller.store.name = "Clay Corner"
    seller.store.save(update_fields=["name"])
    listing = ListingFactory(store=seller.store, title="Speckled bowl")
    buyer = UserFactory(email="sam@example.com", full_name="Sam Buyer")
    brief = tmp_path / "glaze-brief.pdf"
    brief.write_bytes(PDF)

    # The buyer asks from the listing page, with the PDF attached.
    context, page = log_in(browser, csp_watch, base, buyer, listing.get_absolute_url())
    page.get_by_role("link", name="Ask the seller a question").click()
    page.wait_for_url(base + reverse("messaging:ask", args=[listing.pk]))
    expect(page.get_by_role("heading", level=1)).to_have_text("Ask Clay Corner a question")
    expect(page.get_by_text("Up to 5 files, 16 MB each")).to_be_visible()
    page.get_by_label("Message").fill("Is the glaze food safe? My brief is attached.")
    page.get_by_label("Attach files").set_input_files(str(brief))
    page.get_by_role("button", name="Send question").click()

    page.wait_for_url(re.compile(re.escape(base) + r"/messages/\d+/$"))
    conversation = Conversation.objects.get(listing=listing, buyer=buyer)
    assert page.url == base + conversation.get_absolute_url()
    expect(page.locator(".messages [data-alert]")).to_contain_text(
        "Your question was sent to Clay Corner."
    )
    mine = page.locator(".message--own")
    expect(mine).to_contain_text("Is the glaze food safe?")
    expect(mine.get_by_role("link", name="glaze-brief.pdf")).to_be_visible()
    attachment = Attachment.objects.get(conversation=conversation)
    assert attachment.size == len(PDF)
    context.close()

    # The seller sees the badge on the Messages link before opening anything.
    context, page = log_in(browser, csp_watch, base, seller, reverse("home"))
    badge = page.locator("[data-messages-badge]")
    expect(badge).to_have_text("1")
    messages_link = nav(page).get_by_role("link", name="Messages (1 unread message)")
    expect(messages_link).to_be_visible()
    messages_link.click()

    page.wait_for_url(base + reverse("messaging:inbox"))
    row = page.locator(".inbox-row").first
    expect(row).to_contain_text("Sam Buyer")
    expect(row).to_contain_text("Question about “Speckled bowl”")
    expect(row).to_contain_text("1 unread message")
    page.screenshot(path=str(artifacts_dir / "messaging-inbox.png"), full_page=True)
    row.get_by_role("link").click()

    page.wait_for_url(base + conversation.get_absolute_url())
    theirs = page.locator(".message").filter(has_text="Is the glaze food safe?")
    expect(theirs).to_contain_text("Sam Buyer")
    expect(theirs).not_to_have_class(re.compile("message--own"))
    file_link = theirs.get_by_role("link", name="glaze-brief.pdf")
    expect(theirs).to_contain_text(f"({len(PDF)} bytes)")
    # Opening the conversation read it: the badge is gone from this very page.
    expect(page.locator("[data-messages-badge]")).to_have_count(0)
    expect(nav(page).get_by_role("link", name="Messages", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "messaging-conversation.png"), full_page=True)

    with page.expect_download() as download_info:
        file_link.click()
    download = download_info.value
    assert download.suggested_filename == "glaze-brief.pdf"
    with open(download.path(), "rb") as handle:
        assert handle.read() == PDF

    # Still gone on the next page.
    page.goto(base + reverse("home"))
    expect(nav(page).get_by_role("link", name="Messages", exact=True)).to_be_visible()
    expect(page.locator("[data-messages-badge]")).to_have_count(0)
    context.close()

    assert csp_watch.violations == []
    assert csp_watch.page_errors == []
