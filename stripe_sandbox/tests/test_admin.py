"""The sandbox's control page and admin: staff move the clock and (re)send webhook deliveries."""

import pytest
from django.urls import reverse

from stripe_sandbox import control, core
from stripe_sandbox.models import SandboxClock, SandboxObject, SandboxWebhookDelivery
from stripe_sandbox.tests.helpers_money import (
    DAY,
    as_account,
    funded_account,
    sdk,
)

pytestmark = pytest.mark.django_db

CONTROL = reverse("stripe_sandbox:control")
ADVANCE = reverse("stripe_sandbox:control_advance")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def endpoint(url="http://testserver/nowhere/"):
    """A webhook endpoint for every platform event (this URL answers 404)."""
    return sdk().v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})


def emit_events(count):
    for n in range(count):
        core.emit(None, "balance.available", {"object": "balance", "n": n})


# --- The control page ---------------------------------------------------------------------------


def test_the_control_page_is_for_staff_only(client, someone):
    response = client.get(CONTROL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))

    client.force_login(someone)
    assert client.get(CONTROL).status_code == 302
    assert client.post(ADVANCE, {"amount": 2, "unit": "days"}).status_code == 302
    assert core.clock_offset() == 0


def test_the_control_page_shows_the_clock_deliveries_and_events(staff_client):
    endpoint()
    core.emit(None, "balance.available", {"object": "balance"})

    response = staff_client.get(CONTROL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Stripe sandbox — test mode" in page
    assert str(core.now())[:6] in page  # the sandbox time, in Unix seconds
    [delivery] = SandboxWebhookDelivery.objects.all()
    assert delivery.event_id in page
    assert "balance.available" in page
    assert reverse("stripe_sandbox:control_deliver", args=[delivery.pk]) in page


def test_advancing_the_clock_from_the_control_page_pays_payouts(staff_client):
    seller = funded_account(500)
    made = sdk().v1.payouts.create(
        params={"amount": 300, "currency": "usd"}, options=as_account(seller)
    )

    response = staff_client.post(ADVANCE, {"amount": 2, "unit": "days"}, follow=True)

    assert response.redirect_chain == [(CONTROL, 302)]
    assert "moved forward by 2 days" in response.content.decode()
    assert core.clock_offset() == 2 * DAY
    assert sdk().v1.payouts.retrieve(made.id, options=as_account(seller)).status == "paid"
    assert control.events("payout.paid")[0]["account"] == seller

    staff_client.post(ADVANCE, {"amount": 5, "unit": "hours"})
    assert core.clock_offset() == 2 * DAY + 5 * 3600


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": 0, "unit": "days"}, "greater than or equal to 1"),
        ({"amount": 400, "unit": "days"}, "at most a year"),
        ({"amount": 2, "unit": "weeks"}, "Select a valid choice"),
        ({"amount": "soon", "unit": "days"}, "Enter a whole number"),
    ],
)
def test_a_bad_advance_is_a_form_error_and_leaves_the_clock(staff_client, data, message):
    response = staff_client.post(ADVANCE, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert core.clock_offset() == 0


def test_the_advance_url_only_takes_posts(staff_client):
    assert staff_client.get(ADVANCE).status_code == 405


def test_a_held_delivery_goes_out_from_the_control_page(staff_client, stripe_sandbox):
    seller = funded_account(100)
    with stripe_sandbox.webhooks_held():
        made = sdk().v1.payouts.create(
            params={"amount": 100, "currency": "usd"}, options=as_account(seller)
        )
    [delivery] = stripe_sandbox.pending_deliveries("payout.created")
    assert made.id in str(core.get_any(delivery.event_id))
    assert delivery.event_id in staff_client.get(CONTROL).content.decode()

    response = staff_client.post(
        reverse("stripe_sandbox:control_deliver", args=[delivery.pk]), follow=True
    )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == ("delivered", 200)
    assert "delivered (HTTP 200)" in response.content.decode()
    assert stripe_sandbox.pending_deliveries("payout.created") == []
    # Delivered ones leave the list, and cannot be "delivered now" again from it.
    again = staff_client.post(reverse("stripe_sandbox:control_deliver", args=[delivery.pk]))
    assert again.status_code == 404


def test_a_refused_delivery_stays_listed_as_failed(staff_client):
    endpoint("http://testserver/no-such-hook/")
    core.emit(None, "balance.available", {"object": "balance"})
    [delivery] = SandboxWebhookDelivery.objects.all()

    response = staff_client.post(
        reverse("stripe_sandbox:control_deliver", args=[delivery.pk]), follow=True
    )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.attempts) == ("failed", 404, 1)
    page = response.content.decode()
    assert "answered HTTP 404" in page
    assert delivery.event_id in page  # still there to send again


