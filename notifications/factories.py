import factory

from accounts.factories import UserFactory
from notifications.events import EmailMode, Level
from notifications.models import EmailDelivery, Notification, NotificationPreference


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    event_code = "listing.approved"
    level = Level.SUCCESS
    title = factory.Sequence(lambda n: f"Listing {n} is live")
    message = "Staff approved your listing."
    action_url = "/listings/1/"
    context = factory.LazyAttribute(
        lambda o: {"listing_title": o.title, "action_url": o.action_url}
    )


class NotificationPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationPreference

    user = factory.SubFactory(UserFactory)
    event_code = "listing.approved"
    email_mode = EmailMode.OFF


class EmailDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailDelivery

    notification = factory.SubFactory(NotificationFactory)
    recipient = factory.LazyAttribute(lambda o: o.notification.recipient)
    event_code = factory.LazyAttribute(lambda o: o.notification.event_code)
    to_email = factory.LazyAttribute(lambda o: o.recipient.email)
