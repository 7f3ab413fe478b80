"""The save buttons on listing pages, cards and store headers, and the Saved page."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.factories import StaffFactory, UserFactory
from favourites.factories import ListingFavouriteFactory, StoreFavouriteFactory
from favourites.models import ListingFavourite, StoreFavourite
from marketplace.factories import ListingFactory, ListingImageFactory, StoreFactory
from marketplace.models import ListingStatus

pytestmark = pytest.mark.django_db

SAVED = reverse("favourites:saved")


def save_url(listing):
    return reverse("favourites:listing-save", kwargs={"pk": listing.pk})


def unsave_url(listing):
    return reverse("favourites:listing-unsave", kwargs={"pk": listing.pk})


@pytest.fixture
def user(client):
    user = UserFactory()
    client.force_login(user)
    return user


def test_saving_from_the_listing_page_returns_there_and_twice_keeps_one(client, user):
    listing = ListingFactory(title="Blue mug")
    page = listing.get_absolute_url()

    first = client.post(save_url(listing), {"next": page})
    client.post(save_url(listing), {"next": page})

    assert first.status_code == 302
    assert first.url == page
    assert ListingFavourite.objects.filter(user=user, listing=listing).count() == 1
    html = client.get(page).content.decode()
    assert f'action="{unsave_url(listing)}"' in html
    assert "Saved" in html


def test_the_listing_page_offers_save_to_a_person_who_has_not_saved_it(client, user):
    listing = ListingFactory()

    html = client.get(listing.get_absolute_url()).content.decode()

    assert f'action="{save_url(listing)}"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_unsaving_removes_it_and_says_so(client, user):
    favourite = ListingFavouriteFactory(user=user)

    response = client.post(unsave_url(favourite.listing), {"next": SAVED})

    assert response.url == SAVED
    assert not ListingFavourite.objects.exists()
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Removed from your saved listings."
    ]


def test_a_listing_not_on_sale_cannot_be_saved_and_the_page_says_why(client, user):
    listing = ListingFactory(status=ListingStatus.ARCHIVED)

    response = client.post(save_url(listing), follow=True)

    assert not ListingFavourite.objects.exists()
    assert "This listing is not on sale, so it cannot be saved." in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in_and_brought_back(client):
    listing = ListingFactory()
    page = listing.get_absolute_url()

    html = client.get(page).content.decode()
    response = client.post(save_url(listing), {"next": page})

    assert f'href="{reverse("login")}?next={page}"' in html
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={page}"
    assert not ListingFavourite.objects.exists()
    assert client.get(SAVED).url.startswith(reverse("login"))


def test_every_card_links_to_log_in_and_back_to_the_same_page_with_its_query(client):
    ListingFactory.create_batch(3)
    page = reverse("listing-list") + "?sort=title&min_price=0"

    html = client.get(page).content.decode()

    login = f'href="{reverse("login")}?next=/listings/%3Fsort%3Dtitle%26min_price%3D0"'
    assert html.count(login) == 3


def test_next_off_this_site_is_ignored(client, user):
    listing = ListingFactory()

    response = client.post(save_url(listing), {"next": "https://evil.example/"})

    assert response.url == listing.get_absolute_url()


def test_the_script_gets_json_instead_of_a_redirect(client, user):
    listing = ListingFactory(title="Blue mug")

    response = client.post(save_url(listing), headers={"X-Requested-With": "favourites"})
    refused = client.post(
        save_url(ListingFactory(status=ListingStatus.DRAFT)),
        headers={"X-Requested-With": "favourites"},
    )

    assert response.json() == {
        "saved": True,
        "action": unsave_url(listing),
        "message": "“Blue mug” is in your saved listings.",
    }
    assert refused.status_code == 400
    assert "listing_id" in refused.json()["errors"]


def test_cards_show_which_listings_are_saved(client, user):
    saved, other = ListingFactory(), ListingFactory()
    ListingFavouriteFactory(user=user, listing=saved)

    html = client.get(reverse("listing-list")).content.decode()

    assert f'action="{unsave_url(saved)}"' in html
    assert f'action="{save_url(other)}"' in html


def test_stores_are_saved_from_their_header_and_unsaved(client, user):
    store = StoreFactory(name="Okafor Ceramics")
    page = reverse("store", kwargs={"slug": store.slug})
    save = reverse("favourites:store-save", kwargs={"slug": store.slug})
    unsave = reverse("favourites:store-unsave", kwargs={"slug": store.slug})

    assert f'action="{save}"' in client.get(page).content.decode()
    client.post(save, {"next": page})
    client.post(save, {"next": page})
    assert StoreFavourite.objects.filter(user=user, store=store).count() == 1
    assert f'action="{unsave}"' in client.get(page).content.decode()
    client.post(unsave, {"next": page})
    assert not StoreFavourite.objects.exists()


def test_saving_an_unknown_store_is_a_message_not_an_error(client, user):
    response = client.post(
        reverse("favourites:store-save", kwargs={"slug": "no-such-store"}), follow=True
    )

    assert response.status_code == 200
    assert "There is no such store." in response.content.decode()


def test_the_saved_page_lists_only_the_persons_own_listings_and_stores(client, user):
    mine = ListingFavouriteFactory(user=user, listing=ListingFactory(title="My blue mug"))
    ListingFavouriteFactory(listing=ListingFactory(title="Their green bowl"))
    ListingFavouriteFactory(
        user=user, listing=ListingFactory(title="Gone vase", status=ListingStatus.ARCHIVED)
    )
    StoreFavouriteFactory(user=user, store=StoreFactory(name="My saved store"))
    StoreFavouriteFactory(store=StoreFactory(name="Their saved store"))

    html = client.get(SAVED).content.decode()

    assert "My blue mug" in html
    assert "My saved store" in html
    assert "Their green bowl" not in html
    assert "Their saved store" not in html
    assert "Gone vase" not in html
    assert f'action="{unsave_url(mine.listing)}"' in html


def test_the_saved_page_pages_each_section_on_its_own(client, user, settings):
    settings.BAZAAR_PAGE_SIZE = 2
    for n in range(3):
        ListingFavouriteFactory(user=user, listing=ListingFactory(title=f"Mug {n}"))
    for n in range(3):
        StoreFavouriteFactory(user=user, store=StoreFactory(name=f"Shop {n}"))

    first = client.get(SAVED).content.decode()
    second = client.get(SAVED, {"listings_page": 2}).content.decode()

    assert "Mug 2" in first and "Mug 0" not in first
    assert "Mug 0" in second and "Mug 2" not in second
    assert "Shop 2" in second and "Shop 0" not in second  # the stores stay on their first page
    assert "listings_page=2" in first and "stores_page=2" in first


def test_the_account_menu_links_to_the_saved_page(client, user):
    assert f'href="{SAVED}"' in client.get(reverse("home")).content.decode()


@pytest.mark.parametrize("rows", [1, 10])
def test_the_saved_page_query_count_stays_flat(client, user, django_assert_max_num_queries, rows):
    for _ in range(rows):
        ListingFavouriteFactory(user=user, listing=ListingImageFactory().listing)
        StoreFavouriteFactory(user=user)

    # session, user, (listings) count, page, images, (stores) count, page, stores with counts,
    # the hearts' saved ids, the header's bell and messages badge, and the ratings' clock (a
    # sandbox row in tests): whatever the rows
    with django_assert_max_num_queries(13):
        response = client.get(SAVED)

    assert response.status_code == 200
    assert response.content.decode().count("data-favourite-form") == rows


@pytest.mark.parametrize("rows", [1, 10])
def test_the_hearts_on_a_page_of_cards_cost_one_query(
    client, user, django_assert_max_num_queries, rows
):
    for _ in range(rows):
        ListingFavouriteFactory(user=user, listing=ListingImageFactory().listing)

    # The browse page's own queries (with the ratings' clock and its facets' two), plus one for
    # the saved ids of every heart on it.
    with django_assert_max_num_queries(14):
        response = client.get(reverse("listing-list"))

    assert response.content.decode().count("favourites/listings/") == rows


# --- Admin --------------------------------------------------------------------------------------


def test_staff_find_favourites_by_user_and_listing_but_cannot_edit_them(client):
    client.force_login(StaffFactory())
    favourite = ListingFavouriteFactory(
        user=UserFactory(email="sam@example.com"), listing=ListingFactory(title="Blue mug")
    )
    ListingFavouriteFactory(listing=ListingFactory(title="Green bowl"))
    changelist = reverse("admin:favourites_listingfavourite_changelist")

    by_user = client.get(changelist, {"q": "sam@example"}).content.decode()
    by_listing = client.get(changelist, {"q": "Blue mug"}).content.decode()
    stores = client.get(reverse("admin:favourites_storefavourite_changelist"), {"q": "x"})
    add = client.get(reverse("admin:favourites_listingfavourite_add"))
    change = client.post(
        reverse("admin:favourites_listingfavourite_change", args=[favourite.pk]), {}
    )

    assert "Blue mug" in by_user and "Green bowl" not in by_user
    assert "sam@example.com" in by_listing and "Green bowl" not in by_listing
    assert stores.status_code == 200
    assert add.status_code == 403
    assert change.status_code == 403
    assert ListingFavourite.objects.filter(pk=favourite.pk, user__email="sam@example.com").exists()
