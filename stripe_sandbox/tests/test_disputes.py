"""Chargebacks in the sandbox: evidence that names uploaded files, submitted through the real
stripe SDK, and the card network's decision (won or lost) taken from the control page or
`manage.py stripe_sandbox dispute-close`, with Stripe's balance transactions and events."""

import io
from datetime import UTC, datetime
from io import StringIO

import pytest
import stripe
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from stripe_sandbox import control, core, testing
from stripe_sandbox.tests import receiver
from stripe_sandbox.tests.helpers_money import (
    as_account,
    assert_stripe_shape,
    balance,
    connected_account,
)

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
PDF = b"%PDF-1.4\n<< /Type /Page >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
CONTROL = reverse("stripe_sandbox:control")


@pytest.fixture
def api():
    return testing.client().v1


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def control_date(seconds):
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M")


def close_url(dispute_id):
    return reverse("stripe_sandbox:control_dispute_close", args=[dispute_id])


def disputed(api, amount=4500, pm="pm_card_createDispute", options=None):
    """A card payment the cardholder disputes at once (Stripe's 0259 test card)."""
    intent = api.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": pm,
            "payment_method_types": ["card"],
            "confirm": True,
        },
        options=options or {},
    )
    [dispute] = api.disputes.list(params={"payment_intent": intent.id}, options=options or {}).data
    return dispute


def evidence_file(api, content=PDF, purpose="dispute_evidence", options=None):
    data = io.BytesIO(content)
    data.name = "conversation.pdf"
    return api.files.create(params={"purpose": purpose, "file": data}, options=options or {})


def dispute_events(dispute_id):
    return [
        event
        for event in control.events()
        if event["type"].startswith("charge.dispute.")
        and event["data"]["object"]["id"] == dispute_id
    ]


def txns(dispute):
    return [(t.amount, t.fee, t.net, t.reporting_category) for t in dispute.balance_transactions]


# --- Evidence that names files ------------------------------------------------------------------


def test_evidence_names_uploaded_files_is_staged_then_submitted(api):
    dispute = disputed(api)
    conversation = evidence_file(api)
    receipt = evidence_file(api, PNG)

    staged = api.disputes.update(
        dispute.id,
        params={
            "evidence": {
                "customer_communication": conversation.id,
                "receipt": receipt.id,
                "product_description": "Stoneware mug, delivered 3 March",
            },
            "submit": False,
        },
    )
    assert staged.status == "needs_response"
    assert (staged.evidence.customer_communication, staged.evidence.receipt) == (
        conversation.id,
        receipt.id,
    )
    submitted = api.disputes.update(dispute.id, params={"submit": True})
    assert submitted.status == "under_review"
    assert (
        submitted.evidence_details.has_evidence,
        submitted.evidence_details.submission_count,
    ) == (
        True,
        1,
    )
    expanded = api.disputes.retrieve(
        dispute.id, params={"expand": ["evidence.customer_communication"]}
    )
    assert expanded.evidence.customer_communication.purpose == "dispute_evidence"
    assert control.file_contents(expanded.evidence.customer_communication.id) == PDF

    # Stripe's previous_attributes: only what changed, nested hashes only in their changed keys.
    updates = [e for e in dispute_events(dispute.id) if e["type"] == "charge.dispute.updated"]
    assert [e["data"]["previous_attributes"] for e in updates] == [
        {
            "evidence": {
                "customer_communication": None,
                "product_description": None,
                "receipt": None,
            },
            "evidence_details": {"has_evidence": False},
        },
        {"evidence_details": {"submission_count": 0}, "status": "needs_response"},
    ]
    for event in updates:
        assert_stripe_shape(event, "event")


