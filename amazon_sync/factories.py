import factory
from django.utils import timezone

from accounts.factories import SellerFactory
from amazon_sync.crypto import encrypt
from amazon_sync.models import AmazonAccount


class AmazonAccountFactory(factory.django.DjangoModelFactory):
    """A store connected to Amazon (amazon.com) with an encrypted refresh token."""

    class Meta:
        model = AmazonAccount
        exclude = ("token",)

    store = factory.LazyFunction(lambda: SellerFactory().store)
    selling_partner_id = factory.Sequence(lambda n: f"A{n:013d}")
    marketplace_id = "ATVPDKIKX0DER"
    region = "NA"
    connected_at = factory.LazyFunction(timezone.now)
    token = factory.Sequence(lambda n: f"Atzr|sandbox-refresh-token-{n}")
    refresh_token_encrypted = factory.LazyAttribute(lambda o: encrypt(o.token))
