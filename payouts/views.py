"""The payouts pages: the seller's balances (/seller/payouts/).

Thin: the figures come from payouts.selectors.seller_balances, the same read as the API and the
admin. Stripe being unreachable is a notice on the page, never an error page.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.selectors import connect_status_for
from marketplace import selectors as catalogue_selectors
from payouts.selectors import seller_balances


@login_required
@require_GET
def seller_payouts(request):
    user = request.user
    store = catalogue_selectors.store_for_owner(user=user) if user.is_seller else None
    if store is None:
        # As the seller's other pages (escrow.views.seller_ledger): set up a store first.
        messages.info(request, "Set up your seller profile and store first.")
        return redirect("seller-onboard")
    connect = connect_status_for(user)
    return render(
        request,
        "payouts/seller_payouts.html",
        {
            "store": store,
            "balances": seller_balances(seller=user),
            "connect": connect,
            "payouts_paused": connect is not None and not connect.can_receive_payouts,
        },
    )
