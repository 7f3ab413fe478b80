"""The accounts back office through its HTTP interface: staff set a seller's commission, which
moves only through accounts.services.seller_commission_set."""

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from accounts import admin as accounts_admin
from accounts.factories import SellerFactory, StaffFactory
from core.errors import ValidationFailed
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return StaffFactory()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_staff_can_set_a_commission_override_and_it_is_audited(staff_client, staff):
    seller = SellerFactory(seller__display_name="Okafor Ceramics")
    profile = seller.seller_profile
    url = reverse("admin:accounts_sellerprofile_change", args=[profile.pk])

    page = staff_client.get(url)
    assert page.status_code == 200
    assert "platform default" in page.content.decode()

    response = staff_client.post(
        url, {"commission_bps": "800", "display_name": "Renamed by staff", "_save": "Save"}
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.commission_bps == 800
    assert profile.effective_commission_bps == 800
    assert profile.display_name == "Okafor Ceramics"  # the seller's own field is read-only
    entry = AuditEntry.objects.get(action="accounts.seller_commission.changed")
    assert entry.actor == staff
    assert entry.before == {"commission_bps": None}
    assert entry.after == {"commission_bps": 800}


@pytest.mark.parametrize("value", ["10001", "-5", "ten"])
def test_a_commission_outside_0_to_100_percent_is_refused(staff_client, value):
    profile = SellerFactory().seller_profile
    url = reverse("admin:accounts_sellerprofile_change", args=[profile.pk])

    response = staff_client.post(url, {"commission_bps": value, "_save": "Save"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["commission_bps"]
    profile.refresh_from_db()
    assert profile.commission_bps is None
    assert not AuditEntry.objects.filter(action="accounts.seller_commission.changed").exists()


def test_a_commission_the_service_refuses_is_shown_as_an_error_and_not_saved(
    staff_client, monkeypatch
):
    def refuse(**kwargs):
        raise ValidationFailed({"commission_bps": "Refused by the rules."})

    monkeypatch.setattr(accounts_admin, "seller_commission_set", refuse)
    profile = SellerFactory().seller_profile
    url = reverse("admin:accounts_sellerprofile_change", args=[profile.pk])

    response = staff_client.post(url, {"commission_bps": "800", "_save": "Save"}, follow=True)

    assert response.status_code == 200
    shown = [(m.level, str(m)) for m in response.context["messages"]]
    assert shown == [(messages.ERROR, "Refused by the rules.")]
    assert response.redirect_chain == [(url, 302)]  # back to the form, not the list
    profile.refresh_from_db()
    assert profile.commission_bps is None
    assert not LogEntry.objects.filter(object_id=str(profile.pk)).exists()
