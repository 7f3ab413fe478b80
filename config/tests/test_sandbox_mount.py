"""The offline Stripe's URLs (its hosted pages and its REST API over HTTP) exist only while the
sandbox stands in for Stripe: never once a real key is configured, never in production."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESOLVE = (
    "from django.urls import Resolver404, resolve\n"
    "try:\n"
    "    print(resolve('/stripe-sandbox/v1/payment_intents').view_name)\n"
    "except Resolver404:\n"
    "    print('not mounted')\n"
)
AMAZON_RESOLVE = (
    "from django.conf import settings\n"
    "from django.urls import Resolver404, resolve\n"
    "try:\n"
    "    print(resolve('/amazon-sandbox/apps/authorize/consent').view_name,"
    " settings.AMAZON_SPAPI_TRANSPORT or 'network')\n"
    "except Resolver404:\n"
    "    print('not mounted', settings.AMAZON_SPAPI_TRANSPORT or 'network')\n"
)
PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "p9$Kq2-vR7!mZ4@xL8#nB1^cW6&hT3*yF5(jD0)sG2+aE7=uQ4",
    "DJANGO_ALLOWED_HOSTS": "bazaar.example.com",
    "STRIPE_SECRET_KEY": "sk_live_from_the_environment",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_from_the_environment",
    "DATABASE_URL": "sqlite:////tmp/bazaar-deploy-check.sqlite3",
    # A Fernet key (amazon_sync/crypto.py), made up for these tests.
    "AMAZON_CREDENTIALS_KEYS": "jV2n8oXW5Yc0s0cQYk8cO2Zm3G8Hh1vM3pR5s7T9w1A=",
}


def resolved_in(env, script=RESOLVE):
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_", "AMAZON_"))
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "config.settings"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]  # after the shell's own banner


def test_make_run_without_a_key_serves_stripes_api_from_the_sandbox():
    assert resolved_in({"DJANGO_ENV": "development"}) == "stripe_sandbox:api"


@pytest.mark.parametrize(
    "env",
    [
        PRODUCTION,
        {"DJANGO_ENV": "development", "STRIPE_SECRET_KEY": "sk_test_a_real_test_mode_key"},
    ],
    ids=["production", "development-with-a-real-test-key"],
)
def test_with_a_real_stripe_key_nothing_answers_as_stripe(env):
    assert resolved_in(env) == "not mounted"


def test_make_run_without_an_amazon_app_answers_amazon_from_the_sandbox():
    assert resolved_in({"DJANGO_ENV": "development"}, AMAZON_RESOLVE) == (
        "amazon_sandbox:consent amazon_sandbox.transport.SandboxTransport"
    )


@pytest.mark.parametrize(
    "env",
    [
        PRODUCTION,
        {"DJANGO_ENV": "development", "AMAZON_LWA_CLIENT_ID": "amzn1.application-oa2-client.x"},
    ],
    ids=["production", "development-with-an-amazon-app"],
)
def test_with_an_amazon_app_nothing_answers_as_amazon(env):
    assert resolved_in(env, AMAZON_RESOLVE) == "not mounted network"
