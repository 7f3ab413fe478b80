"""The catalogue's server-rendered pages, through Django's test client."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from marketplace import selectors
from marketplace.factories import (
    CategoryFactory,
    ListingFactory,
    ListingImageFactory,
    ServiceListingFactory,
)
from marketplace.models import Listing, ListingImage, ListingStatus

pytestmark = pytest.mark.django_db

HIDDEN_STATUSES = [
    ListingStatus.DRAFT,
    ListingStatus.PENDING_REVIEW,
    ListingStatus.REJECTED,
    ListingStatus.ARCHIVED,
]


def _html(response):
    return response.content.decode()


def _field_errors(response, field):
    """The messages Django renders in the error list tied to one field's input."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', _html(response))
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


@pytest.fixture
def seller():
    return SellerFactory()


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


@pytest.fixture
def mixed_listings(seller):
    """One approved listing and one listing in each hidden status, all in one store."""
    category = CategoryFactory(name="Ceramics", slug="ceramics")
    approved = ListingFactory(store=seller.store, category=category, title="Public mug")
    hidden = [
        ListingFactory(
            store=seller.store, category=category, status=status, title=f"Secret {status}"
        )
        for status in HIDDEN_STATUSES
    ]
    return approved, hidden


# --- Anonymous visitors see approved listings only ----------------------------------------------


@pytest.mark.parametrize(
    "url_name",
    ["home", "listing-list", "category", "store", "store-products"],
)
def test_public_pages_show_only_approved_listings(client, seller, mixed_listings, url_name):
    approved, hidden = mixed_listings
    kwargs = {
        "category": {"slug": "ceramics"},
        "store": {"slug": seller.store.slug},
        "store-products": {"slug": seller.store.slug},
    }.get(url_name, {})

    response = client.get(reverse(url_name, kwargs=kwargs))

    assert response.status_code == 200
    html = _html(response)
    assert approved.title in html
    assert "US$25.00" in html
    for listing in hidden:
        assert listing.title not in html


def test_home_lists_categories_with_counts(client, mixed_listings):
    html = _html(client.get(reverse("home")))

    assert 'href="/categories/ceramics/"' in html
    assert re.search(r"Ceramics</span>\s*<span class=\"category-pill__count\">1</span>", html)


def _home_titles(client):
    return re.findall(r'<span class="listing-card__title">(.*?)</span>', _html(client.get("/")))


def test_home_takes_the_newest_listings_from_the_stores_in_turn(client):
    quiet, other = SellerFactory().store, SellerFactory().store
    ListingFactory(store=quiet, title="Quiet old")
    ListingFactory(store=quiet, title="Quiet new")
    ListingFactory(store=other, title="Other only")
    busy = SellerFactory().store
    for n in range(10):  # the newest ten listings on Bazaar, all from one store
        ListingFactory(store=busy, title=f"Busy {n}")
    ListingFactory(store=busy, title="Busy hidden", status=ListingStatus.PENDING_REVIEW)

    # Each store's newest (the most recent store first), then each one's second newest, ...
    assert _home_titles(client) == [
        "Busy 9",
        "Other only",
        "Quiet new",
        "Busy 8",
        "Quiet old",
        "Busy 7",
        "Busy 6",
        "Busy 5",
    ]


def test_home_takes_turns_among_the_newest_listings_only(client, monkeypatch):
    # Not the whole catalogue: a store whose listings are all older than the newest few hundred
    # (here, with 2 candidates per slot, the newest 16) does not reach the home page.
    monkeypatch.setattr(selectors, "HOME_CANDIDATES_PER_SLOT", 2)
    ListingFactory(store=SellerFactory().store, title="Old store's only")
    busy = SellerFactory().store
    for n in range(16):
        ListingFactory(store=busy, title=f"Busy {n}")

    assert "Old store's only" not in _home_titles(client)


@pytest.mark.parametrize("stores", [2, 12])
def test_home_query_count_is_flat(client, django_assert_max_num_queries, stores):
    for _ in range(stores):
        _make_listings(3, store=SellerFactory().store)

    # listings (with store and category), their images, the categories with their counts, and
    # the clock for the cards' published ratings (a sandbox row in tests, free in production) and
    # the ratings
    with django_assert_max_num_queries(5):
        response = client.get(reverse("home"))

    assert _html(response).count('class="card listing-card"') == min(3 * stores, 8)


