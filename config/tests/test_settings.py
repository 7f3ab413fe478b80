"""Production mode must refuse to start without its secrets, and pass `check --deploy` with them."""

import json
import os
import subprocess
import sys
from pathlib import Path

from celery import current_app
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "p9$Kq2-vR7!mZ4@xL8#nB1^cW6&hT3*yF5(jD0)sG2+aE7=uQ4",
    "DJANGO_ALLOWED_HOSTS": "bazaar.example.com",
    "STRIPE_SECRET_KEY": "sk_live_from_the_environment",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_from_the_environment",
    "DATABASE_URL": "sqlite:////tmp/bazaar-deploy-check.sqlite3",
    # A Fernet key (amazon_sync/crypto.py), made up for these tests.
    "AMAZON_CREDENTIALS_KEYS": "jV2n8oXW5Yc0s0cQYk8cO2Zm3G8Hh1vM3pR5s7T9w1A=",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_a_secret_key_refuses_to_start():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "refuses to start in production" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_names_every_missing_secret():
    result = _manage("check", env={"DJANGO_ENV": "production"})

    assert result.returncode != 0
    for name in (
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "AMAZON_CREDENTIALS_KEYS",
    ):
        assert name in result.stderr


def test_production_with_half_an_amazon_app_refuses_to_start():
    result = _manage(
        "check", env=PRODUCTION_ENV | {"AMAZON_LWA_CLIENT_ID": "amzn1.application-oa2-client.x"}
    )

    assert result.returncode != 0
    assert "AMAZON_LWA_CLIENT_SECRET" in result.stderr
    assert "AMAZON_SPAPI_APP_ID" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_live_key_runs_in_live_mode_and_a_contradiction_is_refused():
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STRIPE_LIVE_MODE)",
        env=PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"

    refused = _manage("check", env=PRODUCTION_ENV | {"STRIPE_LIVE_MODE": "false"})

    assert refused.returncode != 0
    assert "STRIPE_LIVE_MODE is False but STRIPE_SECRET_KEY is a live key" in refused.stderr


def test_unknown_environment_name_is_refused():
    result = _manage("check", env={"DJANGO_ENV": "staging"})

    assert result.returncode != 0
    assert "DJANGO_ENV must be development, test or production" in result.stderr


def test_every_task_runs_under_a_soft_and_a_hard_time_limit():
    soft = current_app.conf.task_soft_time_limit
    hard = current_app.conf.task_time_limit
    assert (soft, hard) == (settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.CELERY_TASK_TIME_LIMIT)
    assert 0 < soft < hard  # the soft limit lets a task roll back before the hard one kills it


# Runs in production settings: a signed-in person's request whose view logs a money line.
_LOG_A_REQUEST = """
import logging
from django.http import HttpResponse
from django.test import RequestFactory
from accounts.models import User
from core.logs import RequestIdMiddleware, money_fields

def view(request):
    request.user = User(pk=7, email="buyer@example.com")
    logging.getLogger("escrow").warning(
        "Paid with key sk_live_leaked123", extra=money_fields(order_id=42)
    )
    return HttpResponse()

response = RequestIdMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="trace-9"))
print(response["X-Request-ID"])
"""


