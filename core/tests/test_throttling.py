"""core.throttling: the budgets pages share with the API, and how a wait is put into words."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from core.testing import set_rate_limits
from core.throttling import rate_limit_key, rate_limit_wait, wait_text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (900, "15 minutes"),
    ],
)
def test_wait_text(seconds, text):
    assert wait_text(seconds) == text


def _anonymous(remote_addr="192.0.2.1"):
    request = RequestFactory().post("/", REMOTE_ADDR=remote_addr)
    request.user = AnonymousUser()
    return request


def test_a_budget_counts_per_address_and_says_how_long_to_wait(settings):
    set_rate_limits(settings, messages="2/min")

    first, second, third = (rate_limit_wait(_anonymous(), "messages") for _ in range(3))

    assert (first, second) == (None, None)
    assert 0 < third <= 60
    assert rate_limit_wait(_anonymous("198.51.100.1"), "messages") is None


def test_a_budget_can_count_per_key(settings):
    set_rate_limits(settings, password_reset_email="1/hour")
    key = rate_limit_key(" Ana@Example.com ")

    assert key == rate_limit_key("ana@example.com")
    assert "ana" not in key
    assert rate_limit_wait(_anonymous(), "password_reset_email", key=key) is None
    assert rate_limit_wait(_anonymous("198.51.100.1"), "password_reset_email", key=key)
