"""A buyer's Checkout page lives only as long as the order may be paid, and an order has one
open page: through the real stripe SDK, the sandbox's hosted page and Celery (eager)."""

import json
from urllib.parse import urlsplit

import pytest
from celery import current_app as celery_app
from django.conf import settings

from core.errors import InvalidTransition
from core.models import AuditEntry
from core.stripe_client import client as stripe
from escrow import services, tasks
from escrow.models import EscrowPayment, LedgerEntry, OrderStatus, PaymentStatus
from escrow.testing import pay_on_checkout_page, place_order
from escrow.tests.harness import stripe_succeeded_intents
from stripe_sandbox import testing as sandbox

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def start(order, buyer):
    return services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )


def session_of(payment):
    payment.refresh_from_db()
    return stripe().v1.checkout.sessions.retrieve(payment.stripe_checkout_session_id)


def assert_not_paid(response, order, buyer):
    """The old page refuses the card: nothing charged, nothing booked, the order stays closed."""
    assert response.status_code == 200  # the page again, not the redirect to success_url
    assert "has expired" in response.content.decode()
    assert stripe_succeeded_intents(buyer) == []
    assert not LedgerEntry.objects.filter(order=order).exists()


# --- The session expires with the order ---------------------------------------------------------


def test_the_session_expires_when_the_order_does(listing, buyer, stripe_sandbox):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    stripe_sandbox.advance_clock(minutes=10)

    payment, _ = start(order, buyer)

    assert session_of(payment).expires_at == int(order.expires_at.timestamp())


def test_a_session_opened_in_the_orders_last_half_hour_gets_the_30_minutes_stripe_requires(
    listing, buyer, stripe_sandbox
):
    # Stripe refuses an expires_at less than 30 minutes away: the session outlives the order by
    # the difference, and expiring the order expires it (the next tests).
    order = place_order(buyer=buyer, listing_id=listing.pk)
    stripe_sandbox.advance_clock(minutes=settings.BAZAAR_PAYMENT_EXPIRY_MINUTES - 5)

    payment, _ = start(order, buyer)

    session = session_of(payment)
    assert session.expires_at - session.created == 31 * 60
    assert session.status == "open"


