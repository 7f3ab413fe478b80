"""Every notification event Bazaar raises, with its defaults: the one place they are listed.

A feature that wants to tell someone something adds its event here and calls
`notifications.services.notify(user, code, context)`. Titles and messages are format strings
filled from the context; each event also has an email template folder
`templates/notifications/email/<code>/` with subject.txt, body.txt and body.html. Several emails
of an event with a `group_title` due together for one person go out as one, from
`templates/notifications/email/grouped/`.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy


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
    MUTED = "muted"  # not even in-app (only events that allow it: Event.mutable)
    CHOICES = [
        (IMMEDIATE, _("Email me straight away")),
        (DIGEST, _("Daily digest")),
        (OFF, _("No email")),
        (MUTED, _("Don't notify me")),
    ]


class Audience:
    """Who an event can reach, and so who sees it among their preferences (page and API)."""

    EVERYONE = "everyone"  # buyers' events and what anyone can be told (messages)
    SELLERS = "sellers"  # only people with a seller profile
    STAFF = "staff"  # only staff


@dataclass(frozen=True)
class Event:
    code: str
    level: str
    label: str  # what the preferences page calls it
    title: str  # format string, filled from the context
    message: str  # format string, filled from the context
    low_priority: bool = False
    default_email: str = EmailMode.IMMEDIATE
    audience: str = Audience.EVERYONE
    # Alerts a person asked for (about listings they saved) may be turned off altogether, not
    # only their email: notify() then raises nothing for them.
    mutable: bool = False
    # Events a job raises in bursts (an auto-release job releases a seller's orders one after
    # another): the emails of several due together for one person go out as one email listing
    # them, whose subject this is (ngettext_lazy, counted by %(count)s), leading to the page
    # named `group_url`. None: one email each.
    group_title: object = None
    group_url: str = ""

    @property
    def email_modes(self):
        modes = [EmailMode.IMMEDIATE, EmailMode.DIGEST, EmailMode.OFF]
        modes = modes if self.low_priority else [EmailMode.IMMEDIATE, EmailMode.OFF]
        return [*modes, EmailMode.MUTED] if self.mutable else modes


EVENTS = {
    event.code: event
    for event in [
        Event(
            code="listing.approved",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("A listing of mine is approved"),
            title=_("“{listing_title}” is live"),
            message=_("Staff approved your listing. Buyers can now find it and buy it."),
        ),
        Event(
            code="listing.rejected",
            audience=Audience.SELLERS,
            level=Level.WARNING,
            label=_("A listing of mine is rejected"),
            title=_("“{listing_title}” was not approved"),
            message=_("Reason: {reason} Edit the listing and submit it again."),
        ),
        Event(
            code="listing.submitted",
            audience=Audience.STAFF,
            level=Level.INFO,
            label=_("A listing waits for review (staff)"),
            title=_("“{listing_title}” waits for review"),
            message=_("{store_name} submitted a listing for review."),
            low_priority=True,
            default_email=EmailMode.DIGEST,
        ),
        Event(
            code="store.created",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("My store is opened"),
            title=_("Your store “{store_name}” is open"),
            message=_("Add listings and submit them for review to start selling."),
        ),
        Event(
            code="connect.ready",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("I can take payments and receive payouts"),
            title=_("You can now take payments and get paid"),
            message=_("Stripe verified your details. Buyers can pay you and payouts are on."),
        ),
        Event(
            code="connect.action_required",
            audience=Audience.SELLERS,
            level=Level.WARNING,
            label=_("Stripe needs something from me to pay me"),
            title=_("Stripe needs more information"),
            message=_("{summary} Fix it on Stripe from your payouts page."),
        ),
        Event(
            code="order.funded",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("A buyer paid for an order (seller)"),
            title=_("New paid order: “{listing_title}”"),
            message=_("The buyer paid {amount}. Bazaar holds it until the order is approved."),
        ),
        Event(
            code="order.paid",
            level=Level.SUCCESS,
            label=_("My payment went through (buyer)"),
            title=_("Payment received for “{listing_title}”"),
            message=_("Bazaar holds your {amount} safely until you approve the delivery."),
        ),
        Event(
            code="booking.confirmed",
            level=Level.SUCCESS,
            label=_("A booked time is confirmed (buyer and seller)"),
            title=_("Booked: “{listing_title}” on {when}"),
            message=_("The booking with {other} is paid and confirmed for {when}."),
        ),
        Event(
            code="booking.reschedule_proposed",
            level=Level.INFO,
            label=_("Someone proposes another time for a booking"),
            title=_("New time proposed for “{listing_title}”: {when}"),
            message=_("Accept or decline the proposed time, {when}, on the order page."),
        ),
        Event(
            code="booking.rescheduled",
            level=Level.INFO,
            label=_("A booking moved to another time"),
            title=_("“{listing_title}” moved to {when}"),
            message=_("You and {other} agreed on a new time: {when}."),
        ),
        Event(
            code="order.payment_failed",
            level=Level.ERROR,
            label=_("My payment failed (buyer)"),
            title=_("Your payment for “{listing_title}” did not go through"),
            message=_("{reason} Your order is still open."),
        ),
        Event(
            code="order.delivered",
            level=Level.INFO,
            label=_("A seller delivered my order (buyer)"),
            title=_("“{listing_title}” was delivered"),
            message=_(
                "Check it and approve it. If you do nothing, payment is released on {deadline}."
            ),
        ),
        Event(
            code="order.shipped",
            level=Level.INFO,
            label=_("A seller shipped my order (buyer)"),
            title=_("“{listing_title}” was shipped"),
            message=_(
                "{carrier} tracking number {tracking_number}. Confirm receipt when it arrives; "
                "if you do nothing, payment is released on {deadline}."
            ),
        ),
        Event(
            code="order.received",
            audience=Audience.SELLERS,
            level=Level.INFO,
            label=_("A buyer received my order (seller)"),
            title=_("“{listing_title}” arrived"),
            message=_(
                "The buyer confirmed receipt. Unless they report a problem, payment is released "
                "to you on {deadline}."
            ),
        ),
        Event(
            code="order.release_reminder",
            level=Level.WARNING,
            label=_("An order releases its payment soon (buyer)"),
            title=_("Payment for “{listing_title}” is released soon"),
            message=_("Approve the order, or report a problem before {deadline}."),
        ),
        Event(
            code="order.approved",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("A buyer approved my delivery (seller)"),
            title=_("The buyer approved “{listing_title}”"),
            message=_("The payment is on its way to your Stripe balance."),
        ),
        Event(
            code="milestones.proposed",
            level=Level.INFO,
            label=_("A seller proposed milestones for my order (buyer)"),
            title=_("Milestones proposed for “{listing_title}”"),
            message=_(
                "The seller proposes to deliver it in {count} milestones. Accept the plan and "
                "each is paid to them on its own, when you approve it."
            ),
        ),
        Event(
            code="milestones.accepted",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("A buyer accepted my milestones (seller)"),
            title=_("The buyer accepted your milestones for “{listing_title}”"),
            message=_("Deliver them one by one: each is released on its own."),
        ),
        Event(
            code="milestone.delivered",
            level=Level.INFO,
            label=_("A seller delivered a milestone of my order (buyer)"),
            title=_("“{milestone_title}” of “{listing_title}” was delivered"),
            message=_(
                "Check it and approve it. If you do nothing, its payment is released on {deadline}."
            ),
        ),
        Event(
            code="milestone.released",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("Money for a milestone was released to me (seller)"),
            title=_("{amount} released for “{milestone_title}”"),
            message=_("The milestone of “{listing_title}” is paid to your Stripe balance."),
            group_title=ngettext_lazy(
                "Money released for %(count)s milestone",
                "Money released for %(count)s milestones",
                "count",
            ),
            group_url="seller-earnings",
        ),
        Event(
            code="order.released",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("Money was released to me (seller)"),
            title=_("{amount} released for “{listing_title}”"),
            message=_("The money is on your Stripe balance.{payouts_note}"),
            group_title=ngettext_lazy(
                "Money released for %(count)s order",
                "Money released for %(count)s orders",
                "count",
            ),
            group_url="seller-earnings",
        ),
        Event(
            code="order.refunded",
            level=Level.SUCCESS,
            label=_("Money was refunded to me (buyer)"),
            title=_("{amount} refunded for “{listing_title}”"),
            message=_(
                "{reason_text} It goes back to the card you paid with; banks take 5 to 10 "
                "days to show it."
            ),
        ),
        Event(
            code="order.refund_made",
            audience=Audience.SELLERS,
            level=Level.WARNING,
            label=_("A buyer was refunded (seller)"),
            title=_("{amount} refunded to the buyer of “{listing_title}”"),
            message=_("{reason_text}{seller_note}"),
        ),
        # Disputes (escrow/services/dispute_notices.py).
        Event(
            code="dispute.opened",
            audience=Audience.SELLERS,
            level=Level.WARNING,
            label=_("A buyer reported a problem with an order (seller)"),
            title=_("The buyer reported a problem with “{listing_title}”"),
            message=_(
                "{reason}. Answer by {deadline}; the payment stays held until Bazaar's team "
                "decides."
            ),
        ),
        Event(
            code="dispute.received",
            level=Level.INFO,
            label=_("My report of a problem is open (buyer)"),
            title=_("Your report about “{listing_title}” is open"),
            message=_(
                "Your payment stays held. The seller has until {deadline} to answer; Bazaar's "
                "team decides by {resolve_by}. Add photos or files in the order's conversation."
            ),
        ),
        Event(
            code="dispute.answered",
            level=Level.INFO,
            label=_("The seller answered my report of a problem (buyer)"),
            title=_("The seller answered your report about “{listing_title}”"),
            message=_("Bazaar's team reviews both sides and decides by {resolve_by}."),
        ),
        Event(
            code="dispute.answer_sent",
            audience=Audience.SELLERS,
            level=Level.INFO,
            label=_("My answer to a buyer’s report was sent (seller)"),
            title=_("Your answer about “{listing_title}” was sent"),
            message=_("Bazaar's team reviews both sides and decides by {resolve_by}."),
            low_priority=True,
        ),
        Event(
            code="dispute.withdrawn",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("A buyer withdrew their report of a problem (seller)"),
            title=_("The buyer withdrew their report about “{listing_title}”"),
            message=_("The order continues as before; the payment is still held in escrow."),
        ),
        Event(
            code="dispute.resolved",
            level=Level.INFO,
            label=_("A dispute about my order is resolved"),
            title=_("The dispute about “{listing_title}” is resolved"),
            message=_("{outcome}"),
        ),
        Event(
            code="dispute.escalated",
            audience=Audience.STAFF,
            level=Level.WARNING,
            label=_("A dispute is past its deadline (staff)"),
            title=_("Dispute #{dispute_id} needs a decision"),
            message=_("Order #{order_id}, “{listing_title}”: {why}"),
        ),
        Event(
            code="order.charged_back",
            audience=Audience.SELLERS,
            level=Level.ERROR,
            label=_("A buyer disputed a payment with their bank (seller)"),
            title=_("The buyer's bank disputed the payment for “{listing_title}”"),
            message=_(
                "{amount} is frozen until the bank decides. Bazaar answers with the order's "
                "evidence before {deadline}; send anything that helps through the order's "
                "messages."
            ),
        ),
        Event(
            code="order.charged_back_staff",
            audience=Audience.STAFF,
            level=Level.ERROR,
            label=_("A card chargeback needs evidence (staff)"),
            title=_("Chargeback on order #{order_id}: evidence due {deadline}"),
            message=_("{amount} for “{listing_title}”. Draft and submit the evidence in admin."),
        ),
        Event(
            code="order.chargeback_closed",
            audience=Audience.SELLERS,
            level=Level.INFO,
            label=_("A card chargeback was decided (seller)"),
            title=_("The chargeback on “{listing_title}” was decided"),
            message=_("The bank's dispute of {amount} is {outcome}."),
        ),
        Event(
            code="order.cancelled_paid",
            level=Level.WARNING,
            label=_("A paid order was cancelled"),
            title=_("Order #{order_id} “{listing_title}” was cancelled by {who}"),
            message=_("{refund} goes back to the buyer; {compensation} to the seller."),
        ),
        Event(
            code="payout.requested",
            audience=Audience.SELLERS,
            level=Level.INFO,
            label=_("I request a payout"),
            title=_("Payout of {amount} requested"),
            message=_("{amount} is on its way to your bank (instant payout fee: {fee})."),
            low_priority=True,
        ),
        Event(
            code="payout.paid",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("A payout reaches my bank"),
            title=_("{amount} paid out to your bank"),
            message=_("Your payout of {amount} has reached your bank."),
        ),
        Event(
            code="payout.failed",
            audience=Audience.SELLERS,
            level=Level.ERROR,
            label=_("A payout fails"),
            title=_("Your payout of {amount} failed"),
            message=_("{why} The money is back in your available balance. {fix}"),
        ),
        Event(
            code="payout.schedule_changed",
            audience=Audience.SELLERS,
            level=Level.INFO,
            label=_("My payout schedule changes"),
            title=_("You are now paid out {schedule}"),
            message=_("Your available balance is paid out to your bank {schedule}."),
        ),
        Event(
            code="payout.held",
            audience=Audience.SELLERS,
            level=Level.WARNING,
            label=_("Bazaar holds my payouts"),
            title=_("Your payouts are on hold"),
            message=_(
                "Bazaar is reviewing your account: {reason} Your money stays safe on your "
                "Stripe account until the review ends."
            ),
        ),
        Event(
            code="payout.unheld",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("Bazaar releases the hold on my payouts"),
            title=_("Your payouts are no longer on hold"),
            message=_("The review is over: you can be paid out again."),
        ),
        # A seller's listings on Amazon (amazon_sync/services.py).
        Event(
            code="amazon.listing_live",
            audience=Audience.SELLERS,
            level=Level.SUCCESS,
            label=_("A listing of mine is live on Amazon"),
            title=_("“{listing_title}” is live on Amazon"),
            message=_("Amazon assigned it ASIN {asin}. Its price and stock follow Bazaar's."),
        ),
        Event(
            code="amazon.sync_failed",
            audience=Audience.SELLERS,
            level=Level.WARNING,
            label=_("Amazon refuses or cannot take a listing of mine"),
            title=_("“{listing_title}” could not be synced with Amazon"),
            message=_("Amazon said: {problem}"),
        ),
        # Alerts about listings a person saved (favourites/services.py); on by default.
        Event(
            code="favourite.price_dropped",
            level=Level.INFO,
            label=_("The price of a listing I saved drops"),
            title=_("“{listing_title}” is now {new_price}"),
            message=_("The price dropped from {old_price} to {new_price}."),
            low_priority=True,
            mutable=True,
        ),
        Event(
            code="favourite.back_in_stock",
            level=Level.INFO,
            label=_("A listing I saved is back in stock"),
            title=_("“{listing_title}” is back in stock"),
            message=_("{stock} available at {price}."),
            low_priority=True,
            mutable=True,
        ),
        Event(
            code="review.received",
            level=Level.INFO,
            label=_("The other side of an order reviews me"),
            title=_("The {author_role} of order #{order_id} reviewed you"),
            # Never the review itself: it stays sealed until both sides are in or time is up.
            message=_("“{listing_title}”: {when}"),
        ),
        Event(
            code="message.received",
            level=Level.INFO,
            label=_("Someone sends me a message"),
            title=_("New message from {sender_name}"),
            message=_("{subject}: “{preview}”"),
            # Not emailed while the person is online; one per conversation until they read it.
            low_priority=True,
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
