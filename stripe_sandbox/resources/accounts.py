"""Accounts: the platform's own and Connect accounts, external (bank) accounts, account links,
login links, and the hosted onboarding that moves an account from "just created" to "enabled".

How the sandbox models an account's state (Stripe's own rules, simplified where noted):

- `requirements.currently_due` is the state: creating an account fills it with what Stripe asks a
  fresh account for (by country and business type); details given later (by API, by a bank
  account, or by the hosted onboarding form) take fields off it. `eventually_due` mirrors it.
- A fresh Express/Standard account has not submitted details: everything it owes is also
  `past_due`, so `disabled_reason` is "requirements.past_due" and nothing is enabled.
- After onboarding, what is still due has a `current_deadline`; until then charges stay enabled
  (payouts do not: they need every requirement met). When the sandbox clock passes the deadline
  the fields move to `past_due`, charges stop and `account.updated` is sent.
- `charges_enabled` = details submitted, nothing past due, no other disabled_reason.
  `payouts_enabled` = charges enabled and nothing currently due. Requested capabilities are
  "active" when charges are enabled, otherwise "inactive".

Stripe sends no `account.created` event; every change to an account sends `account.updated`
(a connected-account event) with `previous_attributes`.
"""

import copy
import hashlib
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from stripe_sandbox import core
from stripe_sandbox.errors import InvalidRequest, PermissionError_
from stripe_sandbox.models import SandboxObject
from stripe_sandbox.params import (
    LIST_PARAMS,
    AnyObj,
    Bool,
    Int,
    Metadata,
    Obj,
    Param,
    Str,
)
from stripe_sandbox.router import route

PLATFORM_ACCOUNT_ID = core.PLATFORM_ACCOUNT_ID
PLATFORM_ROW = "platform"  # the `account` column of the platform's own account row

ACCOUNT_LINK_TTL = 300  # seconds, as Stripe
# How long an unused login link still opens the Express dashboard. Stripe's links are single-use
# and short-lived; the sandbox gives them an account link's five minutes.
LOGIN_LINK_TTL = 300
ONBOARDING_SESSION_TTL = 3600  # how long an opened onboarding form may still be submitted
REQUIREMENTS_DEADLINE_DAYS = 14  # deadline for what onboarding left due

DEFAULT_CURRENCY_BY_COUNTRY = {
    "US": "usd", "CA": "cad", "GB": "gbp", "AU": "aud", "NZ": "nzd", "JP": "jpy", "CH": "chf",
    "SE": "sek", "DK": "dkk", "NO": "nok", "PL": "pln", "CZ": "czk", "HU": "huf", "RO": "ron",
    "BG": "bgn", "SG": "sgd", "HK": "hkd", "MX": "mxn", "BR": "brl", "IN": "inr", "MY": "myr",
    "TH": "thb", "AE": "aed", "GI": "gbp", "LI": "chf",
    **dict.fromkeys(
        ["AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV",
         "MT", "NL", "PT", "SI", "SK"],
        "eur",
    ),
}  # fmt: skip

CAPABILITY_NAMES = (
    "acss_debit_payments", "affirm_payments", "afterpay_clearpay_payments",
    "au_becs_debit_payments", "bacs_debit_payments", "bancontact_payments", "card_issuing",
    "card_payments", "cartes_bancaires_payments", "cashapp_payments", "eps_payments",
    "giropay_payments", "ideal_payments", "klarna_payments", "link_payments", "p24_payments",
    "sepa_debit_payments", "sofort_payments", "tax_reporting_us_1099_k",
    "tax_reporting_us_1099_misc", "transfers", "us_bank_account_ach_payments",
)  # fmt: skip

# Stripe's US test bank accounts (routing 110000000). The payouts helper fails payouts to 1116.
TEST_ROUTING_NUMBER = "110000000"
BANK_TOKENS = {
    "btok_us": "000123456789",
    "btok_us_verified": "000123456789",
    "btok_us_verified_noAccount": "000111111116",
    "btok_us_verified_accountClosed": "000111111113",
}
FAILING_PAYOUT_ACCOUNT_NUMBERS = {"000111111116", "000111111113"}


# --- Shapes -------------------------------------------------------------------------------------


def requirements_block(currently_due=(), *, past_due=(), disabled_reason=None, deadline=None):
    due = sorted(currently_due)
    return {
        "alternatives": [],
        "current_deadline": deadline,
        "currently_due": due,
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": list(due),
        "past_due": sorted(past_due),
        "pending_verification": [],
    }


