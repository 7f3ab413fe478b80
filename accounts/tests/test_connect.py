"""Stripe Connect Express onboarding for sellers: services, pages, API and the plain-words status.

Stripe is the offline sandbox, reached through the real stripe SDK; webhooks are delivered to
Bazaar's intake after commit (django_capture_on_commit_callbacks).
"""

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from accounts import connect
from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.models import ConnectedAccount
from accounts.selectors import connect_status, seller_can_accept_payments
from core import stripe_client
from stripe_sandbox import testing as sandbox

pytestmark = pytest.mark.django_db

ONBOARDING_FORM = {
    "name": "Clay & Co",
    "support_email": "help@clay.example.com",
    "support_phone": "+1 555 010 0100",
    "url": "https://clay.example.com",
    "product_description": "Hand-thrown mugs",
    "mcc": "5999",
    "first_name": "Jenny",
    "last_name": "Rosen",
    "dob": "1901-01-01",
    "bank_account": "000123456789",
}


def stripe_path(url):
    return urlsplit(url).path


def fill_onboarding(client, url, outcome="complete", **fields):
    """Play the seller on the sandbox's hosted onboarding page; returns the redirect."""
    page = client.get(stripe_path(url))
    assert page.status_code == 200, page.status_code
    session = re.search(r'name="session" value="([^"]+)"', page.content.decode()).group(1)
    data = ONBOARDING_FORM | {"session": session, "outcome": outcome} | fields
    return client.post(stripe_path(url), data)


def onboard_seller(client, seller, outcome="complete", **fields):
    """The seller presses "Set up payouts", fills Stripe's form and comes back."""
    client.force_login(seller)
    start = client.post(reverse("connect-start"))
    assert start.status_code == 302
    back = fill_onboarding(client, start["Location"], outcome, **fields)
    assert back.status_code == 302
    return back


def stripe_account(account_id):
    return stripe_client.client().v1.accounts.retrieve(account_id)


def html(response):
    return response.content.decode()


@pytest.fixture
def seller(stripe_sandbox):
    return SellerFactory(email="potter@example.com", seller__country="US")


# --- Creating the Stripe account ------------------------------------------------------------------


def test_starting_twice_makes_one_express_account_with_bazaars_settings(seller, settings):
    settings.SITE_URL = "https://bazaar.example.com"
    profile = seller.seller_profile

    first = connect.connect_account_start(seller_profile=profile)
    again = connect.connect_account_start(seller_profile=profile)

    assert first.pk == again.pk
    accounts = stripe_client.client().v1.accounts.list().data
    assert [a.id for a in accounts] == [first.stripe_account_id]
    account = accounts[0]
    assert account.type == "express"
    assert account.email == "potter@example.com"
    assert account.country == "US"
    assert account.business_type == "individual"
    assert set(account.capabilities.to_dict()) == {"card_payments", "transfers"}
    assert account.settings.payouts.schedule.interval == "manual"
    assert account.metadata.to_dict() == {"seller_profile_id": str(profile.pk)}
    assert account.business_profile.name == seller.store.name
    assert account.business_profile.url == settings.SITE_URL + seller.store.get_absolute_url()
    # the mirror starts from what Stripe answered
    assert first.charges_enabled is False
    assert "external_account" in first.requirements_currently_due
    assert first.disabled_reason == "requirements.past_due"


@pytest.mark.parametrize("site_url", ["http://127.0.0.1:8000", "http://localhost:8000"])
def test_a_local_site_gives_stripe_no_website(seller, settings, site_url):
    """Stripe refuses business URLs it cannot reach; the seller gives theirs on Stripe."""
    settings.SITE_URL = site_url
    connected = connect.connect_account_start(seller_profile=seller.seller_profile)
    assert stripe_account(connected.stripe_account_id).business_profile.url is None
    assert "business_profile.url" in connected.requirements_currently_due


def test_a_lost_row_does_not_make_a_second_stripe_account(seller):
    """The idempotency key comes from the seller profile: a retry after our write was lost
    gets the same Stripe account back."""
    profile = seller.seller_profile
    first = connect.connect_account_start(seller_profile=profile)
    ConnectedAccount.objects.all().delete()

    again = connect.connect_account_start(seller_profile=profile)

    assert again.stripe_account_id == first.stripe_account_id
    assert len(stripe_client.client().v1.accounts.list().data) == 1


