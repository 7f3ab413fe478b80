"""The order's conversation is a card chargeback's evidence: messaging hands escrow a transcript
(escrow.signals.chargeback_evidence_wanted), escrow uploads it to Stripe as a PDF and submits
it with the rest of the evidence."""

import pytest
from django.contrib.auth.models import Permission

from accounts.factories import StaffFactory
from core.stripe_client import client as stripe
from escrow import services
from escrow.models import Chargeback, ChargebackStatus, OrderStatus
from escrow.testing import buyer, listing, pay_on_checkout_page, place_order  # noqa: F401 (fixtures)
from escrow.testing import seller as seller  # noqa: F401 (a fixture)
from messaging import services as messaging
from stripe_sandbox import control

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"
DISPUTED_CARD = "4000 0000 0000 0259"


@pytest.fixture
def paid(client, listing, buyer, django_capture_on_commit_callbacks):  # noqa: F811
    def make(card):
        order = place_order(buyer=buyer, listing_id=listing.pk)
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert pay_on_checkout_page(client, url, card).status_code == 302
        order.refresh_from_db()
        return order

    return make


@pytest.fixture
def finance():
    person = StaffFactory(is_superuser=False)
    person.user_permissions.add(
        Permission.objects.get(codename="change_chargeback"),
        Permission.objects.get(codename="view_chargeback"),
    )
    return person


def test_evidence_is_drafted_from_the_order_and_its_conversation_then_submitted(
    paid, finance, django_capture_on_commit_callbacks
):
    order = paid(DISPUTED_CARD)
    conversation = messaging.conversation_open_for_order(order=order)
    messaging.message_send(
        conversation=conversation, sender=order.buyer, body="It arrived, thank you!"
    )

    drafted = services.chargeback_evidence_draft(
        chargeback=Chargeback.objects.get(order=order), actor=finance
    )

    assert drafted.evidence["customer_email_address"] == order.buyer.email
    assert f"Bazaar order #{order.pk}" in drafted.evidence["uncategorized_text"]
    pdf = control.file_contents(drafted.evidence_file_id)
    assert pdf.startswith(b"%PDF-") and b"It arrived, thank you!" in pdf
    uploaded = stripe().v1.files.retrieve(drafted.evidence_file_id)
    assert uploaded.purpose == "dispute_evidence"

    edited = services.chargeback_evidence_update(
        chargeback=drafted,
        actor=finance,
        evidence={"uncategorized_text": "Delivered and confirmed by the buyer. winning_evidence"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        submitted = services.chargeback_evidence_submit(chargeback=edited, actor=finance)

    dispute = stripe().v1.disputes.retrieve(submitted.stripe_dispute_id)
    assert dispute.evidence.customer_communication == drafted.evidence_file_id
    assert dispute.evidence.customer_email_address == order.buyer.email
    assert submitted.evidence_submitted_by == finance
    # The sandbox decides test disputes with "winning_evidence" at once: won, the order goes on.
    assert submitted.status == ChargebackStatus.WON
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