def account_template(*, id, type, country, email=None, default_currency="usd", business_type=None):
    """A fresh account as Stripe returns it (API 2024-04-10)."""
    return {
        "id": id,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "name": None,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": business_type,
        "capabilities": {},
        "charges_enabled": False,
        "controller": {"type": "application", "is_controller": True}
        if type != "standard"
        else {"type": "account"},
        "country": country,
        "created": core.now(),
        "default_currency": default_currency,
        "details_submitted": False,
        "email": email,
        "external_accounts": core.embedded_list(f"/v1/accounts/{id}/external_accounts"),
        "future_requirements": requirements_block(),
        "metadata": {},
        "payouts_enabled": False,
        "requirements": requirements_block(),
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": False},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None},
            "payments": {
                "statement_descriptor": None,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": type,
    }


def platform_account():
    """The platform's own account, made on first use."""
    row = SandboxObject.objects.filter(stripe_id=PLATFORM_ACCOUNT_ID).first()
    if row:
        return row.data
    account = account_template(
        id=PLATFORM_ACCOUNT_ID, type="standard", country="US", email="platform@bazaar.local"
    )
    account.update(
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        capabilities={"card_payments": "active", "transfers": "active"},
    )
    account["business_profile"]["name"] = "Bazaar"
    account["settings"]["dashboard"]["display_name"] = "Bazaar"
    # The platform account is not a connected account: keep it out of GET /v1/accounts.
    return core.save(account, account=PLATFORM_ROW)


# Who controls an account of each legacy type (API 2024-04-10 returns these controller fields).
CONTROLLERS = {
    "express": {
        "fees": {"payer": "application"},
        "is_controller": True,
        "losses": {"payments": "application"},
        "requirement_collection": "stripe",
        "stripe_dashboard": {"type": "express"},
        "type": "application",
    },
    "custom": {
        "fees": {"payer": "application"},
        "is_controller": True,
        "losses": {"payments": "application"},
        "requirement_collection": "application",
        "stripe_dashboard": {"type": "none"},
        "type": "application",
    },
    "standard": {"type": "account"},
}


def _type_from_controller(controller):
    """type for an account created with controller[...] instead of type."""
    dashboard = (controller.get("stripe_dashboard") or {}).get("type", "full")
    collection = controller.get("requirement_collection", "stripe")
    payer = (controller.get("fees") or {}).get("payer", "account")
    losses = (controller.get("losses") or {}).get("payments", "stripe")
    if dashboard == "express" and collection == "stripe":
        return "express"
    if dashboard == "none" and collection == "application":
        return "custom"
    if dashboard == "full" and payer == "account" and losses == "stripe":
        return "standard"
    return "none"


def _controller_object(account_type, controller):
    if account_type in CONTROLLERS and not controller:
        return copy.deepcopy(CONTROLLERS[account_type])
    return {
        "fees": {"payer": (controller.get("fees") or {}).get("payer", "account")},
        "is_controller": True,
        "losses": {"payments": (controller.get("losses") or {}).get("payments", "stripe")},
        "requirement_collection": controller.get("requirement_collection", "stripe"),
        "stripe_dashboard": {
            "type": (controller.get("stripe_dashboard") or {}).get("type", "full")
        },
        "type": "application",
    }


def collected_by_stripe(account):
    """Express and Standard accounts: Stripe collects the requirements (hosted onboarding)."""
    return account["controller"].get("requirement_collection", "stripe") == "stripe" and (
        account["type"] != "custom"
    )


def initial_requirements(account):
    """What Stripe asks a fresh account for, by business type and country."""
    country = account["country"]
    fields = ["business_profile.mcc", "business_profile.url", "external_account"]
    fields += ["tos_acceptance.date", "tos_acceptance.ip"]
    business_type = account["business_type"]
    if business_type is None:
        fields.append("business_type")
    elif business_type == "individual":
        fields += [
            "individual.address.city",
            "individual.address.line1",
            "individual.address.postal_code",
            "individual.dob.day",
            "individual.dob.month",
            "individual.dob.year",
            "individual.email",
            "individual.first_name",
            "individual.last_name",
            "individual.phone",
        ]
        if country in ("US", "CA", "AU"):
            fields.append("individual.address.state")
        if country == "US":
            fields.append("individual.ssn_last_4")
    else:
        fields += [
            "company.address.city",
            "company.address.line1",
            "company.address.postal_code",
            "company.name",
            "company.phone",
            "company.tax_id",
            "representative.dob.day",
            "representative.dob.month",
            "representative.dob.year",
            "representative.email",
            "representative.first_name",
            "representative.last_name",
            "representative.phone",
            "representative.relationship.title",
        ]
        if business_type == "company":
            fields.append("company.owners_provided")
    if not any(
        name in account["capabilities"] for name in ("card_payments", "transfers")
    ):  # nothing that moves money: Stripe asks only for the basics
        fields = [f for f in fields if f.startswith(("business_type", "tos_acceptance"))]
    return sorted(set(fields))


def _flatten(prefix, value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}", item)
    elif value not in (None, ""):
        yield prefix


def provided_fields(account, values):
    """Requirement fields that this account's state plus `values` (create/update params) meet."""
    provided = set()
    profile = account["business_profile"]
    if profile.get("mcc"):
        provided.add("business_profile.mcc")
    if profile.get("url") or profile.get("product_description"):
        provided.add("business_profile.url")
    if account["business_type"]:
        provided.add("business_type")
    if account["external_accounts"]["data"]:
        provided.add("external_account")
    tos = account["tos_acceptance"]
    if tos.get("date"):
        provided.add("tos_acceptance.date")
    if tos.get("ip"):
        provided.add("tos_acceptance.ip")
    for key in ("individual", "company"):
        if isinstance(values.get(key), dict):
            provided.update(_flatten(key, values[key]))
    return provided


def _is_met(field, provided):
    return any(p == field or p.startswith(field + ".") for p in provided)


def refresh_status(account):
    """Derive the enabled flags, disabled_reason and capabilities from the requirements."""
    req = account["requirements"]
    due = sorted(set(req["currently_due"]))
    req["currently_due"] = due
    if account["type"] == "custom" and not account["details_submitted"] and not due:
        account["details_submitted"] = True  # the platform supplied everything through the API
    if not account["details_submitted"]:
        # A fresh account owes everything now: Stripe reports it past due and disabled.
        req["past_due"] = list(due)
        req["current_deadline"] = None
    else:
        req["past_due"] = sorted(set(req["past_due"]) & set(due))
    if not due:
        req["current_deadline"] = None
    req["eventually_due"] = list(due)
    if req["past_due"]:
        req["disabled_reason"] = "requirements.past_due"
    elif req["disabled_reason"] == "requirements.past_due":
        req["disabled_reason"] = None
    charges = bool(account["details_submitted"] and not req["disabled_reason"])
    account["charges_enabled"] = charges
    account["payouts_enabled"] = charges and not due
    status = "active" if charges else "inactive"
    account["capabilities"] = dict.fromkeys(sorted(account["capabilities"]), status)
    return account


def diff(before, after):
    """Stripe's previous_attributes: the old values of what changed (nested objects in part)."""
    changed = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            changed[key] = diff(old, new)
        else:
            changed[key] = old
    return changed


def save_and_announce(req, before, account):
    """Store the account; send account.updated with previous_attributes if anything changed."""
    refresh_status(account)
    core.save(account, account=core.PLATFORM)
    previous = diff(before, account) if before is not None else {}
    if previous:
        core.emit(
            req, "account.updated", account, account=account["id"], previous_attributes=previous
        )
    return account


# --- Parameters ---------------------------------------------------------------------------------

ADDRESS = Obj({k: Str() for k in ("city", "country", "line1", "line2", "postal_code", "state")})
BUSINESS_PROFILE = Obj(
    {
        "annual_revenue": AnyObj(),
        "estimated_worker_count": Int(min=0),
        "mcc": Str(),
        "monthly_estimated_revenue": AnyObj(),
        "name": Str(),
        "product_description": Str(),
        "support_address": ADDRESS,
        "support_email": Str(),
        "support_phone": Str(),
        "support_url": Str(),
        "url": Str(),
    }
)
CAPABILITIES = Obj({name: Obj({"requested": Bool()}) for name in CAPABILITY_NAMES})
CONTROLLER = Obj(
    {
        "fees": Obj({"payer": Str(choices=["account", "application"])}),
        "losses": Obj({"payments": Str(choices=["application", "stripe"])}),
        "requirement_collection": Str(choices=["application", "stripe"]),
        "stripe_dashboard": Obj({"type": Str(choices=["express", "full", "none"])}),
    }
)


class DelayDays(Param):
    def check(self, value, name):
        if value == "minimum":
            return value
        return Int(min=0, max=365).check(value, name)


SETTINGS = Obj(
    {
        "bacs_debit_payments": AnyObj(),
        "branding": AnyObj(),
        "card_issuing": AnyObj(),
        "card_payments": AnyObj(),
        "invoices": AnyObj(),
        "payments": AnyObj(),
        "payouts": Obj(
            {
                "debit_negative_balances": Bool(),
                "schedule": Obj(
                    {
                        "delay_days": DelayDays(),
                        "interval": Str(choices=["daily", "manual", "monthly", "weekly"]),
                        "monthly_anchor": Int(min=1, max=31),
                        "weekly_anchor": Str(
                            choices=[
                                "friday",
                                "monday",
                                "saturday",
                                "sunday",
                                "thursday",
                                "tuesday",
                                "wednesday",
                            ]
                        ),
                    }
                ),
                "statement_descriptor": Str(max_length=22),
            }
        ),
        "treasury": AnyObj(),
    }
)
TOS_ACCEPTANCE = Obj(
    {
        "date": Int(min=0),
        "ip": Str(),
        "service_agreement": Str(choices=["full", "recipient"]),
        "user_agent": Str(),
    }
)
BANK_ACCOUNT = Obj(
    {
        "object": Str(required=True, choices=["bank_account"]),
        "country": Str(required=True),
        "currency": Str(),
        "account_holder_name": Str(),
        "account_holder_type": Str(choices=["company", "individual"]),
        "account_number": Str(required=True),
        "routing_number": Str(),
        "metadata": Metadata(),
    }
)


class ExternalAccountParam(Param):
    """A bank account token (btok_...) or a bank_account hash, as Stripe accepts both."""

    def check(self, value, name):
        if isinstance(value, str):
            return value
        return BANK_ACCOUNT.check(value, name)


UPDATE_SPEC = {
    "account_token": Str(),
    "business_profile": BUSINESS_PROFILE,
    "business_type": Str(choices=["company", "government_entity", "individual", "non_profit"]),
    "capabilities": CAPABILITIES,
    "company": AnyObj(),
    "default_currency": Str(),
    "documents": AnyObj(),
    "email": Str(),
    "external_account": ExternalAccountParam(),
    "individual": AnyObj(),
    "metadata": Metadata(),
    "settings": SETTINGS,
    "tos_acceptance": TOS_ACCEPTANCE,
}
CREATE_SPEC = UPDATE_SPEC | {
    "bank_account": ExternalAccountParam(),
    "controller": CONTROLLER,
    "country": Str(),
    "type": Str(choices=["custom", "express", "standard"]),
}

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _check_email(value, param):
    if value and not EMAIL_RE.match(value):
        raise InvalidRequest(f"Invalid email address: {value}", param=param, code="email_invalid")


def _check_url(value, param):
    if value and (" " in value or "." not in value):
        raise InvalidRequest("Not a valid URL", param=param, code="url_invalid")


def _apply_values(req, account, values, *, creating):
    """Write create/update params onto the account (not its status). Raises InvalidRequest."""
    stripe_collects = collected_by_stripe(account)
    tos = values.get("tos_acceptance") or {}
    if stripe_collects and any(k in tos for k in ("date", "ip", "user_agent")):
        raise InvalidRequest(
            "You cannot accept the Terms of Service on behalf of Standard and Express connected "
            "accounts.",
            param="tos_acceptance",
        )
    if not creating and stripe_collects and _onboarding_started(account["id"]):
        for key in ("business_type", "individual", "company"):
            if key in values:
                raise InvalidRequest(
                    f"You cannot update `{key}` for this account: once onboarding has started, "
                    "the account holder provides it to Stripe.",
                    param=key,
                )
    if "email" in values:
        _check_email(values["email"], "email")
        account["email"] = values["email"] or None
    if "business_type" in values:
        account["business_type"] = values["business_type"]
    if "default_currency" in values:
        currency = values["default_currency"].lower()
        if currency not in set(DEFAULT_CURRENCY_BY_COUNTRY.values()):
            raise InvalidRequest(f"Invalid currency: {currency}", param="default_currency")
        account["default_currency"] = currency
    profile = values.get("business_profile") or {}
    for key, value in profile.items():
        if key in ("url", "support_url"):
            _check_url(value, f"business_profile[{key}]")
        if key == "support_email":
            _check_email(value, "business_profile[support_email]")
        if key == "mcc" and value and not (value.isdigit() and len(value) == 4):
            raise InvalidRequest(
                "Invalid mcc: must be a 4-digit merchant category code",
                param="business_profile[mcc]",
            )
        if key == "estimated_worker_count":
            account["business_profile"][key] = value
        else:
            account["business_profile"][key] = value if value != "" else None
    if profile.get("name"):
        account["settings"]["dashboard"]["display_name"] = profile["name"]
    for name, spec in (values.get("capabilities") or {}).items():
        if "requested" not in spec:
            continue
        if spec["requested"]:
            account["capabilities"].setdefault(name, "inactive")
        else:
            account["capabilities"].pop(name, None)
    capabilities = account["capabilities"]
    if (
        "card_payments" in capabilities
        and "transfers" not in capabilities
        and account["type"] in ("express", "custom")
    ):
        raise InvalidRequest(
            "In order to request the `card_payments` capability, the `transfers` capability "
            "must also be requested.",
            param="capabilities",
        )
    if "metadata" in values:
        if values["metadata"] == {}:
            account["metadata"] = {}
        else:
            merged = {**account["metadata"], **values["metadata"]}
            account["metadata"] = {k: v for k, v in merged.items() if v != ""}
    _apply_settings(account, values.get("settings") or {})
    for key in ("date", "ip", "user_agent", "service_agreement"):
        if key in tos:
            account["tos_acceptance"][key] = tos[key]


def _apply_settings(account, new):
    settings_ = account["settings"]
    for key, value in new.items():
        if key == "payouts":
            payouts = settings_["payouts"]
            for field in ("debit_negative_balances", "statement_descriptor"):
                if field in value:
                    payouts[field] = value[field]
            schedule = value.get("schedule")
            if schedule:
                current = dict(payouts["schedule"])
                if "delay_days" in schedule:
                    delay = schedule["delay_days"]
                    current["delay_days"] = 2 if delay == "minimum" else delay
                if "interval" in schedule:
                    current["interval"] = schedule["interval"]
                interval = current["interval"]
                current.pop("weekly_anchor", None) if interval != "weekly" else None
                current.pop("monthly_anchor", None) if interval != "monthly" else None
                if interval == "weekly":
                    current["weekly_anchor"] = schedule.get(
                        "weekly_anchor", current.get("weekly_anchor", "monday")
                    )
                if interval == "monthly":
                    current["monthly_anchor"] = schedule.get(
                        "monthly_anchor", current.get("monthly_anchor", 1)
                    )
                payouts["schedule"] = current
        else:
            target = settings_.setdefault(key, {})
            _deep_merge(target, value)


def _deep_merge(target, value):
    for key, item in value.items():
        if isinstance(item, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], item)
        else:
            target[key] = item if item != "" else None


