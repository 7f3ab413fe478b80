"""What Bazaar itself does while a block runs, apart from the Stripe sandbox answering it: the
SQL statements it sends and the requests it makes to Stripe. The webhook tests pin both, so a
change that adds a query or a Stripe call per event shows up as a failing test, not as a slower
bench (bench/webhooks).

Savepoints are not counted: a test runs inside a transaction, so every atomic block is a
SAVEPOINT/RELEASE pair here where production sends BEGIN/COMMIT once per outer block."""

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

from stripe_sandbox import testing as sandbox

NOT_COUNTED = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@dataclass
class Work:
    queries: list = field(default_factory=list)  # Bazaar's SQL, the sandbox's left out
    stripe_requests: list = field(default_factory=list)  # "GET /v1/accounts/acct_..."

    def describe(self):
        return "\n".join([*self.stripe_requests, *self.queries])


@contextmanager
def bazaar_work(monkeypatch):
    """Yields a Work that fills while the block runs. `monkeypatch` is pytest's fixture: the
    interceptor it installs stays until the test ends, inert once the block is left."""
    work, state = Work(), {"active": True, "in_sandbox": False}

    def answer(method, url, headers, body, handle):
        if not state["active"]:
            return handle(method, url, headers, body)
        work.stripe_requests.append(f"{method.upper()} {url.split('stripe.com', 1)[-1]}")
        state["in_sandbox"] = True
        try:
            return handle(method, url, headers, body)
        finally:
            state["in_sandbox"] = False

    def count(execute, sql, params, many, context):
        if not state["in_sandbox"] and not sql.startswith(NOT_COUNTED):
            work.queries.append(sql)
        return execute(sql, params, many, context)

    sandbox.intercept(monkeypatch, answer)
    try:
        with connection.execute_wrapper(count):
            yield work
    finally:
        state["active"] = False
