"""Shipping products (#15): the address at checkout (page and API, saved addresses), who sees
it, the seller's "Mark shipped" with its tracking link, and the review window that follows the
parcel (receipt confirmed, or shipped date plus the transit allowance) to the auto-release."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.factories import ShippingAddressFactory, UserFactory
from accounts.models import ShippingAddress
from core import clock
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.stripe_client import client as stripe_client
from escrow import services
from escrow.models import EscrowPayment, EscrowRelease, Order, OrderStatus, PaymentStatus
from escrow.shipping import Carrier, tracking_url
from escrow.testing import SHIPPING_ADDRESS, SHIPPING_FORM, pay_on_checkout_page, place_order
from marketplace.factories import ListingFactory, ServiceListingFactory
from notifications.models import Notification

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"
UPS_NUMBER = "1Z999AA10123456784"


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "http://testserver"


def _html(response):
    return response.content.decode()


def _field_errors(response, field):
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', _html(response))
    return re.findall(r"<li>(.*?)</li>", match.group(1)) if match else []


def _funded(client, listing, buyer, capture, **kwargs):
    order = place_order(buyer=buyer, listing_id=listing.pk, **kwargs)
    with capture(execute=True):
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        assert pay_on_checkout_page(client, url).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def _ship(order, seller, carrier=Carrier.UPS, number=UPS_NUMBER):
    return services.order_mark_shipped(
        order=order, actor=seller, carrier=carrier, tracking_number=number
    )


# --- The address at checkout: the service ------------------------------------------------------


def test_a_product_order_needs_an_address_and_keeps_a_copy_of_it(seller, listing, buyer):
    with pytest.raises(ValidationFailed) as refused:
        services.order_create(buyer=buyer, listing_id=listing.pk)
    assert "shipping_address" in refused.value.errors
    assert not Order.objects.exists()

    saved = ShippingAddressFactory(user=buyer, line1="9 Old Road", is_default=True)
    order = services.order_create(buyer=buyer, listing_id=listing.pk, shipping_address_id=saved.pk)
    saved.line1 = "10 New Road"
    saved.save()

    order.refresh_from_db()
    assert order.shipping_line1 == "9 Old Road"  # the copy, not the saved row
    assert order.shipping_address["country"] == "US"
    assert order.transit_days == 7  # the default allowance (the listing sets none)


def test_an_incomplete_address_is_refused_field_by_field(seller, listing, buyer):
    with pytest.raises(ValidationFailed) as refused:
        services.order_create(
            buyer=buyer,
            listing_id=listing.pk,
            shipping_address=SHIPPING_ADDRESS | {"city": " ", "country": "XX", "postal_code": "<>"},
        )
    assert set(refused.value.errors) == {
        "shipping_address.city",
        "shipping_address.country",
        "shipping_address.postal_code",
    }


def test_someone_elses_saved_address_cannot_be_used(seller, listing, buyer):
    theirs = ShippingAddressFactory()
    with pytest.raises(ValidationFailed) as refused:
        services.order_create(buyer=buyer, listing_id=listing.pk, shipping_address_id=theirs.pk)
    assert "shipping_address_id" in refused.value.errors


def test_a_service_takes_no_address(seller, buyer):
    service = ServiceListingFactory(store=seller.store)
    with pytest.raises(ValidationFailed) as refused:
        services.order_create(buyer=buyer, listing_id=service.pk, shipping_address=SHIPPING_ADDRESS)
    assert "shipping_address" in refused.value.errors
    order = services.order_create(buyer=buyer, listing_id=service.pk)
    assert order.shipping_address == {}


def test_saving_an_address_at_checkout_keeps_one_default(seller, listing, buyer):
    first = ShippingAddressFactory(user=buyer, is_default=True)
    services.order_create(
        buyer=buyer,
        listing_id=listing.pk,
        shipping_address=SHIPPING_ADDRESS,
        save_address=True,
        make_default=True,
    )
    saved = ShippingAddress.objects.get(user=buyer, line1=SHIPPING_ADDRESS["line1"])
    assert saved.is_default
    first.refresh_from_db()
    assert not first.is_default


# --- The checkout page ------------------------------------------------------------------------


def test_the_buy_box_leads_to_the_checkout_step_which_places_the_order(
    client, seller, listing, buyer
):
    client.force_login(buyer)
    url = reverse("order-create", args=[listing.pk])

    step = client.post(url, {"quantity": "2", "client_key": "web-ship-1"})

    assert step.status_code == 200
    assert not Order.objects.exists()  # nothing placed before the address is given
    html = _html(step)
    assert 'name="ship_line1"' in html and 'autocomplete="shipping address-line1"' in html
    assert '<option value="DE">Germany</option>' in html  # the country is a select of codes

    placed = client.post(
        url,
        {
            "quantity": "2",
            "client_key": "web-ship-1",
            "shipping_step": "1",
            "saved_address": "new",  # the page's hidden field when nothing is saved yet
            "save_address": "on",
        }
        | SHIPPING_FORM,
    )

    order = Order.objects.get()
    assert placed.status_code == 302 and placed["Location"] == order.get_absolute_url()
    assert order.quantity == 2
    assert order.shipping_address == SHIPPING_ADDRESS
    assert ShippingAddress.objects.get(user=buyer).is_default  # the first one saved


def test_the_checkout_page_says_what_is_missing_next_to_the_field(client, seller, listing, buyer):
    client.force_login(buyer)
    url = reverse("order-create", args=[listing.pk])

    response = client.post(
        url,
        {"quantity": "1", "client_key": "web-ship-2", "shipping_step": "1"}
        | SHIPPING_FORM
        | {"ship_city": "", "ship_country": ""},
    )

    assert response.status_code == 200
    assert _field_errors(response, "ship_city") == ["Enter the town or city."]
    assert _field_errors(response, "ship_country") == ["Choose a country."]
    assert not Order.objects.exists()


def test_the_checkout_page_offers_the_saved_addresses_default_first(client, seller, listing, buyer):
    other = ShippingAddressFactory(user=buyer, line1="1 Side Street")
    default = ShippingAddressFactory(user=buyer, line1="2 Main Street", is_default=True)
    ShippingAddressFactory(line1="3 Not Yours Lane")  # someone else's
    client.force_login(buyer)
    url = reverse("order-create", args=[listing.pk])

    step = _html(client.post(url, {"quantity": "1", "client_key": "web-ship-3"}))
    assert "2 Main Street" in step and "1 Side Street" in step
    assert "3 Not Yours Lane" not in step
    assert re.search(rf'value="{default.pk}"[^>]*checked', step)

    client.post(
        url,
        {
            "quantity": "1",
            "client_key": "web-ship-3",
            "shipping_step": "1",
            "saved_address": str(other.pk),
            "make_default": "on",
        },
    )

    order = Order.objects.get()
    assert order.shipping_line1 == "1 Side Street"
    other.refresh_from_db()
    assert other.is_default


# --- The address at checkout: the API ---------------------------------------------------------


def test_the_api_places_a_product_order_with_an_address(api_client, seller, listing, buyer):
    api_client.force_authenticate(buyer)

    missing = api_client.post("/api/v1/orders/", {"listing": listing.pk}, format="json")
    assert missing.status_code == 400
    assert "shipping_address" in missing.json()

    incomplete = api_client.post(
        "/api/v1/orders/",
        {"listing": listing.pk, "shipping_address": {"name": "Sam", "line1": "1 Road"}},
        format="json",
    )
    assert incomplete.status_code == 400
    assert set(incomplete.json()) == {"shipping_address.city", "shipping_address.country"}

    created = api_client.post(
        "/api/v1/orders/",
        {"listing": listing.pk, "shipping_address": SHIPPING_ADDRESS, "save_address": True},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["shipping_address"] == SHIPPING_ADDRESS
    assert created.json()["transit_days"] == 7

    saved = api_client.get("/api/v1/me/shipping-addresses/").json()
    assert [a["line1"] for a in saved] == [SHIPPING_ADDRESS["line1"]]
    again = api_client.post(
        "/api/v1/orders/",
        {"listing": listing.pk, "shipping_address_id": saved[0]["id"]},
        format="json",
    )
    assert again.status_code == 201
    assert again.json()["shipping_address"]["city"] == SHIPPING_ADDRESS["city"]


def test_the_api_refuses_an_address_for_a_service(api_client, seller, buyer):
    service = ServiceListingFactory(store=seller.store)
    api_client.force_authenticate(buyer)

    response = api_client.post(
        "/api/v1/orders/",
        {"listing": service.pk, "shipping_address": SHIPPING_ADDRESS},
        format="json",
    )

    assert response.status_code == 400
    assert "shipping_address" in response.json()


def test_stripe_is_given_the_address_as_the_payments_shipping(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)

    payment = EscrowPayment.objects.get(order=order, status=PaymentStatus.SUCCEEDED)
    intent = stripe_client().v1.payment_intents.retrieve(payment.stripe_payment_intent_id)
    assert intent.shipping.name == SHIPPING_ADDRESS["name"]
    assert intent.shipping.address.line1 == SHIPPING_ADDRESS["line1"]
    assert intent.shipping.address.country == "US"


# --- Who sees the address ---------------------------------------------------------------------


def test_only_the_buyer_and_the_seller_see_the_address(client, api_client, seller, listing, buyer):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    page = reverse("order-detail", args=[order.pk])
    street = SHIPPING_ADDRESS["line1"]

    for party in (buyer, seller):
        client.force_login(party)
        assert street in _html(client.get(page))
        api_client.force_authenticate(party)
        assert api_client.get(f"/api/v1/orders/{order.pk}/").json()["shipping_address"]

    other_seller = ListingFactory().store.owner
    for outsider in (UserFactory(), other_seller):
        client.force_login(outsider)
        assert client.get(page).status_code == 404
        api_client.force_authenticate(outsider)
        response = api_client.get(f"/api/v1/orders/{order.pk}/")
        assert response.status_code == 404 and street not in response.content.decode()
        listed = api_client.get("/api/v1/orders/").content.decode()
        assert street not in listed
    client.logout()
    assert street not in _html(client.get(listing.get_absolute_url()))


# --- Shipping ---------------------------------------------------------------------------------


def test_the_seller_ships_with_a_tracking_number_and_the_buyer_gets_the_link(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    client.force_login(seller)
    page = _html(client.get(order.get_absolute_url()))
    assert "Mark shipped" in page
    assert "Mark delivered" not in page

    response = client.post(
        reverse("order-ship", args=[order.pk]),
        {"carrier": "ups", "tracking_number": f" {UPS_NUMBER} "},
    )

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert (order.carrier, order.tracking_number) == ("ups", UPS_NUMBER)
    link = f"https://www.ups.com/track?tracknum={UPS_NUMBER}"
    assert order.tracking_url == link
    notice = Notification.objects.get(recipient=buyer, event_code="order.shipped")
    assert UPS_NUMBER in notice.message
    client.force_login(buyer)
    buyer_page = _html(client.get(order.get_absolute_url()))
    assert f'href="{link}"' in buyer_page
    assert "I received it" in buyer_page


def test_an_other_carrier_has_no_tracking_link(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    order = _ship(order, seller, carrier=Carrier.OTHER, number="PARCEL-42")
    assert order.tracking_url == ""
    client.force_login(buyer)
    page = _html(client.get(order.get_absolute_url()))
    assert "PARCEL-42" in page and "data-tracking-link" not in page
    assert tracking_url(Carrier.DHL, "JD 0146") == (
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id=JD0146"
    )


@pytest.mark.parametrize("carrier", [c for c in Carrier if c != Carrier.OTHER])
def test_every_named_carrier_links_to_its_own_tracking_page(carrier):
    url = tracking_url(carrier, "JD 0146-77")
    assert url.startswith("https://") and "JD0146-77" in url
    hosts = {
        re.match(r"https://([^/]+)/", tracking_url(c, "X1")).group(1)
        for c in Carrier
        if c != Carrier.OTHER
    }
    # Each has a page of its own (Deutsche Post's is on dhl.de, DHL Express's on dhl.com).
    assert len(hosts) == len(Carrier) - 1


def test_a_bad_tracking_number_is_refused_next_to_the_field(
    client, api_client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    client.force_login(seller)

    page = client.post(
        reverse("order-ship", args=[order.pk]),
        {"carrier": "usps", "tracking_number": "<script>"},
    )
    assert page.status_code == 400
    assert _field_errors(page, "tracking_number")

    api_client.force_authenticate(seller)
    api = api_client.post(
        f"/api/v1/orders/{order.pk}/ship/",
        {"carrier": "pigeon", "tracking_number": ""},
        format="json",
    )
    assert api.status_code == 400
    assert set(api.json()) == {"carrier", "tracking_number"}
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED and order.shipped_at is None


def test_the_api_ships_and_the_buyer_confirms_receipt(
    client, api_client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    api_client.force_authenticate(buyer)
    assert (
        api_client.post(
            f"/api/v1/orders/{order.pk}/ship/",
            {"carrier": "usps", "tracking_number": "9400100000000000000001"},
            format="json",
        ).status_code
        == 403
    )
    too_early = api_client.post(f"/api/v1/orders/{order.pk}/received/")
    assert too_early.status_code == 409

    api_client.force_authenticate(seller)
    shipped = api_client.post(
        f"/api/v1/orders/{order.pk}/ship/",
        {"carrier": "usps", "tracking_number": "9400100000000000000001"},
        format="json",
    )
    assert shipped.status_code == 200
    body = shipped.json()
    assert body["carrier"] == "usps" and body["carrier_display"] == "USPS"
    assert body["tracking_url"].endswith("tLabels=9400100000000000000001")
    assert body["shipped_at"] and body["received_at"] is None

    api_client.force_authenticate(buyer)
    received = api_client.post(f"/api/v1/orders/{order.pk}/received/")
    assert received.status_code == 200
    assert received.json()["received_at"]


# --- Products are shipped, not delivered ------------------------------------------------------


def test_a_product_cannot_be_marked_delivered(
    client, api_client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)

    with pytest.raises(InvalidTransition):
        services.order_deliver(order=order, actor=seller, note="Sent")
    api_client.force_authenticate(seller)
    assert api_client.post(f"/api/v1/orders/{order.pk}/deliver/").status_code == 409
    client.force_login(seller)
    client.post(reverse("order-deliver", args=[order.pk]), {"note": "Sent"})

    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED and order.review_deadline is None


def test_only_the_seller_ships_and_only_the_buyer_confirms(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    with pytest.raises(NotAllowed):
        _ship(order, buyer)
    order = _ship(order, seller)
    with pytest.raises(NotAllowed):
        services.order_confirm_received(order=order, actor=seller)
    assert _ship(order, seller).shipped_at == order.shipped_at  # again: nothing changes


def test_a_service_is_not_shipped(seller, buyer):
    from escrow.factories import OrderFactory

    order = OrderFactory(
        listing=ServiceListingFactory(store=seller.store), buyer=buyer, funded=True
    )
    with pytest.raises(InvalidTransition):
        _ship(order, seller)


# --- The review window ------------------------------------------------------------------------


def test_the_review_window_starts_after_the_transit_allowance(
    client, seller, buyer, settings, django_capture_on_commit_callbacks
):
    listing = ListingFactory(store=seller.store, price_cents=2500, stock=5, transit_days=3)
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    assert order.transit_days == 3

    order = _ship(order, seller)

    assert order.review_deadline == order.shipped_at + timedelta(
        days=3 + settings.BAZAAR_REVIEW_WINDOW_DAYS
    )


def test_confirming_receipt_starts_the_review_window_now(
    client, seller, listing, buyer, settings, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    order = _ship(order, seller)
    stripe_sandbox.advance_clock(days=2)

    client.force_login(buyer)
    response = client.post(reverse("order-received", args=[order.pk]))

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.shipped_at + timedelta(days=2) <= order.received_at <= clock.now()
    assert order.review_deadline == order.received_at + timedelta(
        days=settings.BAZAAR_REVIEW_WINDOW_DAYS
    )
    assert Notification.objects.filter(recipient=seller, event_code="order.received").exists()
    assert "Received, in review" in _html(client.get(order.get_absolute_url()))


def test_a_shipped_order_releases_itself_after_transit_and_review(
    client, seller, listing, buyer, settings, stripe_sandbox, django_capture_on_commit_callbacks
):
    from escrow.tasks import auto_release_due_orders

    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    _ship(order, seller)
    window = settings.BAZAAR_DEFAULT_TRANSIT_DAYS + settings.BAZAAR_REVIEW_WINDOW_DAYS

    stripe_sandbox.advance_clock(days=window - 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert auto_release_due_orders.delay().get() == 0
    stripe_sandbox.advance_clock(days=1, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert auto_release_due_orders.delay().get() == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    assert EscrowRelease.objects.get(order=order).trigger == "auto"


def test_a_received_order_releases_itself_a_review_window_after_receipt(
    client, seller, listing, buyer, settings, stripe_sandbox, django_capture_on_commit_callbacks
):
    from escrow.tasks import auto_release_due_orders

    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    _ship(order, seller)
    stripe_sandbox.advance_clock(days=1)
    services.order_confirm_received(order=order, actor=buyer)

    stripe_sandbox.advance_clock(days=settings.BAZAAR_REVIEW_WINDOW_DAYS, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert auto_release_due_orders.delay().get() == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED


def test_staff_see_the_address_and_tracking_link_in_the_admin_read_only(
    client, seller, listing, buyer, django_capture_on_commit_callbacks
):
    from accounts.factories import StaffFactory

    order = _funded(client, listing, buyer, django_capture_on_commit_callbacks)
    _ship(order, seller)
    client.force_login(StaffFactory(is_superuser=True))

    html = _html(client.get(reverse("admin:escrow_order_change", args=[order.pk])))

    assert SHIPPING_ADDRESS["line1"] in html and "United States" in html
    assert f'href="https://www.ups.com/track?tracknum={UPS_NUMBER}"' in html
    assert 'name="tracking_number"' not in html  # shown, not editable


# --- A time sent for a product ------------------------------------------------------------------

PRODUCT_TAKES_NO_TIME = "This listing is a product: it is ordered without a time."


def test_the_service_refuses_a_time_for_a_product_in_a_products_words(seller, listing, buyer):
    with pytest.raises(ValidationFailed) as refused:
        services.order_create(
            buyer=buyer,
            listing_id=listing.pk,
            shipping_address=SHIPPING_ADDRESS,
            slot_start=clock.now() + timedelta(days=2),
        )
    assert refused.value.errors == {"slot_start": [PRODUCT_TAKES_NO_TIME]}
    assert not Order.objects.exists()


def test_the_api_refuses_a_time_for_a_product_next_to_slot_start(
    api_client, seller, listing, buyer
):
    api_client.force_authenticate(buyer)

    response = api_client.post(
        "/api/v1/orders/",
        {
            "listing": listing.pk,
            "shipping_address": SHIPPING_ADDRESS,
            "slot_start": (clock.now() + timedelta(days=2)).isoformat(),
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"slot_start": [PRODUCT_TAKES_NO_TIME]}
    assert not Order.objects.exists()


@pytest.mark.parametrize("slot_start", ["2030-01-07T09:00:00Z", "not a time"])
def test_the_buy_box_refuses_a_time_for_a_product_next_to_the_form(
    client, seller, listing, buyer, slot_start
):
    client.force_login(buyer)

    response = client.post(
        reverse("order-create", args=[listing.pk]),
        {"quantity": "1", "client_key": "web-ship-slot", "slot_start": slot_start},
    )

    assert response.status_code == 200
    html = _html(response)
    assert PRODUCT_TAKES_NO_TIME in html
    assert 'name="ship_line1"' not in html  # it stays on the listing, not the checkout step
    assert not Order.objects.exists()


def test_the_checkout_step_refuses_a_time_for_a_product_and_places_nothing(
    client, seller, listing, buyer
):
    client.force_login(buyer)

    response = client.post(
        reverse("order-create", args=[listing.pk]),
        {
            "quantity": "1",
            "client_key": "web-ship-slot-2",
            "shipping_step": "1",
            "saved_address": "new",
            "slot_start": "2030-01-07T09:00:00Z",
        }
        | SHIPPING_FORM,
    )

    assert response.status_code == 200
    html = _html(response)
    assert PRODUCT_TAKES_NO_TIME in html
    # Said as it is: no field on the page is marked, so nothing asks to correct one.
    assert "marked below" not in html
    assert 'name="slot_start"' not in html  # sending the page again places the order
    assert not Order.objects.exists()
