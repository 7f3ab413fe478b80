import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import SellerProfile, ShippingAddress, User

DEFAULT_PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)
    # Confirmed, as every account made before verification existed: UserFactory(
    # email_verified_at=None) is someone who has not opened the sign-up link yet.
    email_verified_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    @factory.post_generation
    def _email_address(obj, create, extracted, **kwargs):
        # allauth's row for the address, confirmed or not like the account.
        if create:
            EmailAddress.objects.create(
                user=obj,
                email=obj.email.lower(),
                primary=True,
                verified=obj.email_verified_at is not None,
            )


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class SellerProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SellerProfile

    user = factory.SubFactory(UserFactory)
    display_name = factory.Faker("company")
    bio = factory.Faker("paragraph")
    country = "US"
    default_currency = "usd"


class SellerFactory(UserFactory):
    """A user who sells: a seller profile and a store."""

    @factory.post_generation
    def seller(obj, create, extracted, **kwargs):
        if not create:
            return
        # A cycle of test data: marketplace's StoreFactory needs this module's UserFactory.
        from marketplace.factories import StoreFactory

        SellerProfileFactory(user=obj, **kwargs)
        StoreFactory(owner=obj)


class ShippingAddressFactory(factory.django.DjangoModelFactory):
    """A buyer's saved shipping address (US, complete)."""

    class Meta:
        model = ShippingAddress

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Parcel Person {n}")
    line1 = factory.Sequence(lambda n: f"{n + 1} Market Street")
    line2 = ""
    city = "Springfield"
    postal_code = "62701"
    region = "IL"
    country = "US"
    is_default = False
