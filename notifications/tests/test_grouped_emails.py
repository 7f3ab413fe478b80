"""Emails of an event raised in bursts (Event.group_title) go out as one email per person: a seller
whose orders an auto-release job released one after another gets one email listing them."""

import smtplib
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.factories import SellerFactory
from core import clock
from core.testing import row_locked_elsewhere
from notifications import services
from notifications.models import EmailDelivery, Notification

pytestmark = pytest.mark.django_db

NOTE = " Payouts are paused on your Stripe account."


def released(seller, order_id, *, title="Blue mug", amount="$22.50", note=""):
    return services.notify(
        seller,
        "order.released",
        {
            "order_id": order_id,
            "listing_title": title,
            "amount": amount,
            "payouts_note": note,
            "action_url": f"/orders/{order_id}/",
        },
    )


def test_a_sellers_orders_released_together_go_out_as_one_email_listing_them(queued_drains):
    seller = SellerFactory(full_name="Maya Stone", email="maya@example.com")
    released(seller, 11, title="Blue mug")
    released(seller, 12, title="Green bowl", amount="$40.00")
    released(seller, 13, title="Red plate", amount="€9.10")

    assert services.email_deliveries_drain() == {"sent": 3, "retrying": 0, "failed": 0}

    [email] = mail.outbox
    site = settings.SITE_URL
    assert email.to == ["maya@example.com"]
    assert email.subject == "Money released for 3 orders"
    assert "Hello Maya," in email.body
    for line in (
        f"- $22.50 released for “Blue mug”\n  {site}/orders/11/",
        f"- $40.00 released for “Green bowl”\n  {site}/orders/12/",
        f"- €9.10 released for “Red plate”\n  {site}/orders/13/",
    ):
        assert line in email.body
    # The message they share is said once; the button leads to the seller's earnings.
    assert email.body.count("The money is on your Stripe balance.") == 1
    assert f"{site}/seller/earnings/" in email.body
    html = email.alternatives[0][0]
    assert f'href="{site}/orders/12/"' in html
    assert f'href="{site}/seller/earnings/"' in html
    assert email.extra_headers["List-Unsubscribe"].startswith(f"<{site}/notifications/")
    # Each stays a notification in-app, and each email's record says what went out.
    assert Notification.objects.filter(recipient=seller, event_code="order.released").count() == 3
    assert set(EmailDelivery.objects.values_list("status", "attempts", "subject")) == {
        ("sent", 1, "Money released for 3 orders")
    }


def test_messages_that_differ_are_listed_with_each_order(queued_drains):
    seller = SellerFactory()
    released(seller, 11)
    released(seller, 12, note=NOTE)

    services.email_deliveries_drain()

    [email] = mail.outbox
    assert email.subject == "Money released for 2 orders"
    assert "“Blue mug”: The money is on your Stripe balance.\n" in email.body
    assert f"“Blue mug”: The money is on your Stripe balance.{NOTE}\n" in email.body


def test_a_lone_release_is_the_usual_email(queued_drains):
    released(SellerFactory(), 11)

    services.email_deliveries_drain()

    [email] = mail.outbox
    assert email.subject == "$22.50 released for “Blue mug”"
    assert "(order #11) is on your Stripe balance." in email.body


def test_emails_of_other_people_and_other_events_go_out_on_their_own(queued_drains):
    maya, noor = SellerFactory(email="maya@example.com"), SellerFactory(email="noor@example.com")
    released(maya, 11)
    released(noor, 12)
    services.notify(maya, "listing.approved", {"listing_title": "Blue mug", "listing_id": 7})
    released(maya, 13)

    assert services.email_deliveries_drain() == {"sent": 4, "retrying": 0, "failed": 0}

    sent = [(email.to[0], email.subject) for email in mail.outbox]
    assert sent == [  # oldest first: Maya's two releases with the first of them
        ("maya@example.com", "Money released for 2 orders"),
        ("noor@example.com", "$22.50 released for “Blue mug”"),
        ("maya@example.com", "Your listing “Blue mug” is live"),
    ]


def test_each_goes_to_the_address_it_was_queued_for(queued_drains):
    seller = SellerFactory(email="old@example.com")
    released(seller, 11)
    released(seller, 12)
    seller.email = "new@example.com"
    seller.save(update_fields=["email"])
    released(seller, 13)

    services.email_deliveries_drain()

    assert [(email.to[0], email.subject) for email in mail.outbox] == [
        ("old@example.com", "Money released for 2 orders"),
        ("new@example.com", "$22.50 released for “Blue mug”"),
    ]


