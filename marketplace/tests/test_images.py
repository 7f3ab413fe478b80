"""One rule for every uploaded image (core.images): listing photos and store logos alike, through
the service, the seller's pages, the API and the admin."""

import io
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from accounts.factories import SellerFactory, StaffFactory
from accounts.testing import api_client_for
from core.errors import ValidationFailed
from core.images import image_problem
from marketplace import services
from marketplace.factories import ListingFactory
from marketplace.models import ListingStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_megabyte_limit(settings):
    """A 1 MB limit keeps the files small; the rule is the same at the 5 MB default."""
    settings.BAZAAR_MAX_IMAGE_BYTES = 1024 * 1024


def image_upload(name="photo.png", size=(8, 8), kind="PNG"):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buffer, format=kind)
    return SimpleUploadedFile(name, buffer.getvalue())


def oversized(name="logo.png"):
    """A real PNG of 1.5 MB: noise does not compress."""
    noise = Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue())


@pytest.mark.parametrize(
    ("upload", "problem"),
    [
        (lambda: image_upload(), None),
        (lambda: image_upload("p.jpg", kind="JPEG"), None),
        (lambda: image_upload("p.webp", kind="WEBP"), None),
        (lambda: image_upload("p.gif", kind="GIF"), None),
        (lambda: oversized(), "at most 1 MB; this one is 1.4 MB"),
        (lambda: image_upload("p.bmp", kind="BMP"), "JPEG, PNG, GIF or WebP"),
        (lambda: SimpleUploadedFile("p.png", b"<?php echo 1; ?>"), "JPEG, PNG, GIF or WebP"),
        (lambda: SimpleUploadedFile("empty.png", b""), "JPEG, PNG, GIF or WebP"),
        (lambda: image_upload(size=(8000, 6000)), "at most 40 megapixels; this one is 8000×6000"),
    ],
)
def test_the_image_rule(upload, problem):
    found = image_problem(upload())
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_store_logos_are_capped_like_listing_images():
    seller = SellerFactory()

    with pytest.raises(ValidationFailed) as refused:
        services.store_update(store=seller.store, actor=seller, logo=oversized())

    assert "at most 1 MB" in refused.value.errors["logo"][0]
    seller.store.refresh_from_db()
    assert not seller.store.logo


def test_a_new_store_with_a_huge_logo_is_refused():
    owner = SellerFactory().store.owner
    owner.store.delete()

    with pytest.raises(ValidationFailed) as refused:
        services.store_create(owner=owner, name="Kiln", logo=oversized())

    assert "logo" in refused.value.errors


def test_listing_images_follow_the_same_rule():
    listing = ListingFactory(status=ListingStatus.DRAFT)

    with pytest.raises(ValidationFailed) as refused:
        services.listing_image_add(
            listing=listing, actor=listing.store.owner, image=image_upload(size=(8000, 6000))
        )

    assert "megapixels" in refused.value.errors["image"][0]
    assert not listing.images.exists()


def test_the_store_page_shows_the_logo_error_next_to_the_field(client):
    seller = SellerFactory()
    client.force_login(seller)

    response = client.post(
        reverse("seller-store-edit"),
        {"name": seller.store.name, "default_cancellation_policy": "flexible", "logo": oversized()},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_logo_error"' in html and "at most 1 MB" in html
    seller.store.refresh_from_db()
    assert not seller.store.logo


def test_the_api_answers_a_huge_logo_with_a_field_error():
    seller = SellerFactory()

    response = api_client_for(seller).patch(
        f"/api/v1/stores/{seller.store.slug}/", {"logo": oversized()}, format="multipart"
    )

    assert response.status_code == 400
    assert "at most 1 MB" in response.json()["logo"][0]


def test_the_admin_refuses_a_huge_logo_with_a_form_error(client):
    store = SellerFactory().store
    client.force_login(StaffFactory())
    url = reverse("admin:marketplace_store_change", args=[store.pk])

    response = client.post(
        url,
        {
            "owner": store.owner_id,
            "name": store.name,
            "slug": store.slug,
            "tagline": "",
            "logo": oversized(),
            "description": "",
            "about": "",
            "contact_email": "",
            "contact_phone": "",
            "support_url": "",
        },
    )

    assert response.status_code == 200
    assert "at most 1 MB" in response.content.decode()
    store.refresh_from_db()
    assert not store.logo
