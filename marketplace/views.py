"""Server-rendered catalogue pages: browsing, listing and store pages, the seller dashboard.

Views parse input, call one service (or selector) and render. Domain errors become form errors
next to the field they concern, or a message; bad input never becomes a 500.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import DomainError, ValidationFailed
from core.forms import add_domain_errors
from core.http import safe_next_url
from core.http_cache import cache_public_page
from core.pagination import BadCursor, capped_count, keyset_page, page_links
from marketplace import selectors, services
from marketplace.filters import ListingFilter
from marketplace.forms import AvailabilityForm, ListingForm, ListingImageForm, StoreForm
from marketplace.models import Category, ListingKind, ListingStatus

HOME_LISTINGS = 8
STORE_HOME_LISTINGS = 8
FILTER_PARAMS = ("q", "category", "kind", "currency", "min_price", "max_price")
FACET_PARAMS = ("category", "kind", "min_price", "max_price")


def paginate(request, queryset):
    # get_page() turns a missing, malformed or too-large page number into a real page.
    return Paginator(queryset, settings.BAZAAR_PAGE_SIZE).get_page(request.GET.get("page"))


def browse_page(request, queryset):
    """A page of the public catalogue, by keyset (core/pagination.py): page 500 costs what page 1
    costs, and nothing counts every matching row. Previous and Next links carry a signed
    `cursor`; a mangled or outdated one (another sort) starts again at the first page, as a
    too-large page number used to. Returns the context the listing grid and its pager need."""
    try:
        page = keyset_page(
            queryset, cursor=request.GET.get("cursor"), page_size=settings.BAZAAR_PAGE_SIZE
        )
    except BadCursor:
        page = keyset_page(queryset, cursor=None, page_size=settings.BAZAAR_PAGE_SIZE)
    previous_url, next_url = page_links(request, page)
    return {
        "listings": page.rows,
        "pager": {"previous_url": previous_url, "next_url": next_url},
    }


def _results_label(queryset):
    """ "12 listings", or "1,000+ listings" past the cap: a bounded count instead of COUNT(*)."""
    cap = settings.BAZAAR_BROWSE_COUNT_CAP
    count = capped_count(queryset, cap=cap)
    if count > cap:
        return f"{cap:,}+ listings"
    return f"{count:,} listing{'' if count == 1 else 's'}"


# --- Browsing -----------------------------------------------------------------------------------


@cache_public_page
def home(request):
    listings = selectors.listings_newest_by_store(limit=HOME_LISTINGS)
    return render(
        request,
        "marketplace/home.html",
        {"listings": listings, "categories": selectors.category_list_counted()},
    )


def _browse(request, *, queryset, category=None):
    filterset = ListingFilter(request.GET, queryset=queryset)
    if category is not None:
        # The page already says which category; a second category picker would contradict it.
        filterset.filters.pop("category")
    if "category" in filterset.form.fields:
        # Its options from the cached list instead of a query per page; what a request picks is
        # still looked up by the field.
        picker = filterset.form.fields["category"]
        picker.widget.choices = [("", picker.empty_label), *selectors.category_choices()]
    listings = filterset.qs
    filtered = any(request.GET.get(name) for name in FILTER_PARAMS)
    # How many of the form's filters narrow the list (sorting does not), shown on its toggle.
    active_filters = sum(
        1
        for name in FILTER_PARAMS
        if name in filterset.form.fields and request.GET.get(name, "").strip()
    )
    return render(
        request,
        "marketplace/listing_list.html",
        {
            "filter_form": filterset.form,
            **browse_page(request, filterset.page_qs),
            "results_label": _results_label(listings),
            "category": category,
            "query": request.GET.get("q", "").strip(),
            "filtered": filtered,
            "active_filters": active_filters,
            "fuzzy": filterset.fuzzy,
            "corrected_query": filterset.corrected_query,
            **_facets_context(request, filterset, category=category),
        },
    )


def _facets_context(request, filterset, *, category):
    """The counts beside the filter choices (templates/includes/listing_facets.html) and which
    choices the request made, to mark them."""
    currency = getattr(filterset.form, "cleaned_data", {}).get("currency")
    return {
        "facets": selectors.listing_facets(
            filterset.qs,
            currency=currency or None,
            cache_as=selectors.facet_cache_name(
                filterset, category=category.slug if category else ""
            ),
        ),
        "facet_selected": {name: request.GET.get(name, "") for name in FACET_PARAMS},
    }


@cache_public_page
def listing_list(request):
    return _browse(request, queryset=selectors.listing_public_queryset())


@cache_public_page
def category_detail(request, slug):
    category = get_object_or_404(Category, slug=slug)
    queryset = selectors.listing_public_queryset().filter(category=category)
    return _browse(request, queryset=queryset, category=category)


# Not cached: its buy box shows the free slots of a service, which bookings and the clock change,
# and whether the seller can take payments, neither of them a catalogue change.
def listing_detail(request, pk):
    listing = selectors.listing_visible_get(pk=pk, user=request.user)
    return render(
        request,
        "marketplace/listing_detail.html",
        {
            "listing": listing,
            "images": listing.images.all(),
            "is_owner": request.user.is_authenticated and listing.store.owner_id == request.user.pk,
        },
    )


# --- Store pages --------------------------------------------------------------------------------


def _store_page(slug, tab):
    store = selectors.store_public_get(slug=slug)
    return store, {"store": store, "store_tab": tab}


@cache_public_page
def store_home(request, slug):
    store, context = _store_page(slug, "home")
    context["listings"] = selectors.listing_public_queryset().filter(store=store)[
        :STORE_HOME_LISTINGS
    ]
    return render(request, "marketplace/store_home.html", context)


@cache_public_page
def store_products(request, slug):
    store, context = _store_page(slug, "products")
    context.update(browse_page(request, selectors.listing_public_queryset().filter(store=store)))
    return render(request, "marketplace/store_products.html", context)


@cache_public_page
def store_about(request, slug):
    _, context = _store_page(slug, "about")
    return render(request, "marketplace/store_about.html", context)


@cache_public_page
def store_contact(request, slug):
    _, context = _store_page(slug, "contact")
    return render(request, "marketplace/store_contact.html", context)


# --- Seller dashboard ---------------------------------------------------------------------------


def _seller_store_or_none(request):
    if not request.user.is_seller:
        return None
    return selectors.store_for_owner(user=request.user)


def _become_seller_first(request):
    messages.info(request, "Set up your seller profile and store first.")
    return redirect("seller-onboard")


@login_required
def seller_dashboard(request):
    store = _seller_store_or_none(request)
    if store is None:
        return render(request, "marketplace/seller_dashboard.html", {"store": None})
    page_obj = paginate(request, selectors.listings_for_seller(user=request.user))
    return render(
        request,
        "marketplace/seller_dashboard.html",
        {"store": store, "page_obj": page_obj, "listings": page_obj.object_list},
    )


def _save_listing(request, form, save):
    """Run `save` (a service call) and, if asked, submit the listing for review.

    Returns the listing, or None when the service refused; its messages are then on the form.
    """
    try:
        listing = save(**form.listing_fields())
    except ValidationFailed as exc:
        add_domain_errors(form, exc, ListingForm.SERVICE_FIELD_MAP)
        return None
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None
    if "submit_for_review" in request.POST and listing.status in (
        ListingStatus.DRAFT,
        ListingStatus.REJECTED,
    ):
        try:
            listing = services.listing_submit(listing=listing, actor=request.user)
        except DomainError as exc:
            messages.error(request, f"“{listing.title}” was saved but not submitted: {exc.message}")
            return listing
    if listing.status == ListingStatus.PENDING_REVIEW:
        messages.success(request, f"“{listing.title}” was saved. It is waiting for review.")
    else:
        messages.success(request, f"“{listing.title}” was saved.")
    return listing


@login_required
def seller_listing_create(request):
    store = _seller_store_or_none(request)
    if store is None:
        return _become_seller_first(request)
    if request.method == "POST":
        form = ListingForm(request.POST, store=store)
        if form.is_valid():
            listing = _save_listing(
                request,
                form,
                lambda **fields: services.listing_create(store=store, actor=request.user, **fields),
            )
            if listing is not None:
                return redirect("seller-dashboard")
    else:
        form = ListingForm(
            initial={"currency": request.user.seller_profile.default_currency}, store=store
        )
    return render(
        request,
        "marketplace/seller_listing_form.html",
        {"form": form, "listing": None, "store": store},
    )


@login_required
def seller_listing_edit(request, pk):
    listing = selectors.listing_for_seller_get(user=request.user, pk=pk)
    if request.method == "POST":
        form = ListingForm(request.POST, store=listing.store)
        if form.is_valid():
            saved = _save_listing(
                request,
                form,
                lambda **fields: services.listing_update(
                    listing=listing, actor=request.user, **fields
                ),
            )
            if saved is not None:
                return redirect("seller-dashboard")
    else:
        form = ListingForm(initial=ListingForm.initial_for(listing), store=listing.store)
    return render(
        request,
        "marketplace/seller_listing_form.html",
        {"form": form, "listing": listing, "store": listing.store},
    )


def _listing_action(service, done):
    """A POST-only button on the dashboard that moves one of the seller's listings."""

    @login_required
    @require_POST
    def view(request, pk):
        listing = selectors.listing_for_seller_get(user=request.user, pk=pk)
        try:
            service(listing=listing, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done.format(title=listing.title))
        return redirect(safe_next_url(request, reverse("seller-dashboard")))

    return view


