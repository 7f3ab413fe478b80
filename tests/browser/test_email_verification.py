"""A new person signs up, sees they must confirm their address, opens the link from the email
and is confirmed: the banner goes and they may open a store."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.browser

PASSWORD = "quiet-lantern-harbour-42"
LINK = re.compile(r"https?://\S+/accounts/email/confirm/\S+?/")


def test_sign_up_then_confirm_by_the_emailed_link(
    live_server, transactional_db, browser, csp_watch, settings
):
    settings.SITE_URL = live_server.url
    url = live_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = csp_watch.attach(context.new_page())

    page.goto(url + reverse("signup"))
    page.get_by_label("Email").fill("ines@example.com")
    page.get_by_label("Full name").fill("Ines Weaver")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(url + reverse("home"))
    banner = page.get_by_role("status").filter(has_text="Confirm your email address.")
    assert banner.is_visible()

    # Not confirmed yet: opening a store is refused with the reason.
    page.goto(url + reverse("seller-onboard"))
    page.get_by_label("Display name").fill("Ines Weaves")
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Default currency").select_option("usd")
    page.get_by_role("button", name="Open my store").click()
    assert page.get_by_text("Confirm your email address first").is_visible()

    # "Send the link again" from the banner sends a second email.
    banner.get_by_role("button", name="Send the link again").click()
    assert page.get_by_text("We sent a new link to ines@example.com").is_visible()
    assert [m.to for m in mail.outbox] == [["ines@example.com"]] * 2

    link = LINK.search(mail.outbox[-1].body).group(0)
    assert link.startswith(url)
    page.goto(link)
    page.get_by_role("button", name="Confirm ines@example.com").click()
    page.wait_for_url(url + reverse("account"))
    assert page.get_by_text("Thank you: ines@example.com is confirmed.").is_visible()
    assert page.get_by_text("Confirm your email address.").count() == 0
    assert User.objects.get(email="ines@example.com").email_verified_at is not None

    page.goto(url + reverse("seller-onboard"))
    page.get_by_label("Display name").fill("Ines Weaves")
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Default currency").select_option("usd")
    page.get_by_role("button", name="Open my store").click()
    page.wait_for_url(url + reverse("seller-dashboard"))
    assert csp_watch.violations == [] and csp_watch.page_errors == []
    context.close()