def _onboarding_started(account_id):
    return SandboxObject.objects.filter(
        object_type="account_link", data__account=account_id
    ).exists()


# --- Scoping ------------------------------------------------------------------------------------


def _no_access(req, account_id):
    key = req.api_key or ""
    return PermissionError_(
        f"The provided key '{key[:8]}****{key[-4:]}' does not have access to account "
        f"'{account_id}' (or that account does not exist). Application access may have been "
        "revoked.",
        code="account_invalid",
    )


def connected_account(req, account_id, *, lock=False, allow_self=False):
    """A connected account of the platform, as the platform (or, if allow_self, itself) sees it."""
    if req.account and not (allow_self and req.account == account_id):
        raise _no_access(req, account_id)
    return core.get(account_id, kind="account", account=core.PLATFORM, param="account", lock=lock)


def _platform_only(req, what):
    if req.account:
        raise PermissionError_(f"Only the platform can {what}; remove the Stripe-Account header.")


# --- /v1/account and /v1/accounts ---------------------------------------------------------------


@route("GET", "/v1/account")
def account_retrieve_own(req):
    req.validate({})
    if req.account:
        return core.get(req.account, kind="account")
    return platform_account()


@route("POST", "/v1/accounts")
def account_create(req):
    _platform_only(req, "create connected accounts")
    values = req.validate(CREATE_SPEC)
    controller = values.get("controller")
    if values.get("type") and controller:
        raise InvalidRequest(
            "You cannot specify both `type` and `controller`; use one of them.", param="controller"
        )
    account_type = values.get("type") or (
        _type_from_controller(controller) if controller else "standard"
    )
    country = (values.get("country") or platform_account()["country"]).upper()
    if country not in DEFAULT_CURRENCY_BY_COUNTRY:
        raise InvalidRequest(
            f"Country '{values.get('country')}' is unknown. Try using a 2-character alphanumeric "
            "country code instead, such as 'US', 'EG', or 'GB'.",
            param="country",
        )
    account_id = core.new_id("acct", 16)
    account = account_template(
        id=account_id,
        type=account_type,
        country=country,
        default_currency=DEFAULT_CURRENCY_BY_COUNTRY[country],
    )
    account["controller"] = _controller_object(account_type, controller or {})
    _apply_values(req, account, values, creating=True)
    if account_type in ("express", "custom") and not account["capabilities"]:
        raise InvalidRequest(
            "You must request at least one capability for this account, for example "
            "`capabilities[transfers][requested]=true`.",
            param="capabilities",
        )
    bank = values.get("external_account") or values.get("bank_account")
    account["requirements"] = requirements_block(initial_requirements(account))
    core.save(account, account=core.PLATFORM)
    if bank:
        _external_account_add(req, account, bank, default_for_currency=True, announce=False)
    provided = provided_fields(account, values)
    req_block = account["requirements"]
    req_block["currently_due"] = [f for f in req_block["currently_due"] if not _is_met(f, provided)]
    req_block["eventually_due"] = list(req_block["currently_due"])
    refresh_status(account)
    return core.save(account, account=core.PLATFORM)  # Stripe sends no account.created


