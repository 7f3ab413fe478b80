"""The sandbox's stand-ins for Stripe's hosted pages: Checkout, the 3D Secure step and receipts.

Thin: each view reads the form, calls one function of resources/payments.py and renders.
"""

import datetime

from django import forms
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from stripe_sandbox import core
from stripe_sandbox.currencies import format_amount
from stripe_sandbox.errors import ResourceMissing
from stripe_sandbox.resources import payments

TEST_CARDS = [
    ("4242 4242 4242 4242", "Succeeds"),
    ("4000 0000 0000 0002", "Declined (generic decline)"),
    ("4000 0000 0000 9995", "Declined (insufficient funds)"),
    ("4000 0025 0000 3155", "Asks for 3D Secure authentication"),
    ("4000 0000 0000 0259", "Succeeds, then is disputed as fraudulent"),
]


class CardForm(forms.Form):
    """Card details as Stripe's payment form takes them (its own wording for mistakes)."""

    email = forms.EmailField(label="Email", required=False, max_length=254)
    card_number = forms.CharField(label="Card number", max_length=30)
    expiry = forms.CharField(label="Expiry (MM / YY)", max_length=9)
    cvc = forms.CharField(label="CVC", max_length=4, min_length=3)
    name = forms.CharField(label="Name on card", max_length=200, required=False)

    def __init__(self, *args, email_required=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = email_required

    def clean_card_number(self):
        number = "".join(self.cleaned_data["card_number"].split())
        if not number.isdigit() or len(number) < 13:
            raise forms.ValidationError("Your card number is incomplete.")
        if not payments.luhn_valid(number):
            raise forms.ValidationError("Your card number is invalid.")
        return number

    def clean_expiry(self):
        raw = self.cleaned_data["expiry"].replace(" ", "")
        month, _, year = raw.partition("/")
        if not (month.isdigit() and year.isdigit() and len(year) in (2, 4)):
            raise forms.ValidationError("Your card's expiration date is incomplete.")
        month, year = int(month), int(year) + (2000 if len(year) == 2 else 0)
        if not 1 <= month <= 12:
            raise forms.ValidationError("Your card's expiration date is invalid.")
        today = datetime.datetime.fromtimestamp(core.now(), tz=datetime.UTC).date()
        if (year, month) < (today.year, today.month):
            raise forms.ValidationError("Your card's expiration year is in the past.")
        return month, year

    def clean_cvc(self):
        cvc = self.cleaned_data["cvc"].strip()
        if not cvc.isdigit():
            raise forms.ValidationError("Your card's security code is incomplete.")
        return cvc


def _page_or_404(session_id):
    try:
        return payments.checkout_page_state(session_id)
    except ResourceMissing as exc:
        raise Http404("No such checkout session.") from exc


def _context(page, **extra):
    session = page.session
    currency = session["currency"]
    items = [
        {
            "name": item["description"],
            "quantity": item["quantity"],
            "unit": format_amount(item["price"]["unit_amount"], currency),
            "total": format_amount(item["amount_total"], currency),
        }
        for item in page.line_items
    ]
    return {
        "session": session,
        "items": items,
        "total": format_amount(session["amount_total"], currency),
        "merchant": payments.merchant_name(page.account),
        "test_cards": TEST_CARDS,
        **extra,
    }


# What Stripe's hosted Checkout page tells the customer when the API's message is written for
# developers: the 3D Secure failure's ("The provided PaymentMethod has failed authentication. You
# can provide payment_method_data…") is not for a buyer. Staff still see Stripe's own text.
CUSTOMER_MESSAGES = {
    "payment_intent_authentication_failure": (
        "We are unable to authenticate your payment method. Please choose a different payment "
        "method and try again."
    ),
}


def _error(request, message, code):
    """The page's error for the customer, and Stripe's own text beside it for staff."""
    if not message:
        return {"error": None, "error_detail": None}
    plain = CUSTOMER_MESSAGES.get(code)
    if plain is None:
        return {"error": message, "error_detail": None}
    return {"error": plain, "error_detail": message if request.user.is_staff else None}


def _closed(request, page):
    session = page.session
    return_url = (
        payments.checkout_success_url(session)
        if session["status"] == "complete"
        else session.get("cancel_url")
    )
    return render(
        request, "stripe_sandbox/checkout_closed.html", _context(page, return_url=return_url)
    )


@require_http_methods(["GET", "POST"])
def checkout(request, session_id):
    page = _page_or_404(session_id)
    session = page.session
    if session["status"] != "open":
        return _closed(request, page)
    if page.needs_authentication:
        return render(
            request, "stripe_sandbox/checkout_authenticate.html", _authenticate_context(page)
        )
    prefilled = payments.checkout_prefilled_email(session)
    error = _error(request, page.last_error, page.last_error_code)
    if request.method == "POST":
        form = CardForm(request.POST, email_required=not prefilled)
        if form.is_valid():
            month, year = form.cleaned_data["expiry"]
            outcome = payments.checkout_session_pay(
                session_id,
                card_number=form.cleaned_data["card_number"],
                exp_month=month,
                exp_year=year,
                cvc=form.cleaned_data["cvc"],
                email=form.cleaned_data.get("email") or None,
                name=form.cleaned_data.get("name") or None,
            )
            if outcome.status == "paid":
                return HttpResponseRedirect(outcome.redirect_url)
            if outcome.status == "requires_action":
                return render(
                    request,
                    "stripe_sandbox/checkout_authenticate.html",
                    _authenticate_context(_page_or_404(session_id)),
                )
            if outcome.status == "closed":
                return _closed(request, _page_or_404(session_id))
            error = _error(request, outcome.message, outcome.code)
    else:
        form = CardForm(email_required=not prefilled)
    return render(
        request,
        "stripe_sandbox/checkout.html",
        _context(page, form=form, email_required=not prefilled, prefilled=prefilled, **error),
    )


def _authenticate_context(page):
    card = (page.payment_method or {}).get("card")
    return _context(
        page,
        card=card,
        amount=format_amount(page.session["amount_total"], page.session["currency"]),
        action_url=reverse("stripe_sandbox:checkout_authenticate", args=[page.session["id"]]),
    )


@require_POST
def checkout_authenticate(request, session_id):
    page = _page_or_404(session_id)
    if page.session["status"] != "open":
        return _closed(request, page)
    outcome = payments.checkout_session_authenticate(
        session_id, succeed=request.POST.get("action") == "complete"
    )
    if outcome.status == "paid":
        return HttpResponseRedirect(outcome.redirect_url)
    page = _page_or_404(session_id)
    if outcome.status == "closed":
        return _closed(request, page)
    prefilled = payments.checkout_prefilled_email(page.session)
    return render(
        request,
        "stripe_sandbox/checkout.html",
        _context(
            page,
            form=CardForm(email_required=not prefilled),
            email_required=not prefilled,
            prefilled=prefilled,
            **_error(request, outcome.message, outcome.code),
        ),
    )


@require_http_methods(["GET", "POST"])
def authenticate_payment(request, pi_id):
    """3D Secure for a PaymentIntent confirmed through the API (its next_action URL)."""
    try:
        pi, pm = payments.payment_intent_for_page(pi_id)
    except ResourceMissing as exc:
        raise Http404("No such payment.") from exc
    if request.method == "POST" and pi["status"] == "requires_action":
        pi, redirect_url = payments.hosted_authentication(
            pi_id, succeed=request.POST.get("action") == "complete"
        )
        if redirect_url:
            return HttpResponseRedirect(redirect_url)
    context = {
        "payment_intent": pi,
        "amount": format_amount(pi["amount"], pi["currency"]),
        "card": (pm or {}).get("card"),
        "merchant": payments.merchant_name(payments.request_for(pi_id).account),
        "action_url": request.path,
        "standalone": True,
    }
    return render(request, "stripe_sandbox/checkout_authenticate.html", context)


def receipt(request, charge_id):
    try:
        charge, refunds = payments.receipt_for_page(charge_id)
    except ResourceMissing as exc:
        raise Http404("No such receipt.") from exc
    currency = charge["currency"]
    context = {
        "charge": charge,
        "merchant": payments.merchant_name(payments.request_for(charge_id).account),
        "amount": format_amount(charge["amount_captured"] or charge["amount"], currency),
        "paid_on": datetime.datetime.fromtimestamp(charge["created"], tz=datetime.UTC),
        "card": charge["payment_method_details"]["card"],
        "refunds": [
            {
                "amount": format_amount(r["amount"], currency),
                "date": datetime.datetime.fromtimestamp(r["created"], tz=datetime.UTC),
            }
            for r in refunds
            if r.get("balance_transaction")
        ],
        "refunded": format_amount(charge["amount_refunded"], currency)
        if charge["amount_refunded"]
        else None,
    }
    return render(request, "stripe_sandbox/checkout_receipt.html", context)
