"""Logging: each request's id (echoed in X-Request-ID), who asked, which task, and no secrets.

The request tests go through the whole middleware stack and read what the configured console
handler writes, so they check the wiring in settings.LOGGING as well as core/logs.py."""

import io
import logging
import re
import sys
from contextlib import contextmanager

import pytest
from celery import shared_task
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

from accounts.factories import UserFactory
from core.logs import REDACTED, JsonFormatter, RedactSecrets, money_fields

logger = logging.getLogger("bazaar.tests")


@shared_task
def log_in_a_task():
    logger.info("Working in a task")


@login_required
def signed_in_view(request):
    logger.info("Paid", extra=money_fields(order_id=42))
    return HttpResponse("ok")


def anonymous_view(request):
    logger.info("Looked around")
    log_in_a_task.delay()
    return HttpResponse("ok")


urlpatterns = [
    path("signed-in/", signed_in_view),
    path("anonymous/", anonymous_view),
]


@contextmanager
def console_output():
    """What the console handler of settings.LOGGING writes meanwhile."""
    (console,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        yield stream
    finally:
        console.setStream(previous)


# --- X-Request-ID -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_safe_request_id_from_the_caller_is_echoed(client):
    response = client.get("/anonymous/", headers={"X-Request-ID": "lb-7f3a.9_B-2"})

    assert response["X-Request-ID"] == "lb-7f3a.9_B-2"


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_request_without_an_id_gets_a_new_one(client):
    first = client.get("/anonymous/")["X-Request-ID"]
    second = client.get("/anonymous/")["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "unsafe",
    ["", "a" * 65, "id with spaces", '"}{"injected": 1', "<script>", "trace\u00e9", "a/b"],
)
def test_an_unsafe_request_id_is_replaced(client, unsafe):
    with console_output() as output:
        response = client.get("/anonymous/", headers={"X-Request-ID": unsafe})

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert f"[{response['X-Request-ID']}] Looked around" in output.getvalue()


# --- What every line carries --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_lines_logged_during_a_request_carry_its_id_and_the_signed_in_user(client):
    user = UserFactory()
    client.force_login(user)

    with console_output() as output:
        client.get("/signed-in/", headers={"X-Request-ID": "trace-1"})
        client.get("/anonymous/", headers={"X-Request-ID": "trace-1b"})  # never asks who
    with console_output() as after:
        logger.info("Between requests")

    lines = output.getvalue().splitlines()
    (paid,) = [line for line in lines if " Paid" in line]
    assert "[trace-1] Paid" in paid
    assert f"user_id={user.pk}" in paid
    assert "order_id=42" in paid
    (looked,) = [line for line in lines if "Looked around" in line]
    assert f"[trace-1b] Looked around user_id={user.pk}" in looked
    assert "[-] Between requests" in after.getvalue()  # the request's id does not linger


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_an_anonymous_request_logs_no_user_and_its_task_logs_the_task_and_request_ids(client):
    with console_output() as output:
        client.get("/anonymous/", headers={"X-Request-ID": "trace-2"})

    lines = output.getvalue().splitlines()
    (looked,) = [line for line in lines if "Looked around" in line]
    assert "[trace-2]" in looked
    assert "user_id" not in looked
    (task_line,) = [line for line in lines if "Working in a task" in line]
    assert "[trace-2]" in task_line
    assert re.search(r"task_id=[0-9a-f-]{36}", task_line)
    assert f"task_name={log_in_a_task.name}" in task_line


# --- Redaction ----------------------------------------------------------------------------------

VISA = "4242 4242 4242 4242"  # passes the Luhn check


def _redacted(message, *args, exc_info=None, **extra):
    record = logging.LogRecord("bazaar", logging.INFO, __file__, 1, message, args, exc_info)
    record.__dict__.update(extra)
    assert RedactSecrets().filter(record) is True
    return record


def test_secret_keys_and_card_numbers_are_removed_from_the_message():
    record = _redacted(
        "Charging %s with key %s, hook %s, restricted %s",
        VISA,
        "sk_live_51Habc123DEF",
        "whsec_9f8e7d6c",
        "rk_test_abc123",
    )

    message = record.getMessage()
    assert "4242" not in message
    assert "51Habc123DEF" not in message and "9f8e7d6c" not in message
    assert "abc123" not in message
    assert message == (
        f"Charging {REDACTED} with key sk_live_{REDACTED}, hook whsec_{REDACTED}, "
        f"restricted rk_test_{REDACTED}"
    )


def test_authorization_headers_passwords_and_client_secrets_are_removed_from_the_message():
    record = _redacted(
        "Sent {'Authorization': 'Bearer sk_test_x1'} password=hunter2&next=/ "
        "secret pi_3Nx_secret_Yz9 from postgres://bazaar:s3cret@db:5432/bazaar"
    )

    message = record.getMessage()
    for secret in ("sk_test_x1", "hunter2", "Yz9", "s3cret"):
        assert secret not in message
    assert "next=/" in message and "db:5432/bazaar" in message


def test_secrets_are_removed_from_extra_fields():
    record = _redacted(
        "Stripe said no",
        headers={"Authorization": "Bearer sk_live_abc", "Stripe-Version": "2024-04-10"},
        password="hunter2",
        card=4000056655665556,
        note=f"paid with {VISA.replace(' ', '-')}",
        order_id=42,
    )

    assert record.headers == {"Authorization": REDACTED, "Stripe-Version": "2024-04-10"}
    assert record.password == REDACTED
    assert record.card == REDACTED
    assert record.note == f"paid with {REDACTED}"
    assert record.order_id == 42


def test_numbers_that_are_not_card_numbers_stay():
    # 13 to 19 digits failing the Luhn check, and longer runs: ids, timestamps, amounts.
    record = _redacted("Order 4242424242424241 at 1733338800123 ref 12345678901234567890123")

    assert record.getMessage() == (
        "Order 4242424242424241 at 1733338800123 ref 12345678901234567890123"
    )


def test_a_traceback_is_redacted_in_the_json_line():
    try:
        raise ValueError("Stripe rejected sk_live_leakedkey123 for card 4000 0025 0000 3155")
    except ValueError:
        record = _redacted("It failed", exc_info=sys.exc_info())

    line = JsonFormatter("%(levelname)s %(message)s").format(record)

    assert "leakedkey123" not in line and "3155" not in line
    assert "ValueError" in line


def test_a_message_whose_arguments_do_not_fit_still_reaches_the_handler():
    # logging reports a broken format when the handler writes the line; the filter must not
    # raise from the logging call instead (it would break the request or payment that logged).
    record = _redacted("%d items for %s", "two", password="hunter2")

    assert record.password == REDACTED
    with pytest.raises(TypeError):
        record.getMessage()