seller_listing_submit = _listing_action(
    services.listing_submit, "“{title}” was submitted for review."
)
seller_listing_withdraw = _listing_action(
    services.listing_withdraw, "“{title}” was withdrawn from review and is a draft again."
)
seller_listing_archive = _listing_action(
    services.listing_archive, "“{title}” was archived. Buyers no longer see it."
)
seller_listing_restore = _listing_action(
    services.listing_restore, "“{title}” was restored as a draft."
)


@login_required
def seller_listing_images(request, pk):
    listing = selectors.listing_for_seller_get(user=request.user, pk=pk)
    if request.method == "POST":
        form = ListingImageForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.listing_image_add(
                    listing=listing,
                    actor=request.user,
                    image=form.cleaned_data["image"],
                    alt_text=form.cleaned_data["alt_text"],
                )
            except ValidationFailed as exc:
                add_domain_errors(form, exc)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "The image was added.")
                return redirect("seller-listing-images", pk=listing.pk)
    else:
        form = ListingImageForm()
    return render(
        request,
        "marketplace/seller_listing_images.html",
        {
            "listing": listing,
            "store": listing.store,
            "images": listing.images.all(),
            "form": form,
            "max_images": settings.BAZAAR_MAX_LISTING_IMAGES,
        },
    )


