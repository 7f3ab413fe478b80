"""The payouts pages: the seller's balances, payout requests and schedule (/seller/payouts/).

Thin: the figures come from payouts.selectors.seller_balances, the same read as the API and the
admin. Stripe being unreachable is a notice on the page, never an error page.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.selectors import connect_status_for
from core.errors import DomainError, StripeUnavailable, ValidationFailed
from core.forms import add_domain_errors
from core.money import format_money
from marketplace import selectors as catalogue_selectors
from payouts.forms import PayoutHistoryForm, PayoutRequestForm, PayoutScheduleForm
from payouts.selectors import payouts_for_seller, payouts_orders_covered, seller_balances
from payouts.services import (
    failure_words,
    payout_quote,
    payout_request_create,
    payout_schedule_set,
    schedule_for,
    schedule_next_date,
    schedule_words,
)

RECENT_PAYOUTS = 10


def _seller_store(user):
    return catalogue_selectors.store_for_owner(user=user) if user.is_seller else None


def _set_up_first(request):
    # As the seller's other pages (escrow.views.seller_ledger): set up a store first.
    messages.info(request, "Set up your seller profile and store first.")
    return redirect("seller-onboard")


@login_required
@require_GET
def seller_payouts(request):
    user = request.user
    store = _seller_store(user)
    if store is None:
        return _set_up_first(request)
    return _page(request, store)


def _page(request, store, form=None, quote=None, schedule_form=None, status=200):
    user = request.user
    schedule = schedule_for(user)
    connect = connect_status_for(user)
    balances = seller_balances(seller=user)
    currencies = [row.currency for row in balances.currencies]
    recent = list(payouts_for_seller(seller=user)[:RECENT_PAYOUTS])
    for payout in recent:
        payout.why = failure_words(payout.failure_code) if payout.status == "failed" else ""
    return render(
        request,
        "payouts/seller_payouts.html",
        {
            "store": store,
            "balances": balances,
            "connect": connect,
            "payouts_paused": connect is not None and not connect.can_receive_payouts,
            "form": form or PayoutRequestForm(currencies=currencies),
            "quote": quote,
            "schedule": schedule,
            "schedule_words": schedule_words(schedule),
            "next_payout_on": schedule_next_date(schedule),
            "schedule_form": schedule_form
            or PayoutScheduleForm(
                initial={
                    "interval": schedule.interval,
                    "weekly_anchor": schedule.weekly_anchor,
                    "monthly_anchor": schedule.monthly_anchor,
                }
            ),
            "payouts": recent,
            "minimum_words": format_money(settings.PAYOUT_MINIMUM_CENTS, currencies[0]),
            "instant_fee_words": (
                f"{Decimal(settings.PAYOUT_INSTANT_FEE_BPS) / 100}% of the amount, at least "
                f"{format_money(settings.PAYOUT_INSTANT_FEE_MIN_CENTS, currencies[0])}"
            ),
        },
        status=status,
    )


@login_required
@require_http_methods(["POST"])
def seller_payout_request(request):
    """Step 1 (no `confirm`): the quote (fee, what reaches the bank) to confirm. Step 2: the
    payout is requested."""
    user = request.user
    store = _seller_store(user)
    if store is None:
        return _set_up_first(request)
    currencies = [row.currency for row in seller_balances(seller=user).currencies]
    form = PayoutRequestForm(request.POST, currencies=currencies)
    if not form.is_valid():
        return _page(request, store, form=form, status=400)
    data = form.cleaned_data
    try:
        if request.POST.get("confirm") != "1":
            quote = payout_quote(
                seller=user,
                currency=data["currency"],
                method=data["method"],
                amount_cents=data["amount_cents"],
            )
            return _page(request, store, form=form, quote=quote)
        payout = payout_request_create(
            seller=user,
            amount_cents=data["amount_cents"],
            currency=data["currency"],
            method=data["method"],
        )
    except ValidationFailed as exc:
        add_domain_errors(form, exc, {"amount_cents": "amount"})
        return _page(request, store, form=form, status=400)
    except (DomainError, StripeUnavailable) as exc:
        form.add_error(None, exc.message)
        return _page(request, store, form=form, status=400)
    if payout.status == "requested":
        messages.info(
            request,
            "Stripe could not be reached just now; your payout is saved and will be sent in a "
            "few minutes.",
        )
    else:
        messages.success(
            request,
            f"{format_money(payout.bank_cents, payout.currency)} is on its way to your bank.",
        )
    return redirect("seller-payouts")


@login_required
@require_http_methods(["POST"])
def seller_payout_schedule(request):
    """The seller chooses when they are paid out on their own."""
    user = request.user
    store = _seller_store(user)
    if store is None:
        return _set_up_first(request)
    form = PayoutScheduleForm(request.POST)
    if not form.is_valid():
        return _page(request, store, schedule_form=form, status=400)
    try:
        schedule = payout_schedule_set(seller=user, **form.cleaned_data)
    except ValidationFailed as exc:
        add_domain_errors(form, exc)
        return _page(request, store, schedule_form=form, status=400)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _page(request, store, schedule_form=form, status=400)
    messages.success(request, f"You will be paid out {schedule_words(schedule)}.")
    return redirect("seller-payouts")


@login_required
@require_GET
def seller_payout_history(request):
    """Every payout of the seller's, newest first, filtered by status and the day requested, each
    with its arrival date and the released orders whose money it paid out."""
    user = request.user
    store = _seller_store(user)
    if store is None:
        return _set_up_first(request)
    form = PayoutHistoryForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "payouts/seller_payout_history.html",
            {"store": store, "form": form, "page_obj": None},
            status=400,
        )
    data = form.cleaned_data
    rows = payouts_for_seller(
        seller=user, status=data["status"], since=data["from"], until=data["to"]
    )
    page_obj = Paginator(rows, settings.BAZAAR_PAGE_SIZE).get_page(request.GET.get("page"))
    covered = payouts_orders_covered(seller=user, payouts=page_obj.object_list)
    for payout in page_obj.object_list:
        payout.why = failure_words(payout.failure_code) if payout.status == "failed" else ""
        payout.orders = covered[payout.pk]
    return render(
        request,
        "payouts/seller_payout_history.html",
        {"store": store, "form": form, "page_obj": page_obj},
    )
