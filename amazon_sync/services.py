"""Every write of the Amazon channel: connecting a seller's Amazon account, publishing a listing,
keeping its price and stock in step, reading its status back, delisting it, bulk feeds.

Calls to Amazon (amazon_sync.spapi) are made from Celery tasks (amazon_sync.tasks), never from a
person's request: the request records what is wanted and queues the task after commit. A task's
service locks its row, calls Amazon, and records what Amazon answered in the same transaction.
Throttling (SpApiThrottled) and Amazon being unreachable (5xx) are raised out of the service, so
nothing is recorded and the task retries; Amazon refusing the request is recorded as the
listing's error and told to the seller.
"""

import logging

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from amazon_sync import spapi
from amazon_sync.crypto import rotate
from amazon_sync.models import (
    FEED_TRANSITIONS,
    SYNC_TRANSITIONS,
    SYNCED_STATUSES,
    AmazonAccount,
    AmazonFeed,
    AmazonFeedItem,
    AmazonListing,
    FeedItemResult,
    FeedStatus,
    ProductType,
    SyncStatus,
)
from core.audit import audit_record, audited_transition
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.money import format_money
from marketplace.models import Listing, ListingKind, ListingStatus
from notifications.services import notify

logger = logging.getLogger(__name__)

# Amazon marketplaces Bazaar knows: id -> (name, SP-API region, currency it sells in). Sellers
# connect to the one settings name (AMAZON_MARKETPLACE_ID).
MARKETPLACES = {
    "ATVPDKIKX0DER": ("Amazon.com (United States)", "NA", "usd"),
    "A1F83G8C2ARO7P": ("Amazon.co.uk (United Kingdom)", "EU", "gbp"),
    "A1PA6795UKMFR9": ("Amazon.de (Germany)", "EU", "eur"),
    "A13V1IB3VIYZZH": ("Amazon.fr (France)", "EU", "eur"),
    "APJ6JRA9NG5V4": ("Amazon.it (Italy)", "EU", "eur"),
    "A1RKKUPIHCS9HS": ("Amazon.es (Spain)", "EU", "eur"),
}
# Login with Amazon sends the seller back within minutes; an older state is refused.
CONNECT_STATE_MAX_AGE = 30 * 60
CONNECT_STATE_SALT = "amazon_sync.connect"
STATE_ERROR = (
    "This Amazon authorisation is not valid or has expired. Start connecting again from "
    "your Amazon page."
)


def marketplace_name(marketplace_id):
    return MARKETPLACES[marketplace_id][0] if marketplace_id in MARKETPLACES else marketplace_id


def marketplace_currency(marketplace_id):
    return MARKETPLACES[marketplace_id][2] if marketplace_id in MARKETPLACES else None


def credentials_for(account):
    return spapi.Credentials(
        refresh_token=account.refresh_token,
        selling_partner_id=account.selling_partner_id,
        marketplace_id=account.marketplace_id,
        region=account.region,
    )


def _retryable(exc):
    """Throttled, or Amazon could not answer: the same request may succeed later."""
    return isinstance(exc, spapi.SpApiThrottled) or not exc.status or exc.status >= 500


def _issues(issues):
    return [
        {
            "code": i.code,
            "message": i.message,
            "severity": i.severity,
            "attribute_names": list(i.attribute_names or []),
        }
        for i in issues
    ]


def _error_text(exc):
    messages = [i.message for i in exc.issues if i.message] if exc.issues else []
    return " ".join(messages) or exc.message or f"Amazon answered {exc.status}."


# --- Connecting an Amazon seller account --------------------------------------------------------


def amazon_connect_start(*, user, redirect_uri):
    """The Login with Amazon address to send the seller to. Its state is signed and names the
    user and the marketplace, so the callback accepts it only for the same person, once fresh."""
    store = getattr(user, "store", None)
    if store is None:
        raise NotAllowed("Open your store before connecting it to Amazon.")
    marketplace_id = settings.AMAZON_MARKETPLACE_ID
    state = signing.dumps({"user": user.pk, "marketplace": marketplace_id}, salt=CONNECT_STATE_SALT)
    return spapi.authorization_url(state=state, redirect_uri=redirect_uri)


