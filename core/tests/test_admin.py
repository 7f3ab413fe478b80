"""The audit trail in the back office: staff read it, nobody adds, edits or deletes an entry."""

import pytest
from django.urls import reverse

from accounts.factories import StaffFactory
from marketplace.factories import AuditEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def test_audit_entries_cannot_be_added_changed_or_deleted(staff_client):
    entry = AuditEntryFactory(action="marketplace.listing.approved")
    change_url = reverse("admin:core_auditentry_change", args=[entry.pk])

    assert staff_client.get(reverse("admin:core_auditentry_add")).status_code == 403
    page = staff_client.get(change_url)
    assert page.status_code == 200  # viewable
    assert 'name="action"' not in page.content.decode()
    assert staff_client.post(change_url, {"action": "forged"}).status_code == 403
    delete_url = reverse("admin:core_auditentry_delete", args=[entry.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = staff_client.get(reverse("admin:core_auditentry_changelist"))
    assert "delete_selected" not in changelist.content.decode()
    entry.refresh_from_db()
    assert entry.action == "marketplace.listing.approved"


def test_audit_changelist_filters_by_action(staff_client):
    AuditEntryFactory(action="marketplace.listing.approved")
    AuditEntryFactory(action="marketplace.listing.rejected")
    url = reverse("admin:core_auditentry_changelist")

    response = staff_client.get(url, {"action": "marketplace.listing.rejected"})

    assert response.status_code == 200
    assert [e.action for e in response.context["cl"].result_list] == [
        "marketplace.listing.rejected"
    ]
