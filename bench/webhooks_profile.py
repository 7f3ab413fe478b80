"""bench/webhooks_profile: the CPU Bazaar spends per webhook, acknowledging and processing, apart
from the server, the posting client and the machine's other work. Prints figures; it is never a
timed test.

    .venv/bin/python -m bench.webhooks_profile [--events 400] [--worker-events 400]
        [--db-name bazaar_webhooks_bench] [--redis-url redis://127.0.0.1:6379/9]
        [--profile out.prof]

On bench/webhooks' database (run bench/webhooks once with the same --db-name first: its sellers,
endpoints and event template are reused), under the production settings with the sandbox
answering in-process (bench/webhooks_settings):

1. **Acknowledging**: --events signed account.updated events posted through Django's handler
   (every middleware, the view, the INSERT, the queueing on Redis), in chunks of 25; CPU ms per
   event (time.process_time: the least and the median chunk, since other processes on the cores
   inflate CPU time too) and the queries per event.
2. **Processing, in-process**: those events processed here, 25 at a time, as a worker's task
   would without Celery around it (`process_webhook` per event, or the drain where there is
   one); CPU ms per event (least / median chunk), of which the sandbox's (its timed client's
   wall time, in this process), and queries per event.
3. **Processing, in a Celery worker** (--worker-events, 0 to skip): that many events posted while
   no worker runs, then one Celery process (prefork, concurrency 1) started on them; the pool
   process's own CPU time (utime + stime from /proc) until every event is processed, and the
   worker's main process's (it takes the messages from Redis and hands them to the pool), each
   less what an idle worker spends starting, per event, and the sandbox's share.
"""

import argparse
import cProfile
import json
import os
import statistics
import time
from pathlib import Path

from bench import webhooks_stack as stack

CHUNK = 25


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks_profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--worker-events", type=int, default=400)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="bazaar_webhooks_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--setup", help="bench/webhooks' setup file (default: its own)")
    parser.add_argument("--profile", help="write a cProfile of the processing (CPU clock) here")
    return parser.parse_args(argv)


def _cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _chunks(values):
    values = sorted(values)
    return round(values[0], 2), round(statistics.median(values), 2)


def main(argv=None):
    args = parse_args(argv)
    database_url = f"{args.postgres.rstrip('/')}/{args.db_name}"
    env = stack.production_env(
        database_url=database_url, redis_url=args.redis_url, site_url="http://127.0.0.1:8000"
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from djstripe.models import WebhookEventTrigger

    from bench import webhooks, webhooks_sandbox
    from core import stripe_webhooks

    setup_path = args.setup or stack.LOG_DIR / f"webhooks-setup-{args.db_name}.json"
    setup = json.loads(Path(setup_path).read_text())
    client = Client(headers={"X-Forwarded-Proto": "https"}, SERVER_NAME="127.0.0.1")
    counts = {"queries": 0}

    def count_query(execute, sql, params, many, context):
        counts["queries"] += 1
        return execute(sql, params, many, context)

    def post(bodies):
        ids = []
        for body in bodies:
            response = client.post(
                setup["path"],
                body,
                content_type="application/json; charset=utf-8",
                headers={
                    "Stripe-Signature": webhooks.sign(body, setup["secret"], int(time.time())),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
            )
            assert response.status_code == 200, response.content
            ids.append(int(response.content))
        return ids

    drain = getattr(stripe_webhooks, "stored_webhooks_drain", None)

    def process(ids):
        if drain is not None:
            done = drain(limit=len(ids))["processed"]
            assert done == len(ids), done
        else:
            for trigger_id in ids:
                assert stripe_webhooks.process_webhook(trigger_id) == "processed"

    stack.flush_redis(args.redis_url)
    # Nothing of an earlier run left to process (a drain would take it).
    WebhookEventTrigger.objects.filter(valid=True, processed=False).update(processed=True)
    run = f"{int(time.time()):x}"
    bodies = webhooks.events(setup, args.events + CHUNK, f"{run}p")
    post(bodies[:CHUNK])  # warm-up: imports, connections
    process(
        list(
            WebhookEventTrigger.objects.filter(valid=True, processed=False).values_list(
                "pk", flat=True
            )
        )
    )
    ack, ids = [], []
    with connection.execute_wrapper(count_query):
        for start in range(CHUNK, len(bodies), CHUNK):
            began = time.process_time()
            ids += post(bodies[start : start + CHUNK])
            ack.append((time.process_time() - began) / CHUNK * 1000)
    ack_queries = counts["queries"] / args.events
    stack.flush_redis(args.redis_url)  # the queued tasks: processed here instead

    counts["queries"] = 0
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    spent, sandbox = [], []
    with connection.execute_wrapper(count_query):
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            stripe_before = webhooks_sandbox.read()[0]
            if profiler:
                profiler.enable()
            began = time.process_time()
            process(part)
            spent.append((time.process_time() - began) / len(part) * 1000)
            if profiler:
                profiler.disable()
            sandbox.append((webhooks_sandbox.read()[0] - stripe_before) / len(part) * 1000)
    if profiler:
        profiler.dump_stats(args.profile)
    figures = {
        "events": args.events,
        "ack_cpu_ms_least_median_chunk": _chunks(ack),
        "ack_queries_per_event": ack_queries,
        "processing_cpu_ms_least_median_chunk": _chunks(spent),
        "processing_sandbox_ms_median_chunk": round(statistics.median(sandbox), 2),
        "processing_queries_per_event": counts["queries"] / len(ids),
        "mode": "drain" if drain else "one task per event",
    }
    if args.worker_events:
        figures.update(worker_cpu(args, env, post, setup, run, database_url))
    figures["load_after"] = os.getloadavg()
    print(json.dumps(figures, indent=2))


def worker_cpu(args, env, post, setup, run, database_url):
    from bench import webhooks, webhooks_sandbox

    def pool_process(worker):
        return stack.children(worker.pid)[0]

    # What a pool process spends starting and idling, with nothing to do.
    stack.flush_redis(args.redis_url)
    worker = stack.start_worker(env, concurrency=1, log_name="webhooks-profile-celery.log")
    try:
        time.sleep(2)
        idle_pool = _cpu_seconds(pool_process(worker))
        idle_main = _cpu_seconds(worker.pid)
    finally:
        stack.stop(worker)
    prefix = f"{run}c"
    post(webhooks.events(setup, args.worker_events, prefix))
    stripe_before = webhooks_sandbox.read()
    worker = stack.start_worker(env, concurrency=1, log_name="webhooks-profile-celery.log")
    try:
        child = pool_process(worker)
        done = webhooks.wait_processed(database_url, prefix, args.worker_events, 600)
        pool, main = _cpu_seconds(child), _cpu_seconds(worker.pid)
    finally:
        stack.stop(worker)
    if done is None:
        raise SystemExit("the worker did not process the events; see its log")
    stripe_after = webhooks_sandbox.read()
    n = args.worker_events
    return {
        "worker_events": n,
        "worker_pool_cpu_ms_per_event": round((pool - idle_pool) / n * 1000, 2),
        "worker_main_cpu_ms_per_event": round((main - idle_main) / n * 1000, 2),
        "worker_idle_start_cpu_ms": [round(idle_pool * 1000), round(idle_main * 1000)],
        "worker_sandbox_ms_per_event": round((stripe_after[0] - stripe_before[0]) / n * 1000, 2),
        "worker_stripe_calls_per_event": (stripe_after[1] - stripe_before[1]) / n,
    }


if __name__ == "__main__":
    main()