def _verify_state(state, *, user):
    try:
        values = signing.loads(state or "", salt=CONNECT_STATE_SALT, max_age=CONNECT_STATE_MAX_AGE)
    except signing.BadSignature:
        raise ValidationFailed({"state": STATE_ERROR}) from None
    if not isinstance(values, dict) or values.get("user") != user.pk:
        raise ValidationFailed({"state": STATE_ERROR})
    if not isinstance(values.get("marketplace"), str):
        raise ValidationFailed({"state": STATE_ERROR})
    return values["marketplace"]


def amazon_account_connect(*, user, state, code, selling_partner_id, redirect_uri):
    """Amazon sent the seller back: check the state, trade the code for a refresh token, store
    it encrypted. Connecting again replaces the account's credentials."""
    marketplace_id = _verify_state(state, user=user)
    store = getattr(user, "store", None)
    if store is None:
        raise NotAllowed("Open your store before connecting it to Amazon.")
    errors = {}
    if not (code or "").strip():
        errors["spapi_oauth_code"] = "Amazon sent no authorisation code. Start connecting again."
    if not (selling_partner_id or "").strip() or len(selling_partner_id) > 64:
        errors["selling_partner_id"] = "Amazon sent no seller id. Start connecting again."
    if errors:
        raise ValidationFailed(errors)
    try:
        refresh_token = spapi.exchange_authorization_code(code=code, redirect_uri=redirect_uri)
    except spapi.SpApiError as exc:
        raise ValidationFailed(
            {"spapi_oauth_code": f"Amazon refused the authorisation: {_error_text(exc)}"}
        ) from exc
    return _account_save(
        user=user,
        store=store,
        marketplace_id=marketplace_id,
        selling_partner_id=selling_partner_id.strip(),
        refresh_token=refresh_token,
    )


@transaction.atomic
def _account_save(*, user, store, marketplace_id, selling_partner_id, refresh_token):
    account = AmazonAccount.objects.select_for_update().filter(store=store).first()
    before = (
        {"selling_partner_id": account.selling_partner_id, "marketplace_id": account.marketplace_id}
        if account
        else None
    )
    account = account or AmazonAccount(store=store)
    account.selling_partner_id = selling_partner_id
    account.marketplace_id = marketplace_id
    account.region = MARKETPLACES.get(marketplace_id, ("", "NA"))[1]
    account.refresh_token = refresh_token
    account.connected_by = user
    account.connected_at = timezone.now()
    account.save()
    audit_record(
        action="amazon_sync.account.connected",
        actor=user,
        target=account,
        before=before,
        after={"selling_partner_id": selling_partner_id, "marketplace_id": marketplace_id},
    )
    return account


@transaction.atomic
def amazon_account_disconnect(*, user):
    """Forget the seller's Amazon credentials. Their listings stay as they are on Amazon but
    are no longer kept in sync (every push and refresh needs the account)."""
    account = AmazonAccount.objects.select_for_update().filter(store__owner=user).first()
    if account is None:
        return False
    audit_record(
        action="amazon_sync.account.disconnected",
        actor=user,
        target=account,
        before={
            "selling_partner_id": account.selling_partner_id,
            "marketplace_id": account.marketplace_id,
        },
    )
    account.delete()
    return True


# --- A listing's state on Amazon ----------------------------------------------------------------


def _move(row, *, to, actor=None, action, **changes):
    """Move a (locked) AmazonListing to `to` if SYNC_TRANSITIONS allows it, recording `changes`
    either way. Returns True when the status changed."""
    if row.status == to:
        for key, value in changes.items():
            setattr(row, key, value)
        row.save()
        return False
    _, moved = audited_transition(
        row, to=to, allowed=SYNC_TRANSITIONS, actor=actor, action=action, **changes
    )
    return moved


def _listing_context(row):
    return {
        "listing_id": row.listing_id,
        "listing_title": row.listing.title,
        "sku": row.sku,
        "action_url": reverse("amazon_sync:listing", kwargs={"pk": row.listing_id}),
    }


def _fail(row, *, problem, issues=None, action="amazon_sync.listing.failed"):
    """Amazon refused (or we gave up): the listing shows the error and the seller is told."""
    changes = {"last_synced_at": timezone.now()}
    if issues is not None:
        changes["issues"] = issues
        changes["last_error"] = ""
    else:
        changes["last_error"] = problem
    _move(row, to=SyncStatus.ERROR, action=action, **changes)
    notify(
        row.listing.store.owner, "amazon.sync_failed", _listing_context(row) | {"problem": problem}
    )


