import factory

from accounts.factories import UserFactory
from favourites.models import ListingFavourite, StoreFavourite
from marketplace.factories import ListingFactory, StoreFactory

__all__ = ["ListingFavouriteFactory", "StoreFavouriteFactory"]


class ListingFavouriteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ListingFavourite

    user = factory.SubFactory(UserFactory)
    listing = factory.SubFactory(ListingFactory)


class StoreFavouriteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreFavourite

    user = factory.SubFactory(UserFactory)
    store = factory.SubFactory(StoreFactory)
