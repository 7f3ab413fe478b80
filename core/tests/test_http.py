"""The client's address: X-Forwarded-For is believed only as far as BAZAAR_TRUSTED_PROXIES says."""

import pytest
from django.test import RequestFactory
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from core.http import client_ip


def _request(forwarded_for=None, remote_addr="192.0.2.1"):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, None, "192.0.2.1"),
        (0, "203.0.113.9", "192.0.2.1"),  # no proxy: the header is the client's own words
        (1, None, "192.0.2.1"),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "10.9.9.9, 203.0.113.9", "203.0.113.9"),  # the client's made-up entry is ignored
        (2, "10.9.9.9, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (3, "203.0.113.9, 10.0.0.2", "203.0.113.9"),  # fewer entries than proxies: the first
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, proxies, forwarded_for, expected):
    settings.BAZAAR_TRUSTED_PROXIES = proxies
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    request = _request(forwarded_for)

    assert client_ip(request) == expected
    # DRF's own rule (NUM_PROXIES, set from the same setting) agrees.
    assert proxies == api_settings.NUM_PROXIES
    assert BaseThrottle().get_ident(request) == expected


def test_drf_reads_the_same_number_of_proxies_as_bazaar():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.BAZAAR_TRUSTED_PROXIES == 0