def offer_quantity(listing):
    """What Amazon may sell: Bazaar's stock while the listing is on sale here, else nothing.
    Never more than Bazaar has (Amazon's own orders are not seen here)."""
    if listing.status != ListingStatus.APPROVED or listing.kind != ListingKind.PRODUCT:
        return 0
    return max(listing.stock or 0, 0)


def _publish_problems(listing, *, account):
    errors = {}
    if listing.status != ListingStatus.APPROVED:
        errors["listing"] = "Only an approved listing can be published to Amazon."
    elif listing.kind != ListingKind.PRODUCT:
        errors["listing"] = "Only products can be sold on Amazon; services cannot."
    elif listing.stock is None:
        errors["listing"] = (
            "Set how many you have in stock first: Amazon is told exactly what Bazaar has."
        )
    currency = marketplace_currency(account.marketplace_id) or ""
    if "listing" not in errors and listing.currency != currency:
        errors["listing"] = (
            f"{marketplace_name(account.marketplace_id)} sells in {currency.upper() or '?'}; "
            f"this listing is priced in {listing.currency.upper()}."
        )
    return errors


def _account_for_store(store_id):
    return AmazonAccount.objects.filter(store_id=store_id).first()


def listing_attributes(listing, *, creds):
    """The Listings Items API attributes of a Bazaar listing: a new product, sold and shipped
    by the seller, at Bazaar's price, with Bazaar's stock (offer_quantity)."""
    return spapi.listing_attributes(
        creds,
        title=listing.title,
        brand=listing.store.name,
        description=listing.description,
        price_cents=listing.price_cents,
        currency=listing.currency,
        quantity=offer_quantity(listing),
    )


@transaction.atomic
def amazon_listing_publish(*, listing, actor, product_type=ProductType.PRODUCT):
    """The seller asks for `listing` to be on Amazon (or sent again in full, after a fix): the
    listing is checked here, then sent by the publish task after commit."""
    if listing.store.owner_id != actor.pk and not actor.is_staff:
        raise NotAllowed("You can only publish your own listings.")
    account = _account_for_store(listing.store_id)
    if account is None:
        raise InvalidTransition("Connect your Amazon seller account first.")
    if product_type not in ProductType.values:
        raise ValidationFailed({"product_type": "Choose a product type from the list."})
    listing = Listing.objects.select_related("store").get(pk=listing.pk)
    errors = _publish_problems(listing, account=account)
    if errors:
        raise ValidationFailed(errors)
    row, _ = AmazonListing.objects.get_or_create(
        listing=listing, defaults={"sku": AmazonListing.sku_for(listing.pk)}
    )
    row = AmazonListing.objects.select_for_update().get(pk=row.pk)
    row.product_type = product_type
    row.desired_seq = F("desired_seq") + 1
    row.save(update_fields=["product_type", "desired_seq", "updated_at"])
    row.refresh_from_db()
    audit_record(
        action="amazon_sync.listing.publish_requested",
        actor=actor,
        target=row,
        after={"sku": row.sku, "product_type": product_type},
    )
    _queue("put_listing", amazon_listing_id=row.pk)
    return row


@transaction.atomic
def amazon_listing_sync_now(*, amazon_listing, actor):
    """Send the listing to Amazon again in full (price, stock, text) and read its status back:
    staff's and the seller's "Sync now"."""
    row = AmazonListing.objects.select_related("listing__store").get(pk=amazon_listing.pk)
    if row.listing.store.owner_id != actor.pk and not actor.is_staff:
        raise NotAllowed("You can only sync your own listings.")
    if row.status not in SYNCED_STATUSES:
        raise InvalidTransition("This listing is not on Amazon: publish it first.")
    account = _account_for_store(row.listing.store_id)
    if account is None:
        raise InvalidTransition("Connect your Amazon seller account first.")
    errors = _publish_problems(row.listing, account=account)
    if errors and row.listing.status == ListingStatus.APPROVED:
        raise ValidationFailed(errors)
    AmazonListing.objects.filter(pk=row.pk).update(desired_seq=F("desired_seq") + 1)
    audit_record(action="amazon_sync.listing.sync_requested", actor=actor, target=row)
    _queue("put_listing", amazon_listing_id=row.pk)
    return row


