"""bench/webhooks: how fast Bazaar takes Stripe's webhooks in and processes them. Prints
figures; it is never a timed test.

    .venv/bin/python -m bench.webhooks [--events 5000] [--clients 32] [--json PATH]

1. Builds a PostgreSQL database (--db-name) from the migrations; registers Bazaar's webhook
   endpoints with the Stripe sandbox and makes --sellers sellers with Express accounts through
   the product's services (bench/webhooks_data.py).
2. Serves it with gunicorn (gthread) under the production settings, and starts a Celery worker
   on Redis (bench/webhooks_stack.py; --redis-url, its database is emptied first).
3. Posts --events signed `account.updated` events (the sandbox's own body, each with its own
   event id and one of the sellers' accounts, signed with the endpoint's secret as Stripe signs:
   HMAC-SHA256 of "<timestamp>.<body>") from --clients concurrent keep-alive connections, as fast
   as the server answers, after a warm-up of --warmup events.
4. Prints events/s acknowledged (200s over the time from the first post to the last answer),
   events/s fully processed (stored events marked processed by the worker, polled in the
   database, over the time from the first post to the last one processed), the Stripe calls
   the processing made per event and the sandbox's own time per event (its HTTP client is timed:
   bench/webhooks_sandbox.py), the worker pool's time per event apart from the sandbox's (an
   upper bound: concurrency x processing time, less the sandbox's), the drain time (from the
   last answer to the last processed), the peak RSS of a gunicorn worker and of a Celery pool
   process, and the machine's load, against issue #16's targets; and the CPU time each part
   of the run spent per event (this process's posting client, gunicorn, the Celery worker, the
   PostgreSQL backends of the bench's database), over the acknowledging and over the whole run,
   with the share of the machine's cores they took together (well under 100%: the rest went
   to other work on the machine, or nobody needed it), and how long gunicorn's and Celery's
   threads waited, ready to run, for a core (the kernel's schedstat) per event.

Environment: PostgreSQL at --postgres (default postgres://postgres@127.0.0.1:5432), Redis at
--redis-url (default redis://127.0.0.1:6379/9).
"""

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import queue
import threading
import time
from pathlib import Path

import psycopg

from bench import webhooks_stack as stack