def test_evidence_refuses_a_file_id_that_is_not_this_accounts_evidence(api):
    dispute = disputed(api)
    passport = evidence_file(api, PNG, purpose="identity_document")
    seller = connected_account()
    elsewhere = evidence_file(api, options=as_account(seller))

    for file_id, message in (
        ("file_DoesNotExist000", "No such file upload: 'file_DoesNotExist000'"),
        (elsewhere.id, f"No such file upload: '{elsewhere.id}'"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as excinfo:
            api.disputes.update(dispute.id, params={"evidence": {"receipt": file_id}})
        error = excinfo.value
        assert (error.http_status, error.code, error.param) == (
            400,
            "resource_missing",
            "evidence[receipt]",
        )
        assert error.user_message == message
        assert error.error.type == "invalid_request_error"

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.disputes.update(
            dispute.id, params={"evidence": {"uncategorized_file": passport.id}, "submit": False}
        )
    assert (excinfo.value.http_status, excinfo.value.param) == (400, "evidence[uncategorized_file]")
    assert "purpose `identity_document`" in excinfo.value.user_message

    unchanged = api.disputes.retrieve(dispute.id)
    assert unchanged.status == "needs_response"
    assert unchanged.evidence.receipt is None
    assert unchanged.evidence.uncategorized_file is None
    assert [e["type"] for e in dispute_events(dispute.id)] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]


def test_the_files_of_one_disputes_evidence_stay_under_stripes_total(api):
    dispute = disputed(api)
    first = evidence_file(api, PDF + b"0" * (3 * MB))
    second = evidence_file(api, PDF + b"0" * (2 * MB))
    api.disputes.update(dispute.id, params={"evidence": {"receipt": first.id}, "submit": False})

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.disputes.update(dispute.id, params={"evidence": {"uncategorized_file": second.id}})

    assert excinfo.value.param == "evidence"
    assert "exceed the limit for a dispute's total size" in excinfo.value.user_message
    assert api.disputes.retrieve(dispute.id).status == "needs_response"
    # The same file named twice counts once.
    same = api.disputes.update(dispute.id, params={"evidence": {"uncategorized_file": first.id}})
    assert same.status == "under_review"


def test_evidence_text_is_held_to_stripes_lengths(api):
    dispute = disputed(api)

    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.disputes.update(dispute.id, params={"evidence": {"uncategorized_text": "x" * 20001}})
    assert excinfo.value.param == "evidence[uncategorized_text]"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        api.disputes.update(dispute.id, params={"evidence": {"customer_name": "x" * 5001}})
    assert excinfo.value.param == "evidence[customer_name]"
    long_texts = dict.fromkeys(
        (
            "access_activity_log",
            "cancellation_policy_disclosure",
            "cancellation_rebuttal",
            "duplicate_charge_explanation",
            "product_description",
            "refund_policy_disclosure",
            "refund_refusal_explanation",
            "uncategorized_text",
        ),
        "x" * 20000,
    )
    with pytest.raises(stripe.InvalidRequestError, match="limited to 150,000") as excinfo:
        api.disputes.update(dispute.id, params={"evidence": long_texts})
    assert excinfo.value.param == "evidence"
    assert api.disputes.retrieve(dispute.id).evidence_details.has_evidence is False


# --- The control page ----------------------------------------------------------------------------


def test_the_control_page_lists_open_disputes_with_close_buttons(staff_client, api):
    open_one = disputed(api, amount=4500)
    reviewed = disputed(api, amount=1200)
    api.disputes.update(reviewed.id, params={"evidence": {"uncategorized_text": "Signed for"}})
    decided = disputed(api, amount=999)
    api.disputes.close(decided.id)

    response = staff_client.get(CONTROL)

    assert response.status_code == 200
    html = response.content.decode()
    section = html[html.index('id="sandbox-disputes"') : html.index('id="sandbox-events"')]
    assert "Open disputes (2)" in section
    for dispute, amount, status in (
        (open_one, "US$45.00", "needs_response"),
        (reviewed, "US$12.00", "under_review"),
    ):
        assert dispute.id in section
        assert dispute.charge in section
        assert amount in section
        assert status in section
        assert close_url(dispute.id) in section
    assert decided.id not in section
    assert section.count('name="outcome" value="won"') == 2
    assert section.count('name="outcome" value="lost"') == 2
    assert "csrfmiddlewaretoken" in section
    due = core.get(open_one.id, kind="dispute")["evidence_details"]["due_by"]
    assert control_date(due) in section
    assert "style=" not in section and "<script" not in section


def test_closing_as_won_reinstates_the_amount_but_not_the_fee(staff_client, api):
    dispute = disputed(api, amount=4500)
    before = balance()["available"].get("usd", 0)

    response = staff_client.post(close_url(dispute.id), {"outcome": "won"}, follow=True)

    assert response.redirect_chain == [(CONTROL, 302)]
    assert f"Dispute {dispute.id} won: US$45.00 reinstated" in response.content.decode()
    won = api.disputes.retrieve(dispute.id, params={"expand": ["balance_transactions"]})
    assert (won.status, won.is_charge_refundable) == ("won", False)
    assert txns(won) == [
        (-4500, 1500, -6000, "dispute"),
        (4500, 0, 4500, "dispute_reversal"),  # Stripe keeps the US$15 fee in the US
    ]
    assert won.balance_transactions[1].type == "adjustment"
    assert won.balance_transactions[1].source == dispute.id
    assert balance()["available"]["usd"] == before + 4500

    events = dispute_events(dispute.id)
    assert [e["type"] for e in events] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]
    reinstated, closed = events[2:]
    for event in events:
        assert "previous_attributes" not in event["data"]  # only *.updated events carry them
        assert_stripe_shape(event, "event")
        assert_stripe_shape(event["data"]["object"], "dispute")
    # Decided by the network, not by an API request of ours.
    assert reinstated["request"] == closed["request"] == {"id": None, "idempotency_key": None}
    assert [t["amount"] for t in reinstated["data"]["object"]["balance_transactions"]] == [
        -4500,
        4500,
    ]
    assert closed["data"]["object"]["status"] == "won"
    withdrawn = events[1]["data"]["object"]
    assert [(t["amount"], t["fee"]) for t in withdrawn["balance_transactions"]] == [(-4500, 1500)]
    assert "Open disputes (0)" in staff_client.get(CONTROL).content.decode()


