import uuid
from importlib import import_module
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The suite's database is built from the models (--no-migrations): add what only a migration
    makes, with that migration's own function, as `migrate` does. On PostgreSQL: the pg_trgm
    extension search's typo correction needs, the search indexes (marketplace 0008) and the
    vocabulary's (0009)."""
    from django.db import connection

    search = import_module("marketplace.migrations.0008_listing_search")
    vocabulary = import_module("marketplace.migrations.0009_search_vocabulary")
    with django_db_blocker.unblock(), connection.schema_editor() as editor:
        search.add_search_indexes(None, editor)
        vocabulary.add_vocabulary_index(None, editor)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploaded files of each test land in its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "messaging.storage.PrivateFileStorage",
            "OPTIONS": {"location": tmp_path / "attachments"},
        },
    }


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """Each test counts its rate limits in a cache of its own. With REDIS_URL the cache is one
    Redis database shared by every test (and by parallel runs): a key prefix per test keeps them
    apart where clearing it would pull the counts from under a test running beside this one."""
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
        for name, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def _not_inside_a_celery_worker():
    """Tests call tasks eagerly and read their results (`task.delay().get()`). Celery refuses
    that inside a worker, and it learns it is in one from a process-wide flag that a worker's
    pool sets and nothing unsets: a test that builds a pool would leave the flag to the tests
    after it in the same process. Each test starts outside any worker, as it is."""
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture(autouse=True)
def _no_real_stripe_without_a_key(monkeypatch):
    """Tests talk to the offline sandbox. A call that would reach the real Stripe fails loudly,
    unless STRIPE_TEST_SECRET_KEY is set for the contract tests."""
    import os

    import stripe

    if os.environ.get("STRIPE_TEST_SECRET_KEY"):
        return

    sends = stripe.RequestsClient.request

    def refuse(self, method, url, *args, **kwargs):
        if urlsplit(url).hostname in ("127.0.0.1", "localhost"):
            # A test's own live_server (the sandbox's API over HTTP), not the real Stripe.
            return sends(self, method, url, *args, **kwargs)
        raise AssertionError(
            f"A test tried to reach the real Stripe ({method.upper()} {url}) without "
            "STRIPE_TEST_SECRET_KEY. Use the sandbox (core.stripe_client)."
        )

    monkeypatch.setattr(stripe.RequestsClient, "request", refuse)


@pytest.fixture
def stripe_sandbox(db):
    """The offline Stripe with Bazaar's webhook endpoints registered (events reach /stripe/...).

    Deliveries happen after commit: wrap actions in django_capture_on_commit_callbacks(execute=True)
    or use transactional_db. Returns stripe_sandbox.control (clock, held/duplicated deliveries).
    """
    from core.stripe_webhooks import ensure_webhook_endpoints
    from stripe_sandbox import control

    ensure_webhook_endpoints("http://testserver")
    return control
