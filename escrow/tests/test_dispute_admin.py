"""The Dispute admin as staff use it: the list with its filters (status, escalated, open by age)
and escalated rows marked, the dispute's page with who did what, and the "Resolve…" page, which
calls dispute_resolve with amounts that must add up to what is held (a form error next to the
amounts otherwise). Support staff read; finance staff (escrow.resolve_dispute) resolve."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.factories import StaffFactory
from core import clock
from escrow import services
from escrow.factories import DisputeFactory, EscrowPaymentFactory, OrderFactory
from escrow.models import (
    Dispute,
    DisputeResolution,
    DisputeStatus,
    EscrowRefund,
    EscrowRelease,
    OrderStatus,
    RefundStatus,
    ReleaseStatus,
)
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests import harness

pytestmark = pytest.mark.django_db

LIST = reverse("admin:escrow_dispute_changelist")
SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


def staff_with(*codenames):
    """Staff holding the permissions named "app.codename" (as the Support and Finance groups
    do: messaging's migration 0004, tested in messaging/tests/test_staff_groups.py)."""
    user = StaffFactory(is_superuser=False)
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


READ = ("escrow.view_dispute", "escrow.view_order", "core.view_auditentry")


@pytest.fixture
def support():
    return staff_with(*READ)


@pytest.fixture
def finance():
    return staff_with(*READ, "escrow.add_escrowrefund", "escrow.resolve_dispute")


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def resolve_url(dispute):
    return reverse("admin:escrow_dispute_resolve", args=[dispute.pk])


def change_url(dispute):
    return reverse("admin:escrow_dispute_change", args=[dispute.pk])


def _field_errors(response, field):
    form = response.context["form"]
    return [str(e) for e in form.errors.get(field, [])]


@pytest.fixture
def disputed(client, seller, listing, buyer, capture):
    """A US$50.00 order (2 × 25.00) paid through the sandbox, delivered, then disputed."""
    order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with capture():
        pay_on_checkout_page(client, url)
    with capture():
        deliver_order(order=order, actor=seller, note="Posted")
    dispute, _ = services.dispute_open(
        order=order, actor=buyer, reason="not_as_described", description="Both cracked."
    )
    return dispute


# --- The list -----------------------------------------------------------------------------------


def test_the_list_filters_by_status_escalation_and_age_and_marks_escalated_rows(
    client, support, django_assert_max_num_queries
):
    now = clock.now()
    fresh = DisputeFactory()
    old = DisputeFactory()
    Dispute.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=5))
    escalated = DisputeFactory(escalated_at=now)
    Dispute.objects.filter(pk=escalated.pk).update(created_at=now - timedelta(days=8))
    closed = DisputeFactory(status=DisputeStatus.WITHDRAWN, closed_at=now)
    Dispute.objects.filter(pk=closed.pk).update(created_at=now - timedelta(days=20))
    client.force_login(support)

    def shown(query=""):
        response = client.get(LIST + query)
        assert response.status_code == 200
        return {d.pk for d in response.context["cl"].result_list}, response.content.decode()

    with django_assert_max_num_queries(12):
        everything, html = shown()
    assert everything == {fresh.pk, old.pk, escalated.pk, closed.pk}
    assert html.count("dispute-flag--escalated") == 1
    assert "css/admin_disputes.css" in html
    assert shown("?escalated=yes")[0] == {escalated.pk}
    assert shown("?escalated=no")[0] == {fresh.pk, old.pk, closed.pk}
    assert shown("?open_for=3")[0] == {old.pk, escalated.pk}  # open > 3 days; closed is not open
    assert shown("?open_for=7")[0] == {escalated.pk}
    assert shown("?status__exact=withdrawn")[0] == {closed.pk}
    assert "Open &gt; 3 days" in html


def test_support_reads_a_dispute_and_who_did_what_but_cannot_resolve(client, support):
    dispute = DisputeFactory()
    services.dispute_respond(dispute=dispute, actor=dispute.order.seller, response="Sent fine.")
    client.force_login(support)

    page = client.get(change_url(dispute))

    assert page.status_code == 200
    html = page.content.decode()
    assert "escrow.dispute.answered" in html  # the audit inline: who did what
    assert dispute.order.seller.email in html
    assert "Sent fine." in html
    assert resolve_url(dispute) not in html  # no "Resolve…" button
    assert client.get(resolve_url(dispute)).status_code == 403
    assert client.post(resolve_url(dispute), {"resolution": "release"}).status_code == 403
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.ANSWERED


