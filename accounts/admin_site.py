"""The back office's admin site, with two-factor authentication for staff (django-otp, TOTP).

- Staff who enrolled an authenticator app (/accounts/two-factor/) give its code with their
  password at /admin/login/; their session then counts as verified. Signed in on the website
  with the password alone, they are asked for the code before the admin opens.
- Staff without one get in with their password, unless BAZAAR_ADMIN_REQUIRE_2FA is on (the
  default in production): then the admin sends them to enrol first.

accounts.apps.AdminConfig makes this the site `admin.site` is, so every app's admin.py
registers here unchanged.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django_otp.forms import OTPAuthenticationFormMixin

from accounts.selectors import two_factor_device
from core.jobs import periodic_jobs


def two_factor_verified(user):
    """This session's sign-in was confirmed with a code (django-otp's middleware says so)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def two_factor_enrolment_due(user):
    """Staff the admin must send to enrol: 2FA is required and they have no device yet."""
    return (
        settings.BAZAAR_ADMIN_REQUIRE_2FA
        and user.is_active
        and user.is_staff
        and two_factor_device(user) is None
    )


class AdminLoginForm(OTPAuthenticationFormMixin, AdminAuthenticationForm):
    """Email and password, and the authenticator app's code when the account has one."""

    otp_token = forms.CharField(
        required=False,
        label="Authentication code",
        help_text="The 6-digit code your authenticator app shows, if you set one up.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_error_messages = OTPAuthenticationFormMixin.otp_error_messages | {
        "token_required": "Enter the 6-digit code your authenticator app shows for Bazaar.",
        "invalid_token": "That code is not right or has expired. Enter the code your app "
        "shows now.",
    }

    def clean(self):
        super().clean()
        user = self.get_user()
        device = two_factor_device(user) if user is not None else None
        if device is not None:
            # One device per person (enrolling replaces it): no need to make them choose.
            self.cleaned_data["otp_device"] = device.persistent_id
            self.clean_otp(user)
        return self.cleaned_data

    def _update_form(self, user):
        # django-otp would send the password back in the page to save retyping it: never.
        pass


class BazaarAdminSite(admin.AdminSite):
    login_form = AdminLoginForm
    login_template = "admin/two_factor_login.html"
    index_template = "admin/bazaar_index.html"

    def get_urls(self):
        return [
            path("jobs/", self.admin_view(self.periodic_jobs_view), name="periodic-jobs"),
            *super().get_urls(),
        ]

    def periodic_jobs_view(self, request):
        """The jobs Celery beat runs (CELERY_BEAT_SCHEDULE), read-only: staff see what runs
        when without reading settings."""
        context = {
            **self.each_context(request),
            "title": "Periodic jobs",
            "subtitle": None,
            "jobs": periodic_jobs(),
            "timezone": settings.CELERY_TIMEZONE,
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/periodic_jobs.html", context)

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        user = request.user
        if two_factor_verified(user):
            return True
        # Asked several times a page: look the device up once per request.
        if not hasattr(request, "_two_factor_device"):
            request._two_factor_device = two_factor_device(user)
        if request._two_factor_device is not None:
            return False  # signed in without the code their account asks for
        return not settings.BAZAAR_ADMIN_REQUIRE_2FA

    def login(self, request, extra_context=None):
        if request.user.is_authenticated and two_factor_enrolment_due(request.user):
            next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
            return redirect(f"{reverse('two-factor')}?{urlencode({'next': next_url})}")
        return super().login(request, extra_context)