@route("GET", "/v1/accounts/{id}")
def account_retrieve(req, id):
    req.validate({})
    if id == PLATFORM_ACCOUNT_ID and not req.account:
        return platform_account()
    return connected_account(req, id, allow_self=True)


@route("POST", "/v1/accounts/{id}")
def account_update(req, id):
    _platform_only(req, "update connected accounts")
    values = req.validate(UPDATE_SPEC)
    if id == PLATFORM_ACCOUNT_ID:
        raise InvalidRequest(
            "You cannot update your own account through this endpoint; use the Dashboard.",
            param="account",
        )
    account = connected_account(req, id, lock=True)
    before = copy.deepcopy(account)
    old_business_type = account["business_type"]
    _apply_values(req, account, values, creating=False)
    bank = values.get("external_account")
    if bank:
        _external_account_add(req, account, bank, default_for_currency=True, announce=True)
    req_block = account["requirements"]
    due = set(req_block["currently_due"])
    if account["business_type"] != old_business_type and not account["details_submitted"]:
        due = set(initial_requirements(account))  # a new business type asks for other details
    newly = set(account["capabilities"]) - set(before["capabilities"])
    if newly and not before["capabilities"]:
        due |= set(initial_requirements(account))
    provided = provided_fields(account, values)
    req_block["currently_due"] = sorted(f for f in due if not _is_met(f, provided))
    return save_and_announce(req, before, account)


