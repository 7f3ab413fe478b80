import hashlib
import re
from datetime import timedelta
from io import BytesIO, StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from accounts.models import SellerProfile, User
from config.demo_pictures import listing_picture
from config.management.commands.seed_demo import DEMO_PASSWORD, STAFF_EMAIL
from core import clock
from core.models import AuditEntry
from marketplace.models import (
    Category,
    Listing,
    ListingImage,
    ListingKind,
    ListingStatus,
    Store,
)
from marketplace.selectors import listing_public_queryset

pytestmark = pytest.mark.django_db


def seed():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts():
    # Every table, not only the catalogue's: a notification or an audit entry written again on
    # the second run would count as "something new" too.
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_seed_demo_builds_a_marketplace_to_click_through():
    output = seed()

    staff = User.objects.get(email=STAFF_EMAIL)
    assert staff.is_staff and staff.is_superuser
    assert SellerProfile.objects.count() == 3
    assert Store.objects.count() == 3
    buyers = User.objects.filter(is_staff=False, seller_profile__isnull=True)
    assert buyers.count() == 2
    assert Category.objects.count() >= 6

    approved = Listing.objects.filter(status=ListingStatus.APPROVED)
    assert approved.count() >= 20
    assert listing_public_queryset().count() == approved.count()
    assert {ListingKind.PRODUCT, ListingKind.SERVICE} <= set(
        approved.values_list("kind", flat=True)
    )
    assert Listing.objects.filter(status=ListingStatus.PENDING_REVIEW).count() >= 2
    rejected = Listing.objects.get(status=ListingStatus.REJECTED)
    assert rejected.rejection_reason
    assert rejected.reviewed_by == staff
    assert set(approved.values_list("reviewed_by", flat=True)) == {staff.pk}

    # Every listing has a real picture on storage, and went through the services' audit trail.
    for listing in Listing.objects.prefetch_related("images"):
        [image] = listing.images.all()
        assert image.image.storage.exists(image.image.name)
        assert image.image.width > 0
        assert listing.title in image.alt_text
    assert (
        AuditEntry.objects.filter(action="marketplace.listing.approved").count() == approved.count()
    )

    assert "Demo logins" in output
    assert DEMO_PASSWORD in output
    for email in User.objects.values_list("email", flat=True):
        assert email in output
    # `make run` prints the same table again once the site answers (bin/run_dev.py).
    logins = (Path(settings.VAR_DIR) / "demo-logins.txt").read_text()
    assert logins.startswith("Demo logins")
    assert STAFF_EMAIL in logins


def test_every_demo_login_works(client):
    seed()
    for user in User.objects.all():
        # Through the login page, as the README tells people to.
        response = client.post(
            reverse("login"), {"username": user.email, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302, user.email
        assert client.session["_auth_user_id"] == str(user.pk)
        client.post(reverse("logout"))


def test_sellers_prices_are_in_their_own_currency():
    seed()
    for profile in SellerProfile.objects.select_related("user__store"):
        currencies = set(profile.user.store.listings.values_list("currency", flat=True))
        assert currencies == {profile.default_currency}
    assert SellerProfile.objects.values("default_currency").distinct().count() == 3


def test_running_seed_demo_twice_creates_nothing_new_and_still_prints_the_logins():
    seed()
    first = row_counts()
    statuses = dict(Listing.objects.values_list("title", "status"))

    output = seed()

    assert row_counts() == first
    assert first["marketplace.Listing"] >= 20
    assert dict(Listing.objects.values_list("title", "status")) == statuses
    assert "nothing created" in output
    assert STAFF_EMAIL in output and DEMO_PASSWORD in output


def test_seed_demo_fills_in_around_existing_data():
    # Someone already signed up with a demo email: the seed reuses the account, no duplicate.
    User.objects.create_user(email="maya@bazaar.local", password=DEMO_PASSWORD)

    seed()

    assert User.objects.filter(email__iexact="maya@bazaar.local").count() == 1
    assert User.objects.get(email="maya@bazaar.local").is_seller


def test_with_the_sandbox_demo_sellers_can_take_payments_at_once(stripe_sandbox):
    from accounts.models import User
    from accounts.selectors import seller_can_accept_payments

    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    sellers = [u for u in User.objects.all() if u.is_seller]
    assert len(sellers) == 3
    assert all(seller_can_accept_payments(s) for s in sellers)


def _picture(field):
    with field.open("rb") as file:
        data = file.read()
    with Image.open(BytesIO(data)) as image:
        return data, image.format, image.size


def test_every_demo_listing_and_store_has_its_own_drawn_picture():
    seed()

    listings = {}
    for image in ListingImage.objects.select_related("listing"):
        data, kind, size = _picture(image.image)
        assert (kind, size) == ("JPEG", (800, 600))
        listings[image.listing.title] = hashlib.sha256(data).hexdigest()
    assert len(listings) == Listing.objects.count()
    # Drawn from each title: no two listings look the same.
    assert len(set(listings.values())) == len(listings)

    logos = set()
    for store in Store.objects.all():
        assert store.logo, store.name
        data, kind, size = _picture(store.logo)
        assert (kind, size) == ("JPEG", (256, 256))
        logos.add(hashlib.sha256(data).hexdigest())
    assert len(logos) == Store.objects.count()

    # The same titles draw the same pictures: a second seed elsewhere would look the same.
    again = listing_picture("Speckled stoneware mug").read()
    assert hashlib.sha256(again).hexdigest() == listings["Speckled stoneware mug"]


def test_the_demo_home_page_shows_pictures_from_every_store(client):
    seed()

    html = client.get(reverse("home")).content.decode()

    cards = re.findall(r'<article class="card listing-card">(.*?)</article>', html, re.S)
    assert len(cards) == 8
    assert all('<img class="listing-card__image"' in card for card in cards)
    stores_shown = {
        re.search(r'<span class="listing-card__store">(.*?)</span>', card).group(1)
        for card in cards
    }
    assert stores_shown == set(Store.objects.values_list("name", flat=True))
    store_page = client.get(Store.objects.get(name="Okafor Ceramics").get_absolute_url())
    assert 'class="store-header__logo"' in store_page.content.decode()


def test_the_demos_short_services_can_be_booked_and_the_long_jobs_ordered_without_a_time(client):
    seed()
    services = Listing.objects.filter(kind=ListingKind.SERVICE, status=ListingStatus.APPROVED)
    bookable = [s for s in services if hasattr(s, "availability")]
    assert len(bookable) >= 3
    assert len({s.store_id for s in bookable}) >= 2
    assert all(s.duration_minutes <= 180 for s in bookable)
    assert any(not hasattr(s, "availability") for s in services)  # day-long jobs, milestones

    listing = bookable[0]
    start = clock.now() + timedelta(days=1)
    response = client.get(
        f"/api/v1/listings/{listing.pk}/availability/",
        {"from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()},
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["slots"]) >= 5  # a week of weekday hours
    page = client.get(listing.get_absolute_url())
    assert "Pick a time" in page.content.decode()
