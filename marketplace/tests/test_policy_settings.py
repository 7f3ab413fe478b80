"""Cancellation policies as sellers set them and buyers see them: the store's default, a
listing's override, through the services, the seller pages, the API, the admin and the listing
page. The table itself is tested in test_policies.py."""

import re

import pytest
from django.template import Context, Template
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory
from accounts.testing import api_client_for
from core.errors import ValidationFailed
from core.models import AuditEntry
from core.testing import assert_matches_api_schema
from marketplace import services
from marketplace.factories import ListingFactory, ServiceListingFactory
from marketplace.models import Listing, ListingStatus
from marketplace.policies import CancellationPolicy, describe

pytestmark = pytest.mark.django_db

LISTINGS = "/api/v1/listings/"
SELLER_LISTINGS = "/api/v1/seller/listings/"
FLEXIBLE_PRODUCT = describe("flexible", "product")
MODERATE_PRODUCT = describe("moderate", "product")
STRICT_PRODUCT = describe("strict", "product")
STRICT_SERVICE = describe("strict", "service")


def _html(response):
    return response.content.decode()


def _text(response):
    return " ".join(re.sub(r"<[^>]+>", " ", _html(response)).split())


def _field_errors(response, field):
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', _html(response))
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


def _set_store_default(store, policy):
    store.default_cancellation_policy = policy
    store.save(update_fields=["default_cancellation_policy"])


@pytest.fixture
def seller():
    return SellerFactory()


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


# --- The effective policy: the listing's own, else the store's ----------------------------------


def test_a_new_store_is_flexible_and_its_listings_follow_it(seller):
    listing = ListingFactory(store=seller.store)

    assert seller.store.default_cancellation_policy == CancellationPolicy.FLEXIBLE
    assert listing.cancellation_policy == ""
    assert listing.effective_cancellation_policy == CancellationPolicy.FLEXIBLE
    assert listing.cancellation_policy_text == FLEXIBLE_PRODUCT


def test_a_listing_follows_its_store_until_it_chooses_its_own(seller):
    following = ListingFactory(store=seller.store)
    own = ListingFactory(store=seller.store, cancellation_policy=CancellationPolicy.MODERATE)

    _set_store_default(seller.store, CancellationPolicy.STRICT)

    following = Listing.objects.select_related("store").get(pk=following.pk)
    own = Listing.objects.select_related("store").get(pk=own.pk)
    assert following.effective_cancellation_policy == CancellationPolicy.STRICT
    assert own.effective_cancellation_policy == CancellationPolicy.MODERATE
    assert own.cancellation_policy_text == MODERATE_PRODUCT


def test_a_services_words_speak_of_its_start():
    listing = ServiceListingFactory(cancellation_policy=CancellationPolicy.STRICT)

    assert listing.cancellation_policy_text == STRICT_SERVICE
    assert "7 days before the start" in listing.cancellation_policy_text


# --- Services -----------------------------------------------------------------------------------


def test_the_store_default_changes_through_the_service_with_an_audit_entry(seller):
    services.store_update(
        store=seller.store, actor=seller, default_cancellation_policy=CancellationPolicy.MODERATE
    )

    seller.store.refresh_from_db()
    assert seller.store.default_cancellation_policy == "moderate"
    entry = AuditEntry.objects.get(action="marketplace.store.updated")
    assert entry.before == {"default_cancellation_policy": "flexible"}
    assert entry.after == {"default_cancellation_policy": "moderate"}


@pytest.mark.parametrize("value", ["", "lenient", None])
def test_the_store_service_refuses_a_policy_that_is_not_in_the_table(seller, value):
    with pytest.raises(ValidationFailed) as refused:
        services.store_update(store=seller.store, actor=seller, default_cancellation_policy=value)

    assert list(refused.value.errors) == ["default_cancellation_policy"]
    seller.store.refresh_from_db()
    assert seller.store.default_cancellation_policy == "flexible"


@pytest.mark.parametrize("value", ["lenient", None, "Strict"])
def test_the_listing_service_refuses_a_policy_that_is_not_in_the_table(seller, value):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)

    with pytest.raises(ValidationFailed) as refused:
        services.listing_update(listing=listing, actor=seller, cancellation_policy=value)

    assert list(refused.value.errors) == ["cancellation_policy"]
    listing.refresh_from_db()
    assert listing.cancellation_policy == ""