@route("DELETE", "/v1/accounts/{id}")
def account_delete(req, id):
    _platform_only(req, "delete connected accounts")
    req.validate({})
    if id == PLATFORM_ACCOUNT_ID:
        raise InvalidRequest("You cannot delete your own account.", param="account")
    connected_account(req, id, lock=True)
    # Test-mode accounts can be deleted at any time; what lived on it goes with it.
    SandboxObject.objects.filter(account=id).exclude(object_type="event").delete()
    SandboxObject.objects.filter(stripe_id=id).delete()
    SandboxObject.objects.filter(object_type="account_link", data__account=id).delete()
    return {"id": id, "object": "account", "deleted": True}


@route("GET", "/v1/accounts")
def account_list(req):
    _platform_only(req, "list connected accounts")
    req.validate(LIST_PARAMS)
    return core.list_response(req, "account", url="/v1/accounts", account=core.PLATFORM)


# --- External accounts (bank accounts) ----------------------------------------------------------


def _bank_from_param(account, bank):
    if isinstance(bank, str):
        number = BANK_TOKENS.get(bank)
        if number is None:
            raise InvalidRequest(
                f"No such token: '{bank}'", param="external_account", code="resource_missing"
            )
        bank = {
            "object": "bank_account",
            "country": "US",
            "currency": "usd",
            "account_number": number,
            "routing_number": TEST_ROUTING_NUMBER,
        }
    country = bank["country"].upper()
    currency = (bank.get("currency") or DEFAULT_CURRENCY_BY_COUNTRY.get(country, "")).lower()
    number = bank["account_number"].replace(" ", "")
    routing = (bank.get("routing_number") or "").strip()
    if not number.isdigit() or not 4 <= len(number) <= 17:
        raise InvalidRequest(
            "You must use a test bank account number in test mode. Try 000123456789 or see "
            "more options at https://stripe.com/docs/connect/testing#account-numbers.",
            param="external_account[account_number]",
        )
    if country == "US" and not (routing.isdigit() and len(routing) == 9):
        raise InvalidRequest(
            "Routing number must have 9 digits",
            param="external_account[routing_number]",
            code="routing_number_invalid",
        )
    if currency != account["default_currency"] and country == account["country"]:
        pass  # a second currency is fine; Stripe pays each currency to its own default account
    fingerprint = hashlib.sha256(f"{routing}:{number}".encode()).hexdigest()[:16]
    return {
        "id": core.new_id("ba", 24),
        "object": "bank_account",
        "account": account["id"],
        "account_holder_name": bank.get("account_holder_name"),
        "account_holder_type": bank.get("account_holder_type"),
        "account_type": None,
        "available_payout_methods": ["standard"],
        "bank_name": "STRIPE TEST BANK",
        "country": country,
        "currency": currency,
        "customer": None,
        "default_for_currency": False,
        "fingerprint": fingerprint,
        "future_requirements": {
            "currently_due": [],
            "errors": [],
            "past_due": [],
            "pending_verification": [],
        },
        "last4": number[-4:],
        "metadata": bank.get("metadata") or {},
        "requirements": {
            "currently_due": [],
            "errors": [],
            "past_due": [],
            "pending_verification": [],
        },
        "routing_number": routing or None,
        "status": "new",
    }


