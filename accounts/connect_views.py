"""Payouts pages: set up Stripe Connect Express, come back from Stripe, open the Stripe dashboard.

Thin views: each calls one accounts.connect service. Stripe's problems become a message on the
payouts page, never an error page.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.connect import NotOnboarded, connect_login_link_create, connect_onboarding_link_create
from accounts.selectors import connect_status_for
from core.errors import StripeUnavailable

NOT_A_SELLER = "Open your store first; then set up payouts with Stripe."
RETURN_CHECKS = 6  # the return page looks again this many times (5 s apart) for Stripe's word


def _absolute(name):
    return settings.SITE_URL.rstrip("/") + reverse(name)


def _seller_profile(request):
    return getattr(request.user, "seller_profile", None)


def _not_a_seller(request):
    messages.info(request, NOT_A_SELLER)
    return redirect("seller-onboard")


def _to_stripe_onboarding(request, profile):
    try:
        _, url = connect_onboarding_link_create(
            seller_profile=profile,
            return_url=_absolute("connect-return"),
            refresh_url=_absolute("connect-refresh"),
        )
    except StripeUnavailable as exc:
        messages.error(request, exc.message)
        return redirect("connect")
    return redirect(url)


def _context(request, **extra):
    return {
        "connect": connect_status_for(request.user),
        "store": getattr(request.user, "store", None),
    } | extra


@login_required
@require_GET
def overview(request):
    if _seller_profile(request) is None:
        return _not_a_seller(request)
    return render(request, "accounts/connect.html", _context(request))


@login_required
@require_POST
def start(request):
    """Set up payouts (or fix what Stripe needs): off to Stripe's hosted onboarding."""
    profile = _seller_profile(request)
    if profile is None:
        return _not_a_seller(request)
    return _to_stripe_onboarding(request, profile)


@login_required
@require_GET
def refresh(request):
    """Stripe sends the seller here when their onboarding link expired or was used: a new one."""
    profile = _seller_profile(request)
    if profile is None:
        return _not_a_seller(request)
    return _to_stripe_onboarding(request, profile)


@login_required
@require_GET
def returned(request):
    """Back from Stripe. Stripe's webhook may not have arrived yet: say so and look again."""
    if _seller_profile(request) is None:
        return _not_a_seller(request)
    context = _context(request)
    account = context["connect"].account
    confirming = account is None or not account.details_submitted
    try:
        check = max(0, int(request.GET.get("check", "0")))
    except ValueError:
        check = 0
    context.update(
        confirming=confirming,
        next_check=check + 1 if confirming and check < RETURN_CHECKS else None,
    )
    return render(request, "accounts/connect_return.html", context)


@login_required
@require_POST
def dashboard(request):
    """Open the seller's Stripe Express dashboard (a single-use login link)."""
    profile = _seller_profile(request)
    if profile is None:
        return _not_a_seller(request)
    try:
        url = connect_login_link_create(seller_profile=profile)
    except NotOnboarded as exc:
        messages.info(request, exc.message)
        return redirect("connect")
    except StripeUnavailable as exc:
        messages.error(request, exc.message)
        return redirect("connect")
    return redirect(url)
