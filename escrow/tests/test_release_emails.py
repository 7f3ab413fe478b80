"""What a seller is told when the auto-release job releases a burst of their orders: one
notification per order in-app, and one email listing them rather than an email per order."""

import pytest
from django.core import mail
from django.core.cache import cache

from escrow import tasks
from escrow.models import Order, OrderStatus
from escrow.testing import deliver_paid_order
from notifications import services as notifications
from notifications.models import EmailDelivery
from notifications.testing import hold_email_drains

pytestmark = pytest.mark.django_db


def test_the_orders_a_job_releases_reach_their_seller_in_one_email(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks, monkeypatch
):
    for _ in range(3):
        deliver_paid_order(
            client,
            buyer=buyer,
            seller=seller,
            listing=listing,
            capture=django_capture_on_commit_callbacks,
        )
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
