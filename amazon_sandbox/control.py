"""Steering the sandbox, as Amazon's side of things: for tests, the control page and the
`amazon_sandbox` management command. The rest of the package may change; this module and the
transport are its public surface."""

import hashlib
import uuid
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import transaction
from django.utils.crypto import get_random_string

from amazon_sandbox import auth, feeds
from amazon_sandbox.models import SandboxControl, SandboxFeed, SandboxListing


def refresh_token(selling_partner_id, *, client_id=None) -> str:
    """A refresh token for a seller who authorized the app (as the consent flow would end)."""
    return auth.refresh_token(
        selling_partner_id=selling_partner_id,
        client_id=client_id or settings.AMAZON_LWA_CLIENT_ID,
    )


def new_selling_partner_id() -> str:
    return "A" + get_random_string(13, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@transaction.atomic
def consent(consent_url, *, selling_partner_id=None) -> str:
    """Confirm Seller Central's consent page at `consent_url` (what authorization_url() gave) as
    the seller would; returns the URL Amazon redirects the browser to."""
    query = {key: values[0] for key, values in parse_qs(urlsplit(consent_url).query).items()}
    missing = [name for name in ("application_id", "state", "redirect_uri") if not query.get(name)]
    if missing:
        raise ValueError(f"The consent URL has no {', '.join(missing)}.")
    return auth.consent_redirect(
        redirect_uri=query["redirect_uri"],
        state=query["state"],
        selling_partner_id=selling_partner_id or new_selling_partner_id(),
        application_id=query["application_id"],
    )


def listing(seller_id, sku, *, marketplace_id=None) -> SandboxListing | None:
    rows = SandboxListing.objects.filter(seller_id=seller_id, sku=sku)
    if marketplace_id:
        rows = rows.filter(marketplace_id=marketplace_id)
    return rows.first()


def listings(*, seller_id=None):
    rows = SandboxListing.objects.all()
    return rows.filter(seller_id=seller_id) if seller_id else rows


def _asin_for(row) -> str:
    digest = hashlib.sha256(f"{row.seller_id}/{row.marketplace_id}/{row.sku}".encode()).hexdigest()
    return "B0" + digest[:8].upper()


@transaction.atomic
def assign_asin(seller_id, sku, *, asin=None) -> str:
    """Amazon finishes processing the listing: it gets an ASIN and goes live (buyable while it
    has stock). A listing that has one keeps it. Raises LookupError for an unknown SKU."""
    row = SandboxListing.objects.select_for_update().filter(seller_id=seller_id, sku=sku).first()
    if row is None:
        raise LookupError(f"The sandbox has no listing {sku!r} of seller {seller_id}.")
    row.asin = row.asin or asin or _asin_for(row)
    row.state = SandboxListing.State.LIVE
    row.issues = []
    row.save()
    return row.asin


@transaction.atomic
def assign_pending_asins() -> int:
    """Every pending listing gets its ASIN; returns how many."""
    rows = list(SandboxListing.objects.filter(state=SandboxListing.State.PENDING))
    for row in rows:
        assign_asin(row.seller_id, row.sku)
    return len(rows)


@transaction.atomic
def reject(seller_id, sku, *, message, code="18027", attribute_names=()) -> None:
    """Amazon rejects (suppresses) the listing after accepting it: not buyable, and getListingsItem
    shows the issue. Raises LookupError for an unknown SKU."""
    row = SandboxListing.objects.select_for_update().filter(seller_id=seller_id, sku=sku).first()
    if row is None:
        raise LookupError(f"The sandbox has no listing {sku!r} of seller {seller_id}.")
    row.state = SandboxListing.State.REJECTED
    row.issues = [
        {
            "code": code,
            "message": message,
            "severity": "ERROR",
            "attributeNames": list(attribute_names),
            "categories": ["INVALID_ATTRIBUTE"],
        }
    ]
    row.save()


@transaction.atomic
def throttle(count, *, operation="") -> None:
    """Answer the next `count` SP-API calls (of `operation` only, e.g. "patchListingsItem") with
    429 QuotaExceeded. 0 ends throttling."""
    control, _ = SandboxControl.objects.select_for_update().get_or_create(pk=1)
    control.throttle_remaining = control.throttle_total = max(int(count), 0)
    control.throttle_operation = operation
    control.throttle_order = uuid.uuid4().hex
    control.save()


def throttle_state() -> SandboxControl:
    return SandboxControl.objects.get_or_create(pk=1)[0]


@transaction.atomic
def process_feeds(feed_id=None, *, finish=True) -> list[SandboxFeed]:
    """Amazon processes the queued feeds (or the one named): with finish=False they only move to
    IN_PROGRESS. Returns the feeds it moved."""
    rows = SandboxFeed.objects.select_for_update().filter(
        status__in=[SandboxFeed.Status.IN_QUEUE, SandboxFeed.Status.IN_PROGRESS]
    )
    if feed_id:
        rows = rows.filter(feed_id=feed_id)
    rows = list(rows.order_by("created", "id"))
    for feed in rows:
        if finish:
            feeds.process(feed)
        else:
            feeds.start(feed)
    return rows


def feed(feed_id) -> SandboxFeed | None:
    return SandboxFeed.objects.filter(feed_id=feed_id).first()