# --- Resolving ----------------------------------------------------------------------------------


def test_finance_splits_a_dispute_on_the_resolve_page(
    client, finance, disputed, seller, buyer, capture
):
    client.force_login(finance)
    assert resolve_url(disputed) in client.get(change_url(disputed)).content.decode()
    page = client.get(resolve_url(disputed))
    assert page.status_code == 200
    assert 'id="held-amount">US$50.00<' in page.content.decode()

    with capture():
        response = client.post(
            resolve_url(disputed),
            {"resolution": "split", "refund": "30.00", "release": "20.00", "note": "One cracked."},
        )

    assert response.status_code == 302 and response["Location"] == change_url(disputed)
    disputed.refresh_from_db()
    assert (disputed.status, disputed.resolution, disputed.resolved_by) == (
        DisputeStatus.RESOLVED,
        DisputeResolution.SPLIT,
        finance,
    )
    order = disputed.order
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert EscrowRefund.objects.get(order=order).status == RefundStatus.SUCCEEDED
    assert EscrowRelease.objects.get(order=order).status == ReleaseStatus.TRANSFERRED
    assert [t.amount for t in harness.stripe_transfers_for(order)] == [1800]
    assert harness.escrow_violations([order], sellers=[seller]) == []
    after = client.get(change_url(disputed)).content.decode()
    assert (
        f"Dispute #{disputed.pk} resolved: US$30.00 refunded to the buyer and US$20.00 released "
        "to the seller." in after
    )
    assert "escrow.dispute.resolved" in after and finance.email in after
    assert resolve_url(disputed) not in after  # nothing left to decide


def test_a_split_that_does_not_add_up_shows_the_error_next_to_the_amounts(
    client, finance, disputed, capture
):
    client.force_login(finance)

    with capture():
        response = client.post(
            resolve_url(disputed),
            {"resolution": "split", "refund": "30.00", "release": "10.00", "note": "Half."},
        )

    assert response.status_code == 200
    message = (
        "Refund and release must add up to exactly the US$50.00 held (they add up to US$40.00)."
    )
    assert _field_errors(response, "refund") == [message]
    assert _field_errors(response, "release") == [message]
    html = response.content.decode()
    assert 'class="form-row errors field-refund"' in html
    disputed.refresh_from_db()
    assert disputed.status == DisputeStatus.OPEN
    assert not EscrowRefund.objects.exists() and not EscrowRelease.objects.exists()

    for data, field in [
        ({"refund": "3.001", "release": "46.999"}, "refund"),
        ({"refund": "abc", "release": "50"}, "refund"),
        ({"refund": "0", "release": "-1"}, "release"),
    ]:
        bad = client.post(resolve_url(disputed), {"resolution": "split", "note": "x"} | data)
        assert bad.status_code == 200 and _field_errors(bad, field), data
    no_note = client.post(resolve_url(disputed), {"resolution": "release", "release": "50"})
    assert _field_errors(no_note, "note")
    assert not EscrowRefund.objects.exists() and not EscrowRelease.objects.exists()


def test_finance_refunds_in_full_from_the_resolve_page(client, finance, disputed, capture):
    client.force_login(finance)
    with capture():
        response = client.post(
            resolve_url(disputed),
            {"resolution": "refund", "refund": "50", "release": "0", "note": "Never arrived."},
        )
    assert response.status_code == 302
    order = disputed.order
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert harness.stripe_transfers_for(order) == []
    again = client.get(resolve_url(disputed), follow=True)
    assert again.redirect_chain[-1][0] == change_url(disputed)


def test_the_order_without_a_held_payment_cannot_be_resolved_by_a_resolved_dispute(client, finance):
    order = OrderFactory(delivered=True, status=OrderStatus.DISPUTED, disputed_from="delivered")
    EscrowPaymentFactory(order=order)
    dispute = DisputeFactory(order=order, status=DisputeStatus.WITHDRAWN)
    client.force_login(finance)
    response = client.get(resolve_url(dispute), follow=True)
    assert response.redirect_chain[-1][0] == change_url(dispute)
    assert "nothing to decide" in response.content.decode()
