"""Staff hide a review with a reason (and show it again) from the back office."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.factories import StaffFactory, UserFactory
from core.models import AuditEntry
from escrow.factories import OrderFactory
from reviews.factories import ReviewFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:reviews_review_changelist")


def test_staff_hide_a_review_with_a_reason_and_it_leaves_the_average(client, seller, listing):
    ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=5)
    low = ReviewFactory(order=OrderFactory(listing=listing, released=True), rating=1)
    staff = StaffFactory()
    client.force_login(staff)
    picked = {"action": "hide_reviews", "_selected_action": [low.pk]}

    asked = client.post(CHANGELIST, picked)
    refused = client.post(CHANGELIST, {**picked, "post": "yes", "reason": ""})
    done = client.post(CHANGELIST, {**picked, "post": "yes", "reason": "Abusive"}, follow=True)

    assert asked.status_code == 200 and "Hide reviews" in asked.content.decode()
    assert "This field is required" in refused.content.decode()
    assert ": hidden." in done.content.decode()
    low.refresh_from_db()
    assert (low.hidden, low.hidden_reason, low.hidden_by) == (True, "Abusive", staff)
    assert AuditEntry.objects.filter(action="reviews.review.hidden", actor=staff).exists()
    api = client.get(f"/api/v1/stores/{seller.store.slug}/").json()
    assert (api["rating_average"], api["rating_count"]) == (5.0, 1)


def test_staff_show_a_hidden_review_again(client, seller, listing):
    review = ReviewFactory(
        order=OrderFactory(listing=listing, released=True), hidden=True, hidden_reason="Spam"
    )
    staff = StaffFactory()
    client.force_login(staff)

    done = client.post(
        CHANGELIST, {"action": "unhide_reviews", "_selected_action": [review.pk]}, follow=True
    )

    assert "shown again" in done.content.decode()
    review.refresh_from_db()
    assert (review.hidden, review.hidden_reason) == (False, "")
    assert AuditEntry.objects.filter(action="reviews.review.unhidden", actor=staff).exists()
    assert client.get(f"/api/v1/stores/{seller.store.slug}/").json()["rating_count"] == 1


def test_staff_who_may_only_look_get_no_hide_actions(client, listing):
    review = ReviewFactory(order=OrderFactory(listing=listing, released=True))
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_review", content_type__app_label="reviews")
    )
    client.force_login(viewer)

    page = client.get(CHANGELIST)
    client.post(
        CHANGELIST,
        {"action": "hide_reviews", "_selected_action": [review.pk], "post": "yes", "reason": "x"},
    )

    assert page.status_code == 200
    assert "hide_reviews" not in page.content.decode()
    review.refresh_from_db()
    assert not review.hidden


def test_the_changelist_query_count_stays_flat(client, django_assert_max_num_queries):
    for _ in range(20):
        ReviewFactory()
    client.force_login(StaffFactory())

    with django_assert_max_num_queries(12):
        response = client.get(CHANGELIST)

    assert response.status_code == 200