def external_accounts_of(account_id):
    rows = SandboxObject.objects.filter(object_type="bank_account", account=account_id)
    return [row.data for row in rows.order_by("-created", "-id")]


def _refresh_external_list(account):
    items = external_accounts_of(account["id"])
    account["external_accounts"] = core.embedded_list(
        f"/v1/accounts/{account['id']}/external_accounts", items
    )


def _external_account_add(req, account, bank, *, default_for_currency, announce, metadata=None):
    obj = _bank_from_param(account, bank)
    if metadata:
        obj["metadata"] = metadata
    same_currency = [
        b for b in external_accounts_of(account["id"]) if b["currency"] == obj["currency"]
    ]
    if default_for_currency or not same_currency:
        for other in same_currency:
            if other["default_for_currency"]:
                other["default_for_currency"] = False
                core.save(other, account=account["id"])
        obj["default_for_currency"] = True
    core.save(obj, account=account["id"])
    _refresh_external_list(account)
    due = account["requirements"]["currently_due"]
    account["requirements"]["currently_due"] = [f for f in due if f != "external_account"]
    if announce:
        core.emit(req, "account.external_account.created", obj, account=account["id"])
    return obj


def _external_scope(req, account_id):
    return connected_account(req, account_id, lock=True, allow_self=True)


@route("POST", "/v1/accounts/{id}/external_accounts")
def external_account_create(req, id):
    values = req.validate(
        {
            "bank_account": ExternalAccountParam(),
            "default_for_currency": Bool(),
            "external_account": ExternalAccountParam(),
            "metadata": Metadata(),
        }
    )
    bank = values.get("external_account") or values.get("bank_account")
    if not bank:
        raise InvalidRequest(
            "Missing required param: external_account.",
            param="external_account",
            code="parameter_missing",
        )
    account = _external_scope(req, id)
    before = copy.deepcopy(account)
    obj = _external_account_add(
        req,
        account,
        bank,
        default_for_currency=values.get("default_for_currency", False),
        announce=True,
        metadata=values.get("metadata"),
    )
    save_and_announce(req, before, account)
    return obj


@route("GET", "/v1/accounts/{id}/external_accounts")
def external_account_list(req, id):
    values = req.validate(LIST_PARAMS | {"object": Str(choices=["bank_account", "card"])})
    connected_account(req, id, allow_self=True)
    if values.get("object") == "card":
        return {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{id}/external_accounts",
        }
    return core.list_response(
        req, "bank_account", url=f"/v1/accounts/{id}/external_accounts", account=id
    )


@route("GET", "/v1/accounts/{id}/external_accounts/{ba}")
def external_account_retrieve(req, id, ba):
    req.validate({})
    connected_account(req, id, allow_self=True)
    return core.get(ba, kind="bank_account", account=id)


@route("POST", "/v1/accounts/{id}/external_accounts/{ba}")
def external_account_update(req, id, ba):
    values = req.validate(
        {
            "account_holder_name": Str(),
            "account_holder_type": Str(choices=["company", "individual", ""]),
            "default_for_currency": Bool(),
            "metadata": Metadata(),
        }
    )
    account = _external_scope(req, id)
    before = copy.deepcopy(account)
    obj = core.get(ba, kind="bank_account", account=id, lock=True)
    previous = copy.deepcopy(obj)
    for key in ("account_holder_name", "account_holder_type"):
        if key in values:
            obj[key] = values[key] or None
    if "metadata" in values:
        merged = {**obj["metadata"], **values["metadata"]} if values["metadata"] else {}
        obj["metadata"] = {k: v for k, v in merged.items() if v != ""}
    if values.get("default_for_currency"):
        for other in external_accounts_of(id):
            same_currency = other["id"] != ba and other["currency"] == obj["currency"]
            if same_currency and other["default_for_currency"]:
                other["default_for_currency"] = False
                core.save(other, account=id)
        obj["default_for_currency"] = True
    core.save(obj, account=id)
    changed = diff(previous, obj)
    if changed:
        core.emit(
            req, "account.external_account.updated", obj, account=id, previous_attributes=changed
        )
    _refresh_external_list(account)
    save_and_announce(req, before, account)
    return obj


