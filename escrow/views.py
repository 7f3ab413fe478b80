"""The escrow pages: buying a listing, the order room, paying through Stripe Checkout, the
buyer's and seller's order lists and the seller's ledger.

Thin views: each parses its input, calls one service and renders or redirects. Domain errors
(and Stripe being unreachable) become a message on the page, never an error page. An order
exists only for its buyer and its seller; everyone else gets a 404 (staff use the admin).
"""

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import connect_status_for, shipping_addresses_for
from core import clock
from core.datetimes import FIRST_YEAR, LAST_YEAR, date_in_bounds
from core.errors import DomainError, StripeUnavailable, ValidationFailed
from core.forms import add_domain_errors
from core.money import format_money, from_minor_units
from core.throttling import rate_limit_wait, wait_text
from escrow import selectors as escrow_selectors
from escrow import services
from escrow.forms import (
    MAX_MILESTONE_ROWS,
    DisputeOpenForm,
    DisputeRespondForm,
    OrderCreateForm,
    OrderDeliverForm,
    OrderShipForm,
    RefundForm,
    RescheduleForm,
    ShippingAddressForm,
    milestone_forms,
)
from escrow.models import (
    DisputeStatus,
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundInitiator,
    RefundStatus,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.signals import order_viewed
from marketplace import selectors as catalogue_selectors
from marketplace.models import ListingKind, ListingStatus

# The success page asks for the order's status this often, this many times, before it gives up
# and says the confirmation is taking longer than usual.
STATUS_POLL_SECONDS = 2
STATUS_POLL_TRIES = 30

# The seller's ledger lists this many of their latest refunds (each order's page has all of its).
SELLER_LEDGER_REFUNDS = 20

# Over a person's budget (BAZAAR_RATE_ORDERS, BAZAAR_RATE_PAYMENTS; shared with the API).
TOO_MANY_ORDERS = "You have placed many orders in a short time. Try again in {wait}."
TOO_MANY_PAYMENTS = "You have started many payments in a short time. Try again in {wait}."


def _absolute(path):
    return settings.SITE_URL.rstrip("/") + path


def _paginate(request, queryset):
    return Paginator(queryset, settings.BAZAAR_PAGE_SIZE).get_page(request.GET.get("page"))


def _order(request, pk):
    return escrow_selectors.order_for_participant_get(user=request.user, pk=pk)


# --- Buying -------------------------------------------------------------------------------------


@login_required
def order_create(request, listing_pk):
    """POST from the listing page's buy box. A product goes on to the checkout step (where to
    ship it, _order_create_product) first. A GET (e.g. after logging in) goes to the listing."""
    listing = catalogue_selectors.listing_visible_get(pk=listing_pk, user=request.user)
    if request.method != "POST":
        return redirect(listing)
    if listing.kind == ListingKind.PRODUCT:
        return _order_create_product(request, listing)
    form = OrderCreateForm(request.POST, listing=listing)
    wait = form.is_valid() and rate_limit_wait(request, "orders")
    if wait:
        form.add_error(None, TOO_MANY_ORDERS.format(wait=wait_text(wait)))
    if form.is_valid():
        try:
            order = services.order_create(
                buyer=request.user,
                listing_id=listing.pk,
                quantity=form.cleaned_data["quantity"],
                client_key=form.cleaned_data["client_key"],
                slot_start=form.cleaned_data["slot_start"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return _order_placed(request, order)
    return _listing_again(request, listing, form, status=429 if wait else 200)


def _order_placed(request, order):
    messages.success(
        request,
        f"Order #{order.pk} is placed. Pay for it to have the seller start; your "
        "payment is held in escrow until you approve the delivery.",
    )
    return redirect(order)


def _listing_again(request, listing, form, *, status=200):
    # Show the listing again with the messages next to the quantity.
    return render(
        request,
        "marketplace/listing_detail.html",
        {
            "listing": listing,
            "images": listing.images.all(),
            "is_owner": listing.store.owner_id == request.user.pk,
            "buy_form": form,
        },
        status=status,
    )


# The checkout step's own submit button carries this: the buy box's POST only opens the step.
SHIPPING_STEP = "shipping_step"


def _order_create_product(request, listing):
    """A product's checkout step: the buyer says where to ship it (a saved address or a new
    one), then the order is placed with a copy of that address."""
    form = OrderCreateForm(request.POST, listing=listing)
    if listing.store.owner_id == request.user.pk or listing.status != ListingStatus.APPROVED:
        # Not on sale to this person (their own listing, a draft staff look at): no checkout,
        # in order_create's words.
        form.is_valid()
        if listing.store.owner_id == request.user.pk:
            form.add_error(None, "You cannot buy your own listing.")
        else:
            form.add_error(None, "This listing is not available.")
        return _listing_again(request, listing, form)
    saved = list(shipping_addresses_for(request.user))
    if SHIPPING_STEP not in request.POST:
        # From the buy box: the quantity is checked here, the address asked for next.
        if not form.is_valid():
            return _listing_again(request, listing, form)
        try:
            services.order_total_check(listing=listing, quantity=form.cleaned_data["quantity"])
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
            return _listing_again(request, listing, form)
        address_form = ShippingAddressForm(saved=saved)
        return _checkout_page(request, listing, form, address_form)
    address_form = ShippingAddressForm(request.POST, saved=saved)
    valid = form.is_valid() and address_form.is_valid()
    wait = valid and rate_limit_wait(request, "orders")
    if wait:
        form.add_error(None, TOO_MANY_ORDERS.format(wait=wait_text(wait)))
    elif valid:
        try:
            order = services.order_create(
                buyer=request.user,
                listing_id=listing.pk,
                quantity=form.cleaned_data["quantity"],
                client_key=form.cleaned_data["client_key"],
                **address_form.order_kwargs(),
            )
        except ValidationFailed as exc:
            # The quantity's and listing's messages on the order's form, the address's next to
            # its fields.
            ours = {k: v for k, v in exc.errors.items() if k in ("quantity", "listing")}
            rest = {k: v for k, v in exc.errors.items() if k not in ours}
            if ours:
                add_domain_errors(form, ValidationFailed(ours))
            if rest:
                add_domain_errors(
                    address_form, ValidationFailed(rest), ShippingAddressForm.SERVICE_FIELD_MAP
                )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return _order_placed(request, order)
    return _checkout_page(request, listing, form, address_form, status=429 if wait else 200)


def _checkout_page(request, listing, form, address_form, *, status=200):
    quantity = form.cleaned_data.get("quantity") if hasattr(form, "cleaned_data") else None
    return render(
        request,
        "escrow/order_checkout.html",
        {
            "listing": listing,
            "form": form,
            "address_form": address_form,
            "quantity": quantity or 1,
            "total_cents": listing.price_cents * (quantity or 1),
            "shipping_step": SHIPPING_STEP,
        },
        status=status,
    )


# --- The order room -----------------------------------------------------------------------------


def _booking_context(request, order, *, is_buyer, is_seller):
    """The order's booked time in the viewer's zone and, while it can move, a week of the
    listing's free slots to propose instead (?week=)."""
    booking = escrow_selectors.order_booking(order)
    context = {"booking": booking, "viewer_zone": request.user.time_zone, "reschedule_week": None}
    context["proposal_is_mine"] = bool(booking and booking.proposed_by_id == request.user.pk)
    if booking is None or not booking.is_blocking:
        return context
    if order.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.FUNDED):
        return context
    availability = catalogue_selectors.availability_for_listing(listing_id=order.listing_id)
    if availability is None:
        return context
    try:
        week = date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        week = None
    context["reschedule_week"] = escrow_selectors.slot_week(
        listing=order.listing,
        availability=availability,
        time_zone=request.user.time_zone,
        week=week,
        exclude_pk=booking.pk,
    )
    return context


def _order_context(request, order, *, deliver_form=None, ship_form=None, reschedule_errors=None):
    user = request.user
    is_buyer = order.buyer_id == user.pk
    is_seller = order.seller_id == user.pk
    release = escrow_selectors.order_release(order)
    now = clock.now()
    review_seconds = None
    if order.status == OrderStatus.DELIVERED and order.review_deadline:
        review_seconds = max(0, int((order.review_deadline - now).total_seconds()))
    expiry_seconds = None
    if order.status == OrderStatus.PENDING_PAYMENT and order.expires_at:
        expiry_seconds = max(0, int((order.expires_at - now).total_seconds()))
    connect = None
    if is_seller and order.status == OrderStatus.RELEASED:
        connect = connect_status_for(user)
    payments = escrow_selectors.order_payments(order)
    milestones = []
    if order.listing_kind == ListingKind.SERVICE:  # only a service is split into milestones
        milestones = escrow_selectors.order_milestones(order)
        for milestone in milestones:
            milestone.review_seconds = None
            if milestone.status == MilestoneStatus.DELIVERED and milestone.review_deadline:
                left = (milestone.review_deadline - now).total_seconds()
                milestone.review_seconds = max(0, int(left))
    return {
        "order": order,
        "milestones": milestones,
        "can_propose_milestones": is_seller
        and order.listing_kind == ListingKind.SERVICE
        and not order.has_milestone_plan
        and order.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.FUNDED),
        "is_buyer": is_buyer,
        "is_seller": is_seller,
        "release": release,
        "chargebacks": escrow_selectors.order_chargebacks(order),
        "payments": payments,
        "refunds": escrow_selectors.order_refunds(order),
        # The link to the refund page; that page says why when it cannot refund after all.
        "can_refund": is_seller
        and order.status in escrow_selectors.REFUNDABLE_STATUSES
        and order.refunded_cents < order.total_cents,
        "payment_error": _payment_error(order, payments),
        "timeline": escrow_selectors.order_timeline(order),
        "review_seconds": review_seconds,
        "review_window_days": settings.BAZAAR_REVIEW_WINDOW_DAYS,
        "expiry_seconds": expiry_seconds,
        "deliver_form": deliver_form or OrderDeliverForm(),
        "ship_form": ship_form or OrderShipForm(),
        "connect": connect,
        "payouts_paused": connect is not None and not connect.can_receive_payouts,
        "reschedule_errors": reschedule_errors or [],
        **_booking_context(request, order, is_buyer=is_buyer, is_seller=is_seller),
        **_dispute_context(order, user, release=release),
    }


@login_required
@require_GET
def order_detail(request, pk):
    order = _order(request, pk)
    # The order room shows the order's conversation (messaging's {% order_conversation %} tag);
    # whoever has it in front of them has read it.
    order_viewed.send(sender=Order, order=order, user=request.user)
    return render(request, "escrow/order_detail.html", _order_context(request, order))


@login_required
@require_POST
def order_reschedule(request, pk):
    """Either party proposes one of the free slots shown on the order page instead."""
    order = _order(request, pk)
    form = RescheduleForm(request.POST)
    errors = []
    if not form.is_valid():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
    else:
        try:
            services.booking_reschedule_propose(
                order=order, actor=request.user, slot_start=form.cleaned_data["slot_start"]
            )
        except ValidationFailed as exc:
            errors = [str(m) for messages_ in exc.errors.values() for m in messages_]
        except DomainError as exc:
            errors = [exc.message]
    if errors:
        context = _order_context(request, order, reschedule_errors=errors)
        return render(request, "escrow/order_detail.html", context, status=400)
    messages.success(request, "New time proposed. The booking moves when the other side accepts.")
    return redirect(order)


@login_required
@require_POST
def order_reschedule_accept(request, pk):
    order = _order(request, pk)
    try:
        services.booking_reschedule_accept(order=order, actor=request.user)
    except ValidationFailed as exc:
        errors = [str(m) for messages_ in exc.errors.values() for m in messages_]
        context = _order_context(request, order, reschedule_errors=errors)
        return render(request, "escrow/order_detail.html", context, status=400)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The booking moved to the new time. You both got an invitation.")
    return redirect(order)


@login_required
@require_POST
def order_reschedule_decline(request, pk):
    order = _order(request, pk)
    try:
        services.booking_reschedule_decline(order=order, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The booking stays at its time.")
    return redirect(order)


@login_required
@require_POST
def order_pay(request, pk):
    """The buyer's Pay button: off to Stripe Checkout. Stripe's word, not the redirect back,
    decides that the order is paid."""
    order = _order(request, pk)
    wait = rate_limit_wait(request, "payments")
    if wait:
        messages.error(request, TOO_MANY_PAYMENTS.format(wait=wait_text(wait)))
        return redirect(order)
    success_url = _absolute(reverse("order-paid", kwargs={"pk": order.pk}))
    try:
        _, checkout_url = services.payment_checkout_start(
            order=order,
            buyer=request.user,
            # Stripe fills in {CHECKOUT_SESSION_ID}; the braces must reach it unencoded.
            success_url=success_url + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=_absolute(order.get_absolute_url()),
        )
    except (DomainError, StripeUnavailable) as exc:
        messages.error(request, exc.message)
        return redirect(order)
    return redirect(checkout_url)


@login_required
@require_POST
def order_deliver(request, pk):
    order = _order(request, pk)
    form = OrderDeliverForm(request.POST)
    if not form.is_valid():
        context = _order_context(request, order, deliver_form=form)
        return render(request, "escrow/order_detail.html", context)
    try:
        order = services.order_deliver(
            order=order, actor=request.user, note=form.cleaned_data["note"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Marked as delivered. The buyer has {settings.BAZAAR_REVIEW_WINDOW_DAYS} days to "
            "approve; after that the payment is released to you automatically.",
        )
    return redirect(order)


@login_required
@require_POST
def order_ship(request, pk):
    """The seller's "Mark shipped" on a paid product: carrier and tracking number."""
    order = _order(request, pk)
    form = OrderShipForm(request.POST)
    if form.is_valid():
        try:
            order = services.order_mark_shipped(
                order=order,
                actor=request.user,
                carrier=form.cleaned_data["carrier"],
                tracking_number=form.cleaned_data["tracking_number"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(order)
        else:
            messages.success(
                request,
                "Marked as shipped. The buyer has the tracking number; the payment is released "
                f"to you {settings.BAZAAR_REVIEW_WINDOW_DAYS} days after they receive it unless "
                "they report a problem.",
            )
            return redirect(order)
    context = _order_context(request, order, ship_form=form)
    return render(request, "escrow/order_detail.html", context, status=400)


@login_required
@require_POST
def order_confirm_received(request, pk):
    """The buyer's "I received it": the review window starts now."""
    order = _order(request, pk)
    try:
        order = services.order_confirm_received(order=order, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Thank you. Check it: you have until {order.review_deadline:%d %b %Y} to approve it "
            "or report a problem.",
        )
    return redirect(order)


@login_required
@require_POST
def order_approve(request, pk):
    """The buyer approves the delivery: the escrow is released to the seller."""
    order = _order(request, pk)
    try:
        decided = services.escrow_release(
            order=order, trigger=ReleaseTrigger.BUYER, actor=request.user
        )
    except (DomainError, StripeUnavailable) as exc:
        messages.error(request, exc.message)
        return redirect(order)
    if decided.status == ReleaseStatus.TRANSFERRED:
        messages.success(
            request,
            f"Thank you. {decided.transfer_display} was released to {order.store.name}.",
        )
    else:
        messages.warning(
            request,
            "Thank you, the order is approved. Stripe has not taken the transfer to the seller "
            "yet; Bazaar retries it automatically.",
        )
    return redirect(order)


@login_required
def order_cancel(request, pk):
    """Unpaid: the buyer's POST from the order page calls it off. Paid: GET shows what
    cancelling refunds (the policy, the exact amount), the POST confirms that amount."""
    order = _order(request, pk)
    paid = order.status in services.CANCELLABLE_WHEN_PAID
    expected = request.POST.get("expected_refund_cents", "")
    if request.method != "POST" or (paid and not expected.isdigit()):
        if not paid:
            return redirect(order)
        try:
            preview = services.order_cancel_preview(order=order, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(order)
        return render(
            request,
            "escrow/order_cancel.html",
            {"order": order, "preview": preview, "is_buyer": request.user.pk == order.buyer_id},
        )
    try:
        order = services.order_cancel(
            order=order,
            actor=request.user,
            expected_refund_cents=int(expected) if expected.isdigit() else None,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("order-cancel", pk=order.pk) if paid else redirect(order)
    if paid:
        messages.success(request, f"Order #{order.pk} was cancelled. The refund is on its way.")
    else:
        messages.success(request, f"Order #{order.pk} was cancelled. Nothing was charged.")
    return redirect(order)


# --- Refunds ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def order_refund(request, pk):
    """The seller refunds all or part of an order to its buyer (escrow.services.refund_create):
    before release from the money held, after it taking their share back from their Stripe
    balance. The order's seller only; anyone else, its buyer too, gets a 404."""
    order = escrow_selectors.order_for_seller_get(user=request.user, pk=pk)
    milestones = None
    if order.has_milestone_plan:
        milestones = [
            m
            for m in escrow_selectors.order_milestones(order)
            if m.status != MilestoneStatus.REFUNDED
        ]
    if request.method == "POST":
        form = RefundForm(request.POST, currency=order.currency, milestones=milestones)
        if form.is_valid():
            try:
                refund = services.refund_create(
                    order=order,
                    amount_cents=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    initiator=RefundInitiator.SELLER,
                    actor=request.user,
                    client_key=form.cleaned_data["client_key"],
                    milestone=form.cleaned_data.get("milestone"),
                )
            except ValidationFailed as exc:
                add_domain_errors(form, exc, RefundForm.SERVICE_FIELD_MAP)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                _tell_refund_outcome(request, refund)
                return redirect(order)
    quote = escrow_selectors.order_refund_quote(order)
    if request.method != "POST":
        # Everything that is left, to change for a part refund.
        initial = {}
        if quote.can_refund:
            initial["amount"] = from_minor_units(quote.refundable_cents, quote.currency)
        form = RefundForm(currency=order.currency, initial=initial, milestones=milestones)
    return render(
        request,
        "escrow/order_refund.html",
        {
            "order": order,
            "quote": quote,
            "form": form,
            "refunds": escrow_selectors.order_refunds(order),
        },
    )


def _tell_refund_outcome(request, refund):
    """What became of the seller's refund, in a message on the order page."""
    amount = refund.amount_display
    if refund.status == RefundStatus.SUCCEEDED:
        text = f"{amount} was refunded to the buyer."
        if refund.after_release:
            taken_back = refund.seller_share_cents - refund.debt_cents
            if taken_back:
                text += (
                    f" {format_money(taken_back, refund.currency)} was taken back from your "
                    "Stripe balance."
                )
            if refund.debt_cents:
                text += (
                    " Your Stripe balance could not cover "
                    f"{format_money(refund.debt_cents, refund.currency)}: it will be taken from "
                    "your next payments."
                )
        messages.success(request, text)
    elif refund.status == RefundStatus.PENDING:
        messages.info(
            request,
            f"The refund of {amount} is on its way: Stripe has not confirmed it yet. Bazaar "
            "keeps asking, and the buyer is told when it is made.",
        )
    else:
        reason = refund.failure_message or "no reason given"
        messages.error(
            request,
            f"Stripe could not refund {amount} ({reason}). Nothing was refunded; you can try "
            "again.",
        )


def _payment_error(order, payments):
    """Why the last payment attempt failed, while the order is unpaid; "" otherwise. A newer
    attempt under way makes an older decline history."""
    latest = payments.latest
    if order.status != OrderStatus.PENDING_PAYMENT or latest is None:
        return ""
    return latest.failure_reason if latest.status == PaymentStatus.FAILED else ""


# --- Back from Stripe Checkout ------------------------------------------------------------------

PAID_STATUSES = (OrderStatus.FUNDED, OrderStatus.DELIVERED, OrderStatus.RELEASED)


def _last_attempt_failed(order, payments):
    # The latest attempt, not order.payment_error: that still holds an earlier decline while
    # Stripe confirms a newer, successful payment.
    return (
        order.status == OrderStatus.PENDING_PAYMENT
        and payments.latest is not None
        and payments.latest.status == PaymentStatus.FAILED
    )


@login_required
@require_GET
def order_paid(request, pk):
    """Stripe's success_url. The redirect proves nothing: the page shows what our records say
    (funded once Stripe's webhook arrived) and otherwise keeps asking until they say so."""
    order = _order(request, pk)
    confirmed = order.status in PAID_STATUSES
    payments = escrow_selectors.order_payments(order)
    failed = not confirmed and _last_attempt_failed(order, payments)
    return render(
        request,
        "escrow/order_paid.html",
        {
            "order": order,
            "confirmed": confirmed,
            "failed": failed,
            "waiting": not confirmed and not failed,
            "payments": payments,
            "poll_seconds": STATUS_POLL_SECONDS,
            "poll_tries": STATUS_POLL_TRIES,
        },
    )


@login_required
@require_GET
def order_status(request, pk):
    order = _order(request, pk)
    return JsonResponse(
        {
            "status": order.status,
            "status_display": order.get_status_display(),
            "paid": order.status in PAID_STATUSES,
            "payment_failed": order.status not in PAID_STATUSES
            and _last_attempt_failed(order, escrow_selectors.order_payments(order)),
        },
        headers={"Cache-Control": "no-store"},
    )


# --- Lists --------------------------------------------------------------------------------------


@login_required
@require_GET
def orders_buying(request):
    page_obj = _paginate(request, escrow_selectors.orders_for_buyer(user=request.user))
    return render(
        request,
        "escrow/orders_buying.html",
        {"page_obj": page_obj, "orders": page_obj.object_list},
    )


def _become_seller_first(request):
    messages.info(request, "Set up your seller profile and store first.")
    return redirect("seller-onboard")


def _seller_store(request):
    if not request.user.is_seller:
        return None
    return catalogue_selectors.store_for_owner(user=request.user)


@login_required
@require_GET
def orders_selling(request):
    store = _seller_store(request)
    if store is None:
        return _become_seller_first(request)
    page_obj = _paginate(request, escrow_selectors.orders_for_seller(user=request.user))
    return render(
        request,
        "escrow/orders_selling.html",
        {"store": store, "page_obj": page_obj, "orders": page_obj.object_list},
    )


BAD_WEEK = (
    f"Give the week as a date (YYYY-MM-DD) from {FIRST_YEAR} to {LAST_YEAR}; "
    "showing this week instead."
)


def _week_asked(request):
    """The date in ?week= (None: this week) and the reason it was not taken, if it was not."""
    value = request.GET.get("week")
    if not value:
        return None, None
    try:
        week = date.fromisoformat(value.strip())
    except ValueError:
        return None, BAD_WEEK
    return (week, None) if date_in_bounds(week) else (None, BAD_WEEK)


@login_required
@require_GET
def seller_bookings(request):
    """The seller's calendar: one week (?week=YYYY-MM-DD, or ?when=week for this one) of their
    bookings by day, or the upcoming (soonest first) or past ones as a list, in their zone."""
    store = _seller_store(request)
    if store is None:
        return _become_seller_first(request)
    context = {"store": store, "viewer_zone": request.user.time_zone, "week": None}
    if "week" in request.GET or request.GET.get("when") == "week":
        week, week_error = _week_asked(request)
        context["week"] = escrow_selectors.seller_booking_week(
            seller=request.user, time_zone=request.user.time_zone, week=week
        )
        context["week_error"] = week_error
        return render(request, "escrow/seller_bookings.html", context)
    upcoming = request.GET.get("when") != "past"
    page_obj = _paginate(
        request, escrow_selectors.seller_bookings(seller=request.user, upcoming=upcoming)
    )
    context |= {"page_obj": page_obj, "bookings": page_obj.object_list, "upcoming": upcoming}
    return render(request, "escrow/seller_bookings.html", context)


@login_required
@require_GET
def seller_ledger(request):
    store = _seller_store(request)
    if store is None:
        return _become_seller_first(request)
    seller = request.user
    page_obj = _paginate(request, escrow_selectors.seller_ledger_lines(seller=seller))
    connect = connect_status_for(seller)
    return render(
        request,
        "escrow/seller_ledger.html",
        {
            "store": store,
            "page_obj": page_obj,
            "lines": page_obj.object_list,
            "totals": escrow_selectors.seller_ledger_totals(
                seller=seller, default_currency=seller.seller_profile.default_currency
            ),
            "refunds": escrow_selectors.seller_refunds(seller=seller, limit=SELLER_LEDGER_REFUNDS),
            "refunds_shown": SELLER_LEDGER_REFUNDS,
            "connect": connect,
            "payouts_paused": connect is not None and not connect.can_receive_payouts,
        },
    )


# --- Disputes: the buyer reports a problem, the seller answers ----------------------------------

# A problem can be reported while the payment is held (escrow.services.disputes).
DISPUTABLE_STATUSES = (OrderStatus.FUNDED, OrderStatus.DELIVERED)


def _dispute_context(order, user, *, release=None):
    """The order's dispute (open, else the latest) and what this person may do about it."""
    dispute = escrow_selectors.order_dispute(order)
    is_buyer = order.buyer_id == user.pk
    is_open = dispute is not None and dispute.is_open
    return {
        "dispute": dispute,
        "dispute_timeline": escrow_selectors.dispute_timeline(dispute) if dispute else [],
        "can_report_problem": is_buyer
        and order.status in DISPUTABLE_STATUSES
        and release is None
        and not is_open,
        "can_respond": is_open
        and order.seller_id == user.pk
        and dispute.status == DisputeStatus.OPEN,
        "can_withdraw": is_open and is_buyer,
    }


def _dispute_page(request, order, *, form=None, status=200):
    context = {
        "order": order,
        "is_buyer": order.buyer_id == request.user.pk,
        "is_seller": order.seller_id == request.user.pk,
        **_dispute_context(order, request.user, release=escrow_selectors.order_release(order)),
    }
    if form is None and context["can_report_problem"]:
        form = DisputeOpenForm(reasons=escrow_selectors.dispute_reasons_for(order))
    context["form"] = form
    return render(request, "escrow/order_dispute.html", context, status=status)


@login_required
def order_dispute(request, pk):
    """The dispute page: the buyer's "Report a problem" form while the payment is held, and the
    dispute (status, deadlines, both sides, timeline) once there is one."""
    order = _order(request, pk)
    if request.method != "POST":
        context = _dispute_context(
            order, request.user, release=escrow_selectors.order_release(order)
        )
        if context["dispute"] is None and not context["can_report_problem"]:
            if order.buyer_id == request.user.pk:
                messages.info(
                    request,
                    "You can report a problem while Bazaar holds your payment: once you have "
                    "paid and before it is released to the seller.",
                )
            else:
                messages.info(request, "The buyer has not reported a problem with this order.")
            return redirect(order)
        return _dispute_page(request, order)
    if order.buyer_id != request.user.pk:
        messages.error(request, "Only the buyer can report a problem with this order.")
        return redirect(order)
    form = DisputeOpenForm(request.POST, reasons=escrow_selectors.dispute_reasons_for(order))
    if form.is_valid():
        try:
            services.dispute_open(
                order=order,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                description=form.cleaned_data["description"],
                client_key=form.cleaned_data["client_key"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(order)
        else:
            messages.success(
                request,
                "Your report is open and the payment stays held. The seller has been asked to "
                "answer; add photos or files in the conversation below.",
            )
            return redirect(order.get_absolute_url() + "#dispute")
    return _dispute_page(request, order, form=form)


@login_required
def order_dispute_respond(request, pk):
    """The seller's answer to the buyer's report."""
    order = _order(request, pk)
    dispute = escrow_selectors.order_dispute(order)
    if order.seller_id != request.user.pk:
        messages.error(request, "Only the seller can answer a dispute.")
        return redirect(order)
    if dispute is None or dispute.status != DisputeStatus.OPEN:
        messages.info(
            request,
            "There is no dispute waiting for your answer on this order."
            if dispute is None or not dispute.is_open
            else "You have answered already. Add anything else in the order's conversation.",
        )
        return redirect(order)
    form = DisputeRespondForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.dispute_respond(
                dispute=dispute, actor=request.user, response=form.cleaned_data["response"]
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(order)
        else:
            messages.success(
                request, "Your answer was sent. Bazaar's team reviews both sides and decides."
            )
            return redirect(order.get_absolute_url() + "#dispute")
    return render(
        request,
        "escrow/order_dispute_respond.html",
        {"order": order, "dispute": dispute, "form": form, "is_seller": True},
    )


@login_required
@require_POST
def order_dispute_withdraw(request, pk):
    order = _order(request, pk)
    dispute = escrow_selectors.order_dispute(order)
    if dispute is None:
        messages.info(request, "There is no dispute on this order.")
        return redirect(order)
    try:
        services.dispute_withdraw(dispute=dispute, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Your report is withdrawn. The order continues as before"
            + (
                f"; you have {settings.BAZAAR_REVIEW_WINDOW_DAYS} days to approve it."
                if order.delivered_at
                else "."
            ),
        )
    return redirect(order)


# --- Milestones ---------------------------------------------------------------------------------


def _milestone_rows(request, order):
    try:
        rows = int(request.GET.get("rows", ""))
    except ValueError:
        rows = max(3, order.milestones.count())
    return min(max(rows, 2), MAX_MILESTONE_ROWS)


@login_required
@require_http_methods(["GET", "POST"])
def order_milestones(request, pk):
    """The seller proposes (or replaces) the order's milestone plan: a row per milestone."""
    order = _order(request, pk)
    if order.seller_id != request.user.pk:
        messages.error(request, "Only the seller can propose milestones for this order.")
        return redirect(order)
    proposed = [
        {
            "title": m.title,
            "amount": from_minor_units(m.amount_cents, m.currency),
            "due_date": m.due_date,
        }
        for m in escrow_selectors.order_milestones(order)
    ]
    if request.method == "GET":
        forms_ = milestone_forms(
            rows=_milestone_rows(request, order), currency=order.currency, initial=proposed
        )
        return _milestones_page(request, order, forms_)
    try:
        rows = min(max(int(request.POST.get("rows", "3")), 2), MAX_MILESTONE_ROWS)
    except ValueError:
        rows = 3
    forms_ = milestone_forms(request.POST, rows=rows, currency=order.currency)
    if not all(form.is_valid() for form in forms_):
        return _milestones_page(request, order, forms_, status=400)
    filled = [(n, form) for n, form in enumerate(forms_) if not form.is_blank]
    plan = [
        {
            "title": form.cleaned_data["title"],
            "amount_cents": form.cleaned_data["amount"],
            "due_date": form.cleaned_data["due_date"],
        }
        for _, form in filled
    ]
    try:
        services.milestone_plan_propose(order=order, actor=request.user, milestones=plan)
    except ValidationFailed as exc:
        plan_errors = []
        for name, texts in exc.errors.items():
            parts = name.split(".")
            if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(filled):
                form = filled[int(parts[1])][1]
                field = {"amount_cents": "amount"}.get(parts[2], parts[2])
                form.add_error(field if field in form.fields else None, texts)
            else:
                plan_errors.extend(texts)
        return _milestones_page(request, order, forms_, plan_errors=plan_errors, status=400)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(order)
    messages.success(request, "Milestones proposed. The buyer is asked to accept them.")
    return redirect(order)


def _milestones_page(request, order, forms_, *, plan_errors=(), status=200):
    context = {
        "order": order,
        "forms": forms_,
        "rows": len(forms_),
        "more_rows": min(len(forms_) + 1, MAX_MILESTONE_ROWS),
        "max_rows": MAX_MILESTONE_ROWS,
        "plan_errors": list(plan_errors),
    }
    return render(request, "escrow/order_milestones.html", context, status=status)


@login_required
@require_POST
def order_milestones_accept(request, pk):
    order = _order(request, pk)
    try:
        services.milestone_plan_accept(order=order, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Plan accepted: each milestone is paid to the seller on its own.")
    return redirect(order)


def _order_milestone(order, milestone_pk):
    milestone = Milestone.objects.filter(pk=milestone_pk, order_id=order.pk).first()
    if milestone is None:
        raise Http404("This order has no such milestone.")
    return milestone


@login_required
@require_POST
def order_milestone_deliver(request, pk, milestone_pk):
    order = _order(request, pk)
    milestone = _order_milestone(order, milestone_pk)
    form = OrderDeliverForm(request.POST)
    if not form.is_valid():
        # The note is not dropped: the order page again, its error beside this milestone's note.
        context = _order_context(request, order)
        for row in context["milestones"]:
            if row.pk == milestone.pk:
                row.note_errors = form.errors["note"]
                row.note_value = form.data.get("note", "")
        return render(request, "escrow/order_detail.html", context, status=400)
    try:
        services.milestone_deliver(
            milestone=milestone, actor=request.user, note=form.cleaned_data["note"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"“{milestone.title}” marked as delivered. The buyer has "
            f"{settings.BAZAAR_REVIEW_WINDOW_DAYS} days to approve it.",
        )
    return redirect(order)


@login_required
@require_POST
def order_milestone_approve(request, pk, milestone_pk):
    order = _order(request, pk)
    milestone = _order_milestone(order, milestone_pk)
    try:
        decided = services.milestone_approve(milestone=milestone, actor=request.user)
    except (DomainError, StripeUnavailable) as exc:
        messages.error(request, exc.message)
        return redirect(order)
    if decided.status == ReleaseStatus.TRANSFERRED:
        messages.success(
            request, f"Thank you. {decided.transfer_display} was released to {order.store.name}."
        )
    else:
        messages.warning(
            request,
            "Thank you, the milestone is approved. Stripe has not taken the transfer to the "
            "seller yet; Bazaar retries it automatically.",
        )
    return redirect(order)
