"""bench/release_profile's measurement, run inside Django (see bench/release_profile.py)."""

import json
import os
import time

import stripe
from django.conf import settings
from django.db import connection

from bench.release_data import due_orders
from core import stripe_client
from escrow import selectors, services
from escrow.models import Order, ReleaseTrigger
from stripe_sandbox.transport import SandboxHTTPClient


class ReplayedTransfers(SandboxHTTPClient):
    """The sandbox, but a Transfer after the first is the first one's answer with a new id."""

    def __init__(self):
        super().__init__()
        self.transfer = None
        self.replayed = 0

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        is_transfer = method == "post" and url.endswith("/v1/transfers")
        if is_transfer and self.transfer is not None:
            self.replayed += 1
            body = dict(self.transfer, id=f"tr_replay_{os.getpid()}_{time.time_ns()}")
            return json.dumps(body), 200, {"request-id": f"req_replay_{self.replayed}"}
        body, status, answer_headers = super().request(
            method, url, headers, post_data, _usage=_usage
        )
        if is_transfer and status == 200:
            self.transfer = json.loads(body)
        return body, status, answer_headers


def _release(order_ids):
    for order_id in order_ids:
        services.escrow_release(order=Order(pk=order_id), trigger=ReleaseTrigger.AUTO)


def measure(args, *, chunk, profiler=None):
    if args.make:
        due_orders(orders=args.orders + args.warmup, sellers=20)
    replay = ReplayedTransfers()
    stripe_client._client = stripe.StripeClient(
        api_key=settings.STRIPE_SECRET_KEY,
        stripe_version=settings.STRIPE_API_VERSION,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=replay,
    )
    due = list(selectors.orders_due_for_auto_release())
    if len(due) < args.orders + args.warmup:
        raise SystemExit(f"{len(due)} orders due, {args.orders + args.warmup} needed: use --make")
    _release(due[: args.warmup])  # the first Transfer, ContentTypes, connections
    measured = due[args.warmup : args.warmup + args.orders]

    counts = {"queries": 0, "commits": 0}

    def count_query(execute, sql, params, many, context):
        counts["queries"] += 1
        return execute(sql, params, many, context)

    real_commit = connection._commit

    def count_commit():
        counts["commits"] += 1
        return real_commit()

    connection._commit = count_commit
    chunks = []
    try:
        with connection.execute_wrapper(count_query):
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for start in range(0, len(measured), chunk):
                part = measured[start : start + chunk]
                began = time.process_time()
                _release(part)
                chunks.append((time.process_time() - began) / len(part) * 1000)
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        connection._commit = real_commit
    if profiler:
        profiler.dump_stats(args.profile)
    chunks.sort()
    n = len(measured)
    return {
        "orders": n,
        "transfers_replayed": replay.replayed,
        "cpu_ms_per_order": round(cpu / n * 1000, 2),
        "cpu_ms_per_order_least_chunk": round(chunks[0], 2),
        "cpu_ms_per_order_median_chunk": round(chunks[len(chunks) // 2], 2),
        "wall_ms_per_order": round(wall / n * 1000, 2),
        "queries_per_order": counts["queries"] / n,
        "round_trips_per_order": (counts["queries"] + 2 * counts["commits"]) / n,
        "load_after": os.getloadavg(),
    }