def test_closing_as_lost_after_evidence_was_submitted(staff_client, api):
    dispute = disputed(api, amount=2000)
    api.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_file": evidence_file(api).id}}
    )
    assert api.disputes.retrieve(dispute.id).status == "under_review"
    before = balance()["available"]["usd"]

    response = staff_client.post(close_url(dispute.id), {"outcome": "lost"}, follow=True)

    assert f"Dispute {dispute.id} lost" in response.content.decode()
    lost = api.disputes.retrieve(dispute.id, params={"expand": ["balance_transactions"]})
    assert lost.status == "lost"
    assert txns(lost) == [(-2000, 1500, -3500, "dispute")]
    assert balance()["available"]["usd"] == before
    assert [e["type"] for e in dispute_events(dispute.id)][-2:] == [
        "charge.dispute.updated",
        "charge.dispute.closed",
    ]


def test_an_inquiry_closes_without_moving_money(staff_client, api):
    inquiry = disputed(api, pm="pm_card_createDisputeInquiry")
    assert inquiry.status == "warning_needs_response"

    staff_client.post(close_url(inquiry.id), {"outcome": "won"})

    closed = api.disputes.retrieve(inquiry.id)
    assert (closed.status, closed.balance_transactions) == ("warning_closed", [])
    assert [e["type"] for e in dispute_events(inquiry.id)] == [
        "charge.dispute.created",
        "charge.dispute.closed",
    ]


def test_a_bad_outcome_is_a_form_error_and_changes_nothing(staff_client, api):
    dispute = disputed(api)

    response = staff_client.post(close_url(dispute.id), {"outcome": "settled"})

    assert response.status_code == 400
    assert "Choose whether the dispute is won or lost." in response.content.decode()
    assert api.disputes.retrieve(dispute.id).status == "needs_response"


