"""Milestones given bad input (#14), on the page and in the API: every mistake is a 400 or a form
error naming the field and which milestone (`milestones.<n>.<field>` in the API, beside the row
on the page), never a 500; duplicate submissions and another order's milestone ids change
nothing. And each milestone's Stripe writes carry a key made from our own row, so a retry after
a lost answer moves no money twice."""

from urllib.parse import urlsplit

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.factories import StaffFactory
from escrow import services
from escrow.models import (
    EscrowRefund,
    EscrowRelease,
    MilestoneStatus,
    OrderStatus,
    RefundInitiator,
    ReleaseStatus,
)
from escrow.testing import place_order
from escrow.tests import harness
from escrow.tests.test_milestones import milestone_order, plan, transfers_of
from marketplace.factories import ServiceListingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def service(seller):
    return ServiceListingFactory(store=seller.store, price_cents=10000, currency="usd")


def api_as(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def milestones_url(order):
    return f"/api/v1/orders/{order.pk}/milestones/"


# Dates fixed at collection (the sandbox's clock is read from the database): well ahead of
# and well behind any test's today.
LATER = "2100-01-01"
PAST = "2000-01-01"


def item(title="Part", amount=5000, due_date=LATER):
    return {"title": title, "amount_cents": amount, "due_date": due_date}


# --- Proposing a plan in the API ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("milestones", "errors"),
    [
        # Amounts: negative, zero, not whole, beyond the order's total, not adding up.
        ([item(amount=-100), item(amount=5000)], {"milestones.0.amount_cents"}),
        ([item(amount=0), item(amount=10000)], {"milestones.0.amount_cents"}),
        ([item(amount=12.5), item(amount=5000)], {"milestones.0.amount_cents"}),
        ([item(amount="lots"), item()], {"milestones.0.amount_cents"}),
        ([item(amount=10**30), item(amount=100)], {"milestones.0.amount_cents"}),
        (
            [item(amount=2**31), item(amount=-(2**31) + 10000)],
            {"milestones.0.amount_cents", "milestones.1.amount_cents"},
        ),
        ([item(), item(amount=4000)], {"milestones"}),
        # Titles: empty, blank, 10,000 characters, missing.
        ([item(), item(title="")], {"milestones.1.title"}),
        ([item(), item(title="   ")], {"milestones.1.title"}),
        ([item(title="x" * 10_000), item()], {"milestones.0.title"}),
        ([{"amount_cents": 5000, "due_date": LATER}, item()], {"milestones.0.title"}),
        # Due dates: years 9999 and 0001, the past, not a date.
        ([item(), item(due_date="9999-12-31")], {"milestones.1.due_date"}),
        ([item(due_date="0001-01-01"), item()], {"milestones.0.due_date"}),
        ([item(due_date=PAST), item()], {"milestones.0.due_date"}),
        ([item(), item(due_date="3000-01-01")], {"milestones.1.due_date"}),
        ([item(), item(due_date="soon")], {"milestones.1.due_date"}),
        # Counts and shapes.
        ([item(amount=10)] * 1000, {"milestones"}),
        ([item(amount=10000)], {"milestones"}),
        ([], {"milestones"}),
        ("two parts", {"milestones"}),
        ([item(), "Part 2"], {"milestones.1"}),
        (None, {"milestones"}),
    ],
)
def test_a_bad_plan_is_a_400_naming_the_milestone_and_field(
    seller, buyer, service, milestones, errors
):
    order = place_order(buyer=buyer, listing_id=service.pk)

    response = api_as(seller).post(milestones_url(order), {"milestones": milestones}, format="json")

    assert response.status_code == 400, response.json()
    assert set(response.json()) == errors, response.json()
    assert all(
        isinstance(texts, list) and all(isinstance(t, str) and t for t in texts)
        for texts in response.json().values()
    ), response.json()
    assert not order.milestones.exists()


