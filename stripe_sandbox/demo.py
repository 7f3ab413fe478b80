"""Play a seller on the sandbox's hosted onboarding page without a browser (demo data, tests)."""

from urllib.parse import urlsplit

from stripe_sandbox.resources import accounts

DEMO_BANK_ACCOUNT = "000123456789"


def complete_onboarding(link_url, *, business_name, support_email):
    """Open an account link and submit its form as 'Complete onboarding'. Returns the link."""
    link_id = urlsplit(link_url).path.rstrip("/").rsplit("/", 1)[-1]
    link, _ = accounts.onboarding_open(link_id)
    return accounts.onboarding_submit(
        link_id,
        link["session"],
        outcome=accounts.OUTCOME_COMPLETE,
        profile={"name": business_name, "support_email": support_email},
        bank_account_number=DEMO_BANK_ACCOUNT,
        ip="127.0.0.1",
        user_agent="bazaar seed_demo",
    )
