"""What accounts tells whoever listens (receivers connect in their AppConfig.ready).

- password_changed(user): a user's password was set anew (changed, reset, or set by staff) and
  saved. Sent inside the saving transaction; accounts.receivers ends what the old password
  allowed.
"""

from django.dispatch import Signal

password_changed = Signal()
