"""The back office through its HTTP interface, as a member of staff uses it."""

import re

import pytest
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from core.models import AuditEntry
from marketplace import services
from marketplace.factories import (
    AuditEntryFactory,
    CategoryFactory,
    ListingFactory,
    ListingImageFactory,
)
from marketplace.models import Category, Listing, ListingImage, ListingStatus

S = ListingStatus
LISTINGS_URL = reverse("admin:marketplace_listing_changelist")
REJECT_TEMPLATE = "admin/marketplace/listing/reject_confirmation.html"

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return StaffFactory()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def run_action(client, action, listings, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(x.pk) for x in listings], **extra}
    return client.post(LISTINGS_URL, data)


def messages_of(response):
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


def texts_at(response, level):
    return [text for lvl, text in messages_of(response) if lvl == level]


# --- Approve ------------------------------------------------------------------------------------


def test_approve_action_approves_and_records_the_reviewer(staff_client, staff):
    listing = ListingFactory(status=S.PENDING_REVIEW)

    response = run_action(staff_client, "approve_listings", [listing], index=0)

    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == S.APPROVED
    assert listing.reviewed_by == staff
    assert listing.reviewed_at is not None
    assert texts_at(response, messages.SUCCESS) == ["Approved 1 listing."]
    assert AuditEntry.objects.get(action="marketplace.listing.approved").actor == staff


def test_approving_a_draft_reports_the_reason_and_leaves_it_a_draft(staff_client):
    draft = ListingFactory(status=S.DRAFT, title="Half-written mug")

    response = run_action(staff_client, "approve_listings", [draft])

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == S.DRAFT
    assert draft.reviewed_by is None
    errors = texts_at(response, messages.ERROR)
    assert len(errors) == 1
    assert "Half-written mug" in errors[0]
    assert "draft cannot become approved" in errors[0]
    assert texts_at(response, messages.SUCCESS) == []


def test_approve_reports_changed_already_done_and_refused_separately(staff_client):
    pending = ListingFactory.create_batch(2, status=S.PENDING_REVIEW)
    approved = ListingFactory(status=S.APPROVED)
    archived = ListingFactory(status=S.ARCHIVED, title="Old vase")

    response = run_action(staff_client, "approve_listings", [*pending, approved, archived])

    statuses = dict(Listing.objects.values_list("pk", "status"))
    assert [statuses[x.pk] for x in pending] == [S.APPROVED, S.APPROVED]
    assert statuses[approved.pk] == S.APPROVED
    assert statuses[archived.pk] == S.ARCHIVED
    assert texts_at(response, messages.SUCCESS) == ["Approved 2 listings."]
    assert texts_at(response, messages.INFO) == ["1 listing was already approved."]
    [error] = texts_at(response, messages.ERROR)
    assert "Old vase" in error


def test_the_changelist_shows_the_action_outcome_after_the_redirect(staff_client):
    draft = ListingFactory(status=S.DRAFT, title="Unfinished bowl")

    response = staff_client.post(
        LISTINGS_URL,
        {"action": "approve_listings", ACTION_CHECKBOX_NAME: [draft.pk], "index": 0},
        follow=True,
    )

    assert response.status_code == 200
    assert "Unfinished bowl" in response.content.decode()
    assert "draft cannot become approved" in response.content.decode()


# --- Reject -------------------------------------------------------------------------------------


def test_reject_first_shows_the_reason_page_and_changes_nothing(staff_client):
    listings = [
        ListingFactory(status=S.PENDING_REVIEW, title="Blurry mug"),
        ListingFactory(status=S.PENDING_REVIEW, title="Cracked plate"),
    ]

    response = run_action(staff_client, "reject_listings", listings, index=0)

    assert response.status_code == 200
    assert REJECT_TEMPLATE in [t.name for t in response.templates]
    html = response.content.decode()
    assert "Blurry mug" in html and "Cracked plate" in html
    assert 'name="reason"' in html
    assert 'name="post" value="yes"' in html
    for listing in listings:
        assert f'name="{ACTION_CHECKBOX_NAME}" value="{listing.pk}"' in html
        listing.refresh_from_db()
        assert listing.status == S.PENDING_REVIEW


def test_reject_with_a_reason_rejects_and_records_it(staff_client, staff):
    listing = ListingFactory(status=S.PENDING_REVIEW)

    response = run_action(
        staff_client, "reject_listings", [listing], post="yes", reason="Photos are blurry."
    )

    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == S.REJECTED
    assert listing.rejection_reason == "Photos are blurry."
    assert listing.reviewed_by == staff
    assert texts_at(response, messages.SUCCESS) == ["Rejected 1 listing."]


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_with_an_empty_reason_shows_the_form_error_and_changes_nothing(staff_client, reason):
    listing = ListingFactory(status=S.PENDING_REVIEW)

    response = run_action(staff_client, "reject_listings", [listing], post="yes", reason=reason)

    assert response.status_code == 200
    assert REJECT_TEMPLATE in [t.name for t in response.templates]
    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert "This field is required." in response.content.decode()
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW
    assert listing.rejection_reason == ""
    assert not AuditEntry.objects.filter(action="marketplace.listing.rejected").exists()