def test_changing_an_approved_listings_policy_needs_no_review(seller):
    listing = ListingFactory(store=seller.store)

    listing = services.listing_update(listing=listing, actor=seller, cancellation_policy="strict")

    assert listing.status == ListingStatus.APPROVED
    assert listing.cancellation_policy == "strict"
    entry = AuditEntry.objects.get(action="marketplace.listing.updated")
    assert entry.before == {"cancellation_policy": ""}
    assert entry.after == {"cancellation_policy": "strict", "status": "approved"}


# --- The seller's pages -------------------------------------------------------------------------


def store_form_data(store, **overrides):
    return {
        "name": store.name,
        "tagline": store.tagline,
        "description": store.description,
        "about": store.about,
        "contact_email": store.contact_email,
        "contact_phone": "",
        "support_url": "",
        "default_cancellation_policy": store.default_cancellation_policy,
    } | overrides


def test_the_store_settings_page_explains_each_policy_in_words(seller_client):
    html = _html(seller_client.get(reverse("seller-store-edit")))

    assert 'name="default_cancellation_policy"' in html
    assert '<option value="flexible" selected>Flexible</option>' in html
    for policy in CancellationPolicy:
        assert describe(policy, "product") in html
        assert describe(policy, "service") in html
    # The words are tied to the select for screen readers.
    assert 'aria-describedby="id_default_cancellation_policy_helptext"' in html


def test_the_seller_sets_the_store_default(seller_client, seller):
    response = seller_client.post(
        reverse("seller-store-edit"),
        store_form_data(seller.store, default_cancellation_policy="strict"),
    )

    assert response.status_code == 302
    seller.store.refresh_from_db()
    assert seller.store.default_cancellation_policy == "strict"


def test_a_bad_store_default_is_a_form_error_next_to_the_field(seller_client, seller):
    response = seller_client.post(
        reverse("seller-store-edit"),
        store_form_data(seller.store, name="Renamed", default_cancellation_policy="lenient"),
    )

    assert response.status_code == 200
    assert _field_errors(response, "default_cancellation_policy") == [
        "Select a valid choice. lenient is not one of the available choices."
    ]
    seller.store.refresh_from_db()
    assert seller.store.default_cancellation_policy == "flexible"
    assert seller.store.name != "Renamed"


def listing_form_data(**overrides):
    return {
        "title": "Glazed bowl",
        "kind": "product",
        "description": "Wide and shallow.",
        "price": "18.00",
        "currency": "usd",
        "stock": "4",
        "cancellation_policy": "",
    } | overrides


def test_the_listing_form_offers_the_stores_default_by_name(seller_client, seller):
    _set_store_default(seller.store, CancellationPolicy.MODERATE)

    html = _html(seller_client.get(reverse("seller-listing-create")))

    assert '<option value="" selected>Your store&#x27;s default (Moderate)</option>' in html
    assert "Your store&#x27;s default is Moderate." in html
    assert MODERATE_PRODUCT in html


def test_the_seller_overrides_the_policy_on_the_listing_form(seller_client, seller):
    response = seller_client.post(
        reverse("seller-listing-create"), listing_form_data(cancellation_policy="strict")
    )

    assert response.status_code == 302
    listing = Listing.objects.get(store=seller.store)
    assert listing.cancellation_policy == "strict"


def test_emptying_the_listings_policy_brings_back_the_stores(seller_client, seller):
    listing = ListingFactory(store=seller.store, cancellation_policy="strict")
    url = reverse("seller-listing-edit", args=[listing.pk])
    assert '<option value="strict" selected>Strict</option>' in _html(seller_client.get(url))

    response = seller_client.post(url, listing_form_data(cancellation_policy=""))

    assert response.status_code == 302
    listing = Listing.objects.select_related("store").get(pk=listing.pk)
    assert listing.cancellation_policy == ""
    assert listing.effective_cancellation_policy == "flexible"


def test_a_bad_listing_policy_is_a_form_error_next_to_the_field(seller_client, seller):
    response = seller_client.post(
        reverse("seller-listing-create"), listing_form_data(cancellation_policy="lenient")
    )

    assert response.status_code == 200
    assert _field_errors(response, "cancellation_policy") == [
        "Select a valid choice. lenient is not one of the available choices."
    ]
    assert not Listing.objects.filter(store=seller.store).exists()