@transaction.atomic
def amazon_listing_delist(*, amazon_listing, actor):
    row = AmazonListing.objects.select_related("listing__store").get(pk=amazon_listing.pk)
    if row.listing.store.owner_id != actor.pk and not actor.is_staff:
        raise NotAllowed("You can only delist your own listings.")
    if row.status not in SYNCED_STATUSES:
        raise InvalidTransition("This listing is not on Amazon.")
    if _account_for_store(row.listing.store_id) is None:
        raise InvalidTransition("Connect your Amazon seller account first.")
    audit_record(action="amazon_sync.listing.delist_requested", actor=actor, target=row)
    _queue("delete_listing", amazon_listing_id=row.pk)
    return row


def _queue(task_name, countdown=None, **kwargs):
    """Queue an amazon_sync task after commit. A broker outage must not undo the seller's
    change: the beat job (refresh_due) finds what was left behind."""
    # amazon_sync.tasks imports this module (its tasks call these services).
    from amazon_sync import tasks

    task = getattr(tasks, task_name)

    def send():
        try:
            task.apply_async(kwargs=kwargs, countdown=countdown)
        except Exception:
            logger.exception("Could not queue %s for %s", task.name, kwargs)

    transaction.on_commit(send)


def _locked_row(amazon_listing_id):
    return (
        AmazonListing.objects.select_for_update(of=("self",))
        .select_related("listing__store__owner")
        .filter(pk=amazon_listing_id)
        .first()
    )


@transaction.atomic
def amazon_listing_put(*, amazon_listing_id):
    """Send the whole listing to Amazon (Listings Items API PUT). Accepted: pending until Amazon
    assigns an ASIN; refused: the error with Amazon's issues."""
    row = _locked_row(amazon_listing_id)
    if row is None:
        return None
    account = _account_for_store(row.listing.store_id)
    if account is None:
        return row  # disconnected: nothing is sent until the seller connects again
    listing = row.listing
    seq = row.desired_seq
    quantity = offer_quantity(listing)
    creds = credentials_for(account)
    try:
        result = spapi.put_listing(
            creds,
            sku=row.sku,
            product_type=row.product_type,
            attributes=listing_attributes(listing, creds=creds),
        )
    except spapi.SpApiError as exc:
        if _retryable(exc):
            raise
        _fail(row, problem=_error_text(exc), issues=_issues(exc.issues))
        return row
    now = timezone.now()
    if result.status != "ACCEPTED":
        issues = _issues(result.issues)
        problem = " ".join(i["message"] for i in issues) or "Amazon refused the listing."
        _fail(row, problem=problem, issues=issues)
        return row
    _move(
        row,
        to=SyncStatus.PENDING if row.status != SyncStatus.LIVE else SyncStatus.LIVE,
        action="amazon_sync.listing.submitted",
        issues=_issues(result.issues),
        last_error="",
        pushed_price_cents=listing.price_cents,
        pushed_currency=listing.currency,
        pushed_quantity=quantity,
        pushed_seq=max(row.pushed_seq, seq),
        submitted_at=now,
        last_synced_at=now,
    )
    _queue(
        "refresh_listing",
        countdown=settings.AMAZON_SYNC_FIRST_CHECK_SECONDS,
        amazon_listing_id=row.pk,
    )
    return row


def _synced_row_and_credentials(amazon_listing_id):
    """The sync row, locked, and its store's Amazon credentials; no credentials when there is
    nothing to ask Amazon: the listing is not there, or the store has disconnected."""
    row = _locked_row(amazon_listing_id)
    if row is None or row.status not in SYNCED_STATUSES:
        return row, None
    account = _account_for_store(row.listing.store_id)
    return row, (credentials_for(account) if account is not None else None)