@route("DELETE", "/v1/accounts/{id}/external_accounts/{ba}")
def external_account_delete(req, id, ba):
    req.validate({})
    account = _external_scope(req, id)
    before = copy.deepcopy(account)
    obj = core.get(ba, kind="bank_account", account=id, lock=True)
    if obj["default_for_currency"] and obj["currency"] == account["default_currency"]:
        raise InvalidRequest(
            "You cannot delete the default bank account for your default currency. Please make "
            "another bank account the default using the `default_for_currency` param, and then "
            "delete this one.",
            param="id",
        )
    SandboxObject.objects.filter(stripe_id=ba).delete()
    core.emit(req, "account.external_account.deleted", obj | {"deleted": True}, account=id)
    _refresh_external_list(account)
    if not account["external_accounts"]["data"] and account["capabilities"]:
        account["requirements"]["currently_due"] = sorted(
            set(account["requirements"]["currently_due"]) | {"external_account"}
        )
    save_and_announce(req, before, account)
    return {"id": ba, "object": "bank_account", "deleted": True}


# --- Account links and login links --------------------------------------------------------------


def _site_url(path):
    return settings.SITE_URL.rstrip("/") + path


@route("POST", "/v1/account_links")
def account_link_create(req):
    _platform_only(req, "create account links")
    values = req.validate(
        {
            "account": Str(required=True),
            "collect": Str(choices=["currently_due", "eventually_due"]),
            "collection_options": Obj(
                {
                    "fields": Str(choices=["currently_due", "eventually_due"]),
                    "future_requirements": Str(choices=["include", "omit"]),
                }
            ),
            "refresh_url": Str(),
            "return_url": Str(),
            "type": Str(required=True, choices=["account_onboarding", "account_update"]),
        }
    )
    account = connected_account(req, values["account"])
    for key in ("refresh_url", "return_url"):
        url = values.get(key)
        if not url:
            raise InvalidRequest(
                f"Missing required param: {key}.", param=key, code="parameter_missing"
            )
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest(f"Not a valid URL: {key}", param=key, code="url_invalid")
    if values["type"] == "account_update" and collected_by_stripe(account):
        raise InvalidRequest(
            "You can only create `account_update` Account Links for connected accounts where "
            "your platform is responsible for collecting requirements (e.g. Custom accounts). "
            "Use `account_onboarding` for Express and Standard accounts.",
            param="type",
        )
    created = core.now()
    link_id = core.new_id("aclk", 24)
    link = {
        "id": link_id,
        "object": "account_link",
        "account": account["id"],
        "collect": values.get("collect")
        or (values.get("collection_options") or {}).get("fields", "currently_due"),
        "created": created,
        "expires_at": created + ACCOUNT_LINK_TTL,
        "refresh_url": values["refresh_url"],
        "return_url": values["return_url"],
        "type": values["type"],
        "url": _site_url(reverse("stripe_sandbox:onboarding", args=[link_id])),
        # the sandbox's own bookkeeping (never returned by the API)
        "opened_at": None,
        "session": None,
        "submitted_at": None,
    }
    core.save(link)
    return {key: link[key] for key in ("object", "created", "expires_at", "url")}


@route("POST", "/v1/accounts/{id}/login_links")
def login_link_create(req, id):
    _platform_only(req, "create login links")
    req.validate({})
    account = connected_account(req, id)
    if account["controller"].get("stripe_dashboard", {}).get("type") != "express":
        raise InvalidRequest(
            "You may only create login links for Express accounts (accounts whose dashboard is "
            "the Express Dashboard).",
            param="account",
        )
    if not account["details_submitted"]:
        raise InvalidRequest(
            "Cannot create a login link for an account that has not completed onboarding.",
            param="account",
        )
    # The URL carries a token (as Stripe's: /express/<account>/<token>) that logs its first
    # visitor into this one account's dashboard. Only the token's hash is kept, so neither the
    # database nor the sandbox's admin pages hold a usable link.
    token = secrets.token_urlsafe(24)
    created = core.now()
    core.save(
        {
            "id": _login_link_id(token),
            "object": "login_link",
            "account": id,
            "created": created,
            "expires_at": created + LOGIN_LINK_TTL,
            "used_at": None,
        }
    )
    return {
        "object": "login_link",
        "created": created,
        "url": _site_url(reverse("stripe_sandbox:express-login", args=[id, token])),
    }


def _login_link_id(token):
    return "ll_" + hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def login_link_use(account_id, token):
    """Someone opened a login link: it must be this account's, unused and unexpired. Marks it
    used (a login link works once) or raises LinkUnusable."""
    row = (
        SandboxObject.objects.select_for_update()
        .filter(stripe_id=_login_link_id(token), object_type="login_link")
        .first()
    )
    if row is None:
        raise LinkUnusable()
    link = row.data
    if link["account"] != account_id or link["used_at"] or core.now() >= link["expires_at"]:
        raise LinkUnusable()
    link["used_at"] = core.now()
    core.save(link)


# --- Hosted onboarding (the pages in stripe_sandbox/onboarding_views.py call these) ------------

