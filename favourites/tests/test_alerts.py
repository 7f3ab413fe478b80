"""People who saved a listing hear when its price drops or it comes back in stock: raised by the
catalogue's services (the seller's edit, an order giving its stock back), fanned out by a task."""

import pytest
from django.core import mail

from accounts.factories import UserFactory
from escrow.services.orders import order_cancel_unpaid
from escrow.testing import place_order
from favourites.factories import ListingFavouriteFactory
from favourites.models import ListingFavourite
from marketplace import services as catalogue
from marketplace.factories import ListingFactory
from marketplace.models import ListingStatus
from notifications.events import EmailMode
from notifications.models import Notification
from notifications.services import preference_set

pytestmark = pytest.mark.django_db

DROP = "favourite.price_dropped"
RESTOCK = "favourite.back_in_stock"


def alerts(code, user=None):
    rows = Notification.objects.filter(event_code=code)
    return rows.filter(recipient=user) if user else rows


def edit(listing, run, **fields):
    with run(execute=True):
        return catalogue.listing_update(listing=listing, actor=listing.store.owner, **fields)


def test_a_price_drop_tells_each_saver_in_app_and_by_email_with_both_prices(
    django_capture_on_commit_callbacks,
):
    listing = ListingFactory(title="Blue mug", price_cents=2500, currency="eur")
    first, second = (
        ListingFavouriteFactory(listing=listing),
        ListingFavouriteFactory(listing=listing),
    )

    edit(listing, django_capture_on_commit_callbacks, price_cents=1999)

    for favourite in (first, second):
        (note,) = alerts(DROP, favourite.user)
        assert note.title == "“Blue mug” is now €19.99"
        assert note.message == "The price dropped from €25.00 to €19.99."
        assert note.action_url == listing.get_absolute_url()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([first.user.email, second.user.email])
    assert "from €25.00 to €19.99" in mail.outbox[0].body
    assert mail.outbox[0].subject == "Price drop: “Blue mug” is now €19.99"


def test_a_price_increase_tells_nobody(django_capture_on_commit_callbacks):
    listing = ListingFactory(price_cents=2500)
    ListingFavouriteFactory(listing=listing)

    edit(listing, django_capture_on_commit_callbacks, price_cents=2600)

    assert not alerts(DROP).exists()
    assert mail.outbox == []


def test_a_new_currency_is_not_a_price_drop(django_capture_on_commit_callbacks):
    listing = ListingFactory(price_cents=2500, currency="usd")
    ListingFavouriteFactory(listing=listing)

    edit(listing, django_capture_on_commit_callbacks, price_cents=2000, currency="gbp")

    assert not alerts(DROP).exists()


def test_the_seller_who_saved_their_own_listing_is_not_told(django_capture_on_commit_callbacks):
    listing = ListingFactory(price_cents=2500)
    ListingFavouriteFactory(listing=listing, user=listing.store.owner)
    buyer_saved = ListingFavouriteFactory(listing=listing)

    edit(listing, django_capture_on_commit_callbacks, price_cents=2000)

    assert not alerts(DROP, listing.store.owner).exists()
    assert alerts(DROP, buyer_saved.user).count() == 1


def test_someone_who_turned_the_alert_off_hears_nothing(django_capture_on_commit_callbacks):
    listing = ListingFactory(price_cents=2500, stock=0)
    muted, told = UserFactory(), UserFactory()
    for user in (muted, told):
        ListingFavouriteFactory(listing=listing, user=user)
    preference_set(user=muted, event_code=DROP, email_mode=EmailMode.MUTED)
    preference_set(user=muted, event_code=RESTOCK, email_mode=EmailMode.MUTED)

    edit(listing, django_capture_on_commit_callbacks, price_cents=2000, stock=4)

    assert not Notification.objects.filter(recipient=muted).exists()
    assert [m.to for m in mail.outbox if muted.email in m.to] == []
    assert alerts(DROP, told).count() == 1
    assert alerts(RESTOCK, told).count() == 1