def test_category_page_lists_only_its_category(client):
    mine = ListingFactory(category=CategoryFactory(slug="prints"), title="Linocut print")
    other = ListingFactory(category=CategoryFactory(slug="mugs"), title="Tall mug")

    html = _html(client.get(reverse("category", kwargs={"slug": "prints"})))

    assert mine.title in html
    assert other.title not in html


def test_unknown_category_is_404(client):
    assert client.get(reverse("category", kwargs={"slug": "no-such-thing"})).status_code == 404


def test_unknown_store_is_404(client):
    for name in ("store", "store-products", "store-about", "store-contact"):
        assert client.get(reverse(name, kwargs={"slug": "nobody"})).status_code == 404


def test_store_pages_show_store_details_and_mark_the_current_tab(client, seller):
    store = seller.store
    store.tagline = "Small-batch stoneware"
    store.about = "We fire everything in a wood kiln."
    store.contact_email = "hello@kiln.example"
    store.contact_phone = "+1 555 0100"
    store.support_url = "https://kiln.example/help"
    store.save()

    home = _html(client.get(reverse("store", kwargs={"slug": store.slug})))
    about = _html(client.get(reverse("store-about", kwargs={"slug": store.slug})))
    contact = _html(client.get(reverse("store-contact", kwargs={"slug": store.slug})))

    assert "Small-batch stoneware" in home
    assert re.search(r'href="/stores/[^"]+/"\s+aria-current="page">Home', home)
    assert "We fire everything in a wood kiln." in about
    assert re.search(r'aria-current="page">About', about)
    # Contact goes through Bazaar's messaging: the email and phone are not published (#15).
    assert "hello@kiln.example" not in contact
    assert "+1 555 0100" not in contact
    assert "Message the seller" in contact
    assert "https://kiln.example/help" in contact


# --- Search, filters, sort, pagination ----------------------------------------------------------


def _titles_in_order(html, titles):
    positions = {title: html.find(title) for title in titles}
    assert all(pos >= 0 for pos in positions.values()), positions
    return sorted(titles, key=positions.get)


def test_search_matches_title_and_description(client):
    ListingFactory(title="Blue teapot", description="Glazed stoneware.")
    ListingFactory(title="Walnut bowl", description="Hand-turned, teapot-sized.")
    ListingFactory(title="Wool scarf", description="Merino.")

    html = _html(client.get(reverse("listing-list"), {"q": "teapot"}))

    assert "Blue teapot" in html
    assert "Walnut bowl" in html
    assert "Wool scarf" not in html
    assert "2 listings" in html


def test_filters_by_kind_price_currency_and_category(client):
    cat = CategoryFactory(slug="design")
    ServiceListingFactory(title="Logo design", price_cents=30000, category=cat)
    ListingFactory(title="Cheap sticker", price_cents=300, category=cat)
    ListingFactory(title="Euro poster", price_cents=1500, currency="eur", category=cat)
    ListingFactory(title="Dollar poster", price_cents=1500)

    def titles(**params):
        html = _html(client.get(reverse("listing-list"), params))
        names = ["Logo design", "Cheap sticker", "Euro poster", "Dollar poster"]
        return {name for name in names if name in html}

    assert titles(kind="service") == {"Logo design"}
    assert titles(min_price="10", max_price="20") == {"Euro poster", "Dollar poster"}
    assert titles(currency="eur") == {"Euro poster"}
    assert titles(category="design", max_price="5") == {"Cheap sticker"}


def test_sort_orders_results(client):
    for title, cents in [("Middle", 2000), ("Cheapest", 100), ("Dearest", 90000)]:
        ListingFactory(title=f"Item {title}", price_cents=cents)
    titles = ["Item Middle", "Item Cheapest", "Item Dearest"]

    asc = _html(client.get(reverse("listing-list"), {"sort": "price_asc"}))
    desc = _html(client.get(reverse("listing-list"), {"sort": "price_desc"}))

    assert _titles_in_order(asc, titles) == ["Item Cheapest", "Item Middle", "Item Dearest"]
    assert _titles_in_order(desc, titles) == ["Item Dearest", "Item Middle", "Item Cheapest"]


def test_invalid_filter_value_shows_an_error_not_a_500(client):
    ListingFactory(title="Still listed")

    response = client.get(reverse("listing-list"), {"min_price": "lots"})

    assert response.status_code == 200
    assert _field_errors(response, "min_price") == ["Enter a number."]
    assert "Still listed" in _html(response)