@transaction.atomic
def amazon_listing_refresh(*, amazon_listing_id):
    """Read the listing back from Amazon: its ASIN once assigned (live), Amazon's issues (an
    error with them). The seller is told when it goes live and when it fails."""
    row, creds = _synced_row_and_credentials(amazon_listing_id)
    if creds is None:
        return row
    try:
        state = spapi.get_listing(creds, sku=row.sku)
    except spapi.SpApiError as exc:
        if _retryable(exc):
            raise
        _fail(row, problem=_error_text(exc))
        return row
    now = timezone.now()
    if state is None:
        if row.status == SyncStatus.PENDING:
            _move(row, to=SyncStatus.PENDING, action="", last_synced_at=now)
        else:
            _fail(row, problem="Amazon no longer has this listing. Publish it again.")
        return row
    issues = _issues(state.issues)
    errors = [i["message"] for i in issues if i["severity"] == "ERROR"]
    if errors:
        was = (row.status, row.issues)
        if was != (SyncStatus.ERROR, issues):
            _fail(row, problem=" ".join(errors), issues=issues)
        else:
            _move(row, to=SyncStatus.ERROR, action="", last_synced_at=now)
        return row
    changes = {"issues": issues, "last_error": "", "last_synced_at": now}
    if state.asin:
        went_live = _move(
            row,
            to=SyncStatus.LIVE,
            action="amazon_sync.listing.live",
            asin=state.asin,
            **changes,
        )
        if went_live:
            notify(
                row.listing.store.owner,
                "amazon.listing_live",
                _listing_context(row) | {"asin": state.asin},
            )
    else:
        _move(row, to=SyncStatus.PENDING, action="amazon_sync.listing.pending", **changes)
    return row


@transaction.atomic
def amazon_listing_delete(*, amazon_listing_id):
    """Delete the listing from Amazon (the seller's delist)."""
    row, creds = _synced_row_and_credentials(amazon_listing_id)
    if creds is None:
        return row
    try:
        result = spapi.delete_listing(creds, sku=row.sku)
    except spapi.SpApiError as exc:
        if _retryable(exc):
            raise
        _fail(row, problem=_error_text(exc))
        return row
    if result.status != "ACCEPTED":
        issues = _issues(result.issues)
        _fail(
            row,
            problem=" ".join(i["message"] for i in issues) or "Amazon refused to delete it.",
            issues=issues,
        )
        return row
    _move(
        row,
        to=SyncStatus.DELISTED,
        action="amazon_sync.listing.delisted",
        asin="",
        issues=[],
        last_error="",
        pushed_quantity=None,
        pushed_price_cents=None,
        pushed_currency="",
        pushed_seq=row.desired_seq,
        last_synced_at=timezone.now(),
    )
    return row


# --- Price and stock changes --------------------------------------------------------------------


@transaction.atomic
def amazon_listing_offer_changed(*, listing_id):
    """Bazaar's price, stock or status of `listing_id` changed (marketplace.signals): if it is on
    Amazon, note that a push is wanted and queue one after the debounce delay. Many changes in a
    row queue many tasks, but only the newest one (its number is desired_seq) pushes."""
    updated = AmazonListing.objects.filter(
        listing_id=listing_id, status__in=SYNCED_STATUSES
    ).update(desired_seq=F("desired_seq") + 1)
    if not updated:
        return None
    row = AmazonListing.objects.values("pk", "desired_seq").get(listing_id=listing_id)
    _queue(
        "push_offer",
        countdown=settings.AMAZON_SYNC_DEBOUNCE_SECONDS,
        amazon_listing_id=row["pk"],
        seq=row["desired_seq"],
    )
    return row["desired_seq"]


@transaction.atomic
def amazon_listing_push_offer(*, amazon_listing_id, seq):
    """Push Bazaar's current price and stock for change number `seq`. Absolute values, read now
    under the row lock: a push superseded by a newer change, or already made (a retried or
    duplicated task), does nothing, so a sale is never pushed twice and a late push never
    overwrites a newer value. Returns what happened: "pushed", "unchanged", "superseded",
    "done" or "skipped"."""
    row = _locked_row(amazon_listing_id)
    if row is None or row.status not in SYNCED_STATUSES:
        return "skipped"
    if seq < row.desired_seq:
        return "superseded"
    if seq <= row.pushed_seq:
        return "done"
    account = _account_for_store(row.listing.store_id)
    if account is None:
        return "skipped"
    listing = row.listing
    creds = credentials_for(account)
    quantity = offer_quantity(listing)
    currency = marketplace_currency(account.marketplace_id)
    if listing.currency != currency:
        # The seller re-priced it in another currency: Amazon cannot sell it at that price.
        quantity = 0
    sent = []
    try:
        if quantity != row.pushed_quantity:
            sent.append(
                spapi.update_quantity(
                    creds, sku=row.sku, product_type=row.product_type, quantity=quantity
                )
            )
        price_changed = (listing.price_cents, listing.currency) != (
            row.pushed_price_cents,
            row.pushed_currency,
        )
        if price_changed and listing.currency == currency:
            sent.append(
                spapi.update_price(
                    creds,
                    sku=row.sku,
                    product_type=row.product_type,
                    price_cents=listing.price_cents,
                    currency=listing.currency,
                )
            )
    except spapi.SpApiError as exc:
        if _retryable(exc):
            raise
        row.pushed_seq = seq
        _fail(row, problem=_error_text(exc))
        return "failed"
    refused = [r for r in sent if r.status != "ACCEPTED"]
    row.pushed_seq = seq
    if refused:
        issues = [i for r in refused for i in _issues(r.issues)]
        _fail(
            row,
            problem=" ".join(i["message"] for i in issues) or "Amazon refused the change.",
            issues=issues,
        )
        return "failed"
    row.pushed_quantity = quantity
    if listing.currency == currency:
        row.pushed_price_cents, row.pushed_currency = listing.price_cents, listing.currency
    row.last_synced_at = timezone.now()
    if listing.currency != currency:
        row.last_error = (
            f"Priced in {listing.currency.upper()}, which Amazon does not sell in here: "
            "stock on Amazon is 0 until the price is in the marketplace's currency."
        )
    row.save()
    if sent:
        audit_record(
            action="amazon_sync.listing.offer_pushed",
            actor=None,
            target=row,
            after={
                "seq": seq,
                "quantity": quantity,
                "price": format_money(listing.price_cents, listing.currency),
            },
        )
    return "pushed" if sent else "unchanged"


