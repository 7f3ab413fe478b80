"""`manage.py stripe_sandbox`: status, advance, deliver, and onboarding without a browser."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from stripe_sandbox import control, core, testing

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


def run(*args):
    out = StringIO()
    call_command("stripe_sandbox", *args, stdout=out)
    return out.getvalue()


def account_link():
    api = testing.client().v1
    account = api.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
        }
    )
    link = api.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "http://testserver/again/",
            "return_url": "http://testserver/back/",
        }
    )
    return account.id, link.url


def test_onboard_completes_an_account_through_its_link(stripe_sandbox):
    account_id, url = account_link()

    with stripe_sandbox.webhooks_held():
        output = run(
            "onboard", url, "--business-name", "Clay & Co", "--support-email", "help@clay.test"
        )

    account = testing.client().v1.accounts.retrieve(account_id)
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        True,
        True,
        True,
    )
    assert account.business_profile.name == "Clay & Co"
    assert account.business_profile.support_email == "help@clay.test"
    assert account.external_accounts.data[0].last4 == "6789"
    assert [row.url for row in stripe_sandbox.pending_deliveries("account.updated")] == [
        "http://testserver/webhooks/connect/"
    ]
    assert f"{account_id} onboarded (complete): charges enabled, payouts enabled." in output


def test_onboard_can_leave_requirements_due(stripe_sandbox):
    account_id, url = account_link()

    run("onboard", url, "--business-name", "Clay & Co", "--outcome", "due")

    account = testing.client().v1.accounts.retrieve(account_id)
    assert account.details_submitted is True
    assert account.payouts_enabled is False
    assert "individual.verification.document" in account.requirements.currently_due


def test_an_account_link_onboards_once(stripe_sandbox):
    _, url = account_link()
    run("onboard", url, "--business-name", "Clay & Co")

    with pytest.raises(CommandError, match="account links open once"):
        run("onboard", url, "--business-name", "Clay & Co")


def test_advance_moves_the_clock_and_status_shows_it(stripe_sandbox):
    output = run("advance", "--days", "2", "--hours", "3")

    assert core.clock_offset() == 2 * DAY + 3 * 3600
    assert f"+{2 * DAY + 3 * 3600}s" in output
    assert f"+{2 * DAY + 3 * 3600}s" in run("status")
    with pytest.raises(CommandError, match="how far"):
        run("advance")


def test_deliver_sends_what_was_held(stripe_sandbox, django_capture_on_commit_callbacks):
    with stripe_sandbox.webhooks_held():
        testing.client().v1.customers.create(params={"email": "ada@example.com"})
    assert "Webhook deliveries not yet accepted: 1" in run("status")

    output = run("deliver")

    assert "Delivered 1 webhook(s): [200]" in output
    assert control.pending_deliveries() == []
    assert "Webhook deliveries not yet accepted: 0" in run("status")
