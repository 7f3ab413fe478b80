"""Connecting a store to an Amazon seller account through Login with Amazon (the sandbox's
consent page), the encrypted token, disconnecting, and a forged or stale authorisation."""

from io import StringIO
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.fernet import Fernet
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from accounts.factories import SellerFactory
from amazon_sandbox import control
from amazon_sync import crypto, spapi
from amazon_sync.models import AmazonAccount
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def start(client, seller):
    client.force_login(seller)
    response = client.post("/seller/amazon/connect/")
    assert response.status_code == 302
    return response["Location"]


def test_a_seller_connects_through_amazons_consent_page_and_the_token_is_stored_encrypted(
    client, amazon
):
    seller = SellerFactory()
    consent_url = start(client, seller)
    assert "/apps/authorize/consent" in consent_url

    back = control.consent(consent_url, selling_partner_id="A1BAZAARTEST01")
    response = client.get(path_of(back))

    assert response.status_code == 302
    assert response["Location"] == "/seller/amazon/"
    account = AmazonAccount.objects.get(store=seller.store)
    assert account.selling_partner_id == "A1BAZAARTEST01"
    assert account.marketplace_id == "ATVPDKIKX0DER"
    # The token works at Amazon (the sandbox checks it) and is nowhere in the database in clear.
    assert account.refresh_token.startswith("Atzr|")
    creds = spapi.Credentials(
        refresh_token=account.refresh_token,
        selling_partner_id=account.selling_partner_id,
        marketplace_id=account.marketplace_id,
    )
    assert spapi.get_listing(creds, sku="none-yet") is None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT refresh_token_encrypted FROM amazon_sync_amazonaccount WHERE id = %s",
            [account.pk],
        )
        (stored,) = cursor.fetchone()
    assert account.refresh_token.encode() not in bytes(stored)
    assert crypto.decrypt(bytes(stored)) == account.refresh_token
    entry = AuditEntry.objects.get(action="amazon_sync.account.connected")
    assert account.refresh_token not in str(entry.after)

    page = client.get("/seller/amazon/").content.decode()
    assert "A1BAZAARTEST01" in page
    assert account.refresh_token not in page


def test_keys_rotate_tokens_under_the_old_key_still_read_and_are_re_encrypted(settings, amazon):
    account = amazon.connect(SellerFactory().store)
    token = account.refresh_token
    old_key = settings.AMAZON_CREDENTIALS_KEYS[0]
    settings.AMAZON_CREDENTIALS_KEYS = [Fernet.generate_key().decode(), old_key]
    assert AmazonAccount.objects.get(pk=account.pk).refresh_token == token

    out = StringIO()
    call_command("amazon_rotate_credentials", stdout=out)

    assert out.getvalue().strip() == "1 Amazon credential re-encrypted."
    settings.AMAZON_CREDENTIALS_KEYS = settings.AMAZON_CREDENTIALS_KEYS[:1]
    assert AmazonAccount.objects.get(pk=account.pk).refresh_token == token
    settings.AMAZON_CREDENTIALS_KEYS = [old_key]
    with pytest.raises(ImproperlyConfigured):
        AmazonAccount.objects.get(pk=account.pk).refresh_token  # noqa: B018


def test_disconnecting_deletes_the_credentials(client, api_client, amazon):
    account = amazon.connect(SellerFactory().store)
    seller = account.store.owner
    api_client.force_authenticate(seller)

    assert api_client.get("/api/v1/seller/amazon/").json()["connected"] is True
    assert api_client.post("/api/v1/seller/amazon/disconnect/").status_code == 204

    assert not AmazonAccount.objects.filter(pk=account.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM amazon_sync_amazonaccount")
        assert cursor.fetchone() == (0,)
    assert api_client.get("/api/v1/seller/amazon/").json() == {
        "connected": False,
        "selling_partner_id": None,
        "marketplace_id": None,
        "marketplace_name": None,
        "connected_at": None,
    }
    client.force_login(seller)
    assert "Connect Amazon" in client.get("/seller/amazon/").content.decode()


def forge(url, **changes):
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


@pytest.mark.parametrize(
    "state",
    [
        "forged",
        "",
        # Signed, but for another person.
        signing.dumps({"user": 999999, "marketplace": "ATVPDKIKX0DER"}, salt="amazon_sync.connect"),
        # Signed with another purpose's salt.
        signing.dumps({"user": 1, "marketplace": "ATVPDKIKX0DER"}),
    ],
    # Signed values carry a timestamp: named ids keep every xdist worker collecting the same tests.
    ids=["forged", "empty", "another-person", "another-salt"],
)
def test_a_forged_or_foreign_state_is_refused_with_a_clear_page(client, amazon, state):
    seller = SellerFactory()
    back = control.consent(start(client, seller))

    response = client.get(forge(back, state=state))

    assert response.status_code == 400
    assert "not valid or has expired" in response.content.decode()
    assert not AmazonAccount.objects.exists()


def test_another_persons_authorisation_link_does_not_connect_my_store(client, amazon):
    victim, attacker = SellerFactory(), SellerFactory()
    back = control.consent(start(client, attacker))

    client.force_login(victim)
    response = client.get(path_of(back))

    assert response.status_code == 400
    assert not AmazonAccount.objects.exists()


def test_a_used_or_invalid_code_is_refused_by_amazon_and_shown(client, amazon):
    seller = SellerFactory()
    back = control.consent(start(client, seller))
    assert client.get(path_of(back)).status_code == 302

    again = client.get(path_of(back))
    assert again.status_code == 400
    assert "Amazon refused the authorisation" in again.content.decode()

    bad = client.get(forge(back, spapi_oauth_code="nonsense"))
    assert bad.status_code == 400


def test_the_api_gives_the_consent_address(api_client, amazon):
    seller = SellerFactory()
    api_client.force_authenticate(seller)

    response = api_client.post("/api/v1/seller/amazon/connect/")

    assert response.status_code == 200
    url = response.json()["authorization_url"]
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == ["http://testserver/seller/amazon/callback/"]
    assert signing.loads(query["state"][0], salt="amazon_sync.connect")["user"] == seller.pk