def test_a_closed_or_unknown_dispute_is_not_closed_again(staff_client, api):
    dispute = disputed(api)
    staff_client.post(close_url(dispute.id), {"outcome": "lost"})

    again = staff_client.post(close_url(dispute.id), {"outcome": "won"}, follow=True)

    assert "already closed (status lost)" in again.content.decode()
    assert api.disputes.retrieve(dispute.id).status == "lost"
    assert [e["type"] for e in dispute_events(dispute.id)].count("charge.dispute.closed") == 1
    assert staff_client.post(close_url("dp_DoesNotExist"), {"outcome": "won"}).status_code == 404
    assert staff_client.get(close_url(dispute.id)).status_code == 405


def test_only_staff_close_disputes(client, someone, api):
    dispute = disputed(api)

    for signed_in in (None, someone):
        if signed_in:
            client.force_login(signed_in)
        response = client.post(close_url(dispute.id), {"outcome": "won"})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))

    assert api.disputes.retrieve(dispute.id).status == "needs_response"


@pytest.mark.parametrize("rows", [2, 30])
def test_the_control_page_query_count_stays_flat_with_disputes(
    staff_client, api, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        disputed(api, amount=1000)

    # The control page's own (test_admin.py) and one for the page of disputes.
    with django_assert_max_num_queries(11):
        response = staff_client.get(CONTROL)

    assert response.content.decode().count("Close as won") == min(rows, 25)


def test_a_connected_accounts_dispute_is_announced_to_connect_endpoints(
    staff_client, api, stripe_sandbox, django_capture_on_commit_callbacks
):
    seller = connected_account()
    dispute = disputed(api, amount=3000, options=as_account(seller))
    receiver.RECEIVED.clear()

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(close_url(dispute.id), {"outcome": "won"})

    assert [(name, kind) for name, _, kind in receiver.RECEIVED] == [
        ("connect", "charge.dispute.funds_reinstated"),
        ("connect", "charge.dispute.closed"),
    ]
    assert {e["account"] for e in dispute_events(dispute.id)} == {seller}
    won = api.disputes.retrieve(dispute.id, options=as_account(seller))
    assert [t.amount for t in won.balance_transactions] == [-3000, 3000]


# --- manage.py stripe_sandbox dispute-close -----------------------------------------------------


def run(*args):
    out = StringIO()
    call_command("stripe_sandbox", *args, stdout=out)
    return out.getvalue()


def test_the_command_closes_a_dispute_as_won(api):
    dispute = disputed(api, amount=4500)

    output = run("dispute-close", dispute.id, "--won")

    assert (
        output.strip()
        == f"{dispute.id} (US$45.00 on {dispute.charge}) is won: US$45.00 reinstated."
    )
    won = api.disputes.retrieve(dispute.id)
    assert [t.amount for t in won.balance_transactions] == [-4500, 4500]
    assert [e["type"] for e in dispute_events(dispute.id)][-2:] == [
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


def test_the_command_closes_a_dispute_under_review_as_lost(api):
    dispute = disputed(api, amount=1000)
    api.disputes.update(dispute.id, params={"evidence": {"receipt": evidence_file(api).id}})

    output = run("dispute-close", dispute.id, "--lost")

    assert output.strip() == f"{dispute.id} (US$10.00 on {dispute.charge}) is lost."
    assert api.disputes.retrieve(dispute.id).status == "lost"
    assert "charge.dispute.funds_reinstated" not in [e["type"] for e in dispute_events(dispute.id)]


def test_the_command_says_what_is_wrong(api):
    dispute = disputed(api)

    with pytest.raises(CommandError, match="one of the arguments --won --lost is required"):
        run("dispute-close", dispute.id)
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("dispute-close", dispute.id, "--won", "--lost")
    with pytest.raises(CommandError, match="No such dispute: 'dp_Nope'"):
        run("dispute-close", "dp_Nope", "--won")
    run("dispute-close", dispute.id, "--lost")
    with pytest.raises(CommandError, match="already closed"):
        run("dispute-close", dispute.id, "--won")
    assert api.disputes.retrieve(dispute.id).status == "lost"
