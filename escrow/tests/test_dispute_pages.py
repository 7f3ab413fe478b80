"""Disputes on the order pages through Django's test client: the buyer's "Report a problem" and
its form (errors next to the fields), the dispute in the order room for both sides (status,
deadlines, both sides, timeline), the seller's answer, the buyer's withdrawal, and the release
reminder's link to the form. Orders are rows (factories): nothing here moves money."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from core import clock
from escrow import services
from escrow.factories import EscrowPaymentFactory, OrderFactory
from escrow.models import Dispute, DisputeStatus, OrderStatus
from escrow.tasks import send_release_reminders

pytestmark = pytest.mark.django_db


def _html(response):
    return response.content.decode()


def _text(response):
    return " ".join(re.sub(r"<[^>]+>", " ", _html(response)).split())


def _field_errors(response, field):
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', _html(response))
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def order():
    """A delivered order whose payment is held."""
    order = OrderFactory(delivered=True, listing__title="Blue mug")
    EscrowPaymentFactory(order=order)
    return order


def dispute_url(order, what=""):
    name = {"": "order-dispute", "respond": "order-dispute-respond"}.get(what)
    name = name or f"order-dispute-{what}"
    return reverse(name, args=[order.pk])


def report(client, order, **data):
    client.force_login(order.buyer)
    form = {
        "reason": "not_as_described",
        "description": "Three of the mugs are cracked.",
        "client_key": "web-1",
    }
    return client.post(dispute_url(order), form | data)


def test_the_buyer_finds_report_a_problem_on_a_held_order_and_the_seller_does_not(client, order):
    client.force_login(order.buyer)
    page = client.get(order.get_absolute_url())
    assert f'href="{dispute_url(order)}"' in _html(page)
    assert "Report a problem" in _text(page)

    client.force_login(order.seller)
    assert f'href="{dispute_url(order)}"' not in _html(client.get(order.get_absolute_url()))
    # The seller has nothing to see there yet: back to the order, with a word why.
    away = client.get(dispute_url(order), follow=True)
    assert "The buyer has not reported a problem with this order." in _messages(away)


def test_the_form_shows_its_errors_next_to_the_fields_and_opens_nothing(client, order):
    client.force_login(order.buyer)
    page = client.get(dispute_url(order))
    assert page.status_code == 200
    html = _html(page)
    assert 'type="radio" name="reason" value="not_received"' in html
    assert '<textarea name="description"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html

    refused = report(client, order, reason="", description="   ")

    assert refused.status_code == 200
    assert _field_errors(refused, "reason") == ["This field is required."]
    assert _field_errors(refused, "description") == ["This field is required."]
    assert not Dispute.objects.exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED


def test_reporting_freezes_the_order_and_both_sides_see_the_dispute(client, order):
    response = report(client, order)
    assert response.status_code == 302
    assert response["Location"] == order.get_absolute_url() + "#dispute"
    again = report(client, order)  # a double click: the same report, no error
    assert again.status_code == 302
    dispute = Dispute.objects.get()
    order.refresh_from_db()
    assert order.status == OrderStatus.DISPUTED

    buyer_page = client.get(order.get_absolute_url())
    text = _text(buyer_page)
    assert 'data-dispute-status="open"' in _html(buyer_page)
    assert "Problem reported — payment frozen" in text
    assert "Three of the mugs are cracked." in text
    assert "The seller answers by" in text and "Bazaar decides by" in text
    assert dispute.response_due_at.strftime("%-d %b %Y") in text
    assert "The buyer reported a problem; the payment is frozen" in text  # the timeline
    assert "Withdraw my report" in text
    assert "Dispute opened: It is not as described" in text  # the note in the conversation
    assert "Approve and release payment" not in text

    client.force_login(order.seller)
    seller_page = client.get(order.get_absolute_url())
    text = _text(seller_page)
    assert "The buyer reported a problem — payment frozen" in text
    assert f'href="{dispute_url(order, "respond")}"' in _html(seller_page)
    assert "Answer by" in text
    assert "Withdraw my report" not in text
    page = client.get(dispute_url(order))
    assert page.status_code == 200 and "Three of the mugs are cracked." in _text(page)


def test_the_seller_answers_on_their_page_and_the_buyer_reads_it(client, order):
    report(client, order)
    client.force_login(order.buyer)
    assert client.get(dispute_url(order, "respond")).status_code == 302  # not the buyer's

    client.force_login(order.seller)
    form = client.get(dispute_url(order, "respond"))
    assert form.status_code == 200 and "Three of the mugs are cracked." in _text(form)
    empty = client.post(dispute_url(order, "respond"), {"response": " "})
    assert empty.status_code == 200
    assert _field_errors(empty, "response") == ["This field is required."]

    sent = client.post(dispute_url(order, "respond"), {"response": "Packed in bubble wrap."})
    assert sent.status_code == 302
    assert Dispute.objects.get().status == DisputeStatus.ANSWERED
    assert client.get(dispute_url(order, "respond"), follow=True).redirect_chain  # answered

    client.force_login(order.buyer)
    text = _text(client.get(order.get_absolute_url()))
    assert "The seller's answer" in text and "Packed in bubble wrap." in text
    assert "The seller answered" in text


def test_the_buyer_withdraws_and_the_order_continues(client, order):
    report(client, order)
    client.force_login(order.seller)
    client.post(dispute_url(order, "withdraw"))
    assert Dispute.objects.get().status == DisputeStatus.OPEN  # not the seller's to withdraw

    client.force_login(order.buyer)
    response = client.post(dispute_url(order, "withdraw"), follow=True)

    assert any("Your report is withdrawn" in m for m in _messages(response))
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    text = _text(response)
    assert "Withdrawn" in text and "Approve and release payment" in text
    assert "Report a problem" in text  # a new problem can still be reported


def test_only_the_buyer_can_report(client, order):
    client.force_login(order.seller)
    response = client.post(
        dispute_url(order), {"reason": "other", "description": "x", "client_key": "s"}, follow=True
    )
    assert "Only the buyer can report a problem with this order." in _messages(response)
    assert not Dispute.objects.exists()


def test_an_unpaid_order_has_nothing_to_report(client):
    order = OrderFactory()
    client.force_login(order.buyer)
    response = client.get(dispute_url(order), follow=True)
    assert response.redirect_chain[-1][0] == order.get_absolute_url()
    assert any("while Bazaar holds your payment" in m for m in _messages(response))
    refused = report(client, order)
    assert refused.status_code == 302 and not Dispute.objects.exists()


def test_the_release_reminder_links_to_the_dispute_form(
    order, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "http://testserver"
    order.review_deadline = clock.now() + timedelta(hours=24)  # within the reminder's 48 hours
    order.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert send_release_reminders.delay().get() == 1

    [email] = [m for m in mail.outbox if order.buyer.email in m.to]
    link = f"http://testserver{dispute_url(order)}"
    assert link in email.body
    assert "Report a problem before" in email.alternatives[0][0]
    assert f'href="{link}"' in email.alternatives[0][0]
    note = order.buyer.notifications.get(event_code="order.release_reminder")
    assert "report a problem before" in note.message


def test_a_resolved_dispute_shows_the_decision_to_both(client, order):
    dispute, _ = services.dispute_open(
        order=order, actor=order.buyer, reason="not_received", description="Nothing came."
    )
    Dispute.objects.filter(pk=dispute.pk).update(
        status=DisputeStatus.RESOLVED,
        resolution="split",
        refund_cents=1000,
        release_cents=order.total_cents - 1000,
        resolution_note="Half the set arrived.",
    )
    client.force_login(order.buyer)
    text = _text(client.get(order.get_absolute_url()))
    assert "US$10.00 refunded to you" in text and "Half the set arrived." in text
    client.force_login(order.seller)
    text = _text(client.get(order.get_absolute_url()))
    assert "US$10.00 refunded to the buyer" in text and "released to you" in text