# --- The listing page ---------------------------------------------------------------------------


def test_the_listing_page_shows_the_stores_policy_in_words_by_the_price(client, seller):
    _set_store_default(seller.store, CancellationPolicy.MODERATE)
    listing = ListingFactory(store=seller.store)

    response = client.get(listing.get_absolute_url())

    html = _html(response)
    note = html.index('data-cancellation-policy="moderate"')
    # In the buy box: after the price, before the buy box.
    assert html.index('class="buy-box__price"') < note < html.index("order-buy")
    assert f"Cancellation policy: Moderate. {MODERATE_PRODUCT}" in _text(response)


def test_the_listing_page_shows_the_listings_own_policy(client):
    listing = ServiceListingFactory(cancellation_policy=CancellationPolicy.STRICT)

    response = client.get(listing.get_absolute_url())

    assert 'data-cancellation-policy="strict"' in _html(response)
    assert f"Cancellation policy: Strict. {STRICT_SERVICE}" in _text(response)


# listing (store + category joined), images; the buy box reads the seller and their Stripe account;
# and the clock and the listing's ratings (reviews)
LISTING_PAGE_QUERIES = 6


def test_the_listing_page_reads_the_policy_without_extra_queries(
    client, django_assert_max_num_queries
):
    following = ListingFactory()
    chosen = ListingFactory(cancellation_policy=CancellationPolicy.STRICT)

    # Following the store's default costs nothing: the store came with the listing.
    for listing in (following, chosen):
        with django_assert_max_num_queries(LISTING_PAGE_QUERIES):
            response = client.get(listing.get_absolute_url())
        assert "Cancellation policy:" in _text(response)


# --- The API ------------------------------------------------------------------------------------


def test_public_listings_carry_the_effective_policy_and_its_words(api_client, seller):
    _set_store_default(seller.store, CancellationPolicy.MODERATE)
    following = ListingFactory(store=seller.store)
    own = ServiceListingFactory(store=seller.store, cancellation_policy="strict")

    rows = {row["id"]: row for row in api_client.get(LISTINGS).json()["results"]}
    detail = api_client.get(f"{LISTINGS}{following.pk}/")

    assert rows[following.pk]["cancellation_policy"] == "moderate"
    assert rows[following.pk]["cancellation_policy_text"] == MODERATE_PRODUCT
    assert rows[own.pk]["cancellation_policy"] == "strict"
    assert rows[own.pk]["cancellation_policy_text"] == STRICT_SERVICE
    assert detail.json()["cancellation_policy"] == "moderate"
    assert "cancellation_policy_override" not in detail.json()
    assert_matches_api_schema(detail, "/api/v1/listings/{id}/", "GET")


@pytest.mark.parametrize("rows", [3, 30])
def test_the_public_list_stays_flat_with_every_store_read_for_its_default(
    api_client, django_assert_max_num_queries, rows
):
    # Each listing in its own store, half following its default: no query per store.
    for index in range(rows):
        ListingFactory(cancellation_policy="" if index % 2 else "moderate")

    # count, page (store + category joined), images, and the clock (reviews)
    with django_assert_max_num_queries(4):
        response = api_client.get(LISTINGS, {"page_size": 50})

    policies = {row["cancellation_policy"] for row in response.json()["results"]}
    assert policies == {"flexible", "moderate"}


def new_listing_body(**overrides):
    return {
        "kind": "product",
        "title": "Blue teapot",
        "description": "Stoneware, holds a litre.",
        "price_cents": 4250,
        "currency": "usd",
        "stock": 3,
    } | overrides