def test_production_logs_json_lines_with_the_request_and_the_user():
    result = _manage("shell", "-c", _LOG_A_REQUEST, env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    (paid,) = [line for line in lines if line["message"].startswith("Paid")]
    assert paid["level"] == "WARNING"
    assert paid["logger"] == "escrow"
    assert paid["request_id"] == "trace-9"
    assert paid["user_id"] == 7
    assert paid["order_id"] == 42
    assert paid["message"] == "Paid with key sk_live_[REDACTED]"
    assert "leaked123" not in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "trace-9"


def test_log_format_text_keeps_production_readable_and_nonsense_is_refused():
    text = _manage("shell", "-c", _LOG_A_REQUEST, env=PRODUCTION_ENV | {"LOG_FORMAT": "text"})
    assert text.returncode == 0, text.stderr
    (paid,) = [line for line in text.stderr.splitlines() if "Paid" in line]
    assert "WARNING escrow [trace-9] Paid with key sk_live_[REDACTED]" in paid
    assert "user_id=7" in paid and "order_id=42" in paid

    refused = _manage("check", env=PRODUCTION_ENV | {"LOG_FORMAT": "xml"})
    assert refused.returncode != 0
    assert "LOG_FORMAT must be json or text" in refused.stderr


def test_development_email_goes_to_files_with_one_log_line_and_email_url_sends_it():
    """`make run` without EMAIL_URL keeps its console readable: emails land in var/mail/."""
    development = {"DJANGO_ENV": "development", "EMAIL_URL": ""}
    script = "from django.conf import settings; print(settings.EMAIL_BACKEND)"

    unset = _manage("shell", "-c", script, env=development)
    smtp = _manage(
        "shell", "-c", script, env=development | {"EMAIL_URL": "smtp://mail.example.com:25"}
    )

    assert unset.stdout.splitlines()[-1] == "core.mail.FolderEmailBackend", unset.stderr
    assert smtp.stdout.splitlines()[-1] == "django.core.mail.backends.smtp.EmailBackend", (
        smtp.stderr
    )


def test_the_folder_backend_saves_each_email_and_logs_where(settings, tmp_path, caplog):
    from django.core.mail import EmailMultiAlternatives

    settings.EMAIL_BACKEND = "core.mail.FolderEmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    message = EmailMultiAlternatives("Your order #7 was paid", "Plain", to=["sam@example.com"])
    message.attach_alternative("<p>HTML</p>", "text/html")

    with caplog.at_level("INFO", logger="core.mail"):
        assert message.send() == 1

    [saved] = list((tmp_path / "mail").glob("*.eml"))
    assert saved.name.endswith("-your-order-7-was-paid.eml")
    assert b"<p>HTML</p>" in saved.read_bytes()
    assert caplog.messages == [
        f"Email to sam@example.com: 'Your order #7 was paid' saved to {saved}"
    ]


def test_the_folder_backend_names_never_read_as_card_numbers(
    settings, tmp_path, caplog, monkeypatch
):
    """The log's redaction hides 13-19 digit runs that pass the Luhn check: a name made of
    digits joined by dashes (date-time) was hidden in one second out of ten, the path in the log
    then useless."""
    import time

    from django.core.mail import EmailMessage

    from core import mail
    from core.logs import redact

    settings.EMAIL_BACKEND = "core.mail.FolderEmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    real = time.strftime
    with caplog.at_level("INFO", logger="core.mail"):
        for second in range(40):  # 40 different seconds of one afternoon
            moment = time.gmtime(1_796_000_000 + second)
            monkeypatch.setattr(mail.time, "strftime", lambda fmt, m=moment: real(fmt, m))
            EmailMessage("Paid", "Plain", to=["sam@example.com"]).send()

    saved = {str(path) for path in (tmp_path / "mail").glob("*.eml")}
    assert len(saved) == 40
    # Each line names a file that is there, as logged (redaction applied) and as redact() sees it.
    assert {message.rsplit(" saved to ", 1)[1] for message in caplog.messages} == saved
    assert {redact(message).rsplit(" saved to ", 1)[1] for message in caplog.messages} == saved


def test_amazon_credentials_keys_that_are_not_fernet_keys_are_refused():
    result = _manage("check", env=PRODUCTION_ENV | {"AMAZON_CREDENTIALS_KEYS": "not-a-key"})

    assert result.returncode != 0
    assert "amazon_sync.E001" in result.stderr


def test_prepared_statements_are_on_for_postgresql_unless_turned_off():
    script = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    postgres = {"DJANGO_ENV": "development", "DATABASE_URL": "postgres://u@db.example.com/bazaar"}

    on = _manage("shell", "-c", script, env=postgres)
    off = _manage("shell", "-c", script, env=postgres | {"DATABASE_PREPARED_STATEMENTS": "false"})
    sqlite = _manage(
        "shell", "-c", script, env={"DJANGO_ENV": "development", "DATABASE_URL": "sqlite:///x"}
    )

    assert on.stdout.splitlines()[-1] == "{'prepare_threshold': 0}", on.stderr
    assert "prepare_threshold" not in off.stdout.splitlines()[-1], off.stderr
    assert "prepare_threshold" not in sqlite.stdout.splitlines()[-1], sqlite.stderr
