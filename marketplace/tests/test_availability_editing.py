"""Sellers set when their services can be booked: the service, the API and the page."""

from datetime import date, time

import pytest
from django.urls import reverse

from accounts.factories import SellerFactory
from accounts.testing import api_client_for
from core.errors import NotAllowed, ValidationFailed
from core.models import AuditEntry
from core.testing import assert_matches_api_schema
from marketplace import services
from marketplace.factories import ListingFactory, ServiceListingFactory, availability_for
from marketplace.models import ServiceAvailability

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller():
    return SellerFactory(time_zone="Europe/Berlin")


@pytest.fixture
def service(seller):
    return ServiceListingFactory(store=seller.store)


def url(listing):
    return f"/api/v1/seller/listings/{listing.pk}/availability/"


def body(**overrides):
    return {
        "buffer_minutes": 15,
        "horizon_days": 30,
        "min_notice_minutes": 120,
        "windows": [
            {"weekday": 0, "start_time": "09:00", "end_time": "12:00"},
            {"weekday": 0, "start_time": "13:00", "end_time": "17:00"},
            {"weekday": 4, "start_time": "10:00", "end_time": "14:00"},
        ],
        "exceptions": [
            {"date": "2027-12-24"},
            {"date": "2027-12-27", "start_time": "10:00", "end_time": "12:00"},
        ],
        **overrides,
    }


def set_args(**overrides):
    return {
        "time_zone": "UTC",
        "buffer_minutes": 0,
        "horizon_days": 30,
        "min_notice_minutes": 0,
        "windows": [],
        "exceptions": [],
        **overrides,
    }


# --- Service ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        (
            [
                {"weekday": 1, "start_time": time(9), "end_time": time(12)},
                {"weekday": 1, "start_time": time(11), "end_time": time(13)},
            ],
            "Tuesday: 09:00-12:00 and 11:00-13:00 overlap.",
        ),
        (
            [{"weekday": 2, "start_time": time(12), "end_time": time(12)}],
            "Wednesday 12:00-12:00: the end must be after the start.",
        ),
    ],
)
def test_overlapping_or_empty_hours_are_refused_with_words(seller, service, windows, message):
    with pytest.raises(ValidationFailed) as caught:
        services.service_availability_set(
            listing=service, actor=seller, **set_args(windows=windows)
        )

    assert caught.value.errors["windows"] == [message]
    assert not ServiceAvailability.objects.exists()


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1969, 12, 31), date(3000, 1, 1)])
def test_exception_dates_outside_the_years_1970_to_2999_are_refused(seller, service, day):
    with pytest.raises(ValidationFailed) as refused:
        services.service_availability_set(
            listing=service,
            actor=seller,
            **set_args(exceptions=[{"date": day, "start_time": None, "end_time": None}]),
        )

    assert refused.value.errors == {
        "exceptions": [f"{day.isoformat()}: Give a date from 1970 to 2999."]
    }
    assert not ServiceAvailability.objects.exists()


def test_back_to_back_hours_and_a_second_save_replace_the_first(seller, service):
    services.service_availability_set(
        listing=service,
        actor=seller,
        **set_args(
            windows=[
                {"weekday": 1, "start_time": time(9), "end_time": time(12)},
                {"weekday": 1, "start_time": time(12), "end_time": time(13)},
            ]
        ),
    )
    availability = services.service_availability_set(
        listing=service,
        actor=seller,
        **set_args(
            time_zone="Asia/Tokyo",
            windows=[{"weekday": 3, "start_time": time(8), "end_time": time(9)}],
            exceptions=[{"date": date(2027, 5, 5), "start_time": None, "end_time": None}],
        ),
    )

    assert availability.time_zone == "Asia/Tokyo"
    assert [str(w) for w in availability.windows.all()] == ["Thursday 08:00-09:00"]
    assert [str(e) for e in availability.exceptions.all()] == ["2027-05-05 closed"]
    assert AuditEntry.objects.filter(action="marketplace.availability.set").count() == 2


def test_only_the_seller_of_a_service_sets_its_availability(seller, service):
    with pytest.raises(NotAllowed):
        services.service_availability_set(listing=service, actor=SellerFactory(), **set_args())
    product = ListingFactory(store=seller.store)
    with pytest.raises(ValidationFailed) as caught:
        services.service_availability_set(listing=product, actor=seller, **set_args())
    assert "listing" in caught.value.errors


# --- API ----------------------------------------------------------------------------------------


