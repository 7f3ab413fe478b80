"""The API against its own OpenAPI schema (schemathesis), as a buyer and as a seller.

Every operation of /api/v1/schema/ is called in-process through the WSGI app with generated
input, valid and invalid, signed in with an API token, and every answer is checked: no 5xx, a
status code the schema documents, a body the schema describes.

BAZAAR_SCHEMA_MAX_EXAMPLES sets how many generated requests each operation gets per person
(default 10); BAZAAR_SCHEMA_COVERAGE=1 adds schemathesis' coverage phase (slow). Generation is
derandomized: the same code makes the same requests, so a failure in CI fails the same way on a
laptop. A failure prints the request as a curl command.
"""

import os

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from accounts.factories import SellerFactory, UserFactory
from accounts.testing import api_token_for
from escrow.factories import DisputeFactory, EscrowPaymentFactory, OrderFactory
from escrow.models import OrderStatus, PaymentStatus
from escrow.testing import release_order
from marketplace.factories import ListingFactory, ListingImageFactory, ServiceListingFactory
from marketplace.models import ListingStatus
from messaging.factories import (
    AttachmentFactory,
    ConversationFactory,
    MessageFactory,
    OrderConversationFactory,
)
from messaging.models import AttachmentState
from notifications.factories import NotificationFactory

MAX_EXAMPLES = int(os.environ.get("BAZAAR_SCHEMA_MAX_EXAMPLES", "10"))
# The coverage phase adds every boundary and every kind of wrong value of every parameter: a
# few hundred requests per operation, unbounded by MAX_EXAMPLES. Worth a run now and then
# (BAZAAR_SCHEMA_COVERAGE=1), too slow for every `make test`.
COVERAGE = os.environ.get("BAZAAR_SCHEMA_COVERAGE", "") not in ("", "0")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# Loaded once at collection, through the app itself (no server): the schema the API serves.
# (schemathesis.pytest.from_fixture would load it per test, but breaks on pytest 9's node ids.)
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/schema/?format=json",
    get_wsgi_application(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"coverage": {"enabled": COVERAGE}},
        }
    ),
)

