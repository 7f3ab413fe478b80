"""Who may reach which object: every page and API route that names an object, tried as each actor.

The actors: the order's `buyer` and `seller` (the seller also owns the store, its listings and
a Stripe Express account), an `other_buyer` and an `other_seller` with no part in any of it,
`anonymous`, and `staff` (a superuser). The rule (CONVENTIONS.md, "a non-participant gets
404"): someone with no part in an object gets the answer a missing object gets, so ids cannot be
probed, and never a signed attachment URL, a message or file name of the conversation, the title
of a listing not on sale or a money figure of an order. Pages send anonymous visitors to sign
in; the API answers them 401. The lists and pages without an object in their URL are read by
the outsiders too: nothing of the order, the conversation or the draft may appear in them.

Staff, as the product decides it (each row says so where it differs):
- Orders, conversations, attachments through the participants' door and notifications are 404
  for staff on the public site: staff work on them in the admin (`order_for_participant_get`,
  `messaging.selectors`). The one staff door on the site is `?staff=1` on an attachment, which
  needs the permission to view attachments (the admin links to it).
- Staff see a listing page in any status (they review listings); they manage no store, so the
  seller's listing pages are 404 and the seller's listing API is 403 (not a seller).
- The sandbox's Express dashboard opens for staff, and for the browser that came in through
  that account's login link (the seller's "Open your Stripe dashboard"); a seller signed into
  their own dashboard still gets 404 on someone else's.

`test_every_object_route_is_in_the_matrix` walks the URL resolver: a new route with an object in
its URL fails until it gets rows here (or a reason in ELSEWHERE). The world is built once for the
module inside a transaction; each test runs in a savepoint that is rolled back, so a participant's
POST changes nothing for the next test.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts import connect
from accounts.factories import SellerFactory, ShippingAddressFactory, StaffFactory, UserFactory
from accounts.models import ConnectedAccount
from amazon_sync.models import AmazonFeed, AmazonListing, SyncStatus
from core.money import format_money
from escrow.factories import (
    DisputeFactory,
    EscrowPaymentFactory,
    MilestoneFactory,
    OrderFactory,
)
from escrow.models import Milestone, MilestoneStatus, OrderStatus
from escrow.testing import onboard, path_of
from marketplace.factories import (
    CategoryFactory,
    ListingFactory,
    ListingImageFactory,
    ServiceListingFactory,
    availability_for,
)
from marketplace.models import ListingStatus
from messaging.factories import AttachmentFactory, MessageFactory, OrderConversationFactory
from messaging.models import AttachmentState
from notifications.factories import NotificationFactory
from reviews.factories import ReviewFactory
from reviews.models import ReviewSide

ACTORS = ("buyer", "seller", "other_buyer", "other_seller", "anonymous", "staff")

LOGIN = "sign in"  # a page sends anonymous visitors to the login page (302)

# A signed attachment link, local (messaging.storage.PrivateFileStorage) or S3 (presigned).
SIGNED_URL_MARKERS = ("/messages/files/", "/messages/uploads/", "X-Amz-Signature", "Signature=")

# 3 × 32,921.81 = 98,765.43: figures no id, count or date on a page will match by chance.
UNIT_PRICE_CENTS = 3_292_181
QUANTITY = 3
MESSAGE_BODY = "Meet me by the blue door at the harbour"
DRAFT_TITLE = "Unreleased glaze sampler"
SERVICE_TITLE = "Unannounced throwing lesson"
HELD_BODY = "Pay me directly, IBAN on request"
DISPUTE_TEXT = "The glaze flakes off into the tea"
SEALED_REVIEW = "Sealed words nobody reads before the window ends"
# Where the buyer's orders are shipped, and the address they saved: the buyer's, the seller's
# and staff's (admin) only.
SHIPPING_STREET = "17 Quiet Lantern Lane"
SAVED_STREET = "4 Hidden Orchard Row"


# --- The world --------------------------------------------------------------------------------


@dataclass
class World:
    users: dict  # actor -> User (None for anonymous)
    order_pending: object
    order_funded: object
    order_delivered: object
    order_disputed: object
    order_milestones: object
    milestone_pending: object
    milestone_delivered: object
    conversation: object
    attachment: object
    held_attachment: object
    upload: object
    notification: object
    listing: object
    draft: object
    image: object
    category: object
    stripe_account: str
    service_draft: object = None  # a service not on sale, with availability
    order_released: object = None  # released, nobody has reviewed it yet
    order_reviewed: object = None  # released, both sides reviewed: published
    review: object = None  # the buyer's published review of the seller (order_reviewed)
    shipping_address: object = None  # the buyer's saved address
    amazon_feed: object = None  # a bulk sync of the seller's catalogue to Amazon
    secrets: list = field(default_factory=list)  # what an outsider must never see
    sessions: dict = field(default_factory=dict)  # actor -> a signed-in session's key


def _money_figures(order):
    """The order's money as pages print it (US$98,765.43) and as the API sends it (9876543)."""
    figures = []
    for cents in (
        order.total_cents,
        order.commission_cents,
        order.total_cents - order.commission_cents,
    ):
        figures.append(re.escape(format_money(cents, order.currency)))
        figures.append(rf"(?<![\d.,]){cents}(?![\d])")
    return figures


def _onboarded_seller():
    """A seller whose Stripe Express account finished onboarding on the sandbox's hosted page."""
    seller = SellerFactory()
    onboard(Client(), seller)
    account = ConnectedAccount.objects.get(seller_profile__user=seller)
    # The webhook that would say so is never delivered inside this transaction: ask Stripe.
    connect.connect_account_refresh(stripe_account_id=account.stripe_account_id)
    return seller, account.stripe_account_id


