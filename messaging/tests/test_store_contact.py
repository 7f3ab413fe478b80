"""One rule for contact between buyers and sellers: it goes through Bazaar's messaging. The
store's Contact page offers "Message the seller" instead of publishing the seller's email
address (or phone), and a message carrying an email address is still flagged (#15)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.factories import SellerFactory, UserFactory
from core.testing import assert_matches_api_schema
from messaging import selectors, services
from messaging.models import Conversation, ConversationKind, Message, Review

pytestmark = pytest.mark.django_db

EMAIL = "hello@kiln.example"
PHONE = "+1 555 0100"


@pytest.fixture
def store():
    store = SellerFactory(full_name="Ada Potter").store
    store.name = "Kiln Studio"
    store.contact_email = EMAIL
    store.contact_phone = PHONE
    store.save()
    return store


@pytest.fixture
def buyer():
    return UserFactory(full_name="Sam Buyer")


def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def contact_page(client, store):
    return client.get(reverse("store-contact", kwargs={"slug": store.slug})).content.decode()


def test_the_contact_page_offers_messaging_not_the_sellers_email_or_phone(client, store, buyer):
    for signed_in in (None, buyer):
        if signed_in:
            client.force_login(signed_in)
        html = contact_page(client, store)
        assert EMAIL not in html and "mailto:" not in html
        assert PHONE not in html and "tel:" not in html
        assert "Message the seller" in html
        assert reverse("messaging:store-message", args=[store.slug]) in html


def test_the_public_store_api_does_not_publish_the_email_either(store):
    response = APIClient().get(f"/api/v1/stores/{store.slug}/")
    assert response.status_code == 200
    assert EMAIL not in response.content.decode()
    assert PHONE not in response.content.decode()
    assert_matches_api_schema(response, "/api/v1/stores/{slug}/", "GET")
    # Its owner still reads back what they gave Bazaar.
    owner = api_for(store.owner).patch(f"/api/v1/stores/{store.slug}/", {"tagline": "Mugs"})
    assert owner.json()["contact_email"] == EMAIL


def test_message_the_seller_needs_a_sign_in_and_comes_back(client, store):
    url = reverse("messaging:store-message", args=[store.slug])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]


def test_a_buyer_writes_to_the_store_and_writing_again_continues_the_conversation(
    client, store, buyer
):
    client.force_login(buyer)
    url = reverse("messaging:store-message", args=[store.slug])
    assert client.get(url).status_code == 200  # the form: nothing is opened before writing
    assert not Conversation.objects.exists()

    response = client.post(url, {"body": "Do you take commissions?"})

    conversation = Conversation.objects.get()
    assert response["Location"] == conversation.get_absolute_url()
    assert conversation.kind == ConversationKind.STORE
    assert (conversation.buyer, conversation.seller) == (buyer, store.owner)
    assert conversation.subject == "Message to Kiln Studio"
    assert [c.pk for c in selectors.inbox_for(user=store.owner)] == [conversation.pk]
    assert selectors.unread_total(user=store.owner) == 1
    # The button now opens the conversation the buyer has.
    assert client.get(url)["Location"] == conversation.get_absolute_url()
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert "Do you take commissions?" in page and "Kiln Studio" in page
    assert f'href="{store.get_absolute_url()}"' in page  # back to the store, not a listing


def test_an_empty_message_is_refused_next_to_the_field(client, store, buyer):
    client.force_login(buyer)
    response = client.post(reverse("messaging:store-message", args=[store.slug]), {"body": ""})
    assert response.status_code == 200
    assert 'id="id_body_error"' in response.content.decode()
    assert not Conversation.objects.exists()


def test_the_owner_is_told_it_is_their_own_store(client, store):
    client.force_login(store.owner)
    html = client.get(reverse("messaging:store-message", args=[store.slug])).content.decode()
    assert "This is your own store" in html
    assert "Message the seller" not in contact_page(client, store)


def test_an_email_address_in_a_message_to_the_store_is_still_flagged(store, buyer):
    message = services.store_message_send(
        store=store, buyer=buyer, body="Write to me at sam.buyer@example.com instead"
    )
    message.refresh_from_db()
    assert message.review == Review.PENDING
    assert any(flag["kind"] == "email" for flag in message.contact_flags)
    assert services.message_flag_warning(message=message)


def test_the_api_writes_to_a_store(store, buyer):
    api = api_for(buyer)
    first = api.post(
        "/api/v1/conversations/store/", {"store": store.slug, "body": "Hello"}, format="json"
    )
    assert first.status_code == 201, first.json()
    again = api.post(
        "/api/v1/conversations/store/", {"store": store.slug, "body": "Again"}, format="json"
    )
    assert again.json()["conversation_id"] == first.json()["conversation_id"]
    assert Message.objects.count() == 2
    listed = api.get("/api/v1/conversations/").json()["results"]
    assert listed[0]["kind"] == "store" and listed[0]["listing"] is None
    assert listed[0]["other_party"]["name"] == "Kiln Studio"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"store": "no-such-store", "body": "Hi"}, "store"),
        ({"body": "Hi"}, "store"),
        ({"store": "kiln", "body": ""}, "body"),
    ],
)
def test_bad_api_input_is_a_400_naming_the_field(store, buyer, body, field):
    body = {**body, "store": store.slug} if body.get("store") == "kiln" else body
    response = api_for(buyer).post("/api/v1/conversations/store/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Conversation.objects.exists()


def test_the_owner_cannot_write_to_their_own_store_through_the_api(store):
    response = api_for(store.owner).post(
        "/api/v1/conversations/store/", {"store": store.slug, "body": "Hi me"}, format="json"
    )
    assert response.status_code == 400
    assert "your own store" in response.json()["store"][0]


def test_staff_read_a_store_conversation_in_the_admin(client, store, buyer):
    from accounts.factories import StaffFactory

    message = services.store_message_send(store=store, buyer=buyer, body="Hello there")
    client.force_login(StaffFactory())
    listed = client.get(reverse("admin:messaging_conversation_changelist"))
    detail = client.get(
        reverse("admin:messaging_conversation_change", args=[message.conversation_id])
    )
    assert listed.status_code == detail.status_code == 200
    assert "Message to Kiln Studio" in listed.content.decode()
    assert "Hello there" in detail.content.decode()
