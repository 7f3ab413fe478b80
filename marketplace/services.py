"""Every write to the catalogue: stores, listings, their images and their stock.

Each function is a transaction. Status changes lock the listing row, check the move against
LISTING_TRANSITIONS and return quietly when the change already happened, so a double click or a
retried request is harmless. Orders (escrow) move stock only through the `listing_stock_*`
functions at the end, inside the order's own transaction.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from core.audit import audit_record, audited_transition, plain
from core.datetimes import OUT_OF_BOUNDS, date_in_bounds
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.http_cache import bump_catalogue_version
from core.images import image_problem
from core.money import below_minimum_message, minimum_charge_cents
from core.timezones import is_time_zone
from marketplace.models import (
    BUFFER_MINUTES_MAX,
    DURATION_MINUTES_MAX,
    DURATION_TOO_LONG,
    HORIZON_DAYS_MAX,
    LISTING_TRANSITIONS,
    MIN_NOTICE_MINUTES_MAX,
    STOCK_MAX,
    STOCK_TOO_HIGH,
    TRANSIT_DAYS_MAX,
    AvailabilityException,
    AvailabilityWindow,
    Category,
    Listing,
    ListingImage,
    ListingKind,
    ListingStatus,
    ServiceAvailability,
    Store,
    Weekday,
)
from marketplace.policies import DEFAULT_POLICY, CancellationPolicy
from marketplace.signals import (
    listing_back_in_stock,
    listing_offer_changed,
    listing_price_dropped,
)
from notifications.services import notify, notify_staff

# Editing these on an approved listing sends it back to review: buyers must not see unreviewed
# text. Price and stock are operational and change without review.
REVIEWED_FIELDS = ("title", "description", "category", "kind", "duration_minutes")
EDITABLE_FIELDS = (
    "title",
    "description",
    "category",
    "kind",
    "price_cents",
    "currency",
    "stock",
    "duration_minutes",
    # Operational like the price: a new policy applies to orders placed from now on (each order
    # keeps the one its buyer agreed to), so it changes without review.
    "cancellation_policy",
    # Operational too: each order keeps the allowance it was placed with.
    "transit_days",
)
STORE_EDITABLE_FIELDS = (
    "name",
    "tagline",
    "description",
    "about",
    "contact_email",
    "contact_phone",
    "support_url",
    "logo",
    "default_cancellation_policy",
    "default_transit_days",
)
# What a buyer pays and can buy: a change is announced (listing_offer_changed) to the apps that
# mirror the offer elsewhere.
OFFER_FIELDS = {"price_cents", "currency", "stock"}
POLICY_CHOICE_MESSAGE = "Choose flexible, moderate or strict."


# --- Stores -------------------------------------------------------------------------------------


def _check_image(field, file):
    """Refuse an upload that breaks the one image rule (core.images), naming the field."""
    problem = image_problem(file) if file else None
    if problem:
        raise ValidationFailed({field: problem})


def _check_store_policy(fields):
    policy = fields.get("default_cancellation_policy", DEFAULT_POLICY)
    if policy not in CancellationPolicy.values:
        raise ValidationFailed({"default_cancellation_policy": POLICY_CHOICE_MESSAGE})


def _unique_store_slug(name, *, exclude_pk=None):
    base = slugify(name)[:90] or "store"
    slug, n = base, 1
    taken = Store.objects.exclude(pk=exclude_pk).filter(slug__startswith=base)
    existing = set(taken.values_list("slug", flat=True))
    while slug in existing:
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def store_create(*, owner, name, actor=None, **fields):
    if Store.objects.filter(owner=owner).exists():
        raise ValidationFailed({"name": "You already have a store."})
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": "Give your store a name."})
    unknown = set(fields) - set(STORE_EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(dict.fromkeys(unknown, "This field cannot be set."))
    _check_image("logo", fields.get("logo"))
    _check_store_policy(fields)
    store = Store.objects.create(owner=owner, name=name, slug=_unique_store_slug(name), **fields)
    audit_record(
        action="marketplace.store.created",
        actor=actor or owner,
        target=store,
        after={"name": store.name},
    )
    notify(
        owner,
        "store.created",
        {
            "store_name": store.name,
            "store_slug": store.slug,
            "action_url": store.get_absolute_url(),
        },
    )
    return store


@transaction.atomic
def store_update(*, store, actor, **fields):
    if store.owner_id != actor.pk and not actor.is_staff:
        raise NotAllowed("You can only edit your own store.")
    unknown = set(fields) - set(STORE_EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(dict.fromkeys(unknown, "This field cannot be changed."))
    if "name" in fields and not (fields["name"] or "").strip():
        raise ValidationFailed({"name": "Give your store a name."})
    _check_image("logo", fields.get("logo"))
    _check_store_policy(fields)
    transit_days = fields.get("default_transit_days")
    if transit_days is not None and (
        not isinstance(transit_days, int)
        or isinstance(transit_days, bool)
        or not 1 <= transit_days <= TRANSIT_DAYS_MAX
    ):
        raise ValidationFailed(
            {"default_transit_days": f"Give a whole number of days from 1 to {TRANSIT_DAYS_MAX}."}
        )
    before = {k: str(getattr(store, k)) for k in fields}
    for key, value in fields.items():
        setattr(store, key, value)
    store.save()
    audit_record(
        action="marketplace.store.updated",
        actor=actor,
        target=store,
        before=before,
        after={k: str(getattr(store, k)) for k in fields},
    )
    return store


# --- Listings -----------------------------------------------------------------------------------


def _is_whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_listing(values):
    """Check a listing's fields together; raise ValidationFailed with every problem found."""
    errors = {}
    kind = values.get("kind")
    if kind not in ListingKind.values:
        errors["kind"] = "Choose product or service."
    if not (values.get("title") or "").strip():
        errors["title"] = "A listing needs a title."
    if not (values.get("description") or "").strip():
        errors["description"] = "Describe what the buyer gets."
    price = values.get("price_cents")
    if not isinstance(price, int) or isinstance(price, bool) or price < 1:
        errors["price_cents"] = "The price must be a whole number of cents, at least 1."
    elif price > 100_000_000:
        errors["price_cents"] = "The price cannot exceed 1,000,000.00."
    currency = (values.get("currency") or "").lower()
    if currency not in settings.BAZAAR_CURRENCIES:
        allowed = ", ".join(c.upper() for c in settings.BAZAAR_CURRENCIES)
        errors["currency"] = f"Choose one of: {allowed}."
    elif "price_cents" not in errors and price < minimum_charge_cents(currency):
        # Stripe refuses to charge less (amount_too_small): such a listing could never be paid.
        errors["price_cents"] = below_minimum_message(currency)
    stock = values.get("stock")
    duration = values.get("duration_minutes")
    if kind == ListingKind.SERVICE:
        if stock is not None:
            errors["stock"] = "Services have no stock; leave it empty."
        if not _is_whole(duration) or duration < 1:
            errors["duration_minutes"] = "Say how many minutes the service takes."
        elif duration > DURATION_MINUTES_MAX:
            errors["duration_minutes"] = DURATION_TOO_LONG
    elif kind == ListingKind.PRODUCT:
        if duration is not None:
            errors["duration_minutes"] = "Products have no duration; leave it empty."
        if stock is not None and (not _is_whole(stock) or stock < 0):
            errors["stock"] = "Stock cannot be negative."
        elif stock is not None and stock > STOCK_MAX:
            errors["stock"] = STOCK_TOO_HIGH
    transit_days = values.get("transit_days")
    if transit_days is not None:
        if kind == ListingKind.SERVICE:
            errors["transit_days"] = "Services are not shipped; leave it empty."
        elif (
            not isinstance(transit_days, int)
            or isinstance(transit_days, bool)
            or not 1 <= transit_days <= TRANSIT_DAYS_MAX
        ):
            errors["transit_days"] = f"Give a whole number of days from 1 to {TRANSIT_DAYS_MAX}."
    category = values.get("category")
    if category is not None and not isinstance(category, Category):
        errors["category"] = "Choose a category from the list."
    policy = values.get("cancellation_policy")
    if policy != "" and policy not in CancellationPolicy.values:
        errors["cancellation_policy"] = (
            POLICY_CHOICE_MESSAGE + " Leave it empty to follow your store's default."
        )
    if errors:
        raise ValidationFailed(errors)


