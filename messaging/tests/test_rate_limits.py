"""Flooding a conversation: past BAZAAR_RATE_MESSAGES a person's messages are refused, with 429
and Retry-After in the API and a message on the page; nothing is sent or silently dropped."""

import pytest
from django.urls import reverse

from accounts.testing import api_client_for
from core.testing import set_rate_limits
from marketplace.factories import ListingFactory
from messaging.factories import ConversationFactory
from messaging.models import Message

pytestmark = pytest.mark.django_db

TOO_FAST = "You are sending messages faster than Bazaar allows. Wait"


@pytest.fixture(autouse=True)
def _three_a_minute(settings):
    set_rate_limits(settings, messages="3/min")


@pytest.fixture
def conversation():
    return ConversationFactory()


def _api_send(client, conversation, body):
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    return client.post(url, {"body": body}, format="json")


def _web_send(client, conversation, body):
    return client.post(reverse("messaging:send", args=[conversation.pk]), {"body": body})


def test_flooding_the_api_gets_429_with_retry_after(conversation):
    app = api_client_for(conversation.buyer)

    responses = [_api_send(app, conversation, f"Hello {n}") for n in range(5)]

    assert [r.status_code for r in responses] == [201, 201, 201, 429, 429]
    assert 0 < int(responses[3]["Retry-After"]) <= 60
    assert "throttled" in responses[3].json()["detail"].lower()
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_flooding_the_page_shows_a_message_and_keeps_the_text(client, conversation):
    client.force_login(conversation.buyer)

    sent = [_web_send(client, conversation, f"Hello {n}") for n in range(3)]
    refused = _web_send(client, conversation, "One more thing")

    assert [r.status_code for r in sent] == [302, 302, 302]
    assert refused.status_code == 429
    html = refused.content.decode()
    assert TOO_FAST in html
    assert "then send it again: your text is still here." in html
    assert "One more thing</textarea>" in html
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_the_page_and_the_api_share_one_budget(client, conversation):
    client.force_login(conversation.buyer)
    app = api_client_for(conversation.buyer)

    _web_send(client, conversation, "From the website")
    _api_send(app, conversation, "From the app")
    _web_send(client, conversation, "From the website again")

    assert _api_send(app, conversation, "Too many").status_code == 429
    assert _web_send(client, conversation, "Too many").status_code == 429


def test_asking_about_listings_counts_too(client):
    buyer = ConversationFactory().buyer
    client.force_login(buyer)
    listings = [ListingFactory() for _ in range(4)]

    responses = [
        client.post(reverse("messaging:ask", args=[listing.pk]), {"body": "Still available?"})
        for listing in listings
    ]
    app = api_client_for(buyer)
    by_api = app.post(
        "/api/v1/conversations/", {"listing": listings[0].pk, "body": "Hello?"}, format="json"
    )

    assert [r.status_code for r in responses] == [302, 302, 302, 429]
    assert TOO_FAST in responses[3].content.decode()
    assert by_api.status_code == 429


def test_one_persons_flood_does_not_stop_the_other(conversation):
    buyer_app = api_client_for(conversation.buyer)
    seller_app = api_client_for(conversation.seller)
    for n in range(4):
        _api_send(buyer_app, conversation, f"Hello {n}")

    assert _api_send(seller_app, conversation, "Hi, how can I help?").status_code == 201


def test_reading_is_not_limited(conversation):
    app = api_client_for(conversation.buyer)
    for n in range(3):
        _api_send(app, conversation, f"Hello {n}")

    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    assert [app.get(url).status_code for _ in range(5)] == [200] * 5