def test_every_bad_milestone_is_named_at_once(seller, buyer, service):
    order = place_order(buyer=buyer, listing_id=service.pk)

    response = api_as(seller).post(
        milestones_url(order),
        {"milestones": [item(title=""), item(amount=-1, due_date="9999-12-31")]},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {
        "milestones.0.title",
        "milestones.1.amount_cents",
        "milestones.1.due_date",
    }


def test_a_plan_proposed_twice_is_replaced_not_doubled(seller, buyer, service):
    order = place_order(buyer=buyer, listing_id=service.pk)
    api = api_as(seller)

    first = api.post(milestones_url(order), {"milestones": plan(4000, 6000)}, format="json")
    again = api.post(milestones_url(order), {"milestones": plan(4000, 6000)}, format="json")

    assert first.status_code == again.status_code == 201
    assert list(order.milestones.values_list("amount_cents", flat=True)) == [4000, 6000]


# --- Acting on milestones in the API ------------------------------------------------------------


def test_deliver_and_approve_twice_or_on_another_orders_milestone_change_nothing(
    client, seller, buyer, service, capture
):
    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    other, (others_first, *_) = milestone_order(client, seller, buyer, service, capture)
    as_seller, as_buyer = api_as(seller), api_as(buyer)
    base = f"/api/v1/orders/{order.pk}/milestones/"

    with capture():
        delivered = as_seller.post(f"{base}{first.pk}/deliver/", {"note": "Done"}, format="json")
        again = as_seller.post(f"{base}{first.pk}/deliver/", {"note": "Done"}, format="json")
        approved = as_buyer.post(f"{base}{first.pk}/approve/")
        approved_again = as_buyer.post(f"{base}{first.pk}/approve/")
    foreign = as_seller.post(f"{base}{others_first.pk}/deliver/", {"note": "x"}, format="json")
    huge_id = as_buyer.post(f"{base}{10**20}/approve/")
    huge_order = as_buyer.post(f"/api/v1/orders/{10**20}/milestones/{first.pk}/approve/")
    long_note = as_seller.post(f"{base}{second.pk}/deliver/", {"note": "x" * 10_000}, format="json")
    not_delivered = as_buyer.post(f"{base}{second.pk}/approve/")

    assert delivered.status_code == 200
    assert again.status_code in (200, 409) and again.status_code < 500
    assert approved.status_code == 200
    assert approved_again.status_code in (200, 409)
    assert foreign.status_code == 404
    assert huge_id.status_code == 404
    assert huge_order.status_code == 404
    assert long_note.status_code == 400 and set(long_note.json()) == {"note"}
    assert not_delivered.status_code == 409
    assert EscrowRelease.objects.filter(order=order).count() == 1
    assert len(transfers_of(order)) == 1
    second.refresh_from_db()
    others_first.refresh_from_db()
    assert second.status == MilestoneStatus.PENDING
    assert others_first.status == MilestoneStatus.PENDING
    assert other.status == OrderStatus.FUNDED


def test_refunding_another_orders_milestone_or_one_twice_is_refused(
    client, seller, buyer, service, capture
):
    order, (first, *_) = milestone_order(client, seller, buyer, service, capture)
    _, (others_first, *_) = milestone_order(client, seller, buyer, service, capture)
    api = api_as(seller)
    url = f"/api/v1/orders/{order.pk}/refunds/"

    foreign = api.post(
        url,
        {"amount_cents": 2000, "reason": "Not needed", "milestone": others_first.pk},
        format="json",
    )
    huge = api.post(
        url, {"amount_cents": 2000, "reason": "Not needed", "milestone": 10**20}, format="json"
    )
    with capture():
        refunded = api.post(
            url,
            {"amount_cents": 2000, "reason": "Not needed", "milestone": first.pk},
            format="json",
        )
        twice = api.post(
            url,
            {"amount_cents": 2000, "reason": "Not needed", "milestone": first.pk},
            format="json",
        )

    assert foreign.status_code == 400 and "milestone" in foreign.json()
    assert huge.status_code == 400 and "milestone" in huge.json()
    assert refunded.status_code == 201, refunded.json()
    assert twice.status_code in (400, 409) and twice.status_code < 500
    assert EscrowRefund.objects.filter(order=order).count() == 1
    others_first.refresh_from_db()
    assert others_first.status == MilestoneStatus.PENDING


# --- The plan page ------------------------------------------------------------------------------


def row(n, title, amount, due_date):
    return {f"m{n}-title": title, f"m{n}-amount": amount, f"m{n}-due_date": due_date}


@pytest.mark.parametrize(
    ("rows", "row_index", "field"),
    [
        ([("Design", "-5", LATER), ("Build", "50", LATER)], 0, "amount"),
        ([("Design", "0", LATER), ("Build", "100", LATER)], 0, "amount"),
        ([("Design", "1e30", LATER), ("Build", "1", LATER)], 0, "amount"),
        ([("Design", "99999999999999999999", LATER), ("Build", "1", LATER)], 0, "amount"),
        ([("Design", "NaN", LATER), ("Build", "100", LATER)], 0, "amount"),
        ([("Design", "Infinity", LATER), ("Build", "100", LATER)], 0, "amount"),
        ([("Design", "40", LATER), ("", "60", LATER)], 1, "title"),
        ([("x" * 10_000, "40", LATER), ("Build", "60", LATER)], 0, "title"),
        ([("Design", "40", LATER), ("Build", "60", "9999-12-31")], 1, "due_date"),
        ([("Design", "40", "0001-01-01"), ("Build", "60", LATER)], 0, "due_date"),
        ([("Design", "40", PAST), ("Build", "60", LATER)], 0, "due_date"),
        ([("Design", "40", "31/12/2026"), ("Build", "60", LATER)], 0, "due_date"),
    ],
)
def test_a_bad_row_on_the_page_shows_its_error_beside_the_row(
    client, seller, buyer, service, rows, row_index, field
):
    order = place_order(buyer=buyer, listing_id=service.pk)
    client.force_login(seller)
    data = {"rows": str(len(rows))}
    for n, values in enumerate(rows):
        data |= row(n, *values)

    response = client.post(reverse("order-milestones", kwargs={"pk": order.pk}), data)

    assert response.status_code == 400
    forms_ = response.context["forms"]
    assert forms_[row_index].errors.get(field), {n: f.errors for n, f in enumerate(forms_)}
    assert not any(f.errors for n, f in enumerate(forms_) if n != row_index)
    assert not order.milestones.exists()


def test_hundreds_of_rows_on_the_page_are_read_as_at_most_twenty(client, seller, buyer, service):
    order = place_order(buyer=buyer, listing_id=service.pk)
    client.force_login(seller)
    url = reverse("order-milestones", kwargs={"pk": order.pk})

    def rows(count):
        data = {"rows": str(count)}
        for n in range(count):
            data |= row(n, f"Part {n}", "0.10", LATER)
        return data

    response = client.post(url, rows(300))
    # 1,000 rows are 3,000 fields: Django refuses the request itself (a 400, never a 500).
    flood = client.post(url, rows(1000))
    page = client.get(url, {"rows": "1000"})

    assert response.status_code == 400
    assert len(response.context["forms"]) == 20
    assert "must add up to the order" in response.content.decode()
    assert flood.status_code == 400
    assert len(page.context["forms"]) == 20
    assert not order.milestones.exists()


def test_the_page_refuses_another_orders_milestone_and_a_long_note_is_shown_not_dropped(
    client, seller, buyer, service, capture
):
    order, (first, *_) = milestone_order(client, seller, buyer, service, capture)
    _, (others_first, *_) = milestone_order(client, seller, buyer, service, capture)
    client.force_login(seller)

    foreign = client.post(
        reverse("order-milestone-deliver", args=[order.pk, others_first.pk]), {"note": "x"}
    )
    long_note = client.post(
        reverse("order-milestone-deliver", args=[order.pk, first.pk]), {"note": "x" * 10_000}
    )

    assert foreign.status_code == 404
    assert long_note.status_code == 400
    assert "Ensure this value has at most 5000 characters" in long_note.content.decode()
    first.refresh_from_db()
    others_first.refresh_from_db()
    assert first.status == MilestoneStatus.PENDING
    assert others_first.status == MilestoneStatus.PENDING


# --- Stripe: one key per milestone's write ------------------------------------------------------


def test_a_milestones_transfer_and_refund_carry_keys_from_our_rows_so_a_retry_pays_once(
    client, seller, buyer, service, capture, monkeypatch
):
    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    faults = harness.install_transfer_faults(monkeypatch)
    keys = []  # (what, Idempotency-Key) of every transfer and refund asked of Stripe

    def record(method, url, headers, body, handle):
        path = urlsplit(url).path
        if method.upper() == "POST" and path in ("/v1/transfers", "/v1/refunds"):
            sent = {k.lower(): v for k, v in headers.items()}
            keys.append((path.rsplit("/", 1)[1], sent.get("idempotency-key")))
        return handle(method, url, headers, body)

    harness.sandbox.intercept(monkeypatch, record)  # sees each request before the faults do
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
    # Stripe makes the transfer and the answer is lost; its webhook is not delivered either
    # (no on-commit callbacks run), so only a retry can learn of it.
    faults.mode = "lost_response"
    services.milestone_approve(milestone=first, actor=buyer)
    release = EscrowRelease.objects.get(milestone=first)
    assert release.status == ReleaseStatus.FAILED
    assert faults.lost == 1

    faults.mode = None
    services.release_transfer(release_id=release.pk)  # what the retry job does
    with capture():
        refund = services.milestone_refund(
            milestone=second,
            actor=seller,
            initiator=RefundInitiator.SELLER,
            reason="Not needed",
        )

    release.refresh_from_db()
    assert release.status == ReleaseStatus.TRANSFERRED
    assert len(transfers_of(order)) == 1  # the retry was answered with the first transfer
    transfer_key = f"escrow-escrowrelease-{release.pk}-transfer"
    assert keys[:2] == [("transfers", transfer_key), ("transfers", transfer_key)]
    assert ("refunds", f"escrow-escrowrefund-{refund.pk}-refund") in keys
    assert release.milestone_id == first.pk and refund.milestone_id == second.pk


# --- Staff in the admin -------------------------------------------------------------------------

MILESTONES_ADMIN = "/admin/escrow/milestone/"


def test_staff_acting_twice_on_several_or_on_made_up_milestones_get_messages_and_pay_once(
    client, seller, buyer, service, capture
):
    order, (first, second, _) = milestone_order(client, seller, buyer, service, capture)
    with capture():
        services.milestone_deliver(milestone=first, actor=seller)
    client.force_login(StaffFactory())

    def act(action, *pks):
        response = client.post(
            MILESTONES_ADMIN,
            {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], "index": 0},
            follow=True,
        )
        assert response.status_code == 200
        return [str(m) for m in response.context["messages"]]

    with capture():
        released = act("release_milestone", first.pk)
        again = act("release_milestone", first.pk)
        refunded = act("refund_milestone", second.pk)
        refunded_again = act("refund_milestone", second.pk)
    both = act("refund_milestone", first.pk, second.pk)
    made_up = act("release_milestone", 10**20)
    not_a_number = client.post(
        MILESTONES_ADMIN,
        {"action": "refund_milestone", ACTION_CHECKBOX_NAME: ["abc"], "index": 0},
    )

    assert "transferred to the seller" in released[0]
    assert again == released  # released once: the repeat is quiet and moves nothing
    assert "refund of US$30.00 is refunded" in refunded[0]
    assert refunded_again == [f"Order #{order.pk}: This milestone has been refunded already."]
    assert both == ["Choose one milestone: each is decided on its own."]
    assert made_up and "released" not in made_up[0]
    assert not_a_number.status_code in (200, 302)
    assert EscrowRelease.objects.filter(order=order).count() == 1
    assert len(transfers_of(order)) == 1
    assert EscrowRefund.objects.filter(order=order).count() == 1
