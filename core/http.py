"""Helpers every app's views share."""

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request, default):
    """The `next` parameter when it points back into this site, else `default`."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def client_ip(request):
    """The address of the client, as far as Bazaar can trust it: the one rule the API's throttles,
    the login lockout and the password-reset limits all key on.

    X-Forwarded-For is written by whoever sends the request, so it is believed only for the
    `BAZAAR_TRUSTED_PROXIES` reverse proxies in front of Bazaar, counted from the right (each
    proxy appends the address it saw). With none (the default) it is ignored: rotating the
    header must not buy a fresh budget. This is DRF's NUM_PROXIES rule, which settings set to the
    same number.
    """
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxies = settings.BAZAAR_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return remote_addr
    addresses = [part.strip() for part in forwarded.split(",")]
    return addresses[-min(proxies, len(addresses))] or remote_addr