def test_onboarding_links_are_fresh_each_time_and_of_the_onboarding_type(seller):
    profile = seller.seller_profile
    _, first = connect.connect_onboarding_link_create(
        seller_profile=profile, return_url="http://x.test/r", refresh_url="http://x.test/f"
    )
    connected, second = connect.connect_onboarding_link_create(
        seller_profile=profile, return_url="http://x.test/r", refresh_url="http://x.test/f"
    )
    assert first != second
    assert "/stripe-sandbox/onboarding/" in first
    assert ConnectedAccount.objects.get().pk == connected.pk


# --- Pages --------------------------------------------------------------------------------------


def test_set_up_payouts_sends_the_seller_to_stripe_and_back(
    client, seller, settings, django_capture_on_commit_callbacks
):
    client.force_login(seller)
    page = client.get(reverse("connect"))
    assert "Set up payouts with Stripe" in html(page)

    start = client.post(reverse("connect-start"))
    assert start.status_code == 302
    assert "/stripe-sandbox/onboarding/" in start["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        back = fill_onboarding(client, start["Location"], "complete")

    assert back["Location"] == settings.SITE_URL + reverse("connect-return")
    returned = client.get(reverse("connect-return"))
    text = html(returned)
    assert "You can take payments and receive payouts." in text
    assert "Stripe is confirming your details" not in text
    assert 'http-equiv="refresh"' not in text


def test_return_page_says_it_is_confirming_until_stripe_says_so(client, seller, stripe_sandbox):
    client.force_login(seller)
    start = client.post(reverse("connect-start"))
    with stripe_sandbox.webhooks_held():
        fill_onboarding(client, start["Location"], "complete")

    text = html(client.get(reverse("connect-return")))
    assert "Stripe is confirming your details" in text
    assert f"url={reverse('connect-return')}?check=1" in text
    # it stops looking after a while
    last = html(client.get(reverse("connect-return") + "?check=6"))
    assert 'http-equiv="refresh"' not in last
    assert ConnectedAccount.objects.get().charges_enabled is False


def test_the_refresh_url_makes_a_new_link(client, seller, stripe_sandbox):
    client.force_login(seller)
    start = client.post(reverse("connect-start"))
    client.get(stripe_path(start["Location"]))  # the link is now used
    used = client.get(stripe_path(start["Location"]))
    assert used["Location"].endswith(reverse("connect-refresh"))

    fresh = client.get(reverse("connect-refresh"))
    assert fresh.status_code == 302
    assert fresh["Location"] != start["Location"]
    assert client.get(stripe_path(fresh["Location"])).status_code == 200


def test_pages_are_for_sellers(client, stripe_sandbox):
    client.force_login(UserFactory())
    for method, name in [
        ("get", "connect"),
        ("post", "connect-start"),
        ("get", "connect-return"),
        ("get", "connect-refresh"),
        ("post", "connect-dashboard"),
    ]:
        response = getattr(client, method)(reverse(name))
        assert response.status_code == 302
        assert response["Location"] == reverse("seller-onboard")
    assert not ConnectedAccount.objects.exists()
    client.logout()
    assert client.get(reverse("connect"))["Location"].startswith(reverse("login"))


def test_stripe_refusing_becomes_a_message_not_an_error_page(client, stripe_sandbox):
    seller = SellerFactory(seller__country="XX")  # Stripe knows no such country
    client.force_login(seller)

    response = client.post(reverse("connect-start"), follow=True)

    assert response.status_code == 200
    assert "Country &#x27;XX&#x27; is unknown" in html(response)
    assert not ConnectedAccount.objects.exists()


@pytest.fixture
def stripe_down(monkeypatch, settings):
    """Every Stripe call fails to connect (no retries, so no waiting)."""
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    monkeypatch.setattr(stripe_client, "_client", None)
    sandbox.unreachable(monkeypatch)


def test_stripe_unreachable_becomes_a_message(client, seller, stripe_down):
    client.force_login(seller)
    response = client.post(reverse("connect-start"), follow=True)
    assert response.status_code == 200
    assert "Stripe could not be reached" in html(response)


def test_the_stripe_dashboard_opens_after_onboarding_only(client, seller, stripe_sandbox):
    client.force_login(seller)
    early = client.post(reverse("connect-dashboard"), follow=True)
    assert "Finish setting up payouts with Stripe first" in html(early)

    onboard_seller(client, seller, "complete")
    connect.connect_account_refresh(
        stripe_account_id=ConnectedAccount.objects.get().stripe_account_id
    )
    response = client.post(reverse("connect-dashboard"))
    assert response.status_code == 302
    account_id = ConnectedAccount.objects.get().stripe_account_id
    # A single-use login link into the seller's own Express dashboard, nobody else's.
    login_link = stripe_path(response["Location"])
    assert login_link.startswith(f"/stripe-sandbox/express/{account_id}/")
    dashboard = client.get(login_link, follow=True)
    assert dashboard.status_code == 200
    assert account_id in html(dashboard) and "····6789" in html(dashboard)
    assert client.get(login_link).status_code == 404  # used
    other_seller = Client()
    other_seller.force_login(SellerFactory())
    assert other_seller.get(dashboard.redirect_chain[-1][0]).status_code == 404
    assert "Open your Stripe dashboard" in html(client.get(reverse("connect")))


def test_incomplete_onboarding_shows_plain_reasons_on_the_dashboard(
    client, seller, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        onboard_seller(client, seller, "due")

    text = html(client.get(reverse("seller-dashboard")))
    assert 'data-connect-state="payouts_paused"' in text
    assert "Stripe needs a bank account and a photo ID before you can be paid." in text
    assert "Send it by " in text
    assert "Fix it on Stripe" in text
    assert f'action="{reverse("connect-start")}"' in text

    # "Fix it on Stripe" is a fresh onboarding link for the same account
    fix = client.post(reverse("connect-start"))
    with django_capture_on_commit_callbacks(execute=True):
        fill_onboarding(client, fix["Location"], "complete")
    fixed = html(client.get(reverse("seller-dashboard")))
    assert 'data-connect-state="ready"' in fixed
    assert "Fix it on Stripe" not in fixed
    assert seller_can_accept_payments(seller) is True


def test_the_dashboard_invites_sellers_to_set_up_payouts(client, seller):
    client.force_login(seller)
    text = html(client.get(reverse("seller-dashboard")))
    assert 'data-connect-state="not_started"' in text
    assert "Set up payouts with Stripe" in text
    client.force_login(UserFactory())
    assert "data-connect-state" not in html(client.get(reverse("seller-dashboard")))


@pytest.mark.parametrize("rows", [3, 30])
def test_the_status_panel_costs_one_query_whatever_the_listings(
    client, seller, django_assert_max_num_queries, rows
):
    from marketplace.factories import ListingFactory

    connect.connect_account_start(seller_profile=seller.seller_profile)
    ListingFactory.create_batch(rows, store=seller.store)
    client.force_login(seller)
    # The dashboard's bound in marketplace/tests/test_pages.py (it counts the panel's one query
    # and, since messaging, the top bar's Messages badge; since reviews, the clock, which is a
    # sandbox row in tests, for the store's published ratings; since Amazon sync, the listings'
    # sync badges; and the page's ratings, read for its rows in one query).
    with django_assert_max_num_queries(14):
        response = client.get(reverse("seller-dashboard"))
    assert 'data-connect-state="incomplete"' in html(response)


# --- API ----------------------------------------------------------------------------------------


def test_api_onboarding_and_status(api_client, seller, django_capture_on_commit_callbacks):
    api_client.force_authenticate(seller)
    url = reverse("api-seller-connect")

    before = api_client.get(url)
    assert before.status_code == 200
    assert before.json()["state"] == "not_started"
    assert before.json()["account_id"] is None

    started = api_client.post(url)
    assert started.status_code == 200
    body = started.json()
    assert body["account_id"] == ConnectedAccount.objects.get().stripe_account_id
    assert "/stripe-sandbox/onboarding/" in body["onboarding_url"]

    status = api_client.get(url).json()
    assert status["state"] == "incomplete"
    assert status["charges_enabled"] is False
    assert "individual.dob.day" in status["requirements"]["currently_due"]
    assert status["requirements"]["disabled_reason"] == "requirements.past_due"
    assert "your date of birth" in status["messages"][0]

    browser = Client()
    with django_capture_on_commit_callbacks(execute=True):
        fill_onboarding(browser, body["onboarding_url"], "due")
    status = api_client.get(url).json()
    assert status["state"] == "payouts_paused"
    assert (status["charges_enabled"], status["payouts_enabled"]) == (True, False)
    assert (
        status["messages"][0]
        == "Stripe needs a bank account and a photo ID before you can be paid."
    )
    assert status["requirements"]["current_deadline"] is not None

    link = api_client.post(reverse("api-seller-connect-login-link"))
    assert link.status_code == 200
    login_link = stripe_path(link.json()["url"])
    assert login_link.startswith(f"/stripe-sandbox/express/{body['account_id']}/")
    app_browser = Client()  # the mobile app opens the link in a browser
    assert app_browser.get(login_link, follow=True).status_code == 200
    assert Client().get(login_link).status_code == 404  # single use


def test_api_is_for_sellers(api_client, stripe_sandbox):
    url = reverse("api-seller-connect")
    assert api_client.get(url).status_code in (401, 403)
    api_client.force_authenticate(UserFactory())
    for response in (
        api_client.get(url),
        api_client.post(url),
        api_client.post(reverse("api-seller-connect-login-link")),
    ):
        assert response.status_code == 403
        assert "You are not a seller yet" in response.json()["detail"]
    assert not ConnectedAccount.objects.exists()


def test_api_login_link_before_onboarding_is_a_conflict(api_client, seller):
    api_client.force_authenticate(seller)
    response = api_client.post(reverse("api-seller-connect-login-link"))
    assert response.status_code == 409
    assert "Finish setting up payouts" in response.json()["detail"]


def test_api_reports_stripe_problems_with_a_detail(api_client, stripe_sandbox, stripe_down):
    api_client.force_authenticate(SellerFactory())
    response = api_client.post(reverse("api-seller-connect"))
    assert response.status_code == 503
    assert "Stripe could not be reached" in response.json()["detail"]


def test_api_reports_stripe_refusals_as_bad_requests(api_client, stripe_sandbox):
    api_client.force_authenticate(SellerFactory(seller__country="XX"))
    response = api_client.post(reverse("api-seller-connect"))
    assert response.status_code == 400
    assert "unknown" in response.json()["detail"]


# --- Plain words --------------------------------------------------------------------------------


def _mirror(**fields):
    profile = SellerFactory().seller_profile
    defaults = {"stripe_account_id": f"acct_test{profile.pk}", "details_submitted": True}
    return ConnectedAccount.objects.create(seller_profile=profile, **(defaults | fields))


@pytest.mark.parametrize(
    ("fields", "state", "messages"),
    [
        (
            {"details_submitted": False, "requirements_currently_due": ["individual.dob.day"]},
            "incomplete",
            ["Stripe needs your date of birth before buyers can pay you."],
        ),
        (
            {
                "charges_enabled": True,
                "requirements_currently_due": ["individual.dob.day", "external_account"],
            },
            "payouts_paused",
            ["Stripe needs your date of birth and a bank account before you can be paid."],
        ),
        (
            {
                "disabled_reason": "requirements.past_due",
                "requirements_currently_due": ["external_account"],
                "requirements_past_due": ["external_account"],
            },
            "restricted",
            [
                "Payments are paused: information is past due.",
                "Stripe needs a bank account before buyers can pay you again.",
            ],
        ),
        (
            {"disabled_reason": "rejected.fraud"},
            "restricted",
            [
                "Stripe closed this account and cannot process payments for it. Contact Stripe "
                "support."
            ],
        ),
        (
            {"charges_enabled": True, "payouts_enabled": True},
            "ready",
            ["You can take payments and receive payouts."],
        ),
    ],
)
def test_status_in_plain_words(fields, state, messages):
    status = connect_status(connected=_mirror(**fields))
    assert status.state == state
    assert status.messages == messages


def test_a_deadline_is_part_of_the_words():
    connected = _mirror(
        charges_enabled=True,
        requirements_currently_due=["individual.verification.document"],
        current_deadline=datetime(2030, 3, 4, tzinfo=UTC),
    )
    assert connect_status(connected=connected).messages == [
        "Stripe needs a photo ID before you can be paid.",
        "Send it by 4 March 2030 to keep taking payments.",
    ]


def test_only_sellers_whose_charges_are_enabled_can_be_paid():
    assert seller_can_accept_payments(_mirror(charges_enabled=True).seller_profile.user) is True
    assert seller_can_accept_payments(_mirror(charges_enabled=False).seller_profile.user) is False
    assert seller_can_accept_payments(SellerFactory()) is False  # never onboarded
    assert seller_can_accept_payments(None) is False


# --- Admin --------------------------------------------------------------------------------------


def test_admin_lists_connected_accounts_and_refreshes_them(client, seller):
    connected = connect.connect_account_start(seller_profile=seller.seller_profile)
    ConnectedAccount.objects.filter(pk=connected.pk).update(
        requirements_currently_due=[], stripe_updated_at=None
    )
    client.force_login(StaffFactory())
    changelist = reverse("admin:accounts_connectedaccount_changelist")
    assert connected.stripe_account_id in html(client.get(changelist))

    response = client.post(
        changelist,
        {"action": "refresh_from_stripe", "_selected_action": [connected.pk]},
        follow=True,
    )
    assert "Refreshed 1 account(s) from Stripe." in html(response)
    connected.refresh_from_db()
    assert "external_account" in connected.requirements_currently_due
    assert connected.stripe_updated_at is not None