@transaction.atomic
def listing_create(*, store, actor, **fields):
    if store.owner_id != actor.pk:
        raise NotAllowed("You can only add listings to your own store.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(dict.fromkeys(unknown, "This field cannot be set."))
    values = {
        "stock": None,
        "duration_minutes": None,
        "category": None,
        "cancellation_policy": "",
        "transit_days": None,
        **fields,
    }
    values["currency"] = values.get("currency") or store.owner.seller_profile.default_currency
    values["currency"] = values["currency"].lower()
    _validate_listing(values)
    listing = Listing.objects.create(store=store, status=ListingStatus.DRAFT, **values)
    audit_record(
        action="marketplace.listing.created",
        actor=actor,
        target=listing,
        after={"title": listing.title},
    )
    return listing


@transaction.atomic
def listing_update(*, listing, actor, **fields):
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.store.owner_id != actor.pk:
        raise NotAllowed("You can only edit your own listings.")
    if listing.status == ListingStatus.ARCHIVED:
        raise InvalidTransition("Restore this listing before editing it.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(dict.fromkeys(unknown, "This field cannot be changed."))
    if "currency" in fields and fields["currency"]:
        fields["currency"] = fields["currency"].lower()
    values = {f: getattr(listing, f) for f in EDITABLE_FIELDS} | fields
    _validate_listing(values)
    changed = {f for f in fields if getattr(listing, f) != fields[f]}
    if not changed:
        return listing
    before = {f: plain(getattr(listing, f)) for f in changed}
    old_price, old_currency, old_stock = listing.price_cents, listing.currency, listing.stock
    before_status = listing.status
    for key in changed:
        setattr(listing, key, fields[key])
    if listing.status == ListingStatus.APPROVED and changed & set(REVIEWED_FIELDS):
        listing.status = ListingStatus.PENDING_REVIEW
        listing.submitted_at = timezone.now()
    listing.save()
    if listing.status == ListingStatus.APPROVED:
        if listing.currency == old_currency and listing.price_cents < old_price:
            _announce_price_drop(listing, old_price_cents=old_price)
        if listing.kind == ListingKind.PRODUCT and old_stock == 0 and listing.stock != 0:
            _announce_back_in_stock(listing.pk, stock=listing.stock)
    if changed & OFFER_FIELDS or listing.status != before_status:
        _announce_offer_changed(listing.pk)
    audit_record(
        action="marketplace.listing.updated",
        actor=actor,
        target=listing,
        before=before,
        after={f: plain(getattr(listing, f)) for f in changed} | {"status": listing.status},
    )
    return listing


def _announce_price_drop(listing, *, old_price_cents):
    """Tell the apps above (favourites alerts the people who saved it), once committed."""
    values = {
        "listing_id": listing.pk,
        "old_price_cents": old_price_cents,
        "new_price_cents": listing.price_cents,
        "currency": listing.currency,
    }
    transaction.on_commit(lambda: listing_price_dropped.send(sender=Listing, **values))


def _announce_offer_changed(listing_id):
    transaction.on_commit(lambda: listing_offer_changed.send(sender=Listing, listing_id=listing_id))


def _announce_back_in_stock(listing_id, *, stock):
    transaction.on_commit(
        lambda: listing_back_in_stock.send(sender=Listing, listing_id=listing_id, stock=stock)
    )


def _transition(listing, *, to, actor, action, **changes):
    """Move a listing to `to` under a row lock. Already there: return quietly."""
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    return audited_transition(
        listing, to=to, allowed=LISTING_TRANSITIONS, actor=actor, action=action, **changes
    )


@transaction.atomic
def listing_submit(*, listing, actor):
    """The seller asks staff to review the listing."""
    if listing.store.owner_id != actor.pk:
        raise NotAllowed("You can only submit your own listings.")
    listing, changed = _transition(
        listing,
        to=ListingStatus.PENDING_REVIEW,
        actor=actor,
        action="marketplace.listing.submitted",
        submitted_at=timezone.now(),
        rejection_reason="",
    )
    if changed:
        notify_staff(
            "listing.submitted",
            _listing_context(listing)
            | {"action_url": reverse("admin:marketplace_listing_change", args=[listing.pk])},
        )
    return listing


def _listing_context(listing):
    return {
        "listing_id": listing.pk,
        "listing_title": listing.title,
        "store_name": listing.store.name,
    }


@transaction.atomic
def listing_withdraw(*, listing, actor):
    """The seller takes a listing back out of review to keep editing it."""
    if listing.store.owner_id != actor.pk:
        raise NotAllowed("You can only withdraw your own listings.")
    if listing.status not in (ListingStatus.PENDING_REVIEW, ListingStatus.DRAFT):
        raise InvalidTransition("Only a listing waiting for review can be withdrawn.")
    listing, _ = _transition(
        listing, to=ListingStatus.DRAFT, actor=actor, action="marketplace.listing.withdrawn"
    )
    return listing


def _require_staff(actor):
    if not (actor and actor.is_staff):
        raise NotAllowed("Only staff can review listings.")


@transaction.atomic
def listing_approve(*, listing, actor):
    _require_staff(actor)
    if listing.status != ListingStatus.APPROVED and listing.price_cents < minimum_charge_cents(
        listing.currency
    ):
        # Saved before prices were checked: published, it could never be paid for.
        raise ValidationFailed(
            {
                "price_cents": below_minimum_message(listing.currency)
                + " Ask the seller to raise it."
            }
        )
    listing, changed = _transition(
        listing,
        to=ListingStatus.APPROVED,
        actor=actor,
        action="marketplace.listing.approved",
        reviewed_at=timezone.now(),
        reviewed_by=actor,
        rejection_reason="",
    )
    if changed:
        _announce_offer_changed(listing.pk)
        notify(
            listing.store.owner,
            "listing.approved",
            _listing_context(listing) | {"action_url": listing.get_absolute_url()},
        )
    return listing


@transaction.atomic
def listing_reject(*, listing, actor, reason):
    _require_staff(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Tell the seller why the listing was rejected."})
    listing, changed = _transition(
        listing,
        to=ListingStatus.REJECTED,
        actor=actor,
        action="marketplace.listing.rejected",
        reviewed_at=timezone.now(),
        reviewed_by=actor,
        rejection_reason=reason,
    )
    if changed:
        notify(
            listing.store.owner,
            "listing.rejected",
            _listing_context(listing)
            | {
                "reason": reason,
                "action_url": reverse("seller-listing-edit", kwargs={"pk": listing.pk}),
            },
        )
    return listing


@transaction.atomic
def listing_archive(*, listing, actor):
    if listing.store.owner_id != actor.pk and not actor.is_staff:
        raise NotAllowed("You can only archive your own listings.")
    listing, changed = _transition(
        listing, to=ListingStatus.ARCHIVED, actor=actor, action="marketplace.listing.archived"
    )
    if changed:
        _announce_offer_changed(listing.pk)
    return listing


@transaction.atomic
def listing_restore(*, listing, actor):
    """Bring an archived listing back as a draft; it must be reviewed again to go public."""
    if listing.store.owner_id != actor.pk:
        raise NotAllowed("You can only restore your own listings.")
    if listing.status != ListingStatus.ARCHIVED:
        raise InvalidTransition("Only an archived listing can be restored.")
    listing, _ = _transition(
        listing, to=ListingStatus.DRAFT, actor=actor, action="marketplace.listing.restored"
    )
    return listing


@transaction.atomic
def listing_image_add(*, listing, actor, image, alt_text=""):
    if listing.store.owner_id != actor.pk:
        raise NotAllowed("You can only add images to your own listings.")
    if listing.images.count() >= settings.BAZAAR_MAX_LISTING_IMAGES:
        raise ValidationFailed(
            {"image": f"A listing has at most {settings.BAZAAR_MAX_LISTING_IMAGES} images."}
        )
    _check_image("image", image)
    position = listing.images.count()
    listing_image = ListingImage.objects.create(
        listing=listing, image=image, alt_text=alt_text or listing.title, position=position
    )
    audit_record(
        action="marketplace.listing_image.added",
        actor=actor,
        target=listing,
        after={"image": listing_image.image.name},
    )
    return listing_image


@transaction.atomic
def listing_image_remove(*, listing_image, actor):
    listing = listing_image.listing
    if listing.store.owner_id != actor.pk and not actor.is_staff:
        raise NotAllowed("You can only remove images from your own listings.")
    name = listing_image.image.name
    listing_image.delete()
    transaction.on_commit(lambda: listing_image.image.storage.delete(name))
    audit_record(
        action="marketplace.listing_image.removed",
        actor=actor,
        target=listing,
        before={"image": name},
    )


# --- Stock: what orders reserve and give back ---------------------------------------------------
# escrow calls these inside its order transaction. Two buyers ordering the last item race here:
# --- Availability of a service ------------------------------------------------------------------


def _hours(start, end):
    return f"{start:%H:%M}-{end:%H:%M}"


def _bounded(errors, field, value, low, high, words):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        errors[field] = f"{words} must be a whole number from {low} to {high}."


def _check_windows(windows, errors):
    by_day = {}
    problems = []
    for window in windows:
        day, start, end = window["weekday"], window["start_time"], window["end_time"]
        if day not in Weekday.values:
            problems.append("Each day is a number from 0 (Monday) to 6 (Sunday).")
            continue
        if end <= start:
            problems.append(
                f"{Weekday(day).label} {_hours(start, end)}: the end must be after the start."
            )
            continue
        by_day.setdefault(day, []).append((start, end))
    for day, hours in sorted(by_day.items()):
        hours.sort()
        for (s1, e1), (s2, e2) in zip(hours, hours[1:], strict=False):
            if s2 < e1:
                problems.append(
                    f"{Weekday(day).label}: {_hours(s1, e1)} and {_hours(s2, e2)} overlap."
                )
    if problems:
        errors["windows"] = problems


def _check_exceptions(exceptions, errors):
    by_date = {}
    problems = []
    for exception in exceptions:
        day, start, end = exception["date"], exception.get("start_time"), exception.get("end_time")
        if not date_in_bounds(day):
            problems.append(f"{day.isoformat()}: {OUT_OF_BOUNDS}")
            continue
        if (start is None) != (end is None):
            problems.append(f"{day:%Y-%m-%d}: give both a start and an end, or neither (closed).")
            continue
        if start is None:
            continue
        if end <= start:
            problems.append(
                f"{day:%Y-%m-%d} {_hours(start, end)}: the end must be after the start."
            )
            continue
        by_date.setdefault(day, []).append((start, end))
    for day, hours in sorted(by_date.items()):
        hours.sort()
        for (s1, e1), (s2, e2) in zip(hours, hours[1:], strict=False):
            if s2 < e1:
                problems.append(f"{day:%Y-%m-%d}: {_hours(s1, e1)} and {_hours(s2, e2)} overlap.")
    if problems:
        errors["exceptions"] = problems


@transaction.atomic
def service_availability_set(
    *,
    listing,
    actor,
    time_zone,
    buffer_minutes,
    horizon_days,
    min_notice_minutes,
    windows,
    exceptions,
):
    """The seller sets when their service can be booked, replacing what was there.

    `windows`: [{"weekday", "start_time", "end_time"}], `exceptions`: [{"date", "start_time",
    "end_time"}] (times None: closed that day). Bookings already made stay as they are.
    """
    listing = (
        Listing.objects.select_for_update(of=("self",)).select_related("store").get(pk=listing.pk)
    )
    if listing.store.owner_id != actor.pk:
        raise NotAllowed("You can only set the availability of your own listings.")
    if listing.kind != ListingKind.SERVICE:
        raise ValidationFailed({"listing": "Only services are booked by time."})
    errors = {}
    if not is_time_zone(time_zone):
        errors["time_zone"] = "Choose a time zone by its name, e.g. Europe/Berlin."
    _bounded(errors, "buffer_minutes", buffer_minutes, 0, BUFFER_MINUTES_MAX, "The buffer")
    _bounded(errors, "horizon_days", horizon_days, 1, HORIZON_DAYS_MAX, "How far ahead")
    _bounded(
        errors,
        "min_notice_minutes",
        min_notice_minutes,
        0,
        MIN_NOTICE_MINUTES_MAX,
        "The minimum notice",
    )
    _check_windows(windows, errors)
    _check_exceptions(exceptions, errors)
    if errors:
        raise ValidationFailed(errors)
    availability = ServiceAvailability.objects.filter(listing=listing).first()
    before = _availability_plain(availability) if availability else None
    if availability is None:
        availability = ServiceAvailability(listing=listing)
    availability.time_zone = time_zone
    availability.buffer_minutes = buffer_minutes
    availability.horizon_days = horizon_days
    availability.min_notice_minutes = min_notice_minutes
    availability.save()
    availability.windows.all().delete()
    availability.exceptions.all().delete()
    AvailabilityWindow.objects.bulk_create(
        AvailabilityWindow(
            availability=availability,
            weekday=w["weekday"],
            start_time=w["start_time"],
            end_time=w["end_time"],
        )
        for w in windows
    )
    AvailabilityException.objects.bulk_create(
        AvailabilityException(
            availability=availability,
            date=e["date"],
            start_time=e.get("start_time"),
            end_time=e.get("end_time"),
        )
        for e in exceptions
    )
    audit_record(
        action="marketplace.availability.set",
        actor=actor,
        target=listing,
        before=before,
        after=_availability_plain(availability),
    )
    return availability


def _availability_plain(availability):
    return {
        "time_zone": availability.time_zone,
        "buffer_minutes": availability.buffer_minutes,
        "horizon_days": availability.horizon_days,
        "min_notice_minutes": availability.min_notice_minutes,
        "windows": [str(w) for w in availability.windows.all()],
        "exceptions": [str(e) for e in availability.exceptions.all()],
    }


# order_create locks the listing row first (listing_lock_for_order), so the second waits, then
# reads the stock the first left; returns and retakes are single UPDATEs with F(), so they add
# up whatever else runs at the same time.


def listing_lock_for_order(*, listing_id):
    """The approved listing `listing_id`, its row locked until the caller's transaction ends,
    with its store, seller and seller profile; None if there is no such approved listing.

    Only the listing row is locked (`of=self`): the seller's profile and store stay free.
    """
    listing = (
        Listing.objects.select_for_update(of=("self",))
        .select_related("store__owner__seller_profile")
        .filter(pk=listing_id)
        .first()
    )
    if listing is None or listing.status != ListingStatus.APPROVED:
        return None
    return listing


@transaction.atomic
def listing_stock_reserve(*, listing, quantity):
    """Take `quantity` off a product's counted stock for an order. Returns True if stock was
    reserved, False if the listing counts none (a service, or stock not tracked).

    Call it with the listing locked by listing_lock_for_order (it locks the row itself too, so
    the check and the update see the same stock); refuses with the quantity's field error when
    fewer are left.
    """
    if listing.kind != ListingKind.PRODUCT:
        return False
    left = Listing.objects.select_for_update().values_list("stock", flat=True).get(pk=listing.pk)
    if left is None:
        return False
    if left < quantity:
        raise ValidationFailed(
            {"quantity": f"Only {left} left in stock." if left else "This listing is sold out."}
        )
    Listing.objects.filter(pk=listing.pk).update(stock=F("stock") - quantity)
    bump_catalogue_version()  # an UPDATE sends no post_save (marketplace/receivers.py)
    listing.stock = left - quantity
    _announce_offer_changed(listing.pk)
    return True


@transaction.atomic
def listing_stock_return(*, listing_id, quantity):
    """An order that reserved `quantity` was called off or expired: the stock comes back.
    A sold-out approved listing is then back in stock (announced after commit)."""
    row = (
        Listing.objects.select_for_update()
        .filter(pk=listing_id)
        .values("stock", "status", "kind")
        .first()
    )
    Listing.objects.filter(pk=listing_id).update(stock=F("stock") + quantity)
    bump_catalogue_version()
    if row and row["stock"] is not None and quantity > 0:
        _announce_offer_changed(listing_id)
    if (
        row
        and row["stock"] == 0
        and quantity > 0
        and row["status"] == ListingStatus.APPROVED
        and row["kind"] == ListingKind.PRODUCT
    ):
        _announce_back_in_stock(listing_id, stock=quantity)


@transaction.atomic
def listing_stock_retake(*, listing_id, quantity):
    """A late payment revived an order that had given its stock back: take it again, because
    it is sold. Returns True if stock was taken, False if the listing counts none.

    If the stock was sold again meanwhile it stops at zero (the column cannot go below, and
    refusing would leave a payment Stripe took unbooked): the seller is then oversold.
    """
    listing = Listing.objects.only("kind", "stock").get(pk=listing_id)
    if listing.kind != ListingKind.PRODUCT or listing.stock is None:
        return False
    Listing.objects.filter(pk=listing_id).update(stock=Greatest(F("stock") - quantity, 0))
    bump_catalogue_version()
    _announce_offer_changed(listing_id)
    return True