def _filters_summary(response):
    match = re.search(r'<summary class="filters-toggle">(.*?)</summary>', _html(response), re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_the_filters_toggle_counts_the_filters_that_narrow_the_list(client):
    category = CategoryFactory(slug="ceramics")
    ListingFactory(category=category)

    assert _filters_summary(client.get(reverse("listing-list"))) == "Filters"
    # Sorting and empty fields narrow nothing; a search, a kind and a price do.
    response = client.get(
        reverse("listing-list"),
        {"q": "mug", "kind": "product", "min_price": "5", "max_price": "", "sort": "title"},
    )
    assert _filters_summary(response) == "Filters (3 active)"
    # A category page does not offer the category filter: a category in the query is not counted.
    response = client.get(category.get_absolute_url(), {"category": "ceramics", "kind": "product"})
    assert _filters_summary(response) == "Filters (1 active)"


def test_empty_search_shows_empty_state(client):
    ListingFactory(title="Something")

    html = _html(client.get(reverse("listing-list"), {"q": "zzzzzz"}))

    assert "No listings match your search." in html
    assert "Something" not in html


# Paging of the browse pages: marketplace/tests/test_pages_paging.py.


# --- Listing detail -----------------------------------------------------------------------------


def test_listing_detail_shows_price_kind_stock_and_store(client):
    listing = ListingFactory(title="Oak stool", price_cents=12050, stock=3)
    ListingImageFactory(listing=listing, alt_text="The stool from the side")

    html = _html(client.get(listing.get_absolute_url()))

    assert "Oak stool" in html
    assert "US$120.50" in html
    assert "3 in stock" in html
    assert 'alt="The stool from the side"' in html
    assert f'href="/stores/{listing.store.slug}/"' in html
    assert "<button" not in html.split('id="buy-box"')[1].split("</div>")[0]


@pytest.mark.parametrize(("minutes", "shown"), [(90, "1 hour 30 minutes"), (600, "10 hours")])
def test_service_detail_shows_duration_as_people_say_it(client, minutes, shown):
    listing = ServiceListingFactory(duration_minutes=minutes)

    assert f"<dd>{shown}</dd>" in _html(client.get(listing.get_absolute_url()))


def test_draft_listing_is_404_for_anonymous_and_others_but_visible_to_its_seller(client, seller):
    draft = ListingFactory(store=seller.store, status=ListingStatus.DRAFT, title="Unfinished")

    assert client.get(draft.get_absolute_url()).status_code == 404
    client.force_login(UserFactory())
    assert client.get(draft.get_absolute_url()).status_code == 404

    client.force_login(seller)
    response = client.get(draft.get_absolute_url())
    assert response.status_code == 200
    assert 'class="status-banner status-banner--draft"' in _html(response)


def test_rejected_listing_shows_reason_to_seller_and_staff(client, seller):
    rejected = ListingFactory(
        store=seller.store,
        status=ListingStatus.REJECTED,
        rejection_reason="Photos show a different item.",
    )

    for user in (seller, StaffFactory()):
        client.force_login(user)
        html = _html(client.get(rejected.get_absolute_url()))
        assert "Photos show a different item." in html


def test_pending_listing_banner_for_staff(client):
    pending = ListingFactory(status=ListingStatus.PENDING_REVIEW)
    client.force_login(StaffFactory())

    html = _html(client.get(pending.get_absolute_url()))

    assert "Pending review" in html


# --- Seller dashboard ---------------------------------------------------------------------------


def test_dashboard_requires_login(client):
    response = client.get(reverse("seller-dashboard"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_dashboard_offers_onboarding_to_non_sellers(client):
    client.force_login(UserFactory())

    html = _html(client.get(reverse("seller-dashboard")))

    assert f'href="{reverse("seller-onboard")}"' in html
    assert "Become a seller" in html


def test_dashboard_lists_own_listings_in_every_status(seller_client, seller, mixed_listings):
    approved, hidden = mixed_listings
    Listing.objects.filter(status=ListingStatus.REJECTED).update(rejection_reason="Blurry photo")
    someone_else = ListingFactory(title="Not my listing")

    html = _html(seller_client.get(reverse("seller-dashboard")))

    for listing in [approved, *hidden]:
        assert listing.title in html
        assert f'badge--{listing.status}"' in html
    assert "Blurry photo" in html
    assert someone_else.title not in html


def test_create_listing_converts_major_units_to_cents(seller_client, seller):
    category = CategoryFactory()

    response = seller_client.post(
        reverse("seller-listing-create"),
        {
            "title": "Speckled mug",
            "kind": "product",
            "category": category.pk,
            "description": "Holds 350 ml.",
            "price": "12.50",
            "currency": "usd",
            "stock": "4",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("seller-dashboard")
    listing = Listing.objects.get(title="Speckled mug")
    assert listing.price_cents == 1250
    assert listing.store == seller.store
    assert listing.status == ListingStatus.DRAFT
    assert listing.stock == 4


def test_create_and_submit_for_review(seller_client):
    seller_client.post(
        reverse("seller-listing-create"),
        {
            "title": "Portrait session",
            "kind": "service",
            "description": "One hour in the studio.",
            "price": "80",
            "currency": "eur",
            "duration_minutes": "60",
            "submit_for_review": "1",
        },
    )

    listing = Listing.objects.get(title="Portrait session")
    assert listing.status == ListingStatus.PENDING_REVIEW
    assert (listing.price_cents, listing.currency) == (8000, "eur")


def test_create_form_defaults_to_sellers_currency(seller_client, seller):
    seller.seller_profile.default_currency = "gbp"
    seller.seller_profile.save()

    html = _html(seller_client.get(reverse("seller-listing-create")))

    assert '<option value="gbp" selected>GBP</option>' in html


def test_non_seller_is_sent_to_onboarding_from_create(client):
    client.force_login(UserFactory())

    response = client.get(reverse("seller-listing-create"))

    assert response.status_code == 302
    assert response["Location"] == reverse("seller-onboard")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"price": "abc"}, "price", "Enter a number."),
        ({"price": "0"}, "price", "The price must be a whole number of cents, at least 1."),
        ({"price": "12.505"}, "price", "USD amounts have at most 2 decimal places."),
        ({"title": ""}, "title", "This field is required."),
        ({"description": "   "}, "description", "This field is required."),
        (
            {"kind": "service", "stock": "3"},
            "stock",
            "Services have no stock; leave it empty.",
        ),
        (
            {"kind": "service"},
            "duration_minutes",
            "Say how many minutes the service takes.",
        ),
        (
            {"duration_minutes": "30"},
            "duration_minutes",
            "Products have no duration; leave it empty.",
        ),
    ],
)
def test_bad_listing_input_shows_error_next_to_field(seller_client, data, field, message):
    valid = {
        "title": "Mug",
        "kind": "product",
        "description": "A mug.",
        "price": "10",
        "currency": "usd",
    }

    response = seller_client.post(reverse("seller-listing-create"), valid | data)

    assert response.status_code == 200
    assert _field_errors(response, field) == [message]
    assert 'aria-invalid="true"' in _html(response)
    assert not Listing.objects.exists()


def test_edit_listing_prefills_and_saves(seller_client, seller):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT, price_cents=2500)
    url = reverse("seller-listing-edit", kwargs={"pk": listing.pk})

    form_html = _html(seller_client.get(url))
    response = seller_client.post(
        url,
        {
            "title": "Renamed",
            "kind": "product",
            "description": listing.description,
            "price": "19.99",
            "currency": "usd",
            "stock": "",
        },
    )

    assert 'name="price" value="25.00"' in form_html
    assert response.status_code == 302
    listing.refresh_from_db()
    assert (listing.title, listing.price_cents, listing.stock) == ("Renamed", 1999, None)