def test_a_seller_creates_a_listing_with_its_own_policy_through_the_api(seller):
    client = api_client_for(seller)

    response = client.post(
        SELLER_LISTINGS, new_listing_body(cancellation_policy="moderate"), format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["cancellation_policy"] == "moderate"
    assert body["cancellation_policy_override"] == "moderate"
    assert body["cancellation_policy_text"] == MODERATE_PRODUCT
    assert Listing.objects.get(pk=body["id"]).cancellation_policy == "moderate"
    assert_matches_api_schema(response, "/api/v1/seller/listings/", "POST")


def test_a_listing_created_without_a_policy_follows_the_store(seller):
    _set_store_default(seller.store, CancellationPolicy.STRICT)

    body = api_client_for(seller).post(SELLER_LISTINGS, new_listing_body(), format="json").json()

    assert (body["cancellation_policy"], body["cancellation_policy_override"]) == ("strict", "")


def test_patching_the_policy_empty_brings_back_the_stores(seller):
    listing = ListingFactory(store=seller.store, cancellation_policy="strict")
    client = api_client_for(seller)

    response = client.patch(
        f"{SELLER_LISTINGS}{listing.pk}/", {"cancellation_policy": ""}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["cancellation_policy"] == "flexible"
    assert response.json()["cancellation_policy_override"] == ""
    assert_matches_api_schema(response, "/api/v1/seller/listings/{id}/", "PATCH")


@pytest.mark.parametrize("value", ["lenient", None, 3])
def test_a_bad_listing_policy_is_a_400_naming_the_field(seller, value):
    listing = ListingFactory(store=seller.store, cancellation_policy="strict")

    response = api_client_for(seller).patch(
        f"{SELLER_LISTINGS}{listing.pk}/", {"cancellation_policy": value}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["cancellation_policy"]
    listing.refresh_from_db()
    assert listing.cancellation_policy == "strict"


def test_the_store_default_is_read_and_set_through_the_api(api_client, seller):
    url = f"/api/v1/stores/{seller.store.slug}/"
    assert api_client.get(url).json()["default_cancellation_policy"] == "flexible"

    response = api_client_for(seller).patch(
        url, {"default_cancellation_policy": "moderate"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["default_cancellation_policy"] == "moderate"
    seller.store.refresh_from_db()
    assert seller.store.default_cancellation_policy == "moderate"
    assert_matches_api_schema(response, "/api/v1/stores/{slug}/", "PATCH")


def test_a_bad_store_default_is_a_400_with_the_field_message(seller):
    response = api_client_for(seller).patch(
        f"/api/v1/stores/{seller.store.slug}/",
        {"default_cancellation_policy": "lenient"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "default_cancellation_policy": ["Choose flexible, moderate or strict."]
    }


# --- The admin ----------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def test_staff_set_a_stores_default_in_admin_through_the_service(staff_client, seller):
    url = reverse("admin:marketplace_store_change", args=[seller.store.pk])
    page = _html(staff_client.get(url))
    assert STRICT_SERVICE in page

    response = staff_client.post(
        url, store_form_data(seller.store, default_cancellation_policy="strict", _save="Save")
    )

    assert response.status_code == 302
    seller.store.refresh_from_db()
    assert seller.store.default_cancellation_policy == "strict"
    entry = AuditEntry.objects.get(action="marketplace.store.updated")
    assert entry.after == {"default_cancellation_policy": "strict"}


def test_a_bad_store_default_in_admin_is_an_error_next_to_the_field(staff_client, seller):
    url = reverse("admin:marketplace_store_change", args=[seller.store.pk])

    response = staff_client.post(
        url, store_form_data(seller.store, default_cancellation_policy="lenient", _save="Save")
    )

    assert response.status_code == 200
    assert "default_cancellation_policy" in response.context["adminform"].form.errors
    seller.store.refresh_from_db()
    assert seller.store.default_cancellation_policy == "flexible"


def test_the_listing_admin_shows_the_policy_buyers_are_shown(staff_client, seller):
    _set_store_default(seller.store, CancellationPolicy.MODERATE)
    listing = ListingFactory(store=seller.store)

    page = staff_client.get(reverse("admin:marketplace_listing_change", args=[listing.pk]))

    text = _text(page)
    assert f"Moderate (the store's default). {MODERATE_PRODUCT}" in text.replace("&#x27;", "'")


# --- Template filters for a stored policy (the order page) -------------------------------------


@pytest.mark.parametrize(
    ("policy", "kind", "shown"),
    [
        ("strict", "service", f"Strict|{STRICT_SERVICE}"),
        ("moderate", "product", f"Moderate|{MODERATE_PRODUCT}"),
        ("", "product", "|"),
        ("lenient", "product", "|"),
        ("strict", "", "Strict|"),
    ],
)
def test_the_policy_filters_render_a_stored_value_and_nothing_for_a_bad_one(policy, kind, shown):
    template = Template(
        "{% load policies %}{{ policy|policy_label }}|{{ policy|policy_text:kind }}"
    )

    assert template.render(Context({"policy": policy, "kind": kind})) == shown
