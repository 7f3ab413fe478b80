"""Seller Central's consent page, the staff control page and the management command."""

from io import StringIO
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.management import CommandError, call_command

from amazon_sandbox import control
from amazon_sandbox.models import SandboxListing

pytestmark = pytest.mark.django_db

CONSENT = "/amazon-sandbox/apps/authorize/consent"


def consent_query(**overrides):
    params = {
        "application_id": "amzn1.sp.solution.test",
        "state": "xyz",
        "redirect_uri": "https://shop.test/amazon/back/?from=sandbox",
        "version": "beta",
    }
    params.update(overrides)
    return urlencode({k: v for k, v in params.items() if v is not None})


def test_the_consent_page_needs_what_seller_central_needs(client):
    answer = client.get(f"{CONSENT}?{consent_query(state=None)}")

    assert answer.status_code == 400
    assert b"state" in answer.content


def test_the_consent_page_refuses_a_selling_partner_id_amazon_would_not_have(client):
    answer = client.post(f"{CONSENT}?{consent_query()}", {"selling_partner_id": "nope"})

    assert answer.status_code == 200
    assert b"capital letters" in answer.content


def test_confirming_keeps_the_apps_own_query_and_adds_amazons(client):
    answer = client.post(f"{CONSENT}?{consent_query()}", {"selling_partner_id": "A2SELLERTEST1"})

    back = urlsplit(answer["Location"])
    params = parse_qs(back.query)
    assert (back.netloc, back.path) == ("shop.test", "/amazon/back/")
    assert params["from"] == ["sandbox"]
    assert params["state"] == ["xyz"]
    assert params["selling_partner_id"] == ["A2SELLERTEST1"]
    assert params["spapi_oauth_code"][0]


def _listing(seller="A9SELLERPAGE1", sku="jug"):
    return SandboxListing.objects.create(
        seller_id=seller,
        marketplace_id="ATVPDKIKX0DER",
        sku=sku,
        product_type="PRODUCT",
        attributes={"fulfillment_availability": [{"quantity": 1}]},
    )


def test_the_control_page_is_for_staff(client, db):
    answer = client.get("/amazon-sandbox/")

    assert answer.status_code == 302
    assert "/admin/login/" in answer["Location"]


def test_staff_assign_an_asin_reject_throttle_and_process_feeds(
    staff_client, django_assert_max_num_queries
):
    for number in range(3):
        _listing(sku=f"jug-{number}")
    with django_assert_max_num_queries(12):
        page = staff_client.get("/amazon-sandbox/")
    assert page.status_code == 200
    assert b"jug-2" in page.content

    staff_client.post(
        "/amazon-sandbox/control/assign-asin/", {"seller_id": "A9SELLERPAGE1", "sku": "jug-0"}
    )
    staff_client.post(
        "/amazon-sandbox/control/reject/",
        {"seller_id": "A9SELLERPAGE1", "sku": "jug-1", "message": "Images show a watermark."},
    )
    staff_client.post("/amazon-sandbox/control/throttle/", {"count": 4, "operation": "getFeed"})
    processed = staff_client.post("/amazon-sandbox/control/process-feeds/", follow=True)

    assert control.listing("A9SELLERPAGE1", "jug-0").asin.startswith("B0")
    rejected = control.listing("A9SELLERPAGE1", "jug-1")
    assert rejected.state == SandboxListing.State.REJECTED
    assert rejected.issues[0]["message"] == "Images show a watermark."
    throttle = control.throttle_state()
    assert (throttle.throttle_remaining, throttle.throttle_operation) == (4, "getFeed")
    assert b"0 feed(s) processed." in processed.content
    assert b"Images show a watermark." in processed.content


def test_the_command_steers_the_same_way(db):
    _listing(sku="bowl")
    out = StringIO()

    call_command("amazon_sandbox", "assign-asin", stdout=out)
    call_command("amazon_sandbox", "throttle", "2", "--operation", "putListingsItem", stdout=out)
    call_command("amazon_sandbox", "status", stdout=out)

    assert "1 pending listing(s) got an ASIN." in out.getvalue()
    assert "Live listings: 1" in out.getvalue()
    assert "Throttling: the next 2 (putListingsItem)" in out.getvalue()
    with pytest.raises(CommandError, match="no listing"):
        call_command("amazon_sandbox", "reject", "A9SELLERPAGE1", "nope", "--message", "No.")


def test_the_command_confirms_a_consent_page(db):
    out = StringIO()
    call_command(
        "amazon_sandbox",
        "consent",
        f"http://testserver{CONSENT}?{consent_query()}",
        "--selling-partner-id",
        "A3FROMCOMMAND",
        stdout=out,
    )

    params = parse_qs(urlsplit(out.getvalue().strip()).query)
    assert params["selling_partner_id"] == ["A3FROMCOMMAND"]
    assert params["spapi_oauth_code"][0]