OUTCOME_COMPLETE = "complete"  # every requirement met: charges and payouts enabled
OUTCOME_DUE = "due"  # details submitted; a document and a bank account still due (deadline)
OUTCOME_PAST_DUE = "past_due"  # as "due", but the deadline has passed: charges disabled
OUTCOMES = (OUTCOME_COMPLETE, OUTCOME_DUE, OUTCOME_PAST_DUE)
LEFT_DUE = ["external_account", "individual.verification.document"]

BANK_CHOICES = {
    "000123456789": "Test bank account 000123456789",
    "000111111116": "Test bank account that fails payouts 000111111116",
}


class LinkUnusable(Exception):
    """The link expired, was already used, or does not exist: go to refresh_url (or nowhere)."""

    def __init__(self, refresh_url=None):
        super().__init__(refresh_url or "")
        self.refresh_url = refresh_url


def _link(link_id, *, lock=False):
    queryset = SandboxObject.objects.filter(stripe_id=link_id, object_type="account_link")
    if lock:
        queryset = queryset.select_for_update()
    row = queryset.first()
    return row.data if row else None


@transaction.atomic
def onboarding_open(link_id):
    """First visit of an account link: returns (link, account). A link opens once, before it
    expires; any other visit raises LinkUnusable (the page then goes to refresh_url)."""
    link = _link(link_id, lock=True)
    if link is None:
        raise LinkUnusable()
    account = SandboxObject.objects.filter(stripe_id=link["account"], object_type="account")
    account = account.first()
    if account is None or link["opened_at"] is not None or core.now() >= link["expires_at"]:
        raise LinkUnusable(link["refresh_url"])
    link["opened_at"] = core.now()
    link["session"] = core.new_id("obs", 32)
    core.save(link)
    return link, account.data


def onboarding_session(link_id, session, *, lock=False):
    """(link, account) for a form posted from an opened link; LinkUnusable otherwise."""
    link = _link(link_id, lock=lock)
    if link is None:
        raise LinkUnusable()
    if (
        not session
        or link["session"] != session
        or link["submitted_at"] is not None
        or core.now() >= (link["opened_at"] or 0) + ONBOARDING_SESSION_TTL
    ):
        raise LinkUnusable(link["refresh_url"])
    account = core.get(link["account"], kind="account", account=core.PLATFORM, lock=lock)
    return link, account


@transaction.atomic
def onboarding_submit(link_id, session, *, outcome, profile, bank_account_number, ip, user_agent):
    """The account holder submitted the hosted form. Applies the outcome, sends
    account.external_account.created (if a bank account was added) and account.updated, and
    returns the link (its return_url is where the page goes next)."""
    link, account = onboarding_session(link_id, session, lock=True)
    before = copy.deepcopy(account)
    for key, value in profile.items():
        account["business_profile"][key] = value or None
    if profile.get("name"):
        account["settings"]["dashboard"]["display_name"] = profile["name"]
    if account["business_type"] is None:
        account["business_type"] = "individual"
    now = core.now()
    account["tos_acceptance"].update(date=now, ip=ip, user_agent=user_agent or None)
    account["details_submitted"] = True
    req_block = account["requirements"]
    if outcome == OUTCOME_COMPLETE:
        if not account["external_accounts"]["data"]:
            _external_account_add(
                None,
                account,
                {
                    "object": "bank_account",
                    "country": account["country"],
                    "currency": account["default_currency"],
                    "account_number": bank_account_number,
                    "routing_number": TEST_ROUTING_NUMBER,
                    "account_holder_type": account["business_type"]
                    if account["business_type"] in ("individual", "company")
                    else None,
                },
                default_for_currency=True,
                announce=True,
            )
        req_block.update(currently_due=[], past_due=[], current_deadline=None)
    else:
        due = [
            f
            for f in LEFT_DUE
            if f != "external_account" or not account["external_accounts"]["data"]
        ]
        req_block["currently_due"] = sorted(due)
        req_block["eventually_due"] = sorted(due)
        if outcome == OUTCOME_PAST_DUE:
            req_block.update(past_due=sorted(due), current_deadline=None)
        else:
            req_block.update(past_due=[], current_deadline=now + REQUIREMENTS_DEADLINE_DAYS * 86400)
    link["submitted_at"] = now
    core.save(link)
    save_and_announce(None, before, account)
    return link


@core.due_rule("account")
def _requirements_due(account, owner):
    req_block = account.get("requirements") or {}
    if owner != core.PLATFORM or not req_block.get("currently_due"):
        return None
    return req_block.get("current_deadline")


@core.on_tick("account")
def _requirements_fall_past_due(current):
    """What onboarding left due becomes past due at its deadline: charges stop."""
    rows = SandboxObject.objects.filter(
        object_type="account",
        account=core.PLATFORM,
        data__requirements__current_deadline__lte=current,
    )
    for row in rows.select_for_update():
        account = row.data
        req_block = account["requirements"]
        deadline = req_block.get("current_deadline")
        if deadline is None or deadline > current or not req_block["currently_due"]:
            continue
        before = copy.deepcopy(account)
        req_block["past_due"] = list(req_block["currently_due"])
        req_block["current_deadline"] = None
        save_and_announce(None, before, account)


def express_dashboard(account_id):
    """What the sandbox's Express dashboard page shows for an account."""
    account = core.get(account_id, kind="account", account=core.PLATFORM)
    payouts = core.find("payout", account=account_id)
    return {
        "account": account,
        "balance": core.balance_of(account_id),
        "payouts": payouts[:20],
        "bank_accounts": external_accounts_of(account_id),
    }