def test_editing_an_approved_listings_title_sends_it_back_to_review(seller_client, seller):
    listing = ListingFactory(store=seller.store, title="Old title")

    seller_client.post(
        reverse("seller-listing-edit", kwargs={"pk": listing.pk}),
        {
            "title": "New title",
            "kind": "product",
            "description": listing.description,
            "price": "25.00",
            "currency": "usd",
            "stock": "10",
        },
        follow=True,
    )

    listing.refresh_from_db()
    assert listing.status == ListingStatus.PENDING_REVIEW


def test_editing_archived_listing_shows_error_not_500(seller_client, seller):
    listing = ListingFactory(store=seller.store, status=ListingStatus.ARCHIVED, title="Old")

    response = seller_client.post(
        reverse("seller-listing-edit", kwargs={"pk": listing.pk}),
        {"title": "New", "kind": "product", "description": "d", "price": "1", "currency": "usd"},
    )

    assert response.status_code == 200
    assert "Restore this listing before editing it." in _html(response)
    listing.refresh_from_db()
    assert listing.title == "Old"


def test_another_sellers_listing_is_404_for_every_seller_url(seller_client):
    other = ListingFactory(status=ListingStatus.DRAFT)
    image = ListingImageFactory(listing=other)

    assert seller_client.get(reverse("seller-listing-edit", args=[other.pk])).status_code == 404
    assert seller_client.post(reverse("seller-listing-edit", args=[other.pk])).status_code == 404
    assert seller_client.get(reverse("seller-listing-images", args=[other.pk])).status_code == 404
    for name in (
        "seller-listing-submit",
        "seller-listing-withdraw",
        "seller-listing-archive",
        "seller-listing-restore",
    ):
        assert seller_client.post(reverse(name, args=[other.pk])).status_code == 404
    delete_url = reverse("seller-listing-image-delete", args=[other.pk, image.pk])
    assert seller_client.post(delete_url).status_code == 404
    other.refresh_from_db()
    assert other.status == ListingStatus.DRAFT
    assert ListingImage.objects.filter(pk=image.pk).exists()


