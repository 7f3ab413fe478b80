"""The listing lifecycle through marketplace.services, the one entry point every caller shares."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from accounts.factories import SellerFactory, StaffFactory, UserFactory
from core.audit import audited_transition
from core.errors import InvalidTransition, NotAllowed, ValidationFailed
from core.models import AuditEntry
from marketplace import services
from marketplace.factories import (
    CategoryFactory,
    ListingFactory,
    ListingImageFactory,
    ServiceListingFactory,
)
from marketplace.models import (
    LISTING_TRANSITIONS,
    Listing,
    ListingImage,
    ListingKind,
    ListingStatus,
)
from marketplace.selectors import listing_public_queryset

S = ListingStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller():
    return SellerFactory()


@pytest.fixture
def staff():
    return StaffFactory()


def audit_entries(listing, action=None):
    entries = AuditEntry.objects.filter(
        target_id=str(listing.pk), action__startswith="marketplace.listing"
    )
    if action:
        entries = entries.filter(action=action)
    return entries


def png_upload(name="photo.png", size=(8, 8)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


# --- Moving a listing through the public service functions ------------------------------------

# Which service moves a listing to each status, and the audit action it writes.
MOVES = {
    "submit": (S.PENDING_REVIEW, "marketplace.listing.submitted"),
    "approve": (S.APPROVED, "marketplace.listing.approved"),
    "reject": (S.REJECTED, "marketplace.listing.rejected"),
    "archive": (S.ARCHIVED, "marketplace.listing.archived"),
    "withdraw": (S.DRAFT, "marketplace.listing.withdrawn"),
    "restore": (S.DRAFT, "marketplace.listing.restored"),
}


def move(name, listing, *, staff):
    owner = listing.store.owner
    if name == "submit":
        return services.listing_submit(listing=listing, actor=owner)
    if name == "approve":
        return services.listing_approve(listing=listing, actor=staff)
    if name == "reject":
        return services.listing_reject(listing=listing, actor=staff, reason="Blurry photos.")
    if name == "archive":
        return services.listing_archive(listing=listing, actor=owner)
    if name == "withdraw":
        return services.listing_withdraw(listing=listing, actor=owner)
    if name == "restore":
        return services.listing_restore(listing=listing, actor=owner)
    raise AssertionError(name)


def services_to(status):
    return [name for name, (target, _) in MOVES.items() if target == status]


ILLEGAL_MOVES = [
    (source, name)
    for source in S
    for target in S
    if target != source and target not in LISTING_TRANSITIONS[source]
    for name in services_to(target)
]

# The legal moves, each through the service a person would use for it.
LEGAL_MOVES = [
    (source, "withdraw" if source == S.PENDING_REVIEW else "restore")
    if target == S.DRAFT
    else (source, services_to(target)[0])
    for source in S
    for target in S  # in declaration order, not set order: the same ids on every xdist worker
    if target in LISTING_TRANSITIONS[source]
]


def _case_id(case):
    source, name = case
    return f"{source.value}-{name}"


@pytest.mark.parametrize("case", ILLEGAL_MOVES, ids=_case_id)
def test_every_move_outside_the_transition_table_is_refused(case, staff):
    source, name = case
    listing = ListingFactory(status=source)
    entries_before = AuditEntry.objects.count()

    with pytest.raises(InvalidTransition):
        move(name, listing, staff=staff)

    listing.refresh_from_db()
    assert listing.status == source
    assert AuditEntry.objects.count() == entries_before


@pytest.mark.parametrize("case", LEGAL_MOVES, ids=_case_id)
def test_every_move_in_the_transition_table_works_and_is_audited(case, staff):
    source, name = case
    target, action = MOVES[name]
    listing = ListingFactory(status=source)

    result = move(name, listing, staff=staff)

    listing.refresh_from_db()
    assert listing.status == result.status == target
    entry = audit_entries(listing, action).get()
    assert entry.before == {"status": source.value}
    assert entry.after["status"] == target.value


def test_transition_table_has_illegal_moves_to_check():
    # Guards the parametrisation above against silently testing nothing.
    assert len(ILLEGAL_MOVES) >= 10
    assert (S.DRAFT, "approve") in ILLEGAL_MOVES
    assert (S.ARCHIVED, "submit") in ILLEGAL_MOVES


def test_full_lifecycle_create_submit_approve_archive_restore(seller, staff):
    category = CategoryFactory()
    listing = services.listing_create(
        store=seller.store,
        actor=seller,
        kind=ListingKind.PRODUCT,
        title="Walnut board",
        description="Edge grain, oiled.",
        category=category,
        price_cents=8500,
        stock=3,
    )
    assert listing.status == S.DRAFT
    assert listing not in listing_public_queryset()

    listing = services.listing_submit(listing=listing, actor=seller)
    assert listing.status == S.PENDING_REVIEW
    assert listing.submitted_at is not None
    assert listing not in listing_public_queryset()

    listing = services.listing_approve(listing=listing, actor=staff)
    assert listing.status == S.APPROVED
    assert listing.reviewed_by == staff
    assert listing.reviewed_at is not None
    assert listing in listing_public_queryset()

    listing = services.listing_archive(listing=listing, actor=seller)
    assert listing.status == S.ARCHIVED
    assert listing not in listing_public_queryset()

    listing = services.listing_restore(listing=listing, actor=seller)
    assert listing.status == S.DRAFT

    actions = list(audit_entries(listing).order_by("id").values_list("action", flat=True))
    assert actions == [
        "marketplace.listing.created",
        "marketplace.listing.submitted",
        "marketplace.listing.approved",
        "marketplace.listing.archived",
        "marketplace.listing.restored",
    ]
    approved = audit_entries(listing, "marketplace.listing.approved").get()
    assert approved.actor == staff
    assert approved.before == {"status": "pending_review"}
    assert approved.after["status"] == "approved"
    assert approved.after["reviewed_by"] == staff.pk
    assert approved.after["reviewed_at"]  # stored as an ISO timestamp


def test_repeating_an_approve_is_a_quiet_no_op(staff):
    listing = ListingFactory(status=S.PENDING_REVIEW)
    first = services.listing_approve(listing=listing, actor=staff)
    reviewed_at = first.reviewed_at

    second = services.listing_approve(listing=listing, actor=StaffFactory())

    listing.refresh_from_db()
    assert second.status == S.APPROVED
    assert listing.reviewed_at == reviewed_at
    assert listing.reviewed_by == staff  # the second reviewer changed nothing
    assert audit_entries(listing, "marketplace.listing.approved").count() == 1


@pytest.mark.parametrize("name", ["submit", "archive"])
def test_repeating_a_seller_move_is_a_quiet_no_op(name, staff):
    listing = ListingFactory(status=S.DRAFT)
    move(name, listing, staff=staff)
    move(name, listing, staff=staff)

    listing.refresh_from_db()
    assert listing.status == MOVES[name][0]
    assert audit_entries(listing, MOVES[name][1]).count() == 1


def test_withdraw_only_from_review(staff):
    listing = ListingFactory(status=S.REJECTED)
    with pytest.raises(InvalidTransition):
        services.listing_withdraw(listing=listing, actor=listing.store.owner)
    listing.refresh_from_db()
    assert listing.status == S.REJECTED


def test_restore_only_from_archive():
    listing = ListingFactory(status=S.PENDING_REVIEW)
    with pytest.raises(InvalidTransition):
        services.listing_restore(listing=listing, actor=listing.store.owner)
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW


# --- Reviews ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reject_requires_a_reason(reason, staff):
    listing = ListingFactory(status=S.PENDING_REVIEW)

    with pytest.raises(ValidationFailed) as exc:
        services.listing_reject(listing=listing, actor=staff, reason=reason)

    assert "reason" in exc.value.errors
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW
    assert not audit_entries(listing, "marketplace.listing.rejected").exists()


def test_reject_records_the_reason_and_resubmitting_clears_it(staff):
    listing = ListingFactory(status=S.PENDING_REVIEW)

    services.listing_reject(listing=listing, actor=staff, reason="  Photos are blurry.  ")

    listing.refresh_from_db()
    assert listing.status == S.REJECTED
    assert listing.rejection_reason == "Photos are blurry."
    assert listing.reviewed_by == staff
    entry = audit_entries(listing, "marketplace.listing.rejected").get()
    assert entry.after["rejection_reason"] == "Photos are blurry."

    services.listing_submit(listing=listing, actor=listing.store.owner)
    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW
    assert listing.rejection_reason == ""


@pytest.mark.parametrize("who", ["owner", "buyer", "anonymous"])
@pytest.mark.parametrize("review", ["approve", "reject"])
def test_only_staff_can_review(who, review):
    listing = ListingFactory(status=S.PENDING_REVIEW)
    actor = {
        "owner": listing.store.owner,
        "buyer": UserFactory(),
        "anonymous": AnonymousUser(),
    }[who]

    with pytest.raises(NotAllowed):
        if review == "approve":
            services.listing_approve(listing=listing, actor=actor)
        else:
            services.listing_reject(listing=listing, actor=actor, reason="No.")

    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW
    assert listing.reviewed_by is None


def test_staff_can_archive_any_listing(staff):
    listing = ListingFactory(status=S.APPROVED)
    services.listing_archive(listing=listing, actor=staff)
    listing.refresh_from_db()
    assert listing.status == S.ARCHIVED
    assert audit_entries(listing, "marketplace.listing.archived").get().actor == staff


# --- Ownership ----------------------------------------------------------------------------------

NOT_OWNER_CALLS = {
    "update": lambda listing, actor: services.listing_update(
        listing=listing, actor=actor, title="Mine now"
    ),
    "submit": lambda listing, actor: services.listing_submit(listing=listing, actor=actor),
    "withdraw": lambda listing, actor: services.listing_withdraw(listing=listing, actor=actor),
    "archive": lambda listing, actor: services.listing_archive(listing=listing, actor=actor),
    "restore": lambda listing, actor: services.listing_restore(listing=listing, actor=actor),
    "image_add": lambda listing, actor: services.listing_image_add(
        listing=listing, actor=actor, image=png_upload()
    ),
    "create_in_their_store": lambda listing, actor: services.listing_create(
        store=listing.store,
        actor=actor,
        kind=ListingKind.PRODUCT,
        title="Sneaky",
        description="Not my store.",
        price_cents=100,
    ),
}


@pytest.mark.parametrize("call", NOT_OWNER_CALLS)
def test_another_seller_cannot_touch_a_listing(call):
    listing = ListingFactory(status=S.DRAFT, title="Original")
    other_seller = SellerFactory()
    listings_before = Listing.objects.count()

    with pytest.raises(NotAllowed):
        NOT_OWNER_CALLS[call](listing, other_seller)

    listing.refresh_from_db()
    assert listing.status == S.DRAFT
    assert listing.title == "Original"
    assert Listing.objects.count() == listings_before
    assert not listing.images.exists()


def test_another_seller_cannot_remove_an_image_but_staff_can(staff):
    image = ListingImageFactory()

    with pytest.raises(NotAllowed):
        services.listing_image_remove(listing_image=image, actor=SellerFactory())
    assert ListingImage.objects.filter(pk=image.pk).exists()

    services.listing_image_remove(listing_image=image, actor=staff)
    assert not ListingImage.objects.filter(pk=image.pk).exists()


# --- Creating -----------------------------------------------------------------------------------


def valid_product(**overrides):
    return {
        "kind": ListingKind.PRODUCT,
        "title": "Stoneware mug",
        "description": "Holds 350 ml.",
        "price_cents": 2800,
        "stock": 5,
    } | overrides


def valid_service(**overrides):
    return {
        "kind": ListingKind.SERVICE,
        "title": "Wheel lesson",
        "description": "Two hours at the wheel.",
        "price_cents": 7500,
        "duration_minutes": 120,
    } | overrides


def test_create_makes_a_draft_in_the_sellers_currency(seller):
    seller.seller_profile.default_currency = "gbp"
    seller.seller_profile.save()

    listing = services.listing_create(store=seller.store, actor=seller, **valid_product())

    assert listing.status == S.DRAFT
    assert listing.currency == "gbp"
    assert listing.store == seller.store
    assert audit_entries(listing, "marketplace.listing.created").get().actor == seller


def test_create_accepts_an_upper_case_currency_and_a_service(seller):
    listing = services.listing_create(
        store=seller.store, actor=seller, **valid_service(currency="EUR")
    )
    assert listing.currency == "eur"
    assert listing.kind == ListingKind.SERVICE
    assert listing.duration_minutes == 120
    assert listing.stock is None


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        (valid_product(price_cents=0), "price_cents"),
        (valid_product(price_cents=-100), "price_cents"),
        (valid_product(price_cents="12.50"), "price_cents"),
        (valid_product(price_cents=12.5), "price_cents"),
        (valid_product(price_cents=True), "price_cents"),
        (valid_product(price_cents=None), "price_cents"),
        (valid_product(price_cents=100_000_001), "price_cents"),
        (valid_product(currency="xyz"), "currency"),
        (valid_product(currency="jpy"), "currency"),  # real, but not one Bazaar sells in
        (valid_product(kind="rental"), "kind"),
        (valid_product(title="   "), "title"),
        (valid_product(description=""), "description"),
        (valid_product(stock=-1), "stock"),
        (valid_product(duration_minutes=30), "duration_minutes"),
        (valid_service(duration_minutes=None), "duration_minutes"),
        (valid_service(duration_minutes=0), "duration_minutes"),
        (valid_service(stock=4), "stock"),
        (valid_product(category="pottery"), "category"),
        (valid_product(status=S.APPROVED), "status"),  # status is never set by the seller
    ],
    ids=lambda value: str(value) if isinstance(value, str) else None,
)
def test_create_refuses_bad_input_with_field_errors(seller, fields, error_field):
    with pytest.raises(ValidationFailed) as exc:
        services.listing_create(store=seller.store, actor=seller, **fields)

    assert error_field in exc.value.errors
    assert exc.value.errors[error_field][0]  # a message a person can read
    assert not Listing.objects.exists()


def test_create_reports_every_problem_at_once(seller):
    with pytest.raises(ValidationFailed) as exc:
        services.listing_create(
            store=seller.store, actor=seller, **valid_product(title="", price_cents=0)
        )
    assert {"title", "price_cents"} <= set(exc.value.errors)


# --- Editing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"title": "A better title"},
        {"description": "Now with a lid."},
        {"category": "new"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_editing_reviewed_text_of_an_approved_listing_sends_it_back_to_review(change):
    listing = ListingFactory(status=S.APPROVED)
    if change.get("category") == "new":
        change = {"category": CategoryFactory()}
    submitted_before = listing.submitted_at

    services.listing_update(listing=listing, actor=listing.store.owner, **change)

    listing.refresh_from_db()
    assert listing.status == S.PENDING_REVIEW
    assert listing.submitted_at > submitted_before
    assert listing not in listing_public_queryset()
    entry = audit_entries(listing, "marketplace.listing.updated").get()
    assert entry.after["status"] == "pending_review"


@pytest.mark.parametrize(
    "change",
    [{"price_cents": 3100}, {"stock": 0}, {"currency": "eur"}],
    ids=lambda change: next(iter(change)),
)
def test_editing_price_or_stock_of_an_approved_listing_keeps_it_public(change):
    listing = ListingFactory(status=S.APPROVED)

    services.listing_update(listing=listing, actor=listing.store.owner, **change)

    listing.refresh_from_db()
    assert listing.status == S.APPROVED
    assert listing in listing_public_queryset()
    field, value = next(iter(change.items()))
    assert getattr(listing, field) == value


def test_edit_writes_before_and_after_to_the_audit_trail():
    listing = ListingFactory(status=S.APPROVED, title="Old title", price_cents=2500)

    services.listing_update(
        listing=listing, actor=listing.store.owner, title="New title", price_cents=3000
    )

    entry = audit_entries(listing, "marketplace.listing.updated").get()
    assert entry.actor == listing.store.owner
    assert entry.before == {"title": "Old title", "price_cents": 2500}
    assert entry.after == {"title": "New title", "price_cents": 3000, "status": "pending_review"}


def test_edit_without_changes_writes_nothing():
    listing = ListingFactory(status=S.APPROVED, title="Same")
    services.listing_update(listing=listing, actor=listing.store.owner, title="Same")
    listing.refresh_from_db()
    assert listing.status == S.APPROVED
    assert not audit_entries(listing, "marketplace.listing.updated").exists()


def test_edit_with_bad_values_changes_nothing():
    listing = ServiceListingFactory(status=S.APPROVED, price_cents=5000)

    with pytest.raises(ValidationFailed) as exc:
        services.listing_update(listing=listing, actor=listing.store.owner, price_cents=0, stock=3)

    assert {"price_cents", "stock"} <= set(exc.value.errors)
    listing.refresh_from_db()
    assert listing.price_cents == 5000
    assert listing.stock is None


def test_an_archived_listing_must_be_restored_before_editing():
    listing = ListingFactory(status=S.ARCHIVED, title="Old")
    with pytest.raises(InvalidTransition):
        services.listing_update(listing=listing, actor=listing.store.owner, title="New")
    listing.refresh_from_db()
    assert listing.title == "Old"


def test_status_cannot_be_edited_directly():
    listing = ListingFactory(status=S.DRAFT)
    with pytest.raises(ValidationFailed) as exc:
        services.listing_update(listing=listing, actor=listing.store.owner, status=S.APPROVED)
    assert "status" in exc.value.errors
    listing.refresh_from_db()
    assert listing.status == S.DRAFT


# --- Images -------------------------------------------------------------------------------------


def test_image_add_stores_the_file_and_respects_the_limit(settings):
    settings.BAZAAR_MAX_LISTING_IMAGES = 1
    listing = ListingFactory(status=S.DRAFT)
    owner = listing.store.owner

    image = services.listing_image_add(listing=listing, actor=owner, image=png_upload())
    assert image.image.storage.exists(image.image.name)
    assert image.alt_text == listing.title

    with pytest.raises(ValidationFailed) as exc:
        services.listing_image_add(listing=listing, actor=owner, image=png_upload("two.png"))
    assert "image" in exc.value.errors
    assert listing.images.count() == 1


def test_image_add_refuses_a_file_over_the_size_limit(settings):
    settings.BAZAAR_MAX_IMAGE_BYTES = 10
    listing = ListingFactory(status=S.DRAFT)
    with pytest.raises(ValidationFailed) as exc:
        services.listing_image_add(listing=listing, actor=listing.store.owner, image=png_upload())
    assert "image" in exc.value.errors
    assert not listing.images.exists()


# --- Stock: what orders reserve and give back ---------------------------------------------------


def stock_of(listing):
    return Listing.objects.get(pk=listing.pk).stock


def test_lock_for_order_finds_approved_listings_only():
    listing = ListingFactory()
    draft = ListingFactory(status=ListingStatus.DRAFT)
    assert services.listing_lock_for_order(listing_id=listing.pk) == listing
    assert services.listing_lock_for_order(listing_id=draft.pk) is None
    assert services.listing_lock_for_order(listing_id=draft.pk + 1000) is None


def test_reserving_takes_stock_and_refuses_more_than_is_left():
    listing = ListingFactory(stock=3)
    assert services.listing_stock_reserve(listing=listing, quantity=2) is True
    assert stock_of(listing) == 1
    with pytest.raises(ValidationFailed) as refused:
        services.listing_stock_reserve(listing=listing, quantity=2)
    assert refused.value.errors == {"quantity": ["Only 1 left in stock."]}
    services.listing_stock_reserve(listing=listing, quantity=1)
    with pytest.raises(ValidationFailed) as sold_out:
        services.listing_stock_reserve(listing=listing, quantity=1)
    assert sold_out.value.errors == {"quantity": ["This listing is sold out."]}
    assert stock_of(listing) == 0


def test_services_and_untracked_stock_reserve_nothing():
    service = ServiceListingFactory()
    untracked = ListingFactory(stock=None)
    assert services.listing_stock_reserve(listing=service, quantity=5) is False
    assert services.listing_stock_reserve(listing=untracked, quantity=5) is False
    assert stock_of(untracked) is None
    assert services.listing_stock_retake(listing_id=untracked.pk, quantity=5) is False
    assert stock_of(untracked) is None


def test_returning_and_retaking_stock():
    listing = ListingFactory(stock=4)
    services.listing_stock_return(listing_id=listing.pk, quantity=2)
    assert stock_of(listing) == 6
    assert services.listing_stock_retake(listing_id=listing.pk, quantity=5) is True
    assert stock_of(listing) == 1


def test_retaking_stock_sold_again_meanwhile_stops_at_zero():
    listing = ListingFactory(stock=1)
    assert services.listing_stock_retake(listing_id=listing.pk, quantity=3) is True
    assert stock_of(listing) == 0


def test_a_move_with_save_also_updates_only_the_status_its_changes_and_timestamps():
    """core.audit.audited_transition's narrow UPDATE (the release job's hot path), shown on a
    listing: the fields named, nothing else the instance holds."""
    listing = ListingFactory(status=ListingStatus.APPROVED, title="Walnut lamp", stock=3)
    Listing.objects.filter(pk=listing.pk).update(updated_at=listing.updated_at - timedelta(days=1))
    listing.refresh_from_db()
    stamped = listing.updated_at
    listing.title = "Not saved"  # changed on the instance, not named: left as stored
    listing.stock = 2  # changed and named in save_also: saved with the move
    with CaptureQueriesContext(connection) as captured:
        _, moved = audited_transition(
            listing,
            to=ListingStatus.ARCHIVED,
            allowed=LISTING_TRANSITIONS,
            actor=None,
            action="marketplace.listing.archived",
            save_also=["stock"],
            rejection_reason="Sold out",
        )

    assert moved
    stored = Listing.objects.get(pk=listing.pk)
    assert (stored.status, stored.rejection_reason, stored.title, stored.stock) == (
        ListingStatus.ARCHIVED,
        "Sold out",
        "Walnut lamp",
        2,
    )
    assert stored.updated_at > stamped
    update = next(q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE"))
    assert '"title"' not in update and '"description"' not in update
    assert AuditEntry.objects.get(action="marketplace.listing.archived").after == {
        "status": "archived",
        "rejection_reason": "Sold out",
    }
