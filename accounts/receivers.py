"""Accounts' answers to what the apps below it say happened; connected in AccountsConfig.ready."""

from django.dispatch import receiver

from accounts.services import user_seen
from notifications.signals import bell_checked


@receiver(bell_checked, dispatch_uid="accounts.record_presence")
def record_presence(sender, user, **kwargs):
    user_seen(user=user)