def test_submit_withdraw_archive_restore_buttons(seller_client, seller):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)

    def press(name):
        response = seller_client.post(reverse(name, args=[listing.pk]))
        assert response.status_code == 302
        listing.refresh_from_db()
        return listing.status

    assert press("seller-listing-submit") == ListingStatus.PENDING_REVIEW
    assert press("seller-listing-withdraw") == ListingStatus.DRAFT
    assert press("seller-listing-archive") == ListingStatus.ARCHIVED
    assert press("seller-listing-restore") == ListingStatus.DRAFT


def test_action_urls_refuse_get(seller_client, seller):
    listing = ListingFactory(store=seller.store, status=ListingStatus.DRAFT)

    response = seller_client.get(reverse("seller-listing-submit", args=[listing.pk]))

    assert response.status_code == 405
    listing.refresh_from_db()
    assert listing.status == ListingStatus.DRAFT


def test_illegal_move_shows_a_message_not_a_500(seller_client, seller):
    listing = ListingFactory(store=seller.store, status=ListingStatus.APPROVED)

    response = seller_client.post(
        reverse("seller-listing-withdraw", args=[listing.pk]), follow=True
    )

    assert response.status_code == 200
    assert "Only a listing waiting for review can be withdrawn." in _html(response)
    listing.refresh_from_db()
    assert listing.status == ListingStatus.APPROVED


def test_upload_and_remove_listing_image(seller_client, seller):
    listing = ListingFactory(store=seller.store)
    url = reverse("seller-listing-images", args=[listing.pk])
    response = seller_client.post(
        url,
        {
            "image": SimpleUploadedFile("mug.png", _png_bytes(), "image/png"),
            "alt_text": "Mug, front",
        },
    )

    assert response.status_code == 302
    image = listing.images.get()
    assert image.alt_text == "Mug, front"
    assert 'alt="Mug, front"' in _html(seller_client.get(url))

    seller_client.post(reverse("seller-listing-image-delete", args=[listing.pk, image.pk]))
    assert not listing.images.exists()


def test_upload_rejects_a_file_that_is_not_an_image(seller_client, seller):
    listing = ListingFactory(store=seller.store)

    response = seller_client.post(
        reverse("seller-listing-images", args=[listing.pk]),
        {"image": SimpleUploadedFile("notes.png", b"not an image", "image/png")},
    )

    assert response.status_code == 200
    assert _field_errors(response, "image")
    assert not listing.images.exists()


def test_upload_over_the_image_limit_shows_error(seller_client, seller, settings):
    settings.BAZAAR_MAX_LISTING_IMAGES = 1
    listing = ListingFactory(store=seller.store)
    ListingImageFactory(listing=listing)

    response = seller_client.post(
        reverse("seller-listing-images", args=[listing.pk]),
        {"image": SimpleUploadedFile("b.png", _png_bytes(), "image/png")},
    )

    assert response.status_code == 200
    assert _field_errors(response, "image") == ["A listing has at most 1 images."]
    assert listing.images.count() == 1


def _png_bytes():
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def test_store_edit_updates_store(seller_client, seller):
    response = seller_client.post(
        reverse("seller-store-edit"),
        {
            "name": "Kiln & Co",
            "tagline": "Stoneware for every day",
            "description": "",
            "about": "",
            "contact_email": "shop@kiln.example",
            "contact_phone": "",
            "support_url": "",
            "default_cancellation_policy": "flexible",
        },
    )

    assert response.status_code == 302
    seller.store.refresh_from_db()
    assert seller.store.name == "Kiln & Co"
    assert seller.store.tagline == "Stoneware for every day"
    assert seller.store.contact_email == "shop@kiln.example"