def test_rejecting_a_draft_reports_an_error_and_leaves_it(staff_client):
    draft = ListingFactory(status=S.DRAFT, title="Sketchy draft")

    response = run_action(staff_client, "reject_listings", [draft], post="yes", reason="No.")

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == S.DRAFT
    [error] = texts_at(response, messages.ERROR)
    assert "Sketchy draft" in error
    assert "cannot become rejected" in error


def test_reject_page_is_csp_friendly(staff_client):
    listing = ListingFactory(status=S.PENDING_REVIEW)
    html = run_action(staff_client, "reject_listings", [listing]).content.decode()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\sstyle=", html), "inline style attribute"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


# --- Archive ------------------------------------------------------------------------------------


def test_archive_action_archives(staff_client, staff):
    listing = ListingFactory(status=S.APPROVED)

    response = run_action(staff_client, "archive_listings", [listing])

    listing.refresh_from_db()
    assert listing.status == S.ARCHIVED
    assert texts_at(response, messages.SUCCESS) == ["Archived 1 listing."]
    assert AuditEntry.objects.get(action="marketplace.listing.archived").actor == staff


def test_archiving_a_listing_in_review_is_refused(staff_client):
    listing = ListingFactory(status=S.PENDING_REVIEW)
    response = run_action(staff_client, "archive_listings", [listing])
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW
    assert len(texts_at(response, messages.ERROR)) == 1


# --- Who may review -----------------------------------------------------------------------------


