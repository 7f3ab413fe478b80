"""Sign-in lockout (django-axes): which attempts count together, and what a person is told.

After BAZAAR_LOGIN_FAILURE_LIMIT wrong passwords for one account from one address (the pages'
login, the admin's and the API's token login all count), that account cannot sign in from that
address until BAZAAR_LOGIN_COOLOFF_MINUTES have passed since the last attempt, even with the
right password. Others are not locked out of their own accounts by someone guessing; another
address starts its own count. Staff see and clear attempts in the admin (Axes: access attempts).
"""

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse

from core.throttling import wait_text

LOCKED_OUT = (
    "Too many failed attempts to log in to this account. Try again in {wait}, or reset your "
    "password ({reset_url})."
)


def login_username(request, credentials=None):
    """The account an attempt names, as the lockout counts it: the login form's `username`,
    the API's and the test client's `email`; case and spaces do not make a new account."""
    value = None
    if credentials:
        value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        value = data.get("username") or data.get("email")
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def cooloff_seconds():
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message():
    return LOCKED_OUT.format(
        wait=wait_text(cooloff_seconds()),
        reset_url=settings.SITE_URL + reverse("password_reset"),
    )


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out login gets instead of the login form (axes' AXES_LOCKOUT_CALLABLE);
    429, like every other "too many" answer."""
    return render(
        request,
        "registration/locked_out.html",
        {"wait": wait_text(cooloff_seconds())},
        status=429,
    )