def test_store_edit_shows_field_errors(seller_client, seller):
    old_name = seller.store.name

    response = seller_client.post(
        reverse("seller-store-edit"),
        {"name": "", "contact_email": "not-an-email", "support_url": "nope nope"},
    )

    assert response.status_code == 200
    assert _field_errors(response, "name") == ["This field is required."]
    assert _field_errors(response, "contact_email") == ["Enter a valid email address."]
    seller.store.refresh_from_db()
    assert seller.store.name == old_name


# --- Strict CSP: templates carry no inline script or style --------------------------------------


def test_pages_have_no_inline_scripts_or_styles(seller_client, seller):
    listing = ListingFactory(store=seller.store)
    urls = [
        reverse("home"),
        reverse("listing-list"),
        listing.get_absolute_url(),
        reverse("store", kwargs={"slug": seller.store.slug}),
        reverse("seller-dashboard"),
        reverse("seller-listing-create"),
        reverse("seller-listing-edit", args=[listing.pk]),
        reverse("seller-listing-images", args=[listing.pk]),
        reverse("seller-store-edit"),
    ]
    for url in urls:
        html = _html(seller_client.get(url))
        assert " style=" not in html, url
        assert "<style" not in html, url
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert 'id="topbar-notifications"' in html


# --- Query counts stay flat as rows grow --------------------------------------------------------


def _make_listings(n, store=None):
    for _ in range(n):
        listing = ListingFactory(**({"store": store} if store else {}))
        ListingImageFactory(listing=listing)


# a count capped at BAZAAR_BROWSE_COUNT_CAP, page of listings, their images, the category choices
# (or the store on store pages, which count nothing), and the clock and the page's ratings
# (reviews) (the clock once more on store pages, for the store's rating).
LIST_PAGE_QUERIES = 6
# The browse page adds its facets: counts per category, then per kind and price bucket.
BROWSE_PAGE_QUERIES = LIST_PAGE_QUERIES + 2


@pytest.mark.parametrize("rows", [3, 30])
def test_listing_list_query_count_is_flat(client, settings, django_assert_max_num_queries, rows):
    _make_listings(rows)

    with django_assert_max_num_queries(BROWSE_PAGE_QUERIES):
        response = client.get(reverse("listing-list"), {"sort": "price_asc"})

    assert response.status_code == 200
    assert _html(response).count('class="card listing-card"') == min(
        rows, settings.BAZAAR_PAGE_SIZE
    )


@pytest.mark.parametrize("rows", [3, 30])
def test_store_products_query_count_is_flat(client, settings, django_assert_max_num_queries, rows):
    seller = SellerFactory()
    _make_listings(rows, store=seller.store)

    with django_assert_max_num_queries(LIST_PAGE_QUERIES):
        response = client.get(reverse("store-products", kwargs={"slug": seller.store.slug}))

    assert response.status_code == 200
    assert _html(response).count('class="card listing-card"') == min(
        rows, settings.BAZAAR_PAGE_SIZE
    )


@pytest.mark.parametrize("rows", [3, 30])
def test_seller_dashboard_query_count_is_flat(
    client, settings, django_assert_max_num_queries, rows
):
    seller = SellerFactory()
    _make_listings(rows, store=seller.store)
    client.force_login(seller)

    # session, user, seller profile, store + count, page of listings, their images, plus the
    # signed-in top bar's notification bell (unread count and latest notifications) and
    # Messages badge (unread total), and the Stripe payouts status panel (the seller's connected
    # account), and the clock (reviews), and the listings' Amazon sync badges (amazon_sync's
    # tag: one query for the page), and the page's ratings.
    with django_assert_max_num_queries(14):
        response = client.get(reverse("seller-dashboard"))

    assert response.status_code == 200
    assert _html(response).count('class="seller-listing card"') == min(
        rows, settings.BAZAAR_PAGE_SIZE
    )


# --- The money template filter ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "currency", "shown"),
    [
        (1250, "usd", "US$12.50"),
        (123456, "eur", "€1,234.56"),
        (500, "jpy", "¥500"),
        (None, "usd", ""),
    ],
)
def test_money_filter(cents, currency, shown):
    from django.template import Context, Template

    template = Template("{% load money %}{{ cents|money:currency }}")

    assert template.render(Context({"cents": cents, "currency": currency})) == shown