def test_a_page_opened_before_the_order_expired_cannot_be_paid_after_it(
    client, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = start(order, buyer)

    stripe_sandbox.advance_clock(minutes=settings.BAZAAR_PAYMENT_EXPIRY_MINUTES + 1)
    with django_capture_on_commit_callbacks(execute=True):
        response = pay_on_checkout_page(client, url)

    assert_not_paid(response, order, buyer)


def test_expiring_the_order_expires_its_open_session_at_stripe(
    client, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    stripe_sandbox.advance_clock(minutes=settings.BAZAAR_PAYMENT_EXPIRY_MINUTES - 5)
    payment, url = start(order, buyer)  # open 31 minutes, 26 past the order's end
    stripe_sandbox.advance_clock(minutes=6)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_unpaid_orders.delay().get() == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED
    assert session_of(payment).status == "expired"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert AuditEntry.objects.filter(action="escrow.payment.cancelled").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert_not_paid(pay_on_checkout_page(client, url), order, buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.EXPIRED


def test_cancelling_the_order_expires_its_open_session_at_stripe(
    client, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment, url = start(order, buyer)

    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order=order, actor=buyer)
        services.order_cancel(order=order, actor=buyer)  # twice: one expiry

    assert session_of(payment).status == "expired"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert AuditEntry.objects.filter(action="escrow.payment.cancelled").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert_not_paid(pay_on_checkout_page(client, url), order, buyer)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_a_session_declined_on_is_expired_too(
    client, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment, url = start(order, buyer)
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url, card="4000 0000 0000 0002")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED  # the page stays open for another card

    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order=order, actor=buyer)

    assert session_of(payment).status == "expired"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED


def test_a_session_already_expired_at_stripe_is_recorded_not_an_error(
    listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment, _ = start(order, buyer)
    stripe().v1.checkout.sessions.expire(payment.stripe_checkout_session_id)

    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order=order, actor=buyer)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED


def test_a_session_paid_as_the_order_closed_is_left_to_its_webhook(
    client, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment, url = start(order, buyer)
    with stripe_sandbox.webhooks_held():
        assert pay_on_checkout_page(client, url).status_code == 302
        with django_capture_on_commit_callbacks(execute=True):
            services.order_cancel(order=order, actor=buyer)  # Stripe refuses to expire it

    assert session_of(payment).status == "complete"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING  # not cancelled: the money was taken
    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.deliver(stripe_sandbox.pending_deliveries())
    payment.refresh_from_db()
    assert payment.succeeded_at is not None  # booked (a late payment)


def test_an_order_cancelled_while_stripe_makes_its_session_gets_that_session_expired(
    listing, buyer, monkeypatch, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)

    def cancel_meanwhile(method, url, headers, body, handle):
        answer = handle(method, url, headers, body)
        if method.upper() == "POST" and urlsplit(url).path == "/v1/checkout/sessions":
            services.order_cancel(order=order, actor=buyer)  # another tab, in between
        return answer

    sandbox.intercept(monkeypatch, cancel_meanwhile)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(InvalidTransition, match="cancelled; it cannot be paid"),
    ):
        start(order, buyer)

    payment = EscrowPayment.objects.get(order=order)
    assert session_of(payment).status == "expired"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED


class ExpiryFailsAtFirst:
    """Stripe answers the first `failures` expire requests with a 500, then works again."""

    def __init__(self, failures):
        self.failures = failures
        self.keys = []

    def __call__(self, method, url, headers, body, handle):
        if method.upper() == "POST" and urlsplit(url).path.endswith("/expire"):
            self.keys.append(dict(headers).get("Idempotency-Key"))
            if self.failures:
                self.failures -= 1
                error = {"error": {"type": "api_error", "message": "Test fault: down."}}
                return json.dumps(error), 500, {"stripe-should-retry": "false"}
        return handle(method, url, headers, body)


@pytest.fixture
def eager_retries(monkeypatch):
    """Eager Celery re-runs a retried task inline only when it does not propagate the Retry."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


def test_stripe_failing_to_expire_a_session_is_retried_with_the_same_key(
    listing, buyer, monkeypatch, django_capture_on_commit_callbacks, eager_retries
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment, _ = start(order, buyer)
    faults = ExpiryFailsAtFirst(failures=2)
    sandbox.intercept(monkeypatch, faults)

    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order=order, actor=buyer)

    assert session_of(payment).status == "expired"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert len(faults.keys) == 3
    assert set(faults.keys) == {f"escrow-escrowpayment-{payment.pk}-checkout-session-expire"}


def test_an_expiry_that_cannot_reach_stripe_is_retried_then_given_up_leaving_the_order_closed(
    listing, buyer, monkeypatch, django_capture_on_commit_callbacks, eager_retries, caplog
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    payment, _ = start(order, buyer)

    with monkeypatch.context() as patch:
        sandbox.unreachable(patch)
        with django_capture_on_commit_callbacks(execute=True):
            cancelled = services.order_cancel(order=order, actor=buyer)

    assert cancelled.status == OrderStatus.CANCELLED
    assert f"Gave up expiring the Checkout Sessions of order {order.pk}" in caplog.text
    assert session_of(payment).status == "open"  # it ends at its own expires_at
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


# --- One open session per order -----------------------------------------------------------------


def test_two_checkout_tabs_get_the_same_session(listing, buyer):
    order = place_order(buyer=buyer, listing_id=listing.pk)

    first, first_url = start(order, buyer)
    second, second_url = start(order, buyer)

    assert (second.pk, second_url) == (first.pk, first_url)
    assert EscrowPayment.objects.filter(order=order).count() == 1
    customer = session_of(first).customer
    sessions = stripe().v1.checkout.sessions.list(params={"customer": customer})
    assert [s.id for s in sessions.data] == [first.stripe_checkout_session_id]


def test_the_buyer_pays_once_whichever_tab_they_pay_in(
    client, listing, buyer, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    tabs = [start(order, buyer)[1] for _ in range(2)]

    with django_capture_on_commit_callbacks(execute=True):
        assert pay_on_checkout_page(client, tabs[0]).status_code == 302
        second = pay_on_checkout_page(client, tabs[1])

    assert second.status_code == 200  # the page says the session is complete
    assert len(stripe_succeeded_intents(buyer)) == 1
    assert list(EscrowPayment.objects.filter(order=order).values_list("status", flat=True)) == [
        PaymentStatus.SUCCEEDED
    ]


def test_a_session_that_expired_at_stripe_is_replaced_by_a_new_one(listing, buyer):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    first, first_url = start(order, buyer)
    stripe().v1.checkout.sessions.expire(first.stripe_checkout_session_id)

    second, second_url = start(order, buyer)

    assert second.pk != first.pk and second_url != first_url
    assert session_of(second).status == "open"
    first.refresh_from_db()
    assert first.status == PaymentStatus.CANCELLED


def test_a_session_paid_but_not_yet_confirmed_is_not_opened_again(
    client, listing, buyer, stripe_sandbox
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = start(order, buyer)
    with stripe_sandbox.webhooks_held():
        assert pay_on_checkout_page(client, url).status_code == 302

    with pytest.raises(InvalidTransition, match="just been paid"):
        start(order, buyer)
    assert EscrowPayment.objects.filter(order=order).count() == 1