@login_required
@require_POST
def seller_listing_image_delete(request, pk, image_pk):
    listing = selectors.listing_for_seller_get(user=request.user, pk=pk)
    listing_image = get_object_or_404(listing.images.all(), pk=image_pk)
    try:
        services.listing_image_remove(listing_image=listing_image, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The image was removed.")
    return redirect("seller-listing-images", pk=listing.pk)


@login_required
def seller_store_edit(request):
    store = _seller_store_or_none(request)
    if store is None:
        return _become_seller_first(request)
    initial = StoreForm.initial_for(store)
    if request.method == "POST":
        form = StoreForm(request.POST, request.FILES, initial=initial)
        if form.is_valid():
            try:
                services.store_update(store=store, actor=request.user, **form.store_fields())
            except ValidationFailed as exc:
                add_domain_errors(form, exc)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Your store was updated.")
                return redirect("seller-store-edit")
    else:
        form = StoreForm(initial=initial)
    return render(request, "marketplace/seller_store_form.html", {"form": form, "store": store})


# Service field -> page field, for errors raised by service_availability_set.
AVAILABILITY_FIELD_MAP = {"windows": "day_0", "listing": None}


@login_required
def seller_listing_availability(request, pk):
    """When a service can be booked: weekly hours, exceptions, buffer, notice, horizon."""
    listing = selectors.listing_for_seller_get(user=request.user, pk=pk)
    if listing.kind != ListingKind.SERVICE:
        messages.info(request, "Only services are booked by time.")
        return redirect("seller-dashboard")
    availability = selectors.availability_for_listing(listing_id=listing.pk)
    form = AvailabilityForm(
        request.POST if request.method == "POST" else None,
        initial=AvailabilityForm.initial_for(availability, request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.service_availability_set(
                listing=listing,
                actor=request.user,
                time_zone=data["time_zone"],
                buffer_minutes=data["buffer_minutes"],
                horizon_days=data["horizon_days"],
                min_notice_minutes=data["min_notice_minutes"],
                windows=data["windows"],
                exceptions=data["exception_list"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc, AVAILABILITY_FIELD_MAP)
        else:
            messages.success(request, f"Buyers can now book “{listing.title}” in these hours.")
            return redirect("seller-listing-availability", pk=listing.pk)
    return render(
        request,
        "marketplace/seller_listing_availability.html",
        {"form": form, "listing": listing, "store": listing.store, "availability": availability},
    )