def test_deliver_all_sends_every_waiting_delivery(staff_client, stripe_sandbox):
    seller = funded_account(300)
    with stripe_sandbox.webhooks_held():
        for _ in range(2):
            sdk().v1.payouts.create(
                params={"amount": 100, "currency": "usd"}, options=as_account(seller)
            )
    assert len(stripe_sandbox.pending_deliveries()) == 3  # the funding transfer, two payouts

    response = staff_client.post(reverse("stripe_sandbox:control_deliver_all"), follow=True)

    assert "all accepted" in response.content.decode()
    assert stripe_sandbox.pending_deliveries() == []


@pytest.mark.parametrize("rows", [3, 30])
def test_the_control_page_query_count_stays_flat(staff_client, django_assert_max_num_queries, rows):
    endpoint()
    emit_events(rows)

    # Up to 9 for the page, and one when the project's admin site asks whether the staff
    # member has a two-factor device (its header is the admin's).
    with django_assert_max_num_queries(10):
        response = staff_client.get(CONTROL)

    assert response.status_code == 200
    assert response.content.decode().count("balance.available") >= min(rows, 25)


# --- Admin --------------------------------------------------------------------------------------


def test_sandbox_objects_are_searchable_by_id_and_filterable_by_type(staff_client):
    seller = funded_account(200)
    made = sdk().v1.payouts.create(
        params={"amount": 100, "currency": "usd"}, options=as_account(seller)
    )
    url = reverse("admin:stripe_sandbox_sandboxobject_changelist")

    found = staff_client.get(url, {"q": made.id}).content.decode()
    by_type = staff_client.get(url, {"object_type": "payout"}).content.decode()
    transfers_only = staff_client.get(url, {"object_type": "transfer"}).content.decode()

    assert made.id in found
    assert "1 result (" in found  # only the payout, not the account or its transactions
    assert made.id in by_type
    assert made.id not in transfers_only
    assert "tr_" in transfers_only


def test_sandbox_objects_are_read_only(staff_client):
    seller = funded_account(200)
    row = SandboxObject.objects.get(stripe_id=seller)
    change = reverse("admin:stripe_sandbox_sandboxobject_change", args=[row.pk])

    page = staff_client.get(change)
    assert page.status_code == 200
    assert seller in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert staff_client.post(change, {"stripe_id": "acct_hacked"}).status_code == 403
    add = staff_client.get(reverse("admin:stripe_sandbox_sandboxobject_add"))
    assert add.status_code == 403
    row.refresh_from_db()
    assert row.stripe_id == seller


def test_deliver_again_action_resends_the_selected_deliveries(staff_client, stripe_sandbox):
    seller = funded_account(100)
    with stripe_sandbox.webhooks_held():
        sdk().v1.payouts.create(
            params={"amount": 100, "currency": "usd"}, options=as_account(seller)
        )
    held = stripe_sandbox.pending_deliveries()
    url = reverse("admin:stripe_sandbox_sandboxwebhookdelivery_changelist")

    response = staff_client.post(
        url,
        {"action": "deliver_again", "_selected_action": [row.pk for row in held]},
        follow=True,
    )

    assert "were accepted by their endpoints" in response.content.decode()
    statuses = set(
        SandboxWebhookDelivery.objects.filter(pk__in=[r.pk for r in held]).values_list(
            "status", flat=True
        )
    )
    assert statuses == {"delivered"}
    assert SandboxWebhookDelivery.objects.get(pk=held[0].pk).attempts == 1


def test_deliver_again_reports_refusals(staff_client):
    endpoint("http://testserver/no-such-hook/")
    core.emit(None, "balance.available", {"object": "balance"})
    url = reverse("admin:stripe_sandbox_sandboxwebhookdelivery_changelist")

    response = staff_client.post(
        url,
        {
            "action": "deliver_again",
            "_selected_action": list(SandboxWebhookDelivery.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )

    assert "was refused" in response.content.decode()
    assert SandboxWebhookDelivery.objects.get().status == "failed"


@pytest.mark.parametrize("rows", [3, 30])
def test_the_delivery_changelist_query_count_stays_flat(
    staff_client, django_assert_max_num_queries, rows
):
    endpoint()
    emit_events(rows)
    url = reverse("admin:stripe_sandbox_sandboxwebhookdelivery_changelist")

    with django_assert_max_num_queries(6):
        response = staff_client.get(url)

    assert response.status_code == 200
    assert response.content.decode().count("balance.available") == rows


def test_the_admin_links_the_control_page(staff_client):
    control.advance_clock(hours=1)  # makes the clock row
    assert SandboxClock.objects.count() == 1

    clock_list = staff_client.get(reverse("admin:stripe_sandbox_sandboxclock_changelist"))
    app_index = staff_client.get(reverse("admin:app_list", args=["stripe_sandbox"]))

    assert CONTROL in clock_list.content.decode()
    assert "hours ahead" in clock_list.content.decode().lower()
    assert CONTROL in app_index.content.decode()
