"""What notifications tells the apps above it (they connect receivers in their AppConfig.ready;
notifications imports none of them).

- bell_checked(user): the person's open page (or app) just asked for their unread count, which
  it does only while it is in front of them: they are online (accounts records it, and an
  online person's new messages are not emailed).
"""

from django.dispatch import Signal

bell_checked = Signal()