@transaction.atomic
def amazon_listing_give_up(*, amazon_listing_id, problem):
    """A task ran out of retries (Amazon kept throttling or was down): the seller sees the
    error and may sync again."""
    row = _locked_row(amazon_listing_id)
    if row is None:
        return None
    _fail(row, problem=problem)
    return row


# --- Bulk sync: a listings feed -----------------------------------------------------------------


def _feed_listings(store, *, account):
    """The store's listings a feed can carry: approved products with counted stock, priced in
    the marketplace's currency."""
    return (
        Listing.objects.filter(
            store=store,
            status=ListingStatus.APPROVED,
            kind=ListingKind.PRODUCT,
            stock__isnull=False,
            currency=marketplace_currency(account.marketplace_id),
        )
        .select_related("store")
        .order_by("id")
    )


@transaction.atomic
def amazon_feed_create(*, store, actor):
    """The seller's "Sync my whole catalogue": one feed, sent by a task after commit."""
    if store.owner_id != actor.pk and not actor.is_staff:
        raise NotAllowed("You can only sync your own catalogue.")
    account = _account_for_store(store.pk)
    if account is None:
        raise InvalidTransition("Connect your Amazon seller account first.")
    if not _feed_listings(store, account=account).exists():
        currency = marketplace_currency(account.marketplace_id).upper()
        raise ValidationFailed(
            {
                "listings": "No listing can go to Amazon yet: it takes approved products with "
                f"their stock set, priced in {currency}."
            }
        )
    feed = AmazonFeed.objects.create(store=store, created_by=actor)
    audit_record(action="amazon_sync.feed.created", actor=actor, target=feed)
    _queue("submit_feed", feed_pk=feed.pk)
    return feed


def _feed_transition(feed, *, to, action, **changes):
    _, moved = audited_transition(
        feed, to=to, allowed=FEED_TRANSITIONS, actor=None, action=action, **changes
    )
    return moved