def test_email_off_keeps_the_alert_in_app_only(django_capture_on_commit_callbacks):
    listing = ListingFactory(price_cents=2500)
    favourite = ListingFavouriteFactory(listing=listing)
    preference_set(user=favourite.user, event_code=DROP, email_mode=EmailMode.OFF)

    edit(listing, django_capture_on_commit_callbacks, price_cents=2000)

    assert alerts(DROP, favourite.user).count() == 1
    assert mail.outbox == []


def test_a_price_drop_that_sends_the_listing_to_review_tells_nobody(
    django_capture_on_commit_callbacks,
):
    listing = ListingFactory(price_cents=2500)
    ListingFavouriteFactory(listing=listing)

    # A new title needs review: buyers cannot see the listing, so nobody is sent to it.
    edit(listing, django_capture_on_commit_callbacks, price_cents=2000, title="Renamed")

    assert not alerts(DROP).exists()


def test_the_seller_restocking_a_sold_out_listing_tells_savers(django_capture_on_commit_callbacks):
    listing = ListingFactory(title="Blue mug", stock=0, price_cents=1250, currency="usd")
    favourite = ListingFavouriteFactory(listing=listing)

    edit(listing, django_capture_on_commit_callbacks, stock=3)

    (note,) = alerts(RESTOCK, favourite.user)
    assert note.title == "“Blue mug” is back in stock"
    assert note.message == "3 available at US$12.50."
    assert len(mail.outbox) == 1


def test_more_stock_on_a_listing_that_was_not_sold_out_tells_nobody(
    django_capture_on_commit_callbacks,
):
    listing = ListingFactory(stock=2)
    ListingFavouriteFactory(listing=listing)

    edit(listing, django_capture_on_commit_callbacks, stock=5)

    assert not alerts(RESTOCK).exists()


def test_a_sale_that_leaves_stock_tells_nobody_and_one_that_is_called_off_neither(
    listing, buyer, django_capture_on_commit_callbacks
):
    ListingFavouriteFactory(listing=listing)  # stock 5

    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=2)
        order_cancel_unpaid(order=order, actor=buyer)

    listing.refresh_from_db()
    assert listing.stock == 5
    assert not alerts(RESTOCK).exists()
    assert not alerts(DROP).exists()


def test_an_order_of_the_last_items_called_off_brings_the_listing_back_in_stock(
    listing, buyer, django_capture_on_commit_callbacks
):
    favourite = ListingFavouriteFactory(listing=listing)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(buyer=buyer, listing_id=listing.pk, quantity=5)
    listing.refresh_from_db()
    assert listing.stock == 0
    assert not alerts(RESTOCK).exists()

    with django_capture_on_commit_callbacks(execute=True):
        order_cancel_unpaid(order=order, actor=buyer)

    (note,) = alerts(RESTOCK, favourite.user)
    assert note.message == "5 available at US$25.00."


def test_nothing_is_sent_before_the_sellers_change_commits(django_capture_on_commit_callbacks):
    listing = ListingFactory(price_cents=2500)
    ListingFavouriteFactory(listing=listing)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        catalogue.listing_update(listing=listing, actor=listing.store.owner, price_cents=2000)
        assert not alerts(DROP).exists()

    assert callbacks  # the announcement waits for the commit
    for callback in callbacks:
        callback()
    assert alerts(DROP).count() == 1


def test_an_archived_listing_is_not_announced_even_if_its_price_changed_before(
    django_capture_on_commit_callbacks,
):
    listing = ListingFactory(price_cents=2500, status=ListingStatus.APPROVED)
    ListingFavouriteFactory(listing=listing)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        catalogue.listing_update(listing=listing, actor=listing.store.owner, price_cents=2000)
    catalogue.listing_archive(listing=listing, actor=listing.store.owner)

    for callback in callbacks:  # the task runs after the seller archived it
        callback()

    assert not alerts(DROP).exists()
    assert ListingFavourite.objects.count() == 1
