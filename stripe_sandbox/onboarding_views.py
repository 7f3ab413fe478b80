"""The sandbox's stand-ins for Stripe's hosted Connect pages: Express onboarding (reached through
an account link) and the Express dashboard (reached only through a login link, or by staff).

Like Stripe's: an account link opens once and only before it expires; any other visit goes to
the link's refresh_url. Submitting the form sends the account's webhooks and returns the person to
the link's return_url. The state rules live in stripe_sandbox/resources/accounts.py.
"""

from datetime import UTC, datetime

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from stripe_sandbox.currencies import format_amount
from stripe_sandbox.errors import StripeSandboxError
from stripe_sandbox.resources import accounts

# Merchant category codes the form offers (business_profile.mcc).
INDUSTRIES = [
    ("5999", "Retail: miscellaneous and specialty stores"),
    ("5947", "Retail: gifts, cards, novelties and souvenirs"),
    ("5734", "Digital goods: software"),
    ("7299", "Services: miscellaneous personal services"),
    ("8999", "Services: professional services"),
]
TEST_PERSON = {"first_name": "Jenny", "last_name": "Rosen", "dob": "1901-01-01"}
PROFILE_FIELDS = ("name", "support_email", "support_phone", "url", "product_description", "mcc")


def _form_values(account, data=None):
    profile = account["business_profile"]
    values = {
        "name": profile.get("name") or "",
        "support_email": profile.get("support_email") or account.get("email") or "",
        "support_phone": profile.get("support_phone") or "",
        "url": profile.get("url") or "",
        "product_description": profile.get("product_description") or "",
        "mcc": profile.get("mcc") or INDUSTRIES[0][0],
        "bank_account": next(iter(accounts.BANK_CHOICES)),
        **TEST_PERSON,
    }
    if data is not None:
        for key in values:
            if key in data:
                values[key] = data.get(key, "").strip()
    return values


def _validate(values, outcome):
    errors = {}
    if not values["name"]:
        errors["name"] = "Enter the name customers know your business by."
    if values["support_email"] and "@" not in values["support_email"]:
        errors["support_email"] = "Enter a valid email address."
    if not values["url"] and not values["product_description"]:
        errors["url"] = "Enter your website, or describe what you sell below."
    elif values["url"] and ("." not in values["url"] or " " in values["url"]):
        errors["url"] = "Enter a valid website address, e.g. https://example.com."
    if values["mcc"] not in dict(INDUSTRIES):
        errors["mcc"] = "Choose your industry."
    for key in ("first_name", "last_name", "dob"):
        if not values[key]:
            errors[key] = "This field is required."
    if outcome == accounts.OUTCOME_COMPLETE and values["bank_account"] not in accounts.BANK_CHOICES:
        errors["bank_account"] = "Choose a bank account for payouts."
    return errors


def _when(timestamp):
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def _redirect_refresh(exc):
    if exc.refresh_url:
        return HttpResponseRedirect(exc.refresh_url)
    raise Http404("This onboarding link does not exist.")


@never_cache
@require_http_methods(["GET", "POST"])
def onboarding(request, link_id):
    if request.method == "GET":
        try:
            link, account = accounts.onboarding_open(link_id)
        except accounts.LinkUnusable as exc:
            return _redirect_refresh(exc)
        return _render(request, link, account, _form_values(account), {})

    session = request.POST.get("session", "")
    try:
        link, account = accounts.onboarding_session(link_id, session)
    except accounts.LinkUnusable as exc:
        return _redirect_refresh(exc)
    outcome = request.POST.get("outcome", "")
    values = _form_values(account, request.POST)
    if outcome not in accounts.OUTCOMES:
        return _render(request, link, account, values, {"__all__": "Choose how to finish."})
    errors = _validate(values, outcome)
    if errors:
        return _render(request, link, account, values, errors, status=400)
    try:
        accounts.onboarding_submit(
            link_id,
            session,
            outcome=outcome,
            profile={key: values[key] for key in PROFILE_FIELDS},
            bank_account_number=values["bank_account"],
            ip=request.META.get("REMOTE_ADDR") or "127.0.0.1",
            user_agent=request.headers.get("User-Agent", "")[:500],
        )
    except accounts.LinkUnusable as exc:
        return _redirect_refresh(exc)
    return HttpResponseRedirect(link["return_url"])


