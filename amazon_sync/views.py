"""The seller's Amazon pages at /seller/amazon/: the connection, each listing's sync status with
publish, "Sync now" and delist, and the bulk syncs with their per-item results.

Thin: a form or query string in, one service call, a message and a redirect out. Domain errors
become messages or form errors; another seller's listing or feed is a 404.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from amazon_sync import selectors, services
from amazon_sync.forms import PublishForm
from amazon_sync.models import SYNCED_STATUSES
from core.errors import DomainError, ValidationFailed
from core.forms import add_domain_errors
from marketplace import selectors as catalogue

RECENT_FEEDS = 5


def _store_or_redirect(request):
    store = catalogue.store_for_owner(user=request.user) if request.user.is_seller else None
    if store is None:
        messages.info(request, "Set up your seller profile and store first.")
    return store


def callback_uri(request):
    """Where Login with Amazon sends the seller back (the same in the page and the API)."""
    return request.build_absolute_uri(reverse("amazon_sync:callback"))


@login_required
def home(request):
    store = _store_or_redirect(request)
    if store is None:
        return redirect("seller-onboard")
    account = selectors.account_for_seller(user=request.user)
    page_obj = Paginator(
        selectors.listings_with_sync_for_seller(user=request.user), settings.BAZAAR_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "amazon_sync/home.html",
        {
            "store": store,
            "account": account,
            "account_marketplace": services.marketplace_name(account.marketplace_id)
            if account
            else "",
            "page_obj": page_obj,
            "rows": [(item, selectors.sync_of(item)) for item in page_obj.object_list],
            "feeds": selectors.feeds_for_seller(user=request.user)[:RECENT_FEEDS],
            "marketplace_name": services.marketplace_name(settings.AMAZON_MARKETPLACE_ID),
        },
    )


@login_required
@require_POST
def connect(request):
    try:
        url = services.amazon_connect_start(user=request.user, redirect_uri=callback_uri(request))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("amazon_sync:home")
    return redirect(url)


@login_required
def callback(request):
    # Login with Amazon comes back with a GET (state, selling_partner_id, spapi_oauth_code):
    # the one page that writes on GET, because Amazon decides the method. The signed state
    # stops a forged or replayed link from another person or session.
    try:
        services.amazon_account_connect(
            user=request.user,
            state=request.GET.get("state", ""),
            code=request.GET.get("spapi_oauth_code", ""),
            selling_partner_id=request.GET.get("selling_partner_id", ""),
            redirect_uri=callback_uri(request),
        )
    except DomainError as exc:
        return render(
            request,
            "amazon_sync/connect_failed.html",
            {"store": catalogue.store_for_owner(user=request.user), "message": exc.message},
            status=400 if isinstance(exc, ValidationFailed) else exc.status_code,
        )
    messages.success(request, "Your Amazon seller account is connected.")
    return redirect("amazon_sync:home")


@login_required
@require_POST
def disconnect(request):
    if services.amazon_account_disconnect(user=request.user):
        messages.success(
            request,
            "Your Amazon account is disconnected and its credentials deleted. Listings already "
            "on Amazon stay there but are no longer kept in sync.",
        )
    return redirect("amazon_sync:home")


@login_required
def listing(request, pk):
    item = selectors.listing_with_sync_for_seller_get(user=request.user, pk=pk)
    return _listing_page(request, item, PublishForm(initial=_initial(item)))


def _initial(item):
    row = selectors.sync_of(item)
    return {"product_type": row.product_type} if row else {}


def _listing_page(request, item, form, status=200):
    sync = selectors.sync_of(item)
    return render(
        request,
        "amazon_sync/listing.html",
        {
            "store": item.store,
            "listing": item,
            "sync": sync,
            "on_amazon": sync is not None and sync.status in SYNCED_STATUSES,
            "account": selectors.account_for_seller(user=request.user),
            "form": form,
        },
        status=status,
    )


@login_required
@require_POST
def listing_publish(request, pk):
    item = selectors.listing_with_sync_for_seller_get(user=request.user, pk=pk)
    form = PublishForm(request.POST)
    if form.is_valid():
        try:
            services.amazon_listing_publish(
                listing=item, actor=request.user, product_type=form.cleaned_data["product_type"]
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"“{item.title}” is on its way to Amazon.")
            return redirect("amazon_sync:listing", pk=item.pk)
    return _listing_page(request, item, form, status=400)


def _row_action(service, done):
    @login_required
    @require_POST
    def view(request, pk):
        row = selectors.amazon_listing_for_seller_get(user=request.user, listing_pk=pk)
        try:
            service(amazon_listing=row, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done.format(title=row.listing.title))
        return redirect("amazon_sync:listing", pk=pk)

    return view


listing_sync = _row_action(
    services.amazon_listing_sync_now, "“{title}” is being sent to Amazon again."
)
listing_delist = _row_action(
    services.amazon_listing_delist, "“{title}” is being removed from Amazon."
)


@login_required
@require_POST
def feed_create(request):
    store = _store_or_redirect(request)
    if store is None:
        return redirect("seller-onboard")
    try:
        feed = services.amazon_feed_create(store=store, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("amazon_sync:home")
    messages.success(request, "Your catalogue is being sent to Amazon.")
    return redirect(feed.get_absolute_url())


@login_required
def feed(request, pk):
    feed = selectors.feed_for_seller_get(user=request.user, pk=pk)
    return render(
        request,
        "amazon_sync/feed.html",
        {"store": feed.store, "feed": feed, "items": feed.items.all()},
    )