def test_put_then_get_the_availability_defaults_to_the_sellers_zone(seller, service):
    client = api_client_for(seller)

    put = client.put(url(service), body(), format="json")
    got = client.get(url(service))

    assert put.status_code == 200, put.json()
    assert got.json() == put.json()
    assert got.json()["time_zone"] == "Europe/Berlin"
    assert got.json()["windows"][1] == {"weekday": 0, "start_time": "13:00", "end_time": "17:00"}
    assert got.json()["exceptions"] == [
        {"date": "2027-12-24", "start_time": None, "end_time": None},
        {"date": "2027-12-27", "start_time": "10:00", "end_time": "12:00"},
    ]
    assert_matches_api_schema(got, "/api/v1/seller/listings/{id}/availability/", "GET")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"time_zone": "localtime"}, "time_zone"),
        ({"time_zone": "Factory"}, "time_zone"),
        ({"time_zone": "posix/Europe/Berlin"}, "time_zone"),
        ({"time_zone": "right/Europe/Berlin"}, "time_zone"),
        ({"buffer_minutes": -5}, "buffer_minutes"),
        ({"horizon_days": 0}, "horizon_days"),
        ({"windows": [{"weekday": 7, "start_time": "09:00", "end_time": "10:00"}]}, "windows"),
        ({"windows": [{"weekday": 0, "start_time": "10:00", "end_time": "09:00"}]}, "windows"),
        ({"windows": [{"weekday": 0, "start_time": "9 am", "end_time": "10:00"}]}, "windows"),
        ({"exceptions": [{"date": "2027-01-01", "start_time": "10:00"}]}, "exceptions"),
        ({"exceptions": [{"date": "0001-01-01"}]}, "exceptions"),
        ({"exceptions": [{"date": "1969-12-31"}]}, "exceptions"),
        (
            {"exceptions": [{"date": "9999-12-31", "start_time": "10:00", "end_time": "12:00"}]},
            "exceptions",
        ),
        ({"exceptions": [{"date": "3000-01-01"}]}, "exceptions"),
    ],
)
def test_bad_availability_is_a_400_naming_the_field(seller, service, overrides, field):
    response = api_client_for(seller).put(url(service), body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not ServiceAvailability.objects.exists()


def test_a_service_without_availability_is_404_with_a_hint(seller, service):
    response = api_client_for(seller).get(url(service))

    assert response.status_code == 404
    assert "without a time" in response.json()["detail"]


def test_another_sellers_service_availability_does_not_exist_for_them(service):
    availability_for(service)

    response = api_client_for(SellerFactory()).put(url(service), body(), format="json")

    assert response.status_code == 404


# --- Page ---------------------------------------------------------------------------------------


def page(listing):
    return reverse("seller-listing-availability", kwargs={"pk": listing.pk})


def form(**overrides):
    return {
        "time_zone": "Europe/Berlin",
        "buffer_minutes": "10",
        "horizon_days": "60",
        "min_notice_minutes": "60",
        "day_0": "09:00-12:00, 13:00-17:00",
        "day_5": "10:00-14:00",
        "exceptions": "2027-12-24 closed\n2027-12-27 10:00-12:00\n",
        **overrides,
    }


def test_the_seller_sets_hours_on_the_page_and_sees_them_again(client, seller, service):
    client.force_login(seller)

    first = client.get(page(service))
    saved = client.post(page(service), form())
    again = client.get(page(service)).content.decode()

    assert 'value="Europe/Berlin" selected' in first.content.decode()
    assert saved.status_code == 302
    availability = ServiceAvailability.objects.get(listing=service)
    assert availability.buffer_minutes == 10
    assert [str(w) for w in availability.windows.all()] == [
        "Monday 09:00-12:00",
        "Monday 13:00-17:00",
        "Saturday 10:00-14:00",
    ]
    assert 'value="09:00-12:00, 13:00-17:00"' in again
    assert "2027-12-27 10:00-12:00" in again


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"day_2": "9-10"}, "day_2", "is not a time like 09:30"),
        ({"day_0": "09:00-12:00, 11:00-13:00"}, "day_0", "overlap"),
        ({"exceptions": "24.12.2027 closed"}, "exceptions", "is not a date"),
        ({"exceptions": "9999-12-31 closed"}, "exceptions", "Give a date from 1970 to 2999"),
        ({"exceptions": "0001-01-01 10:00-12:00"}, "exceptions", "Give a date from 1970 to 2999"),
        ({"exceptions": "1969-12-31 closed"}, "exceptions", "Give a date from 1970 to 2999"),
        ({"time_zone": "Mars/Base"}, "time_zone", "Select a valid choice"),
        ({"time_zone": "localtime"}, "time_zone", "Select a valid choice"),
        ({"time_zone": "Factory"}, "time_zone", "Select a valid choice"),
        ({"time_zone": "right/Europe/Berlin"}, "time_zone", "Select a valid choice"),
    ],
)
def test_bad_hours_are_shown_next_to_their_field(client, seller, service, overrides, field, words):
    client.force_login(seller)

    response = client.post(page(service), form(**overrides))

    html = response.content.decode()
    assert response.status_code == 200
    assert f"id_{field}_error" in html
    assert words in html
    assert not ServiceAvailability.objects.exists()


def test_the_dashboard_links_a_services_availability(client, seller, service):
    client.force_login(seller)

    html = client.get(reverse("seller-dashboard")).content.decode()

    assert page(service) in html