def test_staff_with_view_permission_only_cannot_run_review_actions(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_listing"))
    client.force_login(viewer)
    listing = ListingFactory(status=S.PENDING_REVIEW)

    changelist = client.get(LISTINGS_URL)
    assert changelist.status_code == 200
    assert "approve_listings" not in changelist.content.decode()

    run_action(client, "approve_listings", [listing], index=0)
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW


def test_a_non_staff_user_is_sent_to_the_admin_login(client):
    listing = ListingFactory(status=S.PENDING_REVIEW)
    client.force_login(SellerFactory())

    response = run_action(client, "approve_listings", [listing], index=0)

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW


# --- The listing change page is read-only -------------------------------------------------------


def _listing_change_post(listing, **fields):
    data = {
        "images-TOTAL_FORMS": str(listing.images.count()),
        "images-INITIAL_FORMS": str(listing.images.count()),
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, image in enumerate(listing.images.all()):
        data[f"images-{index}-id"] = str(image.pk)
        data[f"images-{index}-listing"] = str(listing.pk)
    return data


def test_listing_change_page_cannot_set_status_or_content(staff_client):
    listing = ListingFactory(status=S.PENDING_REVIEW, title="Original title")
    url = reverse("admin:marketplace_listing_change", args=[listing.pk])

    page = staff_client.get(url)
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()

    response = staff_client.post(
        url,
        _listing_change_post(listing, status="approved", title="Hacked", _save="Save"),
    )

    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW
    assert listing.title == "Original title"


def test_removing_an_image_on_the_change_page_goes_through_the_service(staff_client, staff):
    image = ListingImageFactory()
    listing = image.listing
    url = reverse("admin:marketplace_listing_change", args=[listing.pk])

    response = staff_client.post(
        url, _listing_change_post(listing, **{"images-0-DELETE": "on", "_save": "Save"})
    )

    assert response.status_code == 302
    assert not ListingImage.objects.filter(pk=image.pk).exists()
    entry = AuditEntry.objects.get(action="marketplace.listing_image.removed")
    assert entry.actor == staff
    assert entry.before == {"image": image.image.name}


def test_listings_cannot_be_added_or_deleted_in_the_admin(staff_client):
    listing = ListingFactory()
    assert staff_client.get(reverse("admin:marketplace_listing_add")).status_code == 403
    delete_url = reverse("admin:marketplace_listing_delete", args=[listing.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Listing.objects.filter(pk=listing.pk).exists()
    assert "delete_selected" not in staff_client.get(LISTINGS_URL).content.decode()


# --- Stores and categories ------------------------------------------------------------------------


def test_store_edit_goes_through_the_service_and_is_audited(staff_client, staff):
    store = SellerFactory().store
    url = reverse("admin:marketplace_store_change", args=[store.pk])
    old_name = store.name

    response = staff_client.post(
        url,
        {
            "name": "Renamed Store",
            "tagline": store.tagline,
            "description": store.description,
            "about": store.about,
            "contact_email": store.contact_email,
            "contact_phone": "",
            "support_url": "",
            "default_cancellation_policy": store.default_cancellation_policy,
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    store.refresh_from_db()
    assert store.name == "Renamed Store"
    entry = AuditEntry.objects.get(action="marketplace.store.updated")
    assert entry.actor == staff
    assert entry.before == {"name": old_name}
    assert entry.after == {"name": "Renamed Store"}


def test_category_slug_is_prepopulated_from_the_name(staff_client):
    page = staff_client.get(reverse("admin:marketplace_category_add"))
    assert page.status_code == 200
    assert "data-prepopulated-fields" in page.content.decode()
    response = staff_client.post(
        reverse("admin:marketplace_category_add"),
        {"name": "Ceramics", "slug": "ceramics", "position": "0", "_save": "Save"},
    )
    assert response.status_code == 302
    assert Category.objects.filter(slug="ceramics").exists()


# --- Every page renders, with data, in a fixed number of queries --------------------------------


@pytest.fixture
def catalogue():
    """Some of everything, made through the services so audit entries exist too."""
    staff = StaffFactory()
    image = ListingImageFactory(listing__status=S.PENDING_REVIEW)
    services.listing_approve(listing=image.listing, actor=staff)
    ListingFactory(status=S.REJECTED, rejection_reason="Blurry.")
    return image.listing


CHANGELISTS = [
    "accounts_user",
    "accounts_sellerprofile",
    "marketplace_category",
    "marketplace_store",
    "marketplace_listing",
    "core_auditentry",
]


@pytest.mark.parametrize("name", CHANGELISTS)
def test_every_changelist_renders_with_data(staff_client, catalogue, name):
    response = staff_client.get(reverse(f"admin:{name}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count > 0


@pytest.mark.parametrize("name", CHANGELISTS)
def test_every_change_page_renders(staff_client, catalogue, name):
    first = staff_client.get(reverse(f"admin:{name}_changelist")).context["cl"].result_list[0]

    response = staff_client.get(reverse(f"admin:{name}_change", args=[first.pk]))

    assert response.status_code == 200


def test_listing_changelist_shows_formatted_prices_and_filters(staff_client):
    ListingFactory(title="Yen bowl", price_cents=1500, currency="jpy", status=S.PENDING_REVIEW)
    ListingFactory(title="Dollar mug", price_cents=1250, currency="usd")

    response = staff_client.get(LISTINGS_URL, {"status__exact": "pending_review"})

    html = response.content.decode()
    assert "¥1,500" in html
    assert [x.title for x in response.context["cl"].result_list] == ["Yen bowl"]
    assert "US$12.50" in staff_client.get(LISTINGS_URL).content.decode()


def test_listing_changelist_searches_title_description_and_store(staff_client):
    store = SellerFactory().store
    store.name = "Brandt Woodworks"
    store.save()
    ListingFactory(title="Walnut board", store=store)
    ListingFactory(title="Mug", description="Glazed in oatmeal")
    ListingFactory(title="Plate")

    def titles(q):
        response = staff_client.get(LISTINGS_URL, {"q": q})
        return sorted(x.title for x in response.context["cl"].result_list)

    assert titles("walnut") == ["Walnut board"]
    assert titles("oatmeal") == ["Mug"]
    assert titles("brandt") == ["Walnut board"]


def _make_rows(name, count):
    if name == "marketplace_listing":
        category = CategoryFactory()
        for index in range(count):
            ListingFactory(
                status=[S.PENDING_REVIEW, S.APPROVED, S.DRAFT][index % 3], category=category
            )
    elif name in ("accounts_user", "accounts_sellerprofile", "marketplace_store"):
        SellerFactory.create_batch(count)
    elif name == "marketplace_category":
        for category in CategoryFactory.create_batch(count):
            ListingFactory(category=category)
    elif name == "core_auditentry":
        AuditEntryFactory.create_batch(count)


# One bound for both sizes: if a column starts costing a query per row, 30 rows blow it. The
# bounds are today's counts (session, user, count, rows, filters) plus a little room.
QUERY_BOUNDS = {
    "accounts_user": 8,
    "accounts_sellerprofile": 9,
    "marketplace_category": 7,
    "marketplace_store": 9,
    "marketplace_listing": 8,
    "core_auditentry": 11,
}


@pytest.mark.parametrize("rows", [3, 30])
@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelist_query_count_stays_flat(staff_client, django_assert_max_num_queries, name, rows):
    _make_rows(name, rows)
    url = reverse(f"admin:{name}_changelist")

    with django_assert_max_num_queries(QUERY_BOUNDS[name]):
        response = staff_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count >= rows


def test_store_changelist_counts_listings_per_store(staff_client):
    store = SellerFactory().store
    ListingFactory.create_batch(2, store=store)
    ListingFactory(store=store, status=S.DRAFT)

    response = staff_client.get(reverse("admin:marketplace_store_changelist"))

    [row] = [s for s in response.context["cl"].result_list if s.pk == store.pk]
    assert row._listing_count == 3
    assert row._approved_count == 2