BUSINESS_FIELDS = [
    ("name", "Business name", "text", "organization", ""),
    ("support_email", "Support email", "email", "email", "Shown on customers' receipts."),
    ("support_phone", "Support phone", "tel", "tel", "Optional."),
    ("url", "Business website", "url", "url", "Or describe what you sell below."),
]
PERSON_FIELDS = [
    ("first_name", "First name", "text", "given-name", ""),
    ("last_name", "Last name", "text", "family-name", ""),
    ("dob", "Date of birth", "date", "bday", "Test data: 1901-01-01 always verifies."),
]


def _fields(spec, values, errors):
    return [
        {
            "name": name,
            "label": label,
            "type": kind,
            "autocomplete": autocomplete,
            "help": help_text,
            "value": values.get(name, ""),
            "error": errors.get(name, ""),
        }
        for name, label, kind, autocomplete, help_text in spec
    ]


def _render(request, link, account, values, errors, status=200):
    context = {
        "link": link,
        "account": account,
        "values": values,
        "errors": errors,
        "form_error": errors.get("__all__", ""),
        "business_fields": _fields(BUSINESS_FIELDS, values, errors),
        "person_fields": _fields(PERSON_FIELDS, values, errors),
        "industries": INDUSTRIES,
        "bank_choices": list(accounts.BANK_CHOICES.items()),
        "has_bank_account": bool(account["external_accounts"]["data"]),
        "due": account["requirements"]["currently_due"],
        "is_update": account["details_submitted"],
        "platform_name": accounts.platform_account()["business_profile"]["name"],
    }
    return render(request, "stripe_sandbox/onboarding.html", context, status=status)


# The session key holding the one connected account whose Express dashboard this browser was
# logged into through a login link (Stripe's dashboard session, in the host's Django session).
EXPRESS_SESSION_KEY = "stripe_sandbox_express_account"


@never_cache
@require_GET
def express_login(request, account_id, token):
    """A login link (POST /v1/accounts/{id}/login_links): it works once, before it expires, and
    logs this browser into that one account's Express dashboard. Opening it is what uses it, as
    with Stripe's own links, so this GET writes."""
    try:
        accounts.login_link_use(account_id, token)
    except accounts.LinkUnusable as exc:
        raise Http404("No such page.") from exc
    request.session.cycle_key()  # a new session id for the new privilege (session fixation)
    request.session[EXPRESS_SESSION_KEY] = account_id
    return HttpResponseRedirect(reverse("stripe_sandbox:express-dashboard", args=[account_id]))


def _may_see_dashboard(request, account_id):
    """The browser came in through a login link for this account, or a staff member of the host
    project is looking. Anyone else gets a 404: the page does not say the account exists."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    return request.session.get(EXPRESS_SESSION_KEY) == account_id


@never_cache
@require_GET
def express_dashboard(request, account_id):
    """The Express dashboard a login link opens: balance, payouts and the account's status."""
    if not _may_see_dashboard(request, account_id):
        raise Http404("No such page.")
    try:
        data = accounts.express_dashboard(account_id)
    except StripeSandboxError as exc:
        raise Http404("No such account.") from exc
    balance = data["balance"]
    currencies = sorted(set(balance["available"]) | set(balance["pending"]))
    data["balances"] = [
        {
            "currency": currency,
            "available": format_amount(balance["available"].get(currency, 0), currency),
            "pending": format_amount(balance["pending"].get(currency, 0), currency),
        }
        for currency in currencies
    ]
    data["payout_rows"] = [
        {
            "id": payout["id"],
            "amount": format_amount(payout.get("amount", 0), payout.get("currency", "")),
            "status": payout.get("status", ""),
            "arrival": _when(payout.get("arrival_date")),
            "failure_message": payout.get("failure_message"),
        }
        for payout in data["payouts"]
    ]
    data["created"] = _when(data["account"]["created"])
    data["deadline"] = _when(data["account"]["requirements"].get("current_deadline"))
    return render(request, "stripe_sandbox/onboarding_express_dashboard.html", data)