TARGET_ACKNOWLEDGED = 500  # events/s, issue #16
TARGET_PROCESSED = 100
TARGET_WEB_RSS_MB = 150
TARGET_WORKER_RSS_MB = 200


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=5000, help="events posted (measured)")
    parser.add_argument("--warmup", type=int, default=200, help="events posted first, unmeasured")
    parser.add_argument(
        "--sellers", type=int, default=20, help="connected accounts the events name"
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery pool processes")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="bazaar_webhooks_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep the database and its sellers from an earlier run (migrated again)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds to wait for draining")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


def sign(body, secret, timestamp):
    """Stripe's Stripe-Signature header for `body` (https://stripe.com/docs/webhooks#verify)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def events(setup, count, prefix):
    """`count` event bodies from the template: each its own id, the accounts taken in turn."""
    template, accounts = setup["template"], setup["accounts"]
    bodies = []
    for number in range(count):
        event = json.loads(json.dumps(template))
        event["id"] = f"evt_{prefix}{number:08d}"
        account = accounts[number % len(accounts)]
        event["account"] = account
        event["data"]["object"]["id"] = account
        bodies.append(json.dumps(event, separators=(",", ":")))
    return bodies


def post_all(base, path, secret, bodies, clients):
    """Post every body from `clients` keep-alive connections; returns (seconds, statuses,
    latencies in ms). Signed just before sending, as Stripe does (the intake refuses a
    signature older than 5 minutes)."""
    host, port = base.removeprefix("http://").split(":")
    work = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    statuses, latencies, lock = {}, [], threading.Lock()

    def client():
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        mine_statuses, mine_latencies = {}, []
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(body, secret, int(time.time())),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "X-Forwarded-Proto": "https",
            }
            started = time.perf_counter()
            for attempt in range(3):
                try:
                    conn.request("POST", path, body=body.encode(), headers=headers)
                    response = conn.getresponse()
                    response.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
                    if attempt == 2:
                        raise
            mine_latencies.append((time.perf_counter() - started) * 1000)
            mine_statuses[response.status] = mine_statuses.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine_latencies)
            for status, count in mine_statuses.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses, sorted(latencies), started


def processed_count(database_url, prefix):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM djstripe_webhookeventtrigger "
            "WHERE valid AND processed AND body LIKE %s",
            (f'%"id":"evt_{prefix}%',),
        ).fetchone()[0]


def wait_processed(database_url, prefix, count, timeout):
    """Poll until `count` events of the run are processed; returns the time.perf_counter()
    at which the last was seen (within 0.2 s), or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if processed_count(database_url, prefix) >= count:
            return time.perf_counter()
        time.sleep(0.2)
    return None


def stripe_figures(before, after, *, events, processing_s, concurrency):
    """Per event: the Stripe calls processing made, the sandbox's own time answering them, and
    the worker pool's time outside the sandbox, from the sandbox's (seconds, calls) counters
    read before and after the run. The last is an upper bound: every pool process counted busy
    from the first post to the last event processed (a process idles while nothing is queued
    yet), less the sandbox's time; it includes the cores the server and the client take."""
    seconds, calls = after[0] - before[0], after[1] - before[1]
    return {
        "stripe_calls_per_event": calls / events,
        "sandbox_ms_per_event": seconds / events * 1000,
        "worker_ms_per_event_outside_sandbox": (
            (processing_s * concurrency - seconds) / events * 1000 if processing_s else None
        ),
    }


def _cpu_seconds(pid):
    """A process's CPU time so far (user + system), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _waited_seconds(pid):
    """How long the process's threads have waited for a core while ready to run (the kernel's
    schedstat), 0 if it is gone: time lost to whatever else the cores were running."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, IndexError, ValueError):  # a thread that ended
            total += int(stat.read_text().split()[1])
    return total / 1e9


def cpu_snapshot(server, worker, database_url):
    """CPU seconds spent so far by each part of the run: this process (the posting client),
    gunicorn (its master and workers), the Celery worker (its main and pool processes), and the
    PostgreSQL backends connected to the bench's database, each apart."""
    database = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url) as conn:
        backends = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        ]

    def tree(process, measure=_cpu_seconds):
        return sum(measure(p) for p in [process.pid, *stack.children(process.pid)])

    return {
        "client": time.process_time(),
        "web": tree(server),
        "celery": tree(worker),
        "postgres": {pid: _cpu_seconds(pid) for pid in backends},
        "web_waited": tree(server, _waited_seconds),
        "celery_waited": tree(worker, _waited_seconds),
    }


def _spent(start, end):
    """CPU seconds between two snapshots; a backend that connected in between counts from its
    start (one that closed in between is missed: a floor)."""
    return {
        role: (
            sum(cpu - start[role].get(pid, 0.0) for pid, cpu in end[role].items())
            if isinstance(end[role], dict)
            else end[role] - start[role]
        )
        for role in end
    }


def cpu_figures(start, acked, done, *, events, acked_s, processing_s):
    """CPU ms per event of each part, over the acknowledging (first post to last answer) and
    over the whole run (to the last event processed), and the share of the machine's cores the
    parts took together over each."""
    cores = os.cpu_count()
    figures = {}
    for phase, end, seconds in (("ack", acked, acked_s), ("run", done, processing_s)):
        if end is None or not seconds:
            continue
        spent = _spent(start, end)
        waited = {role: spent.pop(f"{role}_waited", 0.0) for role in ("web", "celery")}
        figures[f"cpu_ms_per_event_{phase}"] = {
            role: round(value / events * 1000, 2) for role, value in spent.items()
        }
        figures[f"cpu_share_{phase}"] = round(sum(spent.values()) / (seconds * cores), 2)
        figures[f"waited_for_a_core_ms_per_event_{phase}"] = {
            role: round(value / events * 1000, 2) for role, value in waited.items()
        }
    return figures


