"""What a seller is told when the auto-release job releases a burst of their orders: one
notification per order in-app, and one email listing them rather than an email per order."""

import pytest
from django.core import mail
from django.core.cache import cache

from escrow import tasks
from escrow.models import Order, OrderStatus
from escrow.services import payment_checkout_start
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from notifications import services as notifications
from notifications.models import EmailDelivery
from notifications.testing import hold_email_drains

pytestmark = pytest.mark.django_db


def test_the_orders_a_job_releases_reach_their_seller_in_one_email(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks, monkeypatch
):
    for _ in range(3):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=1)
        _, url = payment_checkout_start(
            order=order,
            buyer=buyer,
            success_url="http://testserver/orders/done?session={CHECKOUT_SESSION_ID}",
            cancel_url="http://testserver/orders/cancelled",
        )
        with django_capture_on_commit_callbacks(execute=True):
            pay_on_checkout_page(client, url)
        order.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            deliver_order(order=order, actor=seller)
    stripe_sandbox.advance_clock(days=15)
    mail.outbox.clear()

    hold_email_drains(monkeypatch)  # as a broker holds the drain for its gathering seconds
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.auto_release_due_orders() == 3
        assert mail.outbox == []
        assert notifications.email_deliveries_drain()["sent"] == 3
    finally:
        cache.delete(notifications.DRAIN_FLAG)

    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.RELEASED}
    assert seller.notifications.filter(event_code="order.released").count() == 3
    [email] = mail.outbox
    assert email.to == [seller.email]
    assert email.subject == "Money released for 3 orders"
    for order in Order.objects.all():
        assert order.get_absolute_url() in email.body
    assert EmailDelivery.objects.filter(event_code="order.released", status="sent").count() == 3
