"""The back office's payout holds and jobs page: staff hold a seller's payouts with a reason (from
the seller balances or the payout schedules), lift the hold, and read the beat schedule."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.factories import StaffFactory, UserFactory
from core.jobs import periodic_jobs
from core.models import AuditEntry
from notifications.models import Notification
from payouts.models import PayoutSchedule

pytestmark = pytest.mark.django_db


def test_staff_hold_a_sellers_payouts_with_a_reason_the_seller_reads(client, seller):
    staff = StaffFactory()
    client.force_login(staff)
    url = reverse("admin:payouts_sellerbalance_changelist")
    picked = {"action": "hold_payouts", "_selected_action": [seller.seller_profile.pk]}

    asked = client.post(url, picked)
    assert asked.status_code == 200
    assert "Hold payouts" in asked.content.decode()
    assert not PayoutSchedule.objects.filter(seller=seller, held=True).exists()
    refused = client.post(url, {**picked, "post": "yes", "reason": ""})
    assert "This field is required" in refused.content.decode()

    done = client.post(
        url, {**picked, "post": "yes", "reason": "Checking a burst of refunds."}, follow=True
    )

    assert "payouts held; they are told why." in done.content.decode()
    schedule = PayoutSchedule.objects.get(seller=seller)
    assert (schedule.held, schedule.hold_reason, schedule.held_by) == (
        True,
        "Checking a burst of refunds.",
        staff,
    )
    assert AuditEntry.objects.filter(action="payouts.hold.placed", actor=staff).exists()
    assert Notification.objects.filter(recipient=seller, event_code="payout.held").exists()
    listed = client.get(reverse("admin:payouts_payoutschedule_changelist"))
    assert "Checking a burst of refunds." in listed.content.decode()


def test_staff_lift_a_hold_from_the_schedules_list(client, seller):
    staff = StaffFactory()
    client.force_login(staff)
    from payouts.services import payouts_hold

    schedule = payouts_hold(seller=seller, reason="Review", actor=staff)

    response = client.post(
        reverse("admin:payouts_payoutschedule_changelist"),
        {"action": "unhold_payouts", "_selected_action": [schedule.pk]},
        follow=True,
    )

    assert "payouts released." in response.content.decode()
    schedule.refresh_from_db()
    assert not schedule.held
    assert AuditEntry.objects.filter(action="payouts.hold.released", actor=staff).exists()


def test_staff_who_may_only_look_get_no_hold_actions(client, seller):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_sellerbalance"),
        Permission.objects.get(codename="view_payoutschedule"),
    )
    client.force_login(viewer)

    for name in ("payouts_sellerbalance", "payouts_payoutschedule"):
        page = client.get(reverse(f"admin:{name}_changelist"))
        assert page.status_code == 200
        assert "hold_payouts" not in page.content.decode()
    refused = client.post(
        reverse("admin:payouts_sellerbalance_changelist"),
        {
            "action": "hold_payouts",
            "_selected_action": [seller.seller_profile.pk],
            "post": "yes",
            "reason": "x",
        },
    )
    assert refused.status_code in (200, 302)
    assert not PayoutSchedule.objects.filter(seller=seller, held=True).exists()


def test_staff_read_the_beat_schedule(client, settings):
    client.force_login(StaffFactory())

    page = client.get(reverse("admin:periodic-jobs"))

    said = page.content.decode()
    assert page.status_code == 200
    for name in settings.CELERY_BEAT_SCHEDULE:
        assert f'data-job="{name}"' in said
    assert "every day at 03:30" in said  # the daily reconciliation
    assert "every 5 minutes" in said
    assert "monthly payouts that are due, each period paid once" in said
    assert all(job["what"] for job in periodic_jobs())  # every job says what it does
    assert reverse("admin:periodic-jobs") in client.get(reverse("admin:index")).content.decode()


def test_the_jobs_page_is_staff_only(client):
    client.force_login(UserFactory())
    assert client.get(reverse("admin:periodic-jobs")).status_code == 302


def test_staff_hold_a_seller_once_from_several_of_their_payouts(client, seller):
    from payouts.models import Payout

    rows = [
        Payout.objects.create(
            seller=seller, stripe_account_id="acct_x", currency="usd", amount_cents=500 + n
        )
        for n in range(2)
    ]
    staff = StaffFactory()
    client.force_login(staff)

    client.post(
        reverse("admin:payouts_payout_changelist"),
        {
            "action": "hold_payouts",
            "_selected_action": [row.pk for row in rows],
            "post": "yes",
            "reason": "Card testing pattern",
        },
    )

    assert PayoutSchedule.objects.get(seller=seller).hold_reason == "Card testing pattern"
    assert AuditEntry.objects.filter(action="payouts.hold.placed").count() == 1
    assert Notification.objects.filter(recipient=seller, event_code="payout.held").count() == 1
    filtered = client.get(
        reverse("admin:payouts_payout_changelist"), {"seller__id__exact": seller.pk}
    )
    assert filtered.status_code == 200
    assert len(filtered.context["cl"].result_list) == 2