def percentile(values, share):
    return values[min(len(values) - 1, int(len(values) * share))] if values else 0.0


def main(argv=None):
    args = parse_args(argv)
    stack.say(f"bench/webhooks, {stack.machine()['uptime']}")
    port = stack.free_port()
    site = f"http://127.0.0.1:{port}"
    setup_path = stack.LOG_DIR / f"webhooks-setup-{args.db_name}.json"
    reuse = (
        args.reuse_db and setup_path.exists() and stack.database_exists(args.postgres, args.db_name)
    )
    if reuse:
        database_url = f"{args.postgres.rstrip('/')}/{args.db_name}"
    else:
        database_url = stack.create_database(args.postgres, args.db_name)
    env = stack.production_env(database_url=database_url, redis_url=args.redis_url, site_url=site)
    stack.flush_redis(args.redis_url)
    stack.manage(env, "migrate", "--noinput", "-v", "0")
    stack.LOG_DIR.mkdir(parents=True, exist_ok=True)
    if not reuse:
        stack.manage(
            env,
            "shell",
            "-c",
            "from bench.webhooks_data import prepare; "
            f"prepare(base_url={site!r}, sellers={args.sellers}, out={str(setup_path)!r})",
        )
    setup = json.loads(Path(setup_path).read_text())
    server, base = stack.start_gunicorn(env, port, workers=args.workers, threads=args.threads)
    worker = None
    try:
        worker = stack.start_worker(env, concurrency=args.concurrency)
        run = f"{int(time.time()):x}"  # event ids of this run: a reused database has others
        warm = events(setup, args.warmup, f"{run}w")
        post_all(base, setup["path"], setup["secret"], warm, args.clients)
        if wait_processed(database_url, f"{run}w", args.warmup, args.timeout) is None:
            raise SystemExit(f"the warm-up was not processed; see {worker.log_path}")
        bodies = events(setup, args.events, f"{run}b")
        load_before = stack.machine()["load"]
        counters_before = stack.cpu_counters()
        stripe_before = stack.stripe_counters(args.redis_url)
        cpu_start = cpu_snapshot(server, worker, database_url)
        seconds, statuses, latencies, started = post_all(
            base, setup["path"], setup["secret"], bodies, args.clients
        )
        cpu_acked = cpu_snapshot(server, worker, database_url)
        acked_at = started + seconds
        done_at = wait_processed(database_url, f"{run}b", args.events, args.timeout)
        cpu_done = cpu_snapshot(server, worker, database_url) if done_at else None
        stolen = stack.stolen_share(counters_before, stack.cpu_counters())
        stripe_after = stack.stripe_counters(args.redis_url)
        web_rss = stack.worker_peak_rss_mb(server)
        worker_rss = stack.worker_peak_rss_mb(worker)
    finally:
        stack.stop(server)
        if worker is not None:
            stack.stop(worker)
    acked = statuses.get(200, 0)
    processing_s = done_at - started if done_at else None
    figures = {
        "events": args.events,
        "clients": args.clients,
        "gunicorn": f"{args.workers} workers x {args.threads} threads",
        "celery_concurrency": args.concurrency,
        "statuses": statuses,
        "acknowledged_per_s": acked / seconds,
        "ack_p50_ms": percentile(latencies, 0.5),
        "ack_p95_ms": percentile(latencies, 0.95),
        "ack_p99_ms": percentile(latencies, 0.99),
        "processed_per_s": args.events / processing_s if done_at else None,
        **stripe_figures(
            stripe_before,
            stripe_after,
            events=args.events,
            processing_s=processing_s,
            concurrency=args.concurrency,
        ),
        "drain_s": done_at - acked_at if done_at else None,
        **cpu_figures(
            cpu_start,
            cpu_acked,
            cpu_done,
            events=args.events,
            acked_s=seconds,
            processing_s=processing_s,
        ),
        "web_peak_rss_mb": web_rss,
        "worker_peak_rss_mb": worker_rss,
        "load_before": load_before,
        "cpu_stolen_share": stolen,
        **stack.machine(),
    }
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def _judge(value, target, higher_is_better=True):
    if value is None:
        return "n/a"
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "NOT met"


