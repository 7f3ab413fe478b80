"""The catalogue's actions raise their notifications, through the entry points people use."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse

from accounts.factories import StaffFactory
from marketplace import services as catalogue
from marketplace.factories import ListingFactory
from marketplace.models import ListingStatus
from notifications.events import EmailMode
from notifications.models import EmailDelivery, Notification
from notifications.services import preference_set

pytestmark = pytest.mark.django_db

LISTINGS_URL = reverse("admin:marketplace_listing_changelist")


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def admin_action(client, action, listing, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(listing.pk)], "index": 0, **extra}
    return client.post(LISTINGS_URL, data)


def test_admin_approving_a_listing_notifies_the_seller_once_in_app_and_by_email(
    staff_client, django_capture_on_commit_callbacks
):
    listing = ListingFactory(status=ListingStatus.PENDING_REVIEW, title="Blue mug")
    seller = listing.store.owner

    with django_capture_on_commit_callbacks(execute=True):
        admin_action(staff_client, "approve_listings", listing)
        admin_action(staff_client, "approve_listings", listing)  # a second click changes nothing

    notification = Notification.objects.get(recipient=seller)
    assert notification.event_code == "listing.approved"
    assert notification.title == "“Blue mug” is live"
    assert notification.action_url == listing.get_absolute_url()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [seller.email]
    assert mail.outbox[0].subject == "Your listing “Blue mug” is live"


def test_with_email_turned_off_approval_sends_no_email(
    staff_client, django_capture_on_commit_callbacks
):
    listing = ListingFactory(status=ListingStatus.PENDING_REVIEW)
    preference_set(
        user=listing.store.owner, event_code="listing.approved", email_mode=EmailMode.OFF
    )

    with django_capture_on_commit_callbacks(execute=True):
        admin_action(staff_client, "approve_listings", listing)

    assert Notification.objects.filter(recipient=listing.store.owner).count() == 1
    assert mail.outbox == []
    assert not EmailDelivery.objects.exists()


def test_admin_rejecting_a_listing_tells_the_seller_why(
    staff_client, django_capture_on_commit_callbacks
):
    listing = ListingFactory(status=ListingStatus.PENDING_REVIEW, title="Blue mug")

    with django_capture_on_commit_callbacks(execute=True):
        admin_action(staff_client, "reject_listings", listing, post="yes", reason="Photos missing.")

    notification = Notification.objects.get(recipient=listing.store.owner)
    assert notification.event_code == "listing.rejected"
    assert notification.level == "warning"
    assert "Photos missing." in notification.message
    assert notification.action_url == reverse("seller-listing-edit", kwargs={"pk": listing.pk})
    assert len(mail.outbox) == 1
    assert "Photos missing." in mail.outbox[0].body


def test_submitting_a_listing_tells_staff_in_their_digest(django_capture_on_commit_callbacks):
    staff = StaffFactory()
    listing = ListingFactory(status=ListingStatus.DRAFT, title="Blue mug")

    with django_capture_on_commit_callbacks(execute=True):
        catalogue.listing_submit(listing=listing, actor=listing.store.owner)

    notification = Notification.objects.get(recipient=staff)
    assert notification.event_code == "listing.submitted"
    assert notification.digest_pending is True
    assert notification.action_url == reverse("admin:marketplace_listing_change", args=[listing.pk])
    assert mail.outbox == []  # low priority: it waits for the daily digest