@transaction.atomic
def amazon_feed_submit(*, feed_pk):
    """Build the JSON listings feed from the listings as they are now and send it."""
    feed = AmazonFeed.objects.select_for_update().filter(pk=feed_pk).first()
    if feed is None or feed.status != FeedStatus.SUBMITTING:
        return feed
    account = _account_for_store(feed.store_id)
    if account is None:
        _feed_transition(
            feed,
            to=FeedStatus.FAILED,
            action="amazon_sync.feed.failed",
            error="The Amazon account was disconnected.",
        )
        return feed
    creds = credentials_for(account)
    messages, items = [], []
    for number, listing in enumerate(_feed_listings(feed.store, account=account), start=1):
        row, _ = AmazonListing.objects.get_or_create(
            listing=listing, defaults={"sku": AmazonListing.sku_for(listing.pk)}
        )
        messages.append(
            {
                "messageId": number,
                "sku": row.sku,
                "operationType": "UPDATE",
                "productType": row.product_type,
                "attributes": listing_attributes(listing, creds=creds),
            }
        )
        items.append(
            AmazonFeedItem(
                feed=feed,
                amazon_listing=row,
                message_id=number,
                sku=row.sku,
                price_cents=listing.price_cents,
                currency=listing.currency,
                quantity=offer_quantity(listing),
            )
        )
    if not messages:
        _feed_transition(
            feed,
            to=FeedStatus.FAILED,
            action="amazon_sync.feed.failed",
            error="No listing could be sent.",
        )
        return feed
    try:
        feed_id = spapi.submit_listings_feed(creds, messages=messages)
    except spapi.SpApiError as exc:
        if _retryable(exc):
            raise
        _feed_transition(
            feed, to=FeedStatus.FAILED, action="amazon_sync.feed.failed", error=_error_text(exc)
        )
        return feed
    AmazonFeedItem.objects.bulk_create(items)
    _feed_transition(
        feed, to=FeedStatus.PROCESSING, action="amazon_sync.feed.submitted", feed_id=feed_id
    )
    _queue("poll_feed", countdown=settings.AMAZON_SYNC_FIRST_CHECK_SECONDS, feed_pk=feed.pk)
    return feed


@transaction.atomic
def amazon_feed_poll(*, feed_pk):
    """Ask Amazon how the feed went; once processed, record each item's result and move its
    listing (accepted: pending its ASIN; invalid: the error, the seller told)."""
    feed = AmazonFeed.objects.select_for_update().filter(pk=feed_pk).first()
    if feed is None or feed.status != FeedStatus.PROCESSING:
        return feed
    account = _account_for_store(feed.store_id)
    if account is None:
        return feed
    # The report names items by message id only; the SKUs in message order name the rest.
    skus = list(feed.items.order_by("message_id").values_list("sku", flat=True))
    try:
        result = spapi.get_feed_result(credentials_for(account), feed_id=feed.feed_id, skus=skus)
    except spapi.SpApiError as exc:
        if _retryable(exc):
            raise
        _feed_transition(
            feed, to=FeedStatus.FAILED, action="amazon_sync.feed.failed", error=_error_text(exc)
        )
        return feed
    if result.processing_status in ("CANCELLED", "FATAL"):
        _feed_transition(
            feed,
            to=FeedStatus.FAILED,
            action="amazon_sync.feed.failed",
            error=f"Amazon stopped processing the feed ({result.processing_status}).",
        )
        return feed
    if result.processing_status != "DONE":
        return feed
    items = {
        item.message_id: item
        for item in feed.items.select_related("amazon_listing__listing__store__owner")
    }
    now = timezone.now()
    for message in result.messages:
        item = items.get(message.message_id)
        if item is None:
            continue
        accepted = message.status == "ACCEPTED"
        item.result = FeedItemResult.ACCEPTED if accepted else FeedItemResult.INVALID
        item.issues = _issues(message.issues)
        item.save(update_fields=["result", "issues"])
        row = AmazonListing.objects.select_for_update().get(pk=item.amazon_listing_id)
        row.listing = item.amazon_listing.listing
        if accepted:
            _move(
                row,
                to=SyncStatus.LIVE if row.status == SyncStatus.LIVE else SyncStatus.PENDING,
                action="amazon_sync.listing.submitted",
                issues=item.issues,
                last_error="",
                pushed_price_cents=item.price_cents,
                pushed_currency=item.currency,
                pushed_quantity=item.quantity,
                submitted_at=now,
                last_synced_at=now,
            )
            _queue("refresh_listing", amazon_listing_id=row.pk)
        else:
            problem = " ".join(item.messages) or "Amazon refused this listing."
            _fail(row, problem=problem, issues=item.issues)
    _feed_transition(feed, to=FeedStatus.DONE, action="amazon_sync.feed.done", completed_at=now)
    return feed


def amazon_credentials_rotate():
    """Re-encrypt every stored refresh token with the newest of AMAZON_CREDENTIALS_KEYS (after a
    new key was put first); returns how many. The old key may be removed afterwards."""
    done = 0
    for pk in AmazonAccount.objects.values_list("pk", flat=True):
        with transaction.atomic():
            account = AmazonAccount.objects.select_for_update().get(pk=pk)
            account.refresh_token_encrypted = rotate(bytes(account.refresh_token_encrypted))
            account.save(update_fields=["refresh_token_encrypted"])
            done += 1
    return done