def report(f):
    processed = f["processed_per_s"]
    rows = [
        (
            "acknowledged",
            f"{f['acknowledged_per_s']:.0f} events/s",
            f">= {TARGET_ACKNOWLEDGED}",
            _judge(f["acknowledged_per_s"], TARGET_ACKNOWLEDGED),
        ),
        (
            "  latency",
            f"p50 {f['ack_p50_ms']:.1f} / p95 {f['ack_p95_ms']:.1f} / p99 {f['ack_p99_ms']:.1f} ms",
            "",
            "",
        ),
        (
            "processed",
            f"{processed:.0f} events/s" if processed else "timed out",
            f">= {TARGET_PROCESSED}",
            _judge(processed, TARGET_PROCESSED),
        ),
        (
            "  Stripe calls",
            f"{f['stripe_calls_per_event']:.2f} per event, "
            f"sandbox {f['sandbox_ms_per_event']:.1f} ms per event",
            "",
            "",
        ),
        (
            "  worker, sandbox apart",
            f"{f['worker_ms_per_event_outside_sandbox']:.1f} ms per event (at most)"
            if f["worker_ms_per_event_outside_sandbox"] is not None
            else "timed out",
            "",
            "",
        ),
        (
            "drain time",
            f"{f['drain_s']:.1f} s" if f["drain_s"] is not None else "timed out",
            "",
            "",
        ),
        (
            "web worker peak RSS",
            f"{f['web_peak_rss_mb']:.0f} MB",
            f"< {TARGET_WEB_RSS_MB}",
            _judge(f["web_peak_rss_mb"], TARGET_WEB_RSS_MB, higher_is_better=False),
        ),
        (
            "Celery worker peak RSS",
            f"{f['worker_peak_rss_mb']:.0f} MB",
            f"< {TARGET_WORKER_RSS_MB}",
            _judge(f["worker_peak_rss_mb"], TARGET_WORKER_RSS_MB, higher_is_better=False),
        ),
    ]
    for phase, label in (("ack", "CPU per event, acknowledging"), ("run", "CPU per event, run")):
        if f"cpu_ms_per_event_{phase}" in f:
            parts = f[f"cpu_ms_per_event_{phase}"]
            rows.append(
                (
                    label,
                    ", ".join(f"{role} {ms:.2f}" for role, ms in parts.items())
                    + f" ms ({f[f'cpu_share_{phase}']:.0%} of the cores)",
                    "",
                    "",
                )
            )
            waited = f.get(f"waited_for_a_core_ms_per_event_{phase}", {})
            rows.append(
                (
                    "  waited for a core",
                    ", ".join(f"{role} {ms:.2f}" for role, ms in waited.items()) + " ms",
                    "",
                    "",
                )
            )
    stack.say("")
    stack.say(
        f"{f['events']} account.updated events, {f['clients']} connections, gunicorn "
        f"{f['gunicorn']}, Celery {f['celery_concurrency']} processes; statuses {f['statuses']}"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, target, verdict in rows:
        stack.say(f"  {name:<{width}}  {value:<34} {target:<8} {verdict}")
    stack.say(
        f"machine: {f['cpus']} CPUs, load before {f['load_before']}; {f['uptime']}; CPU stolen "
        f"by the hypervisor during the run: {stack.stolen_text(f['cpu_stolen_share'])}"
    )


if __name__ == "__main__":
    main()
