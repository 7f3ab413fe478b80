"""Every notification event Bazaar raises, with its defaults: the one place they are listed.

A feature that wants to tell someone something adds its event here and calls
`notifications.services.notify(user, code, context)`. Titles and messages are format strings
filled from the context; each event also has an email template folder
`templates/notifications/email/<code>/` with subject.txt, body.txt and body.html.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


class Level:
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    CHOICES = [
        (INFO, _("Info")),
        (SUCCESS, _("Success")),
        (WARNING, _("Warning")),
        (ERROR, _("Error")),
    ]


class EmailMode:
    IMMEDIATE = "immediate"  # one email per notification, sent straight away
    DIGEST = "digest"  # gathered into one daily email (low-priority events only)
    OFF = "off"  # in-app only
    CHOICES = [
        (IMMEDIATE, _("Email me straight away")),
        (DIGEST, _("Daily digest")),
        (OFF, _("No email")),
    ]


@dataclass(frozen=True)
class Event:
    code: str
    level: str
    label: str  # what the preferences page calls it
    title: str  # format string, filled from the context
    message: str  # format string, filled from the context
    low_priority: bool = False
    default_email: str = EmailMode.IMMEDIATE

    @property
    def email_modes(self):
        modes = [EmailMode.IMMEDIATE, EmailMode.DIGEST, EmailMode.OFF]
        return modes if self.low_priority else [EmailMode.IMMEDIATE, EmailMode.OFF]


EVENTS = {
    event.code: event
    for event in [
        Event(
            code="listing.approved",
            level=Level.SUCCESS,
            label=_("A listing of mine is approved"),
            title=_("“{listing_title}” is live"),
            message=_("Staff approved your listing. Buyers can now find it and buy it."),
        ),
        Event(
            code="listing.rejected",
            level=Level.WARNING,
            label=_("A listing of mine is rejected"),
            title=_("“{listing_title}” was not approved"),
            message=_("Reason: {reason} Edit the listing and submit it again."),
        ),
        Event(
            code="listing.submitted",
            level=Level.INFO,
            label=_("A listing waits for review (staff)"),
            title=_("“{listing_title}” waits for review"),
            message=_("{store_name} submitted a listing for review."),
            low_priority=True,
            default_email=EmailMode.DIGEST,
        ),
        Event(
            code="store.created",
            level=Level.SUCCESS,
            label=_("My store is opened"),
            title=_("Your store “{store_name}” is open"),
            message=_("Add listings and submit them for review to start selling."),
        ),
        Event(
            code="connect.ready",
            level=Level.SUCCESS,
            label=_("I can take payments and receive payouts"),
            title=_("You can now take payments and get paid"),
            message=_("Stripe verified your details. Buyers can pay you and payouts are on."),
        ),
        Event(
            code="connect.action_required",
            level=Level.WARNING,
            label=_("Stripe needs something from me to pay me"),
            title=_("Stripe needs more information"),
            message=_("{summary} Fix it on Stripe from your payouts page."),
        ),
    ]
}


class UnknownEvent(KeyError):
    pass


def get_event(code):
    try:
        return EVENTS[code]
    except KeyError:
        raise UnknownEvent(
            f"No notification event {code!r}; add it to notifications/events.py."
        ) from None
