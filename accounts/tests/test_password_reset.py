"""Password reset requests are limited per address asked about and per client address, without
telling anyone whether an address has an account."""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.factories import UserFactory
from core.testing import set_rate_limits

pytestmark = pytest.mark.django_db

DONE = reverse("password_reset_done")
TOO_MANY = "Too many password reset requests from your network. Try again in"


@pytest.fixture(autouse=True)
def _rates(settings):
    set_rate_limits(settings, password_reset_email="5/hour", password_reset_ip="20/hour")


def _ask(client, email, **extra):
    return client.post(reverse("password_reset"), {"email": email}, **extra)


def test_the_sixth_request_for_one_address_sends_no_email_and_says_nothing_different(client):
    UserFactory(email="dan@example.com")

    responses = [_ask(client, "dan@example.com") for _ in range(6)]

    assert [r.status_code for r in responses] == [302] * 6
    assert {r["Location"] for r in responses} == {DONE}
    assert len(mail.outbox) == 5
    assert {m.to[0] for m in mail.outbox} == {"dan@example.com"}


def test_the_address_limit_counts_every_way_of_writing_it_and_every_client(client):
    UserFactory(email="dan@example.com")
    for n, email in enumerate(["dan@example.com", "DAN@example.com", "Dan@Example.com "] * 2):
        _ask(client, email, REMOTE_ADDR=f"198.51.100.{n}")

    assert len(mail.outbox) == 5


def test_over_the_address_limit_an_unknown_address_gets_the_same_answer(client):
    UserFactory(email="dan@example.com")
    for _ in range(5):
        _ask(client, "dan@example.com")
        _ask(client, "nobody@example.com")

    known = _ask(client, "dan@example.com")
    unknown = _ask(client, "nobody@example.com")

    assert (known.status_code, known["Location"]) == (302, DONE)
    assert (unknown.status_code, unknown["Location"]) == (302, DONE)
    assert len(mail.outbox) == 5


def test_many_addresses_from_one_client_are_limited_too(client):
    for n in range(25):
        UserFactory(email=f"user{n}@example.com")

    responses = [_ask(client, f"user{n}@example.com") for n in range(21)]

    assert [r.status_code for r in responses[:20]] == [302] * 20
    over = responses[20]
    assert over.status_code == 429
    assert TOO_MANY in over.content.decode()
    assert len(mail.outbox) == 20


def test_rotating_x_forwarded_for_does_not_reset_the_client_limit(client):
    statuses = [
        _ask(client, f"user{n}@example.com", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(21)
    ]

    assert statuses[-1] == 429


def test_another_client_may_still_ask(client):
    for n in range(21):
        _ask(client, f"user{n}@example.com", REMOTE_ADDR="203.0.113.5")
    UserFactory(email="dan@example.com")

    response = _ask(client, "dan@example.com", REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["dan@example.com"]]
