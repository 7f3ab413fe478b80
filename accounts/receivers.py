"""Accounts' answers to what the apps below it say happened; connected in AccountsConfig.ready."""

from django.dispatch import receiver

from accounts.services import user_password_changed, user_seen
from accounts.signals import password_changed
from notifications.signals import bell_checked


@receiver(bell_checked, dispatch_uid="accounts.record_presence")
def record_presence(sender, user, **kwargs):
    user_seen(user=user)


@receiver(password_changed, dispatch_uid="accounts.password_changed")
def end_what_the_old_password_allowed(sender, user, **kwargs):
    user_password_changed(user=user)
