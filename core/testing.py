"""Test helpers every app may use: actions run at the same moment in threads (the PostgreSQL
race tests), a row held locked by another transaction, rate limits set for one test, and an API
answer held to the OpenAPI schema."""

import threading
import traceback
from contextlib import contextmanager

import requests
import schemathesis
from django.db import connection, transaction
from rest_framework.test import APIClient

from core.errors import DomainError


def race(*actions):
    """Run the actions in threads that start together; returns (outcomes, crashes).

    An outcome is the action's result or the DomainError it raised (a legal answer); a crash is
    any other exception (an IntegrityError that escaped, a deadlock), with its traceback.
    """
    barrier = threading.Barrier(len(actions))
    outcomes, crashes = [None] * len(actions), []

    def run(i, action):
        try:
            barrier.wait(timeout=30)
            outcomes[i] = action()
        except DomainError as exc:
            outcomes[i] = exc
        except BaseException:
            crashes.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    return outcomes, crashes


@contextmanager
def row_locked_elsewhere(model, pk):
    """Within the block, row `pk` of `model` is locked FOR UPDATE by another connection (a
    thread's), as another worker part-way through it would hold it (PostgreSQL)."""
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                model.objects.select_for_update().get(pk=pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10), "the other transaction never got the row"
        yield
    finally:
        release.set()
        holder.join()


def set_rate_limits(settings, **rates):
    """Give scopes of core.throttling these rates ("3/min") for the test using pytest-django's
    `settings` (the test settings make every budget 1000/min)."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] | rates,
    }


def assert_matches_api_schema(response, path, method):
    """`response` (a test client's) is what the API's served OpenAPI schema says `method path`
    answers: a documented status code and a body its schema describes. `path` is the schema's
    template, e.g. "/api/v1/stores/{slug}/". Raises schemathesis' FailureGroup, which says what
    does not match."""
    served = APIClient().get("/api/v1/schema/", {"format": "json"})
    operation = schemathesis.openapi.from_dict(served.json())[path][method.upper()]
    request = requests.Request(method.upper(), "http://testserver" + path).prepare()
    headers = {name.lower(): [value] for name, value in response.headers.items()}
    answer = schemathesis.Response(
        response.status_code, headers, response.content, request, 0, True
    )
    operation.validate_response(answer)


def bazaar_queries(captured):
    """The SQL of captured queries (CaptureQueriesContext.captured_queries) that Bazaar's own
    code ran: without the Stripe sandbox's (its tables, reached in-process in tests) and
    without savepoints, so a pinned count measures the product, not the stand-in for Stripe."""
    return [
        query["sql"]
        for query in captured
        if "stripe_sandbox_" not in query["sql"] and "SAVEPOINT" not in query["sql"]
    ]


@contextmanager
def commits_watched():
    """Each COMMIT of the connection while the block runs, in a list of (the INSERTs and
    UPDATEs the transaction sent, as their first three words; PostgreSQL's synchronous_commit
    for it): which transactions wait for the disk (core.rows.asynchronous_commit). The Stripe
    sandbox's own writes are left out. PostgreSQL only; for a transactional test."""
    committed, written = [], []

    def watch(execute, sql, params, many, context):
        if sql.startswith(("INSERT", "UPDATE")) and "stripe_sandbox_" not in sql:
            written.append(" ".join(sql.split()[:3]))
        return execute(sql, params, many, context)

    real_commit = connection._commit

    def commit():
        with connection.connection.cursor() as raw:  # unseen by the execute wrappers
            raw.execute("SHOW synchronous_commit")
            committed.append((list(written), raw.fetchone()[0]))
        written.clear()
        return real_commit()

    connection._commit = commit
    try:
        with connection.execute_wrapper(watch):
            yield committed
    finally:
        del connection._commit  # the class's own again


def prepared_statements():
    """The statements this connection holds prepared on PostgreSQL: {statement text (with $1
    placeholders): times it ran} (core.rows.cursor)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())