def build_world():
    seller, stripe_account = _onboarded_seller()
    other_seller, _ = _onboarded_seller()
    buyer = UserFactory()
    users = {
        "buyer": buyer,
        "seller": seller,
        "other_buyer": UserFactory(),
        "other_seller": other_seller,
        "anonymous": None,
        "staff": StaffFactory(),
    }
    category = CategoryFactory()
    listing = ListingFactory(store=seller.store, category=category, price_cents=UNIT_PRICE_CENTS)
    draft = ListingFactory(
        store=seller.store, category=category, status=ListingStatus.DRAFT, title=DRAFT_TITLE
    )
    service_draft = ServiceListingFactory(
        store=seller.store, category=category, status=ListingStatus.DRAFT, title=SERVICE_TITLE
    )
    availability_for(service_draft)
    # A row naming a file is enough: no page here reads the image's bytes.
    image = ListingImageFactory(listing=draft, image="listing-images/authz.png")

    def order(**state):
        return OrderFactory(
            listing=listing,
            buyer=buyer,
            quantity=QUANTITY,
            shipping_name="Pat Buyer",
            shipping_line1=SHIPPING_STREET,
            shipping_city="Springfield",
            shipping_country="US",
            transit_days=7,
            **state,
        )

    order_pending, order_funded, order_delivered = (
        order(),
        order(funded=True),
        # A product in review has been shipped.
        order(
            delivered=True,
            shipped_at=timezone.now(),
            carrier="usps",
            tracking_number="9400100000000000000001",
        ),
    )
    # A delivered order the buyer reported a problem with (frozen: disputed).
    order_disputed = order(delivered=True, status=OrderStatus.DISPUTED, disputed_from="delivered")
    for paid in (order_funded, order_delivered, order_disputed):
        EscrowPaymentFactory(order=paid)
    DisputeFactory(order=order_disputed, description=DISPUTE_TEXT)
    # A paid service order split into two milestones the buyer accepted: one in progress, one
    # delivered and in review.
    service = ServiceListingFactory(store=seller.store, category=category, price_cents=10000)
    order_milestones = OrderFactory(
        listing=service, buyer=buyer, funded=True, milestones_accepted_at=timezone.now()
    )
    EscrowPaymentFactory(order=order_milestones)
    milestone_pending = MilestoneFactory(
        order=order_milestones, position=1, amount_cents=4000, commission_cents=400
    )
    milestone_delivered = MilestoneFactory(
        order=order_milestones,
        position=2,
        amount_cents=6000,
        commission_cents=600,
        status=MilestoneStatus.DELIVERED,
        delivered_at=timezone.now(),
        review_deadline=timezone.now() + timedelta(days=14),
    )
    Milestone.objects.filter(pk=milestone_pending.pk).update(status=MilestoneStatus.PENDING)
    conversation = OrderConversationFactory(order=order_funded)
    message = MessageFactory(conversation=conversation, body=MESSAGE_BODY)
    attachment = AttachmentFactory(message=message, name="delivery-address.pdf")
    # Held for staff review: until staff let it through, only its sender sees it.
    held = MessageFactory(conversation=conversation, body=HELD_BODY, held=True)
    held_attachment = AttachmentFactory(message=held, name="bank-details.pdf")
    upload = AttachmentFactory(
        message=None,
        conversation=conversation,
        uploaded_by=buyer,
        state=AttachmentState.PENDING,
        name="receipt.pdf",
    )
    # Reviews: one released order nobody reviewed, one both sides reviewed (published), one the
    # buyer reviewed alone (sealed: nobody else may read it before the window ends).
    order_released, order_reviewed, order_sealed = (order(released=True) for _ in range(3))
    review = ReviewFactory(order=order_reviewed, text="Lovely glaze")
    ReviewFactory(order=order_reviewed, side=ReviewSide.SELLER)
    ReviewFactory(order=order_sealed, text=SEALED_REVIEW, sealed=True)
    # The draft once sent to Amazon (refused); the store's Amazon account since disconnected.
    AmazonListing.objects.create(listing=draft, sku=f"BZ-{draft.pk}", status=SyncStatus.ERROR)
    world = World(
        users=users,
        order_pending=order_pending,
        order_funded=order_funded,
        order_delivered=order_delivered,
        order_disputed=order_disputed,
        order_milestones=order_milestones,
        milestone_pending=milestone_pending,
        milestone_delivered=milestone_delivered,
        conversation=conversation,
        attachment=attachment,
        held_attachment=held_attachment,
        upload=upload,
        notification=NotificationFactory(recipient=buyer),
        listing=listing,
        draft=draft,
        image=image,
        category=category,
        stripe_account=stripe_account,
        service_draft=service_draft,
        order_released=order_released,
        order_reviewed=order_reviewed,
        review=review,
        shipping_address=ShippingAddressFactory(user=buyer, line1=SAVED_STREET, is_default=True),
        amazon_feed=AmazonFeed.objects.create(store=seller.store),
    )
    world.secrets = [
        re.escape(SHIPPING_STREET),
        re.escape(SAVED_STREET),
        *_money_figures(order_funded),
        re.escape(MESSAGE_BODY),
        re.escape(attachment.name),
        re.escape(HELD_BODY),
        re.escape(held_attachment.name),
        re.escape(draft.title),
        re.escape(SERVICE_TITLE),
        re.escape(DISPUTE_TEXT),
        re.escape(SEALED_REVIEW),
        *(re.escape(marker) for marker in SIGNED_URL_MARKERS),
    ]
    for actor, user in users.items():
        if user is not None:
            client = Client()
            client.force_login(user)
            world.sessions[actor] = client.session.session_key
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once; rolled back when the module is done. Each test's own changes are undone by
    its savepoint (pytest-django's `db`), inside this transaction."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


# --- The matrix -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One route and method. `owners` hold the object; every other actor is an outsider, who
    gets what `expect` says (404 by default; anonymous: LOGIN on pages, 401 on the API) and must
    get the same answer for an object that does not exist, unless the object is `public`."""

    route: str
    method: str
    kwargs: object  # World -> the URL's kwargs
    owners: tuple = ()
    expect: dict = field(default_factory=dict)
    data: dict | None = None
    query: str = ""
    public: bool = False  # the catalogue: that it exists is no secret
    shows: tuple = ()  # what owners do see (proves the secrets check can fail)

    @property
    def is_api(self):
        return self.route.startswith("api-")

    def expected(self, actor):
        if actor in self.expect:
            return self.expect[actor]
        if actor == "anonymous":
            return 401 if self.is_api else LOGIN
        return 404

    def __str__(self):
        return f"{self.method} {self.route}{self.query}"


def order(state):
    return lambda w: {"pk": getattr(w, f"order_{state}").pk}


def milestone(state):
    return lambda w: {
        "pk": w.order_milestones.pk,
        "milestone_pk": getattr(w, f"milestone_{state}").pk,
    }


def api_milestone(state):
    return lambda w: {
        "pk": w.order_milestones.pk,
        "milestone_id": getattr(w, f"milestone_{state}").pk,
    }


def conversation(w):
    return {"pk": w.conversation.pk}


def attachment(w):
    return {"pk": w.attachment.pk}


def held_attachment(w):
    return {"pk": w.held_attachment.pk}


def notification(w):
    return {"pk": w.notification.pk}


def draft(w):
    return {"pk": w.draft.pk}


def service_draft(w):
    return {"pk": w.service_draft.pk}


def amazon_feed(w):
    return {"pk": w.amazon_feed.pk}


def draft_as_listing_pk(w):
    return {"listing_pk": w.draft.pk}


def store(w):
    return {"slug": w.users["seller"].store.slug}


PARTIES = ("buyer", "seller")
BOTH = {"buyer": 200, "seller": 200}
SELLER = ("seller",)
REVIEWERS = ("seller", "staff")  # a listing not on sale exists for its seller and for staff
REVIEWED = {"seller": 200, "staff": 200}
NOT_SELLERS = {"buyer": 403, "other_buyer": 403, "staff": 403}
SIGNED_IN = ("buyer", "seller", "other_buyer", "other_seller", "staff")
MONEY = "money"  # `shows`: the order's total, formatted on pages
ADDRESS = "address"  # `shows`: the order's shipping address
SIGNED = "signed"  # `shows`: a signed attachment URL

MATRIX = [
    # --- The order room and its actions (escrow/views.py) -------------------------------------
    Row("order-detail", "GET", order("funded"), PARTIES, BOTH, shows=(MONEY, ADDRESS)),
    # The other party's buttons answer with a message on the order page, not a 404.
    Row("order-pay", "POST", order("pending"), PARTIES, {"buyer": 302, "seller": 302}),
    Row("order-paid", "GET", order("pending"), PARTIES, BOTH),
    Row("order-status", "GET", order("pending"), PARTIES, BOTH),
    Row(
        "order-deliver",
        "POST",
        order("funded"),
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"note": "Posted today"},
    ),
    Row(
        "order-ship",
        "POST",
        order("funded"),
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
    ),
    Row("order-received", "POST", order("delivered"), PARTIES, {"buyer": 302, "seller": 302}),
    Row("order-approve", "POST", order("delivered"), PARTIES, {"buyer": 302, "seller": 302}),
    Row("order-cancel", "POST", order("pending"), PARTIES, {"buyer": 302, "seller": 302}),
    Row("order-cancel", "GET", order("funded"), PARTIES, BOTH, shows=(MONEY,)),
    Row(
        "order-cancel",
        "POST",
        order("funded"),
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"expected_refund_cents": "999999"},
    ),
    # Refunding is the seller's: the page does not exist for anyone else, the buyer included.
    Row("order-refund", "GET", order("funded"), SELLER, {"seller": 200}, shows=(MONEY,)),
    Row(
        "order-refund",
        "POST",
        order("funded"),
        SELLER,
        {"seller": 302},
        data={"amount": "1.00", "reason": "Chipped", "client_key": "authz"},
    ),
    # Buying a listing that is not on sale: only its seller and staff see it exist.
    Row("order-create", "GET", draft_as_listing_pk, REVIEWERS, {"seller": 302, "staff": 302}),
    Row(
        "order-create",
        "POST",
        draft_as_listing_pk,
        REVIEWERS,
        {"seller": 200, "staff": 200},
        data={"quantity": 1, "client_key": "authz"},
    ),
    # --- Disputes (escrow/views.py): the other party's buttons answer with a message ---------
    Row("order-dispute", "GET", order("disputed"), PARTIES, BOTH),
    Row(
        "order-dispute",
        "POST",
        order("funded"),
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"reason": "not_received", "description": "Nothing came.", "client_key": "authz"},
    ),
    Row("order-dispute-respond", "GET", order("disputed"), PARTIES, {"buyer": 302, "seller": 200}),
    Row(
        "order-dispute-respond",
        "POST",
        order("disputed"),
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"response": "Sent on time."},
    ),
    Row(
        "order-dispute-withdraw",
        "POST",
        order("disputed"),
        PARTIES,
        {"buyer": 302, "seller": 302},
    ),
    # --- Milestones (escrow/views.py): the other party's buttons answer with a message ---------
    # No booking on this order: the parties get the order page back with why (400) or a message.
    Row(
        "order-reschedule",
        "POST",
        order("pending"),
        PARTIES,
        {"buyer": 400, "seller": 400},
        data={"slot_start": "2099-01-01T10:00:00Z"},
    ),
    Row(
        "order-reschedule-accept", "POST", order("pending"), PARTIES, {"buyer": 302, "seller": 302}
    ),
    Row(
        "order-reschedule-decline", "POST", order("pending"), PARTIES, {"buyer": 302, "seller": 302}
    ),
    Row("order-milestones", "GET", order("milestones"), PARTIES, {"buyer": 302, "seller": 200}),
    Row(
        "order-milestones",
        "POST",
        order("milestones"),
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"rows": "2", "m0-title": "A", "m0-amount": "50", "m1-title": "B"},
    ),
    Row(
        "order-milestones-accept",
        "POST",
        order("milestones"),
        PARTIES,
        {"buyer": 302, "seller": 302},
    ),
    Row(
        "order-milestone-deliver",
        "POST",
        milestone("pending"),
        PARTIES,
        {"buyer": 302, "seller": 302},
    ),
    Row(
        "order-milestone-approve",
        "POST",
        milestone("delivered"),
        PARTIES,
        {"buyer": 302, "seller": 302},
    ),
    # --- Orders over the API (escrow/api.py): the other party is refused with a 403 -----------
    Row("api-order-milestones", "GET", order("milestones"), PARTIES, BOTH),
    Row(
        "api-order-milestones",
        "POST",
        order("milestones"),
        PARTIES,
        {"buyer": 403, "seller": 409},
        data={"milestones": [{"title": "All", "amount_cents": 10000, "due_date": "2099-01-01"}]},
    ),
    Row(
        "api-order-milestones-accept",
        "POST",
        order("milestones"),
        PARTIES,
        {"buyer": 200, "seller": 403},
    ),
    Row(
        "api-order-milestone-deliver",
        "POST",
        api_milestone("pending"),
        PARTIES,
        {"buyer": 403, "seller": 200},
    ),
    Row(
        "api-order-milestone-approve",
        "POST",
        api_milestone("delivered"),
        PARTIES,
        {"buyer": 200, "seller": 403},
    ),
    Row("api-order-detail", "GET", order("funded"), PARTIES, BOTH, shows=(MONEY, ADDRESS)),
    Row("api-order-pay", "POST", order("pending"), PARTIES, {"buyer": 200, "seller": 403}),
    # A product is shipped, not delivered: its seller is refused (409) too.
    Row("api-order-deliver", "POST", order("funded"), PARTIES, {"buyer": 403, "seller": 409}),
    Row(
        "api-order-ship",
        "POST",
        order("funded"),
        PARTIES,
        {"buyer": 403, "seller": 200},
        data={"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
    ),
    Row("api-order-received", "POST", order("delivered"), PARTIES, {"buyer": 200, "seller": 403}),
    # A buyer's saved address is theirs alone.
    Row(
        "shipping-address-default",
        "POST",
        lambda w: {"pk": w.shipping_address.pk},
        ("buyer",),
        {"buyer": 302},
    ),
    Row(
        "shipping-address-delete",
        "POST",
        lambda w: {"pk": w.shipping_address.pk},
        ("buyer",),
        {"buyer": 302},
    ),
    Row(
        "api-me-shipping-address",
        "DELETE",
        lambda w: {"pk": w.shipping_address.pk},
        ("buyer",),
        {"buyer": 204},
    ),
    Row(
        "api-me-shipping-address-default",
        "POST",
        lambda w: {"pk": w.shipping_address.pk},
        ("buyer",),
        {"buyer": 200},
    ),
    Row("api-order-approve", "POST", order("delivered"), PARTIES, {"buyer": 200, "seller": 403}),
    Row("api-order-cancel", "POST", order("pending"), PARTIES, {"buyer": 200, "seller": 403}),
    Row("api-order-dispute", "GET", order("disputed"), PARTIES, BOTH),
    Row(
        "api-order-dispute",
        "POST",
        order("funded"),
        PARTIES,
        {"buyer": 201, "seller": 403},
        data={"reason": "not_received", "description": "Nothing came."},
    ),
    Row(
        "api-order-dispute-respond",
        "POST",
        order("disputed"),
        PARTIES,
        {"buyer": 403, "seller": 200},
        data={"response": "Sent on time."},
    ),
    Row(
        "api-order-dispute-withdraw",
        "POST",
        order("disputed"),
        PARTIES,
        {"buyer": 200, "seller": 403},
    ),
    # No booking on these orders: the parties learn that (409), outsiders get 404.
    Row(
        "api-order-reschedule",
        "POST",
        order("pending"),
        PARTIES,
        {"buyer": 409, "seller": 409},
        data={"slot_start": "2099-01-01T10:00:00Z"},
    ),
    Row(
        "api-order-reschedule-accept",
        "POST",
        order("pending"),
        PARTIES,
        {"buyer": 409, "seller": 409},
    ),
    Row(
        "api-order-reschedule-decline",
        "POST",
        order("pending"),
        PARTIES,
        {"buyer": 409, "seller": 409},
    ),
    Row("api-order-refund-preview", "GET", order("funded"), PARTIES, BOTH),
    Row("api-order-refunds", "GET", order("funded"), PARTIES, BOTH),
    Row(
        "api-order-refunds",
        "POST",
        order("funded"),
        PARTIES,
        {"buyer": 403, "seller": 201},
        data={"amount_cents": 100, "reason": "Chipped"},
    ),
    # --- Reviews (reviews/): the order's parties review; the seller replies -------------------
    Row("order-review", "GET", order("released"), PARTIES, BOTH),
    Row(
        "order-review",
        "POST",
        order("released"),
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"rating": "5", "text": "Smooth"},
    ),
    Row("api-order-review", "GET", order("released"), PARTIES, BOTH),
    Row(
        "api-order-review",
        "POST",
        order("released"),
        PARTIES,
        {"buyer": 201, "seller": 201},
        data={"rating": 5},
    ),
    Row(
        "api-order-review-reply",
        "POST",
        order("reviewed"),
        PARTIES,
        {"buyer": 403, "seller": 200},
        data={"reply": "Thank you!"},
    ),
    # A reply is the reviewed seller's: the review's page does not exist for anyone else.
    Row("review-reply", "GET", lambda w: {"pk": w.review.pk}, SELLER, {"seller": 200}),
    Row(
        "review-reply",
        "POST",
        lambda w: {"pk": w.review.pk},
        SELLER,
        {"seller": 302},
        data={"reply": "Thank you!"},
    ),
    # --- The order's conversation (messaging) ----------------------------------------------------
    Row("messaging:conversation", "GET", conversation, PARTIES, BOTH),
    Row(
        "messaging:send",
        "POST",
        conversation,
        PARTIES,
        {"buyer": 302, "seller": 302},
        data={"body": "Any news?"},
    ),
    Row(
        "api-conversation-for-order",
        "GET",
        lambda w: {"order_id": w.order_funded.pk},
        PARTIES,
        BOTH,
    ),
    Row("api-conversation-detail", "GET", conversation, PARTIES, BOTH),
    Row("api-conversation-messages", "GET", conversation, PARTIES, BOTH),
    Row(
        "api-conversation-messages",
        "POST",
        conversation,
        PARTIES,
        {"buyer": 201, "seller": 201},
        data={"body": "Any news?"},
    ),
    Row("api-conversation-read", "POST", conversation, PARTIES, BOTH, data={}),
    Row(
        "api-conversation-uploads",
        "POST",
        conversation,
        PARTIES,
        {"buyer": 201, "seller": 201},
        data={"filename": "photo.jpg", "size": 2048},
    ),
    # An unsent upload is its uploader's alone: the seller in the same conversation gets 404.
    # (400: nothing was uploaded to it yet, which only its uploader may learn.)
    Row(
        "api-conversation-upload-confirm",
        "POST",
        lambda w: {"pk": w.conversation.pk, "upload_id": w.upload.pk},
        ("buyer",),
        {"buyer": 400},
    ),
    # --- Attachments: a fresh signed URL behind an access check ---------------------------------
    Row(
        "messaging:attachment",
        "GET",
        attachment,
        PARTIES,
        {"buyer": 302, "seller": 302},
        shows=(SIGNED,),
    ),
    # Staff's door from the admin: the permission to view attachments, not a seat.
    Row(
        "messaging:attachment",
        "GET",
        attachment,
        ("staff",),
        {"staff": 302},
        query="?staff=1",
        shows=(SIGNED,),
    ),
    Row("api-attachment", "GET", attachment, PARTIES, BOTH, shows=(SIGNED,)),
    Row("api-attachment-download", "GET", attachment, PARTIES, {"buyer": 302, "seller": 302}),
    # A file on a message held for review is its sender's until staff let the message through.
    Row("messaging:attachment", "GET", held_attachment, ("buyer",), {"buyer": 302}),
    Row("api-attachment", "GET", held_attachment, ("buyer",), {"buyer": 200}),
    # --- Notifications: the recipient's alone -------------------------------------------------
    Row("notifications:open", "GET", notification, ("buyer",), {"buyer": 302}),
    Row("notifications:read", "POST", notification, ("buyer",), {"buyer": 302}),
    Row("notifications:delete", "POST", notification, ("buyer",), {"buyer": 302}),
    Row("api-notification-read", "POST", notification, ("buyer",), {"buyer": 200}),
    Row("api-notification-detail", "DELETE", notification, ("buyer",), {"buyer": 204}),
    # --- A listing that is not on sale (a draft), and its images --------------------------------
    Row("listing-detail", "GET", draft, REVIEWERS, {**REVIEWED, "anonymous": 404}),
    # The public API shows approved listings only, to everyone; the seller uses seller/listings.
    Row("api-listing-detail", "GET", draft, (), {"anonymous": 404}),
    Row("api-listing-slots", "GET", draft, (), {"anonymous": 404}),
    Row("api-listing-availability", "GET", draft, (), {"anonymous": 404}),
    Row("messaging:ask", "GET", draft_as_listing_pk, REVIEWERS, REVIEWED),
    Row(
        "messaging:ask",
        "POST",
        draft_as_listing_pk,
        REVIEWERS,
        REVIEWED,
        data={"body": "Is it still available?"},
    ),
    Row("seller-listing-edit", "GET", draft, SELLER, {"seller": 200}),
    Row("seller-listing-edit", "POST", draft, SELLER, {"seller": 200}, data={}),
    Row("seller-listing-submit", "POST", draft, SELLER, {"seller": 302}),
    Row("seller-listing-withdraw", "POST", draft, SELLER, {"seller": 302}),
    Row("seller-listing-archive", "POST", draft, SELLER, {"seller": 302}),
    Row("seller-listing-restore", "POST", draft, SELLER, {"seller": 302}),
    Row("seller-listing-images", "GET", draft, SELLER, {"seller": 200}),
    Row("seller-listing-images", "POST", draft, SELLER, {"seller": 200}, data={}),
    Row("seller-listing-availability", "GET", service_draft, SELLER, {"seller": 200}),
    Row("seller-listing-availability", "POST", service_draft, SELLER, {"seller": 200}, data={}),
    Row(
        "seller-listing-image-delete",
        "POST",
        lambda w: {"pk": w.draft.pk, "image_pk": w.image.pk},
        SELLER,
        {"seller": 302},
    ),
    # The seller's listing API asks "are you a seller?" before it looks for the listing: a buyer
    # or staff gets the same 403 for any id, so nothing is revealed.
    *(
        Row(
            route,
            method,
            kwargs,
            SELLER,
            {"seller": status, **NOT_SELLERS},
            data=data,
        )
        for route, method, kwargs, status, data in [
            ("api-seller-listing-detail", "GET", draft, 200, None),
            ("api-seller-listing-detail", "PATCH", draft, 200, {"title": "Renamed"}),
            ("api-seller-listing-submit", "POST", draft, 200, None),
            # A draft is not in review: 409, which only its seller may learn.
            # A draft is not in review: withdrawing it is already done.
            ("api-seller-listing-withdraw", "POST", draft, 200, None),
            ("api-seller-listing-archive", "POST", draft, 200, None),
            ("api-seller-listing-restore", "POST", draft, 409, None),
            ("api-seller-listing-images", "POST", draft, 400, None),
            ("api-seller-listing-availability", "GET", service_draft, 200, None),
            (
                "api-seller-listing-availability",
                "PUT",
                service_draft,
                200,
                {"windows": [{"weekday": 0, "start_time": "09:00", "end_time": "12:00"}]},
            ),
            (
                "api-seller-listing-image-remove",
                "DELETE",
                lambda w: {"pk": w.draft.pk, "image_id": w.image.pk},
                204,
                None,
            ),
        ]
    ),
    # --- Amazon (amazon_sync): the seller's own listings and catalogue syncs ------------------
    # The store has no Amazon account (any more): publishing is refused on the form (400),
    # "Sync now" and "Delist" with a message (302); in the API, 409. Staff manage no store.
    Row("amazon_sync:listing", "GET", draft, SELLER, {"seller": 200}),
    Row(
        "amazon_sync:listing-publish",
        "POST",
        draft,
        SELLER,
        {"seller": 400},
        data={"product_type": "PRODUCT"},
    ),
    Row("amazon_sync:listing-sync", "POST", draft, SELLER, {"seller": 302}),
    Row("amazon_sync:listing-delist", "POST", draft, SELLER, {"seller": 302}),
    Row("amazon_sync:feed", "GET", amazon_feed, SELLER, {"seller": 200}),
    *(
        Row(route, method, kwargs, SELLER, {"seller": status, **NOT_SELLERS}, data=data)
        for route, method, kwargs, status, data in [
            ("api-amazon-listing", "GET", draft, 200, None),
            ("api-amazon-listing-publish", "POST", draft, 409, {"product_type": "PRODUCT"}),
            ("api-amazon-listing-sync", "POST", draft, 409, None),
            ("api-amazon-listing-delist", "POST", draft, 409, None),
            ("api-amazon-feed", "GET", amazon_feed, 200, None),
        ]
    ),
    # --- The catalogue: public, and it shows nothing of orders, drafts or messages ------------
    *(
        Row(route, "GET", kwargs, (), dict.fromkeys(ACTORS, 200), public=True)
        for route, kwargs in [
            ("category", lambda w: {"slug": w.category.slug}),
            ("api-category-detail", lambda w: {"slug": w.category.slug}),
            ("store", store),
            ("store-products", store),
            ("store-about", store),
            ("store-contact", store),
            ("store-reviews", store),
            ("api-store-detail", store),
            ("api-store-reviews", store),
        ]
    ),
    # Writing to a store (its Contact page): anyone signed in; its owner is told it is theirs.
    Row(
        "messaging:store-message",
        "GET",
        store,
        (),
        {actor: 200 for actor in ACTORS if actor != "anonymous"},
        public=True,
    ),
    # Editing a store: its owner only. The store is public, so 403 (not 404) gives nothing away.
    Row(
        "api-store-detail",
        "PATCH",
        store,
        SELLER,
        {"seller": 200, "other_buyer": 403, "other_seller": 403, "buyer": 403, "staff": 403},
        data={"tagline": "Mugs and bowls"},
        public=True,
    ),
    # --- Favourites: each person saves and unsaves for themselves only --------------------------
    # A listing on sale or a store is public: anyone signed in saves it and is sent back (302).
    *(
        Row(route, "POST", kwargs, (), dict.fromkeys(SIGNED_IN, 302), public=True)
        for route, kwargs in [
            ("favourites:listing-save", lambda w: {"pk": w.listing.pk}),
            ("favourites:listing-unsave", lambda w: {"pk": w.listing.pk}),
            ("favourites:store-save", store),
            ("favourites:store-unsave", store),
        ]
    ),
    # A draft cannot be saved, and refusing it says no more than refusing a missing listing.
    Row("favourites:listing-save", "POST", draft, (), dict.fromkeys(SIGNED_IN, 302)),
    # Unsaving touches only the caller's own row: 204 whether they saved it, or it exists.
    Row(
        "api-favourite-listing",
        "DELETE",
        lambda w: {"listing_id": w.draft.pk},
        (),
        dict.fromkeys(SIGNED_IN, 204),
    ),
    Row("api-favourite-store", "DELETE", store, (), dict.fromkeys(SIGNED_IN, 204)),
    # --- The sandbox's Stripe Express dashboard -------------------------------------------------
    # The seller (and the other seller) come in through their own login links first.
    Row(
        "stripe_sandbox:express-dashboard",
        "GET",
        lambda w: {"account_id": w.stripe_account},
        ("seller", "staff"),
        {"seller": 200, "staff": 200, "anonymous": 404},
    ),
]

# Routes with an object in the URL that this matrix does not try, and where that is done instead.
ELSEWHERE = {
    # A credential in the URL, which the view checks (and that app's tests try):
    "password_reset_confirm": "the reset token (accounts/tests/test_password_reset.py)",
    "email-confirm": "a signed, expiring key (accounts/tests/test_email_verification.py)",
    "notifications:unsubscribe": "a signed token (notifications/tests/test_pages.py)",
    "djstripe:djstripe_webhook_by_uuid": "Stripe's signature (core/tests/test_stripe_webhooks.py)",
    "messaging:file": "a signed, expiring link, minted only after the attachment rows' checks",
    "messaging:direct-upload": "a signed, expiring link, minted only for api-conversation-uploads",
    "stripe_sandbox:express-login": "a single-use login link (accounts/tests/test_connect.py)",
    "stripe_sandbox:api": "the sandbox's REST API: a secret key",
    # Stripe's hosted pages: the unguessable id is the credential, as on Stripe.
    "stripe_sandbox:onboarding": "the account link's id",
    "stripe_sandbox:checkout": "the Checkout Session's id",
    "stripe_sandbox:checkout_authenticate": "the Checkout Session's id",
    "stripe_sandbox:authenticate": "the PaymentIntent's id",
    "stripe_sandbox:receipt": "the charge's id",
    # Staff only.
    "stripe_sandbox:control_deliver": "test_staff_pages_are_for_staff_only",
    "stripe_sandbox:control_dispute_close": "test_staff_pages_are_for_staff_only",
    # The offline Amazon SP-API: an LWA access token names the seller (amazon_sandbox/tests).
    "amazon_sandbox:sp-api": "the sandbox's SP-API: an access token for that selling partner",
    "amazon_sandbox:document": "the feed document's id, unguessable as Amazon's presigned URL",
}

CASES = [pytest.param(row, actor, id=f"{row} as {actor}") for row in MATRIX for actor in ACTORS]


# --- Asking ---------------------------------------------------------------------------------


def _missing(kwargs):
    """The same URL naming an object that does not exist."""
    missing = {}
    for name, value in kwargs.items():
        if isinstance(value, uuid.UUID):
            missing[name] = uuid.uuid4()
        elif isinstance(value, int):
            missing[name] = 999_999_999
        else:
            missing[name] = f"{value}-missing"
    return missing


def _client(world, actor, row):
    client = Client()
    if actor in world.sessions:
        # Signed in once for the module; what a test writes to the session is rolled back.
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    if row.route == "stripe_sandbox:express-dashboard" and actor in ("seller", "other_seller"):
        # "Open your Stripe dashboard": a login link into the person's own account.
        login_link = client.post(reverse("connect-dashboard"))
        assert client.get(path_of(login_link["Location"])).status_code == 302
    return client


def _ask(client, row, kwargs):
    url = reverse(row.route, kwargs=kwargs) + row.query
    if row.method == "GET":
        return client.get(url)
    if row.is_api and row.data is None:
        return client.generic(row.method, url)  # no body at all
    if row.is_api:
        body = json.dumps(row.data)
        return client.generic(row.method, url, body, content_type="application/json")
    form = urlencode(row.data or {})
    return client.generic(row.method, url, form, content_type="application/x-www-form-urlencoded")


def _said(response):
    # A streamed answer (the earnings CSV) is read whole.
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode(errors="replace") + "\n" + response.get("Location", "")


def _check_status(response, expected):
    if expected == LOGIN:
        assert response.status_code == 302, response.status_code
        assert path_of(response["Location"]).startswith(reverse("login") + "?next="), response[
            "Location"
        ]
    else:
        assert response.status_code == expected, (response.status_code, _said(response)[:500])


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "actor"), CASES)
def test_authorization_matrix(world, row, actor):
    kwargs = row.kwargs(world)
    expected = row.expected(actor)
    client = _client(world, actor, row)
    response = _ask(client, row, kwargs)
    _check_status(response, expected)
    said = _said(response)

    if actor in row.owners:
        assert expected != 404
        if MONEY in row.shows:
            order = world.order_funded
            total = (
                str(order.total_cents)
                if row.is_api
                else format_money(order.total_cents, order.currency)
            )
            assert total in said
        if ADDRESS in row.shows:
            assert SHIPPING_STREET in said
        if SIGNED in row.shows:
            assert any(marker in said for marker in SIGNED_URL_MARKERS)
        return

    leaked = [secret for secret in world.secrets if re.search(secret, said)]
    assert not leaked, f"{actor} was shown {leaked}"
    if not row.public:
        # Nothing tells an outsider that this object exists.
        missing = _ask(client, row, _missing(kwargs))
        assert missing.status_code == response.status_code


# --- Pages and lists without an object in the URL ----------------------------------------------

# Not read here: they sign out, describe the API (no data) or are the sandbox's (staff, Stripe).
NOT_READ = {"logout", "api-auth-logout", "api-auth-logout-all", "api-schema", "api-docs"}


def _object_free_urls():
    for route, name, kwargs, _pattern in _routes():
        if kwargs or route.startswith(("admin/", "stripe-sandbox/")) or name in NOT_READ:
            continue
        yield reverse(name)


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["other_buyer", "other_seller", "anonymous", "staff"])
def test_lists_and_pages_show_outsiders_nothing(world, actor):
    """Inboxes, order lists, ledgers, dashboards, counts: someone else's order, conversation or
    draft never appears in them."""
    client = _client(world, actor, MATRIX[0])
    leaks = []
    for url in _object_free_urls():
        said = _said(client.get(url))
        leaks += [f"{url}: {secret}" for secret in world.secrets if re.search(secret, said)]
    assert not leaks, f"{actor} was shown {leaks}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("actor", "route", "shown"),
    [
        ("buyer", "orders-buying", "US$98,765.43"),
        ("seller", "orders-selling", "US$98,765.43"),
        ("buyer", "api-order-list", '"total_cents":9876543'),
        ("seller", "api-order-list", '"total_cents":9876543'),
        ("seller", "messaging:inbox", MESSAGE_BODY),
        ("buyer", "api-me-shipping-addresses", SAVED_STREET),
        ("buyer", "shipping-addresses", SAVED_STREET),
        ("seller", "seller-dashboard", DRAFT_TITLE),
    ],
)
def test_the_parties_lists_do_show_it(world, actor, route, shown):
    """The check above can fail: the same lists show the parties what outsiders must not see."""
    assert shown in _said(_client(world, actor, MATRIX[0]).get(reverse(route)))


@pytest.mark.django_db
@pytest.mark.parametrize("route", ["seller-payouts", "api-seller-balance"])
def test_the_sellers_balances_do_show_their_held_money(world, route):
    """The seller's balances (page and API, object-free routes the outsiders read above) hold
    the seller's share of the four paid orders (one in milestones, none released): what
    outsiders' balances must not."""
    paid = (world.order_funded, world.order_delivered, world.order_disputed)
    held = sum(
        order.total_cents - order.commission_cents for order in (*paid, world.order_milestones)
    )
    said = _said(_client(world, "seller", MATRIX[0]).get(reverse(route)))
    currency = world.order_funded.currency
    shown = (
        f'"in_escrow_cents":{held}' if route.startswith("api-") else format_money(held, currency)
    )
    assert shown in said


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("route", "seller_sees"),
    [
        ("seller-earnings", "Net earnings per week"),
        ("seller-earnings-export", "date,order_id,account,description,amount"),
        ("api-seller-earnings", '"currencies":'),
        ("api-seller-earnings-export", "date,order_id,account,description,amount"),
        ("api-seller-payouts", '"results":'),
        ("api-seller-payout-schedule", '"interval":"manual"'),
        ("seller-payout-history", "Every payout to your bank"),
    ],
)
def test_the_sellers_earnings_answer_sellers_only(world, route, seller_sees):
    """The earnings and the payouts list (object-free: the outsiders read them above) answer a
    seller with their own figures; someone who does not sell is sent to set up a store (pages)
    or refused (API)."""
    said = _said(_client(world, "seller", MATRIX[0]).get(reverse(route)))
    assert seller_sees in said
    refused = _client(world, "other_buyer", MATRIX[0]).get(reverse(route))
    if route.startswith("api-"):
        assert refused.status_code == 403
    else:
        assert refused.status_code == 302
        assert refused["Location"] == reverse("seller-onboard")


