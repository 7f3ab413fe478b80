"""Paying needs a confirmed email address: an unverified buyer cannot place or pay an order,
on the pages or in the API, and can once the emailed link is opened."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.factories import UserFactory
from accounts.testing import api_client_for
from escrow.factories import OrderFactory
from escrow.models import EscrowPayment, Order
from escrow.testing import seller  # noqa: F401 (a fixture: a seller who can take payments)
from marketplace.factories import ServiceListingFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+/accounts/email/confirm/(\S+?)/")


def _unverified(**kwargs):
    return UserFactory(email_verified_at=None, **kwargs)


@pytest.fixture
def service_listing(seller):  # noqa: F811
    return ServiceListingFactory(store=seller.store, price_cents=5000, currency="usd")


def test_unverified_cannot_order_on_the_page(client, service_listing):
    buyer = _unverified()
    client.force_login(buyer)
    response = client.post(reverse("order-create", args=[service_listing.pk]), {"quantity": 1})
    assert "Confirm your email address first" in response.content.decode()
    assert not Order.objects.exists()


def test_unverified_cannot_order_in_the_api_and_can_after_confirming(service_listing):
    buyer = _unverified()
    api = api_client_for(buyer)
    body = {"listing": service_listing.pk, "quantity": 1}
    response = api.post("/api/v1/orders/", body, format="json")
    assert response.status_code == 403
    assert "Confirm your email address first" in response.json()["detail"]
    assert not Order.objects.exists()

    # The link the resend sends confirms it; then the same order goes through.
    assert api.post("/api/v1/me/email/resend/").status_code == 202
    key = LINK.search(mail.outbox[-1].body).group(1)
    assert Client().post(reverse("email-confirm", args=[key])).status_code == 302
    assert api.post("/api/v1/orders/", body, format="json").status_code == 201


def test_unverified_cannot_pay_an_order_made_before(client, service_listing):
    buyer = _unverified()
    order = OrderFactory(buyer=buyer, listing=service_listing)
    response = api_client_for(buyer).post(f"/api/v1/orders/{order.pk}/pay/")
    assert response.status_code == 403
    assert "Confirm your email address first" in response.json()["detail"]
    client.force_login(buyer)
    response = client.post(reverse("order-pay", args=[order.pk]), follow=True)
    assert "Confirm your email address first" in response.content.decode()
    # Refused before Stripe is asked: no payment, no checkout page to pay on.
    assert response.redirect_chain[-1][0] == order.get_absolute_url()
    assert not EscrowPayment.objects.filter(order=order).exists()
