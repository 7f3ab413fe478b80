"""Connect accounts in the sandbox, through the real stripe SDK and the hosted pages."""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import stripe
from django.test import Client

from stripe_sandbox.models import SandboxObject
from stripe_sandbox.resources.accounts import LOGIN_LINK_TTL, PLATFORM_ACCOUNT_ID
from stripe_sandbox.testing import client as stripe_client

pytestmark = pytest.mark.django_db

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "stripe-openapi"
RETURN_URL = "http://testserver/back/"
REFRESH_URL = "http://testserver/again/"


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "http://testserver"


def express(**extra):
    params = {
        "type": "express",
        "country": "US",
        "email": "maker@example.com",
        "business_type": "individual",
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
        "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        "metadata": {"seller_profile_id": "7"},
    } | extra
    return stripe_client().v1.accounts.create(params=params)


def link_for(account_id, **extra):
    params = {
        "account": account_id,
        "type": "account_onboarding",
        "refresh_url": REFRESH_URL,
        "return_url": RETURN_URL,
    } | extra
    return stripe_client().v1.account_links.create(params=params)


def path_of(url):
    return urlsplit(url).path


FORM = {
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


def onboard(client, link_url, outcome="complete", **fields):
    """Open the hosted page and press one of its buttons; returns the final response."""
    page = client.get(path_of(link_url))
    assert page.status_code == 200
    session = re.search(r'name="session" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(path_of(link_url), FORM | {"session": session, "outcome": outcome} | fields)


def retrieve(account_id):
    return stripe_client().v1.accounts.retrieve(account_id)


# --- Creating and reading accounts ---------------------------------------------------------------


def test_a_new_express_account_cannot_take_payments_and_owes_its_details(stripe_sandbox):
    account = express(business_profile={"name": "Clay & Co", "url": "https://clay.example.com"})

    assert account.id.startswith("acct_")
    assert account.type == "express"
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    assert account.capabilities.to_dict() == {"card_payments": "inactive", "transfers": "inactive"}
    due = account.requirements.currently_due
    for field in (
        "business_profile.mcc",
        "external_account",
        "individual.dob.day",
        "individual.first_name",
        "individual.ssn_last_4",
        "tos_acceptance.date",
        "tos_acceptance.ip",
    ):
        assert field in due
    assert "business_profile.url" not in due  # given at creation
    assert account.requirements.past_due == due
    assert account.requirements.disabled_reason == "requirements.past_due"
    assert account.external_accounts.data == []
    assert account.settings.payouts.schedule.interval == "manual"
    assert account.metadata.to_dict() == {"seller_profile_id": "7"}
    assert account.controller.stripe_dashboard.type == "express"
    # Stripe has no account.created event.
    assert stripe_sandbox.events(account=account.id) == []


def test_controller_properties_make_an_express_account(stripe_sandbox):
    account = stripe_client().v1.accounts.create(
        params={
            "controller": {
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "requirement_collection": "stripe",
                "stripe_dashboard": {"type": "express"},
            },
            "country": "GB",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    assert account.type == "express"
    assert account.default_currency == "gbp"
    assert "individual.ssn_last_4" not in account.requirements.currently_due
    assert "business_type" in account.requirements.currently_due


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"colour": "blue"}, "colour", "Received unknown parameter: colour"),
        (
            {"capabilities": {"card_payments": {"requested": True}}},
            "capabilities",
            "`transfers` capability must also be requested",
        ),
        ({"tos_acceptance": {"date": 1700000000, "ip": "1.2.3.4"}}, "tos_acceptance", "Terms"),
        ({"controller": {"requirement_collection": "stripe"}}, "controller", "both"),
        ({"settings": {"payouts": {"schedule": {"interval": "hourly"}}}}, None, "interval"),
        ({"email": "not-an-email"}, "email", "Invalid email address"),
        ({"country": "XX"}, "country", "unknown"),
    ],
)
def test_invalid_account_params_are_refused_like_stripe(stripe_sandbox, params, param, message):
    base = {"type": "express", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client().v1.accounts.create(params=base | params)
    assert caught.value.http_status == 400
    assert message in caught.value.user_message
    if param:
        assert caught.value.param.startswith(param)
    assert stripe_client().v1.accounts.list().data == []


def test_the_same_idempotency_key_makes_one_account(stripe_sandbox):
    params = {
        "type": "express",
        "country": "US",
        "capabilities": {"transfers": {"requested": True}},
    }
    first = stripe_client().v1.accounts.create(params=params, options={"idempotency_key": "a-1"})
    again = stripe_client().v1.accounts.create(params=params, options={"idempotency_key": "a-1"})
    assert first.id == again.id
    assert len(stripe_client().v1.accounts.list().data) == 1


def test_list_holds_connected_accounts_only_and_pages(stripe_sandbox):
    ids = [express(email=f"s{i}@example.com").id for i in range(3)]
    # the platform's own account exists but is no connected account
    assert stripe_client().v1.accounts.retrieve(PLATFORM_ACCOUNT_ID).id == PLATFORM_ACCOUNT_ID

    listed = stripe_client().v1.accounts.list()
    assert {a.id for a in listed.data} == set(ids)
    first_page = stripe_client().v1.accounts.list(params={"limit": 2})
    assert first_page.has_more is True
    rest = stripe_client().v1.accounts.list(
        params={"limit": 2, "starting_after": first_page.data[-1].id}
    )
    assert [a.id for a in first_page.data + rest.data] == [a.id for a in listed.data]


def test_a_connected_account_sees_itself_but_not_others(stripe_sandbox):
    mine, other = express().id, express().id
    seen = stripe_client().v1.accounts.retrieve(mine, options={"stripe_account": mine})
    assert seen.id == mine
    with pytest.raises(stripe.PermissionError):
        stripe_client().v1.accounts.retrieve(other, options={"stripe_account": mine})
    with pytest.raises(stripe.PermissionError):
        stripe_client().v1.accounts.list(options={"stripe_account": mine})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client().v1.accounts.retrieve("acct_doesnotexist00")
    assert caught.value.http_status == 404


def test_updating_sends_account_updated_with_previous_attributes(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    account = express()
    with stripe_sandbox.webhooks_held():
        updated = stripe_client().v1.accounts.update(
            account.id,
            params={"business_profile": {"mcc": "5999", "url": "https://clay.example.com"}},
        )
    assert "business_profile.mcc" not in updated.requirements.currently_due
    events = stripe_sandbox.events("account.updated", account=account.id)
    assert len(events) == 1
    event = events[0]
    assert event["account"] == account.id
    assert event["data"]["object"]["business_profile"]["mcc"] == "5999"
    previous = event["data"]["previous_attributes"]
    assert previous["business_profile"] == {"mcc": None, "url": None}
    assert "business_profile.mcc" in previous["requirements"]["currently_due"]
    # an update that changes nothing sends nothing
    stripe_client().v1.accounts.update(account.id, params={"business_profile": {"mcc": "5999"}})
    assert len(stripe_sandbox.events("account.updated", account=account.id)) == 1


def test_express_and_custom_test_accounts_can_be_deleted(stripe_sandbox):
    account = express()
    deleted = stripe_client().v1.accounts.delete(account.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        retrieve(account.id)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client().v1.accounts.delete(PLATFORM_ACCOUNT_ID)


# --- External accounts -------------------------------------------------------------------------


def test_bank_accounts_can_be_added_listed_and_removed(stripe_sandbox):
    account = express()
    api = stripe_client().v1.accounts.external_accounts
    bank = api.create(
        account.id,
        params={
            "external_account": {
                "object": "bank_account",
                "country": "US",
                "currency": "usd",
                "routing_number": "110000000",
                "account_number": "000123456789",
            }
        },
    )
    failing = api.create(account.id, params={"external_account": "btok_us_verified_noAccount"})

    assert (bank.object, bank.last4, bank.routing_number, bank.account) == (
        "bank_account",
        "6789",
        "110000000",
        account.id,
    )
    assert failing.last4 == "1116"
    # the first bank account of a currency is its default until another is made default
    assert api.retrieve(account.id, bank.id).default_for_currency is True
    assert failing.default_for_currency is False
    assert {b.id for b in api.list(account.id).data} == {bank.id, failing.id}
    assert "external_account" not in retrieve(account.id).requirements.currently_due
    created = stripe_sandbox.events("account.external_account.created", account=account.id)
    assert [e["data"]["object"]["id"] for e in created] == [bank.id, failing.id]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        api.delete(account.id, bank.id)
    assert "default bank account" in caught.value.user_message
    assert api.delete(account.id, failing.id).deleted is True
    assert [b.id for b in api.list(account.id).data] == [bank.id]
    assert [b.id for b in retrieve(account.id).external_accounts.data] == [bank.id]


def test_bank_accounts_of_another_account_are_out_of_reach(stripe_sandbox):
    mine, other = express(), express()
    bank = stripe_client().v1.accounts.external_accounts.create(
        other.id, params={"external_account": "btok_us_verified"}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client().v1.accounts.external_accounts.retrieve(mine.id, bank.id)
    assert caught.value.http_status == 404
    with pytest.raises(stripe.PermissionError):
        stripe_client().v1.accounts.external_accounts.list(
            other.id, options={"stripe_account": mine.id}
        )


# --- Account links and the hosted onboarding -----------------------------------------------------


def test_account_link_shape_and_rules(stripe_sandbox):
    account = express()
    link = link_for(account.id)
    assert link.object == "account_link"
    assert link.expires_at == link.created + 300
    assert link.url.startswith("http://testserver/stripe-sandbox/onboarding/")
    # Stripe: account_update links are only for accounts the platform collects requirements for
    with pytest.raises(stripe.InvalidRequestError) as caught:
        link_for(account.id, type="account_update")
    assert caught.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client().v1.account_links.create(
            params={"account": account.id, "type": "account_onboarding", "refresh_url": REFRESH_URL}
        )
    assert caught.value.param == "return_url"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        link_for("acct_doesnotexist00")
    assert caught.value.http_status == 404


def test_an_account_link_opens_once(stripe_sandbox, client):
    link = link_for(express().id)
    first = client.get(path_of(link.url))
    assert first.status_code == 200
    assert b"Stripe sandbox" in first.content and b"Complete onboarding" in first.content

    again = client.get(path_of(link.url))
    assert again.status_code == 302
    assert again["Location"] == REFRESH_URL


def test_an_expired_account_link_goes_to_refresh_url(stripe_sandbox, client):
    link = link_for(express().id)
    stripe_sandbox.advance_clock(seconds=301)
    response = client.get(path_of(link.url))
    assert response.status_code == 302
    assert response["Location"] == REFRESH_URL
    assert client.get("/stripe-sandbox/onboarding/aclk_unknown/").status_code == 404


def test_completing_onboarding_enables_the_account(
    stripe_sandbox, client, django_capture_on_commit_callbacks
):
    account = express()
    with stripe_sandbox.webhooks_held():
        response = onboard(client, link_for(account.id).url, "complete")
    assert response.status_code == 302
    assert response["Location"] == RETURN_URL

    done = retrieve(account.id)
    assert (done.details_submitted, done.charges_enabled, done.payouts_enabled) == (
        True,
        True,
        True,
    )
    assert done.capabilities.to_dict() == {"card_payments": "active", "transfers": "active"}
    assert done.requirements.currently_due == []
    assert done.requirements.past_due == []
    assert done.requirements.disabled_reason is None
    assert done.business_profile.name == "Clay & Co"
    assert done.business_profile.support_email == "help@clay.example.com"
    assert done.business_profile.mcc == "5999"
    assert [b.last4 for b in done.external_accounts.data] == ["6789"]
    assert done.tos_acceptance.date is not None

    types = [e["type"] for e in stripe_sandbox.events(account=account.id)]
    assert types == ["account.external_account.created", "account.updated"]
    updated = stripe_sandbox.events("account.updated", account=account.id)[0]
    previous = updated["data"]["previous_attributes"]
    assert previous["charges_enabled"] is False
    assert previous["details_submitted"] is False
    assert previous["capabilities"] == {"card_payments": "inactive", "transfers": "inactive"}
    # the form was used: the link is spent
    assert client.get(path_of(link_for(account.id).url)).status_code == 200
    with pytest.raises(stripe.InvalidRequestError):  # and the account is still Express
        link_for(account.id, type="account_update")


def test_onboarding_with_the_failing_bank_account(stripe_sandbox, client):
    account = express()
    onboard(client, link_for(account.id).url, "complete", bank_account="000111111116")
    assert [b.last4 for b in retrieve(account.id).external_accounts.data] == ["1116"]


def test_leaving_requirements_due_keeps_charges_until_the_deadline(stripe_sandbox, client):
    account = express()
    onboard(client, link_for(account.id).url, "due")

    due = retrieve(account.id)
    assert due.details_submitted is True
    assert due.charges_enabled is True
    assert due.payouts_enabled is False
    assert due.requirements.currently_due == [
        "external_account",
        "individual.verification.document",
    ]
    assert due.requirements.past_due == []
    assert due.requirements.disabled_reason is None
    assert due.requirements.current_deadline > stripe_sandbox.now()
    assert due.external_accounts.data == []

    stripe_sandbox.advance_clock(days=15)
    late = retrieve(account.id)
    assert late.charges_enabled is False
    assert late.requirements.past_due == ["external_account", "individual.verification.document"]
    assert late.requirements.disabled_reason == "requirements.past_due"
    assert late.capabilities.card_payments == "inactive"
    last = stripe_sandbox.events("account.updated", account=account.id)[-1]
    assert last["data"]["previous_attributes"]["charges_enabled"] is True


def test_past_due_onboarding_disables_charges(stripe_sandbox, client):
    account = express()
    onboard(client, link_for(account.id).url, "past_due")
    state = retrieve(account.id)
    assert (state.details_submitted, state.charges_enabled, state.payouts_enabled) == (
        True,
        False,
        False,
    )
    assert state.requirements.disabled_reason == "requirements.past_due"
    assert "individual.verification.document" in state.requirements.past_due

    # a fresh onboarding link lets the seller fix it
    onboard(client, link_for(account.id).url, "complete")
    fixed = retrieve(account.id)
    assert (fixed.charges_enabled, fixed.payouts_enabled) == (True, True)
    assert fixed.requirements.disabled_reason is None


def test_a_form_with_errors_can_be_corrected_and_the_session_is_single_use(stripe_sandbox, client):
    account = express()
    link = link_for(account.id)
    page = client.get(path_of(link.url))
    session = re.search(r'name="session" value="([^"]+)"', page.content.decode()).group(1)

    bad = client.post(
        path_of(link.url), FORM | {"session": session, "outcome": "complete", "name": ""}
    )
    assert bad.status_code == 400
    assert b"Enter the name customers know your business by." in bad.content
    assert retrieve(account.id).details_submitted is False

    good = client.post(path_of(link.url), FORM | {"session": session, "outcome": "complete"})
    assert good["Location"] == RETURN_URL
    replay = client.post(path_of(link.url), FORM | {"session": session, "outcome": "past_due"})
    assert replay["Location"] == REFRESH_URL
    assert retrieve(account.id).charges_enabled is True
    forged = client.post(path_of(link_for(account.id).url), FORM | {"session": "obs_guess"})
    assert forged["Location"] == REFRESH_URL


def test_the_hosted_pages_need_no_inline_script_or_style(stripe_sandbox, client):
    account = express()
    html = client.get(path_of(link_for(account.id).url)).content.decode()
    assert "Stripe sandbox — test mode" in html
    assert "style=" not in html
    assert "<script" not in html
    assert not re.search(r"\son[a-z]+=", html)


# --- Login links and the Express dashboard -----------------------------------------------------


def test_login_links_need_a_completed_express_account(stripe_sandbox, client):
    account = express()
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client().v1.accounts.login_links.create(account.id)
    assert "not completed onboarding" in caught.value.user_message

    custom = stripe_client().v1.accounts.create(
        params={
            "type": "custom",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client().v1.accounts.login_links.create(custom.id)
    assert "Express" in caught.value.user_message

    onboard(client, link_for(account.id).url, "complete")
    login = stripe_client().v1.accounts.login_links.create(account.id)
    assert login.object == "login_link"
    # As Stripe's: /express/<account>/<single-use token>
    assert re.fullmatch(
        rf"http://testserver/stripe-sandbox/express/{account.id}/[\w-]{{32}}/", login.url
    )

    page = client.get(path_of(login.url), follow=True)
    assert page.status_code == 200
    assert page.redirect_chain == [(f"/stripe-sandbox/express/{account.id}/", 302)]
    text = page.content.decode()
    assert "Clay &amp; Co" in text and "····6789" in text
    assert "Payments</th><td>Enabled" in text
    assert client.get("/stripe-sandbox/express/acct_nope/").status_code == 404


def onboarded(client):
    account = express()
    onboard(client, link_for(account.id).url, "complete")
    return account.id


def dashboard(account_id):
    return f"/stripe-sandbox/express/{account_id}/"


def login_path(account_id):
    return path_of(stripe_client().v1.accounts.login_links.create(account_id).url)


def test_the_express_dashboard_is_a_404_to_anyone_not_logged_in_to_it(
    stripe_sandbox, client, someone
):
    account_id = onboarded(client)
    login_path(account_id)  # a link exists, unopened

    anonymous = client.get(dashboard(account_id))
    assert anonymous.status_code == 404
    assert "····6789" not in anonymous.content.decode()
    # Exactly as for an account that does not exist: the page confirms nothing.
    assert client.get(dashboard("acct_nope")).status_code == 404
    client.force_login(someone)
    assert client.get(dashboard(account_id)).status_code == 404


def test_a_login_link_opens_its_accounts_dashboard_once_and_no_other(stripe_sandbox, client):
    mine, theirs = onboarded(client), onboarded(client)
    link = login_path(mine)

    opened = client.get(link)
    assert opened.status_code == 302
    assert opened["Location"] == dashboard(mine)
    assert opened["Cache-Control"].startswith("max-age=0")
    for _ in range(2):  # the session keeps working for that account
        assert client.get(dashboard(mine)).status_code == 200
    assert client.get(dashboard(theirs)).status_code == 404

    assert client.get(link).status_code == 404  # used
    stranger = Client()
    assert stranger.get(link).status_code == 404
    assert stranger.get(dashboard(mine)).status_code == 404


def test_a_login_link_for_one_account_does_not_open_another(stripe_sandbox, client):
    mine, theirs = onboarded(client), onboarded(client)
    token = login_path(mine).rstrip("/").rsplit("/", 1)[1]

    assert client.get(f"/stripe-sandbox/express/{theirs}/{token}/").status_code == 404
    assert client.get(dashboard(theirs)).status_code == 404
    assert client.get(f"/stripe-sandbox/express/{mine}/not-{token}/").status_code == 404


def test_an_expired_login_link_is_a_404(stripe_sandbox, client):
    account_id = onboarded(client)
    link = login_path(account_id)
    stripe_sandbox.advance_clock(seconds=LOGIN_LINK_TTL)

    assert client.get(link).status_code == 404
    assert client.get(dashboard(account_id)).status_code == 404


def test_staff_of_the_host_project_see_any_express_dashboard(stripe_sandbox, client, staff_user):
    account_id = onboarded(client)
    client.force_login(staff_user)

    page = client.get(dashboard(account_id))

    assert page.status_code == 200
    assert "····6789" in page.content.decode()


def test_login_links_are_stored_without_their_token(stripe_sandbox, client):
    link = login_path(onboarded(client))
    token = link.rstrip("/").rsplit("/", 1)[1]

    stored = list(SandboxObject.objects.filter(object_type="login_link").values_list())
    assert len(stored) == 1 and token not in repr(stored)


def test_custom_accounts_use_account_update_links(stripe_sandbox):
    custom = stripe_client().v1.accounts.create(
        params={
            "type": "custom",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    assert link_for(custom.id, type="account_update").object == "account_link"


# --- Shapes against Stripe's published spec (skipped without it) --------------------------------


@pytest.fixture(scope="module")
def spec_schemas():
    spec = SPEC_DIR / "spec3.json"
    if not spec.exists():
        pytest.skip(f"Stripe's OpenAPI spec is not at {SPEC_DIR}")
    return json.loads(spec.read_text())["components"]["schemas"]


def test_objects_carry_every_field_stripe_documents(stripe_sandbox, client, spec_schemas):
    account = express()
    onboard(client, link_for(account.id).url, "complete")
    objects = {
        "account": retrieve(account.id).to_dict(),
        "account_link": link_for(account.id).to_dict(),
        "login_link": stripe_client().v1.accounts.login_links.create(account.id).to_dict(),
        "bank_account": retrieve(account.id).external_accounts.data[0].to_dict(),
    }
    # Express accounts do not return Custom-only fields (company, individual).
    custom_only = {"account": {"company", "individual"}}
    for name, obj in objects.items():
        documented = set(spec_schemas[name]["properties"]) - custom_only.get(name, set())
        assert documented <= set(obj), f"{name} lacks {sorted(documented - set(obj))}"
        for field in spec_schemas[name].get("required", []):
            assert obj[field] is not None, f"{name}.{field} is required"
    requirement_fields = set(spec_schemas["account_requirements"]["properties"])
    assert requirement_fields <= set(objects["account"]["requirements"])