# The module's Marketplace, for the hook below: generated path parameters alone would
# almost only ever name rows that do not exist (404).
_known = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, name rows the signed-in person can (or at least may try to) reach."""
    marketplace = _known.get("marketplace")
    known = marketplace.ids_for(context.operation.path) if marketplace else {}
    if not known or not path_parameters:
        return st.just(path_parameters)
    real = st.fixed_dictionaries(
        {
            name: st.sampled_from(known[name]) if name in known else st.just(value)
            for name, value in path_parameters.items()
        }
    )
    return st.one_of(st.just(path_parameters), real)


class Marketplace:
    """A buyer and a seller who have dealt with each other, and a store of someone else's."""

    def __init__(self):
        self.seller = SellerFactory()
        self.buyer = UserFactory()
        other_store = SellerFactory().store
        store = self.seller.store
        # Left empty, as a new store's are.
        store.contact_email = store.support_url = ""
        store.save()

        listings = {
            status: ListingFactory(store=store, status=status, stock=5) for status in ListingStatus
        }
        service = ServiceListingFactory(store=store, category=None)
        others = ListingFactory(store=other_store, stock=3)
        # A stored name only: the module's rows outlive any one test's media folder.
        image = ListingImageFactory(
            listing=listings[ListingStatus.APPROVED], image="listings/schema-test.png"
        )

        approved = listings[ListingStatus.APPROVED]
        orders = {
            OrderStatus.PENDING_PAYMENT: OrderFactory(listing=approved, buyer=self.buyer),
            OrderStatus.FUNDED: OrderFactory(listing=approved, buyer=self.buyer, funded=True),
            OrderStatus.DELIVERED: OrderFactory(listing=service, buyer=self.buyer, delivered=True),
            OrderStatus.RELEASED: OrderFactory(listing=approved, buyer=self.buyer, released=True),
            OrderStatus.CANCELLED: OrderFactory(
                listing=approved, buyer=self.buyer, status=OrderStatus.CANCELLED
            ),
            OrderStatus.EXPIRED: OrderFactory(
                listing=approved, buyer=self.buyer, status=OrderStatus.EXPIRED
            ),
            # The buyer reported a problem after delivery: the order is frozen.
            OrderStatus.DISPUTED: OrderFactory(
                listing=service,
                buyer=self.buyer,
                delivered=True,
                status=OrderStatus.DISPUTED,
                disputed_from=OrderStatus.DELIVERED,
            ),
        }
        for status in (
            OrderStatus.FUNDED,
            OrderStatus.DELIVERED,
            OrderStatus.RELEASED,
            OrderStatus.DISPUTED,
        ):
            EscrowPaymentFactory(order=orders[status])
        DisputeFactory(order=orders[OrderStatus.DISPUTED])
        EscrowPaymentFactory(
            order=orders[OrderStatus.PENDING_PAYMENT],
            status=PaymentStatus.FAILED,
            failure_message="Your card was declined.",
        )
        release_order(orders[OrderStatus.RELEASED])
        # The buyer's order from another store: the seller must not reach it.
        foreign_order = OrderFactory(listing=others, buyer=self.buyer)

        inquiry = ConversationFactory(listing=approved, buyer=self.buyer)
        MessageFactory(conversation=inquiry)
        MessageFactory(conversation=inquiry, sender=self.seller)
        order_talk = OrderConversationFactory(order=orders[OrderStatus.FUNDED])
        attachment = AttachmentFactory(message=MessageFactory(conversation=order_talk))
        removed = AttachmentFactory(
            message=MessageFactory(conversation=order_talk, sender=self.seller),
            state=AttachmentState.REMOVED,
        )
        MessageFactory(conversation=order_talk, held=True)
        upload = AttachmentFactory(
            message=None,
            conversation=order_talk,
            uploaded_by=self.buyer,
            state=AttachmentState.PENDING,
        )

        notifications = [
            NotificationFactory(recipient=person) for person in (self.buyer, self.seller)
        ]

        order_ids = [o.pk for o in orders.values()] + [foreign_order.pk]
        listing_ids = [listing.pk for listing in listings.values()] + [service.pk, others.pk]
        conversation_ids = [inquiry.pk, order_talk.pk]
        self.known_ids = {
            "id": {
                "/api/v1/orders/": order_ids,
                "/api/v1/listings/": listing_ids,
                "/api/v1/seller/listings/": listing_ids,
                "/api/v1/conversations/": conversation_ids,
                "/api/v1/notifications/": [n.pk for n in notifications],
                "/api/v1/attachments/": [str(a.pk) for a in (attachment, removed, upload)],
            },
            "slug": {
                "/api/v1/categories/": [approved.category.slug],
                "/api/v1/stores/": [store.slug, other_store.slug],
            },
            "order_id": {"/api/v1/conversations/": order_ids},
            "image_id": {"/api/v1/seller/listings/": [image.pk]},
            "upload_id": {"/api/v1/conversations/": [str(upload.pk)]},
        }

    def ids_for(self, path):
        """{parameter: [values]} for an operation's path template."""
        return {
            name: values
            for name, by_prefix in self.known_ids.items()
            for prefix, values in by_prefix.items()
            if path.startswith(prefix) and "{" + name + "}" in path
        }


@pytest.fixture(scope="module")
def in_test_transaction():
    """The WSGI handler closes the database connection after each request (as a server should);
    here that would end the test's transaction. Django's test client does the same as this."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture(scope="module")
def marketplace(django_db_setup, django_db_blocker, in_test_transaction):
    """Made once for the module, in a transaction rolled back at its end; each test runs in a
    savepoint inside it (as Django's setUpTestData): a third of the module's time otherwise."""
    with django_db_blocker.unblock(), transaction.atomic():
        made = Marketplace()
        made.tokens = {role: api_token_for(getattr(made, role)) for role in ("buyer", "seller")}
        _known["marketplace"] = made
        yield made
        _known.clear()
        transaction.set_rollback(True)


@pytest.fixture(params=["buyer", "seller"])
def signed_in(request, marketplace, db, settings):
    # Generated requests come by the dozen a second: over any budget of the real rates, which
    # would answer 429 to the rest. The limits themselves have their own tests.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min"
        ),
    }
    return {"Authorization": f"Token {marketplace.tokens[request.param]}"}


@schema.parametrize()
@hypothesis.settings(
    suppress_health_check=list(hypothesis.HealthCheck), deadline=None, derandomize=True
)
def test_api_answers_as_its_schema_says(case, signed_in):
    # Each request on the same rows: a cancelled order or a revoked token stays with its example.
    with transaction.atomic():
        try:
            case.call_and_validate(headers=signed_in, checks=CHECKS)
        finally:
            transaction.set_rollback(True)
