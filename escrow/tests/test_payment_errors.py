"""A failed payment is told to the buyer in plain words (core.payment_errors), on the pages, in
the API and in the notification; Stripe's developer text stays for staff (#15)."""

import pytest
from django.urls import reverse

from accounts.factories import StaffFactory
from accounts.testing import api_client_for
from core.payment_errors import buyer_payment_message
from core.stripe_client import client as stripe
from escrow import services
from escrow.models import EscrowPayment, Order, PaymentStatus
from escrow.testing import place_order
from notifications.models import Notification

pytestmark = pytest.mark.django_db

STRIPE_3DS_TEXT = "The provided PaymentMethod has failed authentication"
PLAIN_3DS_TEXT = "Your bank could not confirm the payment"


@pytest.mark.parametrize(
    ("code", "decline_code", "expected"),
    [
        ("payment_intent_authentication_failure", None, PLAIN_3DS_TEXT),
        ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
        ("card_declined", "generic_decline", "Your card was declined."),
        # Stripe's advice: a stolen card is told as a plain decline.
        ("card_declined", "stolen_card", "Your card was declined."),
        ("expired_card", "expired_card", "Your card has expired."),
        ("incorrect_cvc", None, "security code (CVC) is incorrect"),
        ("card_declined", "a_code_stripe_adds_later", "Your card was declined."),
        (None, None, "Your payment did not go through."),
        ("", "", "Your payment did not go through."),
    ],
)
def test_stripes_codes_become_plain_words(code, decline_code, expected):
    assert expected in buyer_payment_message(code, decline_code)


@pytest.fixture
def failed_3ds(client, seller, listing, buyer, django_capture_on_commit_callbacks):
    """The buyer's bank's 3-D Secure check fails on their phone (the API's PaymentIntent)."""
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment = services.payment_intent_start(order=order, buyer=buyer)
    api = stripe().v1
    api.payment_intents.confirm(
        payment.stripe_payment_intent_id,
        params={
            "payment_method": "pm_card_authenticationRequired",
            "return_url": "https://app.test/back",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/stripe-sandbox/authenticate/{payment.stripe_payment_intent_id}/", {"action": "fail"}
        )
    client.logout()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    return Order.objects.get(pk=order.pk)


def test_a_failed_3d_secure_check_keeps_stripes_text_for_staff_and_codes(failed_3ds):
    payment = EscrowPayment.objects.get(order=failed_3ds)
    assert STRIPE_3DS_TEXT in payment.failure_message
    assert payment.failure_code == "payment_intent_authentication_failure"
    assert PLAIN_3DS_TEXT in payment.failure_reason
    assert PLAIN_3DS_TEXT in failed_3ds.payment_error
    assert STRIPE_3DS_TEXT not in failed_3ds.payment_error


def test_the_buyer_reads_plain_words_on_the_order_and_return_pages(client, failed_3ds, buyer):
    client.force_login(buyer)
    for url in (failed_3ds.get_absolute_url(), reverse("order-paid", args=[failed_3ds.pk])):
        html = client.get(url).content.decode()
        assert PLAIN_3DS_TEXT in html, url
        assert STRIPE_3DS_TEXT not in html, url
        assert "payment_method_data" not in html, url


def test_the_notification_and_email_say_it_in_plain_words(failed_3ds, buyer, mailoutbox):
    told = Notification.objects.get(recipient=buyer, event_code="order.payment_failed")
    assert PLAIN_3DS_TEXT in told.message
    assert STRIPE_3DS_TEXT not in told.message + told.title
    emails = [m for m in mailoutbox if buyer.email in m.to]
    assert emails and all(PLAIN_3DS_TEXT in m.body for m in emails)
    assert all(STRIPE_3DS_TEXT not in m.body for m in mailoutbox)


def test_the_buyer_api_gets_the_plain_message(failed_3ds, buyer):
    api = api_client_for(buyer)
    order = api.get(f"/api/v1/orders/{failed_3ds.pk}/").json()
    assert PLAIN_3DS_TEXT in order["payment_error"]
    listed = api.get("/api/v1/orders/").json()["results"][0]
    assert PLAIN_3DS_TEXT in listed["payment_error"]
    again = api.post(f"/api/v1/orders/{failed_3ds.pk}/pay/").json()
    assert PLAIN_3DS_TEXT in again["payment_error"]
    for body in (order, listed, again):
        assert STRIPE_3DS_TEXT not in str(body)


def test_staff_see_stripes_own_text_and_code_on_the_admin_order_page(client, failed_3ds):
    client.force_login(StaffFactory())
    html = client.get(reverse("admin:escrow_order_change", args=[failed_3ds.pk])).content.decode()
    assert STRIPE_3DS_TEXT in html
    assert "payment_intent_authentication_failure" in html
    assert PLAIN_3DS_TEXT in html  # and what the buyer was told