def test_at_most_group_max_go_out_as_one(queued_drains, monkeypatch):
    monkeypatch.setattr(services, "GROUP_MAX", 2)
    seller = SellerFactory()
    for order_id in range(11, 16):
        released(seller, order_id)

    assert services.email_deliveries_drain() == {"sent": 5, "retrying": 0, "failed": 0}

    assert [email.subject for email in mail.outbox] == [
        "Money released for 2 orders",
        "Money released for 2 orders",
        "$22.50 released for “Blue mug”",
    ]


def test_a_milestone_burst_goes_out_as_one_email_too(queued_drains):
    seller = SellerFactory()
    for number in (1, 2):
        services.notify(
            seller,
            "milestone.released",
            {
                "order_id": 11,
                "listing_title": "Website",
                "milestone_title": f"Part {number}",
                "amount": "$100.00",
                "action_url": "/orders/11/",
            },
        )

    services.email_deliveries_drain()

    [email] = mail.outbox
    assert email.subject == "Money released for 2 milestones"
    assert "- $100.00 released for “Part 2”" in email.body


def test_a_group_that_fails_is_retried_together_then_sent_once(queued_drains, monkeypatch):
    seller = SellerFactory()
    for order_id in (11, 12):
        released(seller, order_id)
    tried = []

    def refuse(self, fail_silently=False):
        tried.append(self.subject)
        raise smtplib.SMTPServerDisconnected("mail server went away")

    with monkeypatch.context() as refusing:
        refusing.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
        assert services.email_deliveries_drain() == {"sent": 0, "retrying": 2, "failed": 0}

    assert tried == ["Money released for 2 orders"]  # one attempt at one email
    first, second = EmailDelivery.objects.order_by("pk")
    assert first.status == second.status == EmailDelivery.Status.QUEUED
    assert first.attempts == second.attempts == 1
    assert first.not_before == second.not_before > clock.now()
    assert "mail server went away" in first.last_error

    assert services.email_deliveries_drain() == {"sent": 0, "retrying": 0, "failed": 0}  # waits
    monkeypatch.setattr(services.clock, "now", lambda: first.not_before + timedelta(seconds=1))
    assert services.email_deliveries_drain() == {"sent": 2, "retrying": 0, "failed": 0}
    [email] = mail.outbox
    assert email.subject == "Money released for 2 orders"


def test_an_email_of_a_deleted_notification_goes_out_on_its_own(queued_drains):
    seller = SellerFactory()
    released(seller, 11)
    deleted = released(seller, 12)
    released(seller, 13)
    services.notification_delete(user=seller, notification_id=deleted.pk)

    assert services.email_deliveries_drain() == {"sent": 3, "retrying": 0, "failed": 0}

    grouped, alone = mail.outbox
    assert grouped.subject == "Money released for 2 orders"
    assert "/orders/11/" in grouped.body and "/orders/13/" in grouped.body
    assert "/orders/12/" not in grouped.body
    assert "/orders/" not in alone.body  # the single email, with nothing left to fill it


def test_a_group_costs_the_same_queries_whatever_its_size(queued_drains):
    seller = SellerFactory()
    for order_id in (11, 12):
        released(seller, order_id)
    with CaptureQueriesContext(connection) as two:
        services.email_deliveries_drain()

    for order_id in range(13, 23):
        released(seller, order_id)
    with CaptureQueriesContext(connection) as ten:
        services.email_deliveries_drain()

    # Per email: one lock of them all with their seller and notifications and one UPDATE of
    # them all, in a savepoint; per drain: the (sandbox's) clock and the read of the ids due,
    # twice (the second finds none left).
    assert len(ten.captured_queries) == len(two.captured_queries) == 8
    assert [email.subject for email in mail.outbox] == [
        "Money released for 2 orders",
        "Money released for 10 orders",
    ]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks (SKIP LOCKED) need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_an_email_another_drain_holds_is_left_out_of_the_group(queued_drains):
    seller = SellerFactory()
    for order_id in (11, 12, 13):
        released(seller, order_id)
    first, second, third = EmailDelivery.objects.order_by("pk")

    with row_locked_elsewhere(EmailDelivery, second.pk):  # another drain sending it
        assert services.email_deliveries_drain() == {"sent": 2, "retrying": 0, "failed": 0}
    assert mail.outbox[0].subject == "Money released for 2 orders"
    assert EmailDelivery.objects.get(pk=second.pk).status == EmailDelivery.Status.QUEUED

    assert services.email_deliveries_drain() == {"sent": 1, "retrying": 0, "failed": 0}
    assert mail.outbox[1].subject == "$22.50 released for “Blue mug”"