# --- Every route with an object is in the matrix ----------------------------------------------


def _routes(patterns=None, prefix="", namespace=""):
    """(prefix, name, kwarg names, callback) of every route the resolver knows."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name}" if pattern.name else None
            yield (
                prefix + str(pattern.pattern),
                name,
                set(pattern.pattern.regex.groupindex),
                pattern,
            )


def _api_methods(pattern):
    """The methods a DRF route answers (a viewset's actions, an APIView's handlers)."""
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:
        return {method.upper() for method in actions} - {"HEAD", "OPTIONS"}
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    handlers = ("get", "post", "put", "patch", "delete")
    found = {method.upper() for method in handlers if hasattr(view_class, method)}
    return found - {"HEAD", "OPTIONS"}


def test_every_object_route_is_in_the_matrix():
    in_matrix = {}
    for row in MATRIX:
        in_matrix.setdefault(row.route, set()).add(row.method)
    untried, methods_untried, seen = [], [], set()
    for route, name, kwargs, pattern in _routes():
        if not kwargs or route.startswith("admin/"):
            continue  # no object; the admin is staff's (test_staff_pages_are_for_staff_only)
        seen.add(name)
        if name in ELSEWHERE:
            continue
        if name not in in_matrix:
            untried.append(f"{route} ({name})")
        elif name.startswith("api-"):
            missing = _api_methods(pattern) - in_matrix[name]
            if missing:
                methods_untried.append(f"{name}: {sorted(missing)}")
    assert not untried, f"Routes with an object that the matrix does not try: {untried}"
    assert not methods_untried, f"API methods the matrix does not try: {methods_untried}"
    stale = (set(in_matrix) | set(ELSEWHERE)) - seen
    assert not stale, f"The matrix names routes that no longer exist: {stale}"


# --- The back office: staff only -----------------------------------------------------------------


def _staff_urls():
    """A URL for every admin route and the sandbox's staff control page (ids made up: who is
    turned away is decided before any object is looked for)."""
    for route, name, _kwargs, _pattern in _routes():
        if name in ("admin:login", "admin:logout"):
            continue  # the doors themselves
        if name == "admin:app_list":
            yield reverse(name, kwargs={"app_label": "escrow"})
        elif route.startswith("admin/(?P<url>"):
            yield "/admin/no-such-page/"  # the admin's catch-all
        elif route.startswith("admin/") or (name or "").startswith(
            ("stripe_sandbox:control", "amazon_sandbox:control")
        ):
            yield "/" + re.sub(r"<(?:\w+:)?\w+>", "1", route)


@pytest.mark.django_db
def test_staff_pages_are_for_staff_only(world):
    urls = list(_staff_urls())
    assert len(urls) > 100 and "/admin/escrow/order/1/change/" in urls
    assert "/stripe-sandbox/control/disputes/1/close/" in urls
    assert "/amazon-sandbox/control/assign-asin/" in urls
    let_in = []
    for actor in ("other_seller", "anonymous"):
        client = Client()
        if actor in world.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
        for url in urls:
            # The sandbox's controls act on POST: they turn strangers away before anything.
            methods = (
                ("get", "post")
                if url.startswith(("/stripe-sandbox/", "/amazon-sandbox/"))
                else ("get",)
            )
            for method in methods:
                response = getattr(client, method)(url)
                location = path_of(response.get("Location", ""))
                if response.status_code != 302 or not location.startswith(reverse("admin:login")):
                    let_in.append(f"{method} {url} as {actor}: {response.status_code} {location}")
        if actor != "anonymous":  # still signed in: turned away as who they are
            assert client.get(reverse("account")).status_code == 200
    assert not let_in, let_in
