"""The accounts back office through its HTTP interface: staff add users and change their access
(audited), and set a seller's commission, which moves only through
accounts.services.seller_commission_set."""

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from accounts import admin as accounts_admin
from accounts.factories import SellerFactory, StaffFactory, UserFactory
from accounts.models import User
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


# --- Users and their access ---------------------------------------------------------------------


def test_staff_can_add_a_user_with_email_and_password_twice(staff_client):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@Example.com",
            "full_name": "New Person",
            "password1": "tulip-orbit-5512",
            "password2": "tulip-orbit-5512",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("tulip-orbit-5512")
    assert not user.is_staff
    assert AuditEntry.objects.filter(action="accounts.user.created_by_staff").count() == 1


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"email": "TAKEN@example.com"}, "email"),
        ({"password2": "something-else-99"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password2"),
    ],
)
def test_the_add_user_form_refuses_bad_input(staff_client, fields, error_field):
    UserFactory(email="taken@example.com")
    users_before = User.objects.count()
    data = {
        "email": "someone@example.com",
        "password1": "tulip-orbit-5512",
        "password2": "tulip-orbit-5512",
        "_save": "Save",
    } | fields

    response = staff_client.post(reverse("admin:accounts_user_add"), data)

    assert response.status_code == 200
    assert error_field in response.context["adminform"].form.errors
    assert User.objects.count() == users_before


def test_user_change_page_links_to_the_password_form_and_audits_access_changes(staff_client, staff):
    user = UserFactory(email="ada@example.com")
    url = reverse("admin:accounts_user_change", args=[user.pk])

    page = staff_client.get(url)
    assert page.status_code == 200
    assert 'href="../password/"' in page.content.decode()  # the "Reset password" button
    password_url = reverse("admin:auth_user_password_change", args=[user.pk])
    assert staff_client.get(password_url).status_code == 200

    response = staff_client.post(
        url,
        {
            "email": "ada@example.com",
            "full_name": "Ada",
            "language": "en",
            "time_zone": "UTC",
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": "2024-01-01",
            "date_joined_1": "10:00:00",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.is_staff
    entry = AuditEntry.objects.get(action="accounts.user_access.changed")
    assert entry.actor == staff
    assert entry.before == {"is_staff": False}
    assert entry.after == {"is_staff": True}


def test_user_changelist_marks_sellers_and_searches_by_email(staff_client):
    SellerFactory(email="maker@example.com")
    UserFactory(email="buyer@example.com")
    url = reverse("admin:accounts_user_changelist")

    response = staff_client.get(url, {"q": "maker@"})

    rows = response.context["cl"].result_list
    assert [u.email for u in rows] == ["maker@example.com"]
    assert rows[0].is_seller
