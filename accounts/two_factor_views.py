"""Where staff set up two-factor authentication for the back office (/accounts/two-factor/).

Staff scan a QR code with an authenticator app (or type its key) and confirm with the code the
app shows; from then on the admin asks for a code at sign-in (accounts/admin_site.py). The QR
code is an SVG drawn here and shown as an image (no script, nothing from another site).
Replacing a confirmed device (a new phone) needs a session that signed in with the old one's
code, so a stolen password alone cannot swap the device.
"""

import base64
import io
from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from accounts import selectors, services
from accounts.admin_site import two_factor_enrolment_due, two_factor_verified
from accounts.forms import TwoFactorConfirmForm
from core.errors import DomainError, ValidationFailed
from core.forms import add_domain_errors
from core.http import safe_next_url


def qr_code_data_uri(text):
    """`text` as a QR code: an SVG image in a data: URI (the pages' CSP allows data: images)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage)
    svg = io.BytesIO()
    image.save(svg)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode()


def _key_for_typing(device):
    key = b32encode(device.bin_key).decode()
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


@never_cache  # the page shows a secret while enrolling
@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request):
    user = request.user
    if not user.is_staff:
        raise Http404("Two-factor authentication is for Bazaar staff.")
    next_url = safe_next_url(request, reverse("admin:index"))
    here = f"{reverse('two-factor')}?{urlencode({'next': next_url})}"
    verified = two_factor_verified(user)
    form = TwoFactorConfirmForm(request.POST if request.POST.get("action") == "confirm" else None)

    if request.method == "POST":
        try:
            if request.POST.get("action") == "start":
                services.two_factor_enrolment_start(user=user, verified=verified)
                return redirect(here)
            pending = selectors.two_factor_pending_device(user)
            if pending is None:
                return redirect(here)
            if form.is_valid():
                device = services.two_factor_enrolment_confirm(
                    user=user,
                    device=pending,
                    token=form.cleaned_data["otp_token"],
                    verified=verified,
                )
                otp_login(request, device)  # this session just showed a code
                messages.success(
                    request,
                    "Two-factor authentication is on. The back office will ask for a code "
                    "from your app each time you sign in.",
                )
                return redirect(next_url)
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(here)

    device = selectors.two_factor_device(user)
    pending = selectors.two_factor_pending_device(user)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "device": device,
            "pending": pending,
            "qr_code": qr_code_data_uri(pending.config_url) if pending else None,
            "key": _key_for_typing(pending) if pending else None,
            "form": form,
            "verified": verified,
            "required": two_factor_enrolment_due(user),
            "next": next_url,
        },
    )
