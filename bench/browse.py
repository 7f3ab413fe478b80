"""bench/browse: how fast a visitor can browse and search the catalogue. Prints figures; it is
never a timed test.

    .venv/bin/python -m bench.browse [--listings 100000] [--duration 10] [--reuse-db] [--json PATH]

1. Builds a PostgreSQL database bazaar_bench_<N> from the project's migrations and loads N
   approved listings into it (bench/browse_data.py, by COPY), then VACUUM ANALYZE. --reuse-db
   keeps a database that already holds N listings (after migrating it) and leaves it in place.
2. Serves it with gunicorn under the production settings (DJANGO_ENV=production, DEBUG off, a
   generated secret key and test-mode Stripe keys in the process's environment), plus
   bench/browse_settings.py's two additions: the X-Bench-Queries header and /bench/bare/.
3. Loads each endpoint in turn with wrk (bench/browse.lua) at 32 connections, after a warm-up
   pass over all of them: the API's first page, a deep page, three searches (one with a typo),
   the browse page and the home page, with the bare DRF view before the first and after each
   of them. Each catalogue endpoint is measured twice: as visitors send it ("cached": whatever
   response cache the product has may answer) and with a query parameter no request repeats
   ("uncached": the cost when the cache misses).
4. Prints req/s, p50/p95/p99, queries per request and each figure's share of the bare view's
   req/s, with the machine, its load and the targets of issue #16. The share is taken against
   the bare runs just before and just after the endpoint's: a machine whose speed drifts over
   the run (a database still warming up, another process starting) moves both alike.

Environment: BENCH_POSTGRES_URL (the server, default postgres://postgres@127.0.0.1:5432),
REDIS_URL (cache and broker, default redis://127.0.0.1:6379/0), wrk on PATH.
"""

import argparse
import base64
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from psycopg import sql

# Stopping a server and its workers (a process group) is the same for every bench.
from bench.webhooks_stack import cpu_counters, stolen_share, stolen_text, stop

BASE_DIR = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).with_name("browse.lua")
LOG_DIR = BASE_DIR / "var" / "bench"
# Requests slower than this count as wrk timeouts and drop out of its latency figures: far
# above any latency worth reporting, so a slow endpoint shows as slow rather than as errors.
WRK_TIMEOUT = "60s"
# A run that completes fewer requests than this (an endpoint slower than --duration allows at
# 32 connections) is run again, longer, up to LONGEST_RUN seconds: percentiles of a handful of
# requests say nothing, and requests still in flight when wrk stops are not counted at all.
MIN_REQUESTS_PER_CONNECTION = 4
LONGEST_RUN = 60
# The longest wait for the server to finish the requests a run left queued.
DRAIN_LIMIT = 900
# Pages followed from the first one to reach a deep page of the listings API.
DEEP_HOPS = 200
API_LISTINGS = "/api/v1/listings/"
BARE = "/bench/bare/"
SEARCHES = [("walnut lamp", ""), ("ceramic", ""), ("wallnut", " (typo)")]

# Issue #16's targets, judged on one run's figures.
TARGET_SHARE_OF_BARE = 0.5
TARGET_P95_MS = 100
TARGET_DEEP_SHARE_OF_FIRST = 0.9
TARGET_SEARCH_P95_MS = 50


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.browse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--listings", type=int, default=100_000, help="approved listings")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument(
        "--warmup", type=int, default=3, help="seconds per endpoint in the warm-up pass"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--worker-class",
        choices=("gthread", "sync"),
        default="gthread",
        help="gunicorn's worker type (default gthread: see bench/README.md)",
    )
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database name",
    )
    parser.add_argument("--db-name", help="database to build (default bazaar_bench_<N>)")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep using the database if it already holds N listings, and leave it in place",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.db_name = args.db_name or f"bazaar_bench_{args.listings}"
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (wrk gives each thread some)")
    return args


def say(message):
    print(message, flush=True)


# --- The database ------------------------------------------------------------------------------


def production_env(args, database_url):
    """The environment of every Django process the bench starts: production settings with
    values generated for this run (no secret is written anywhere)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "STRIPE_", "CELERY_"))
    }
    env.update(
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Never used by these pages; production refuses to start without them.
        STRIPE_SECRET_KEY="sk_test_" + secrets.token_hex(16),
        STRIPE_PUBLISHABLE_KEY="pk_test_" + secrets.token_hex(16),
        # A Fernet key for sellers' Amazon tokens (none here): production refuses to start without.
        AMAZON_CREDENTIALS_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=database_url,
        REDIS_URL=args.redis_url,
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env, *command):
    subprocess.run([sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, check=True)


def approved_listings(database_url):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM marketplace_listing WHERE status = 'approved'"
        ).fetchone()[0]


def prepare_database(args, env):
    """Migrate (and fill, unless reused) the bench database; returns how it was made."""
    server = args.postgres.rstrip("/")
    database_url = f"{server}/{args.db_name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (args.db_name,)
        ).fetchone()
        if exists and args.reuse_db:
            manage(env, "migrate", "--noinput", "-v", "0")
            if approved_listings(database_url) == args.listings:
                say(f"Reusing {args.db_name}: {args.listings:,} approved listings.")
                return "reused"
            say(f"{args.db_name} does not hold {args.listings:,} listings: building it again.")
        name = sql.Identifier(args.db_name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    started = time.monotonic()
    manage(env, "migrate", "--noinput", "-v", "0")
    migrated = time.monotonic()
    say(f"Migrated {args.db_name} in {migrated - started:.1f} s; loading listings...")
    manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        f"from bench.browse_data import populate; populate(listings={args.listings})",
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    say(
        f"Loaded {approved_listings(database_url):,} listings in "
        f"{time.monotonic() - migrated:.1f} s (COPY, then VACUUM ANALYZE)."
    )
    return "built"


def drop_database(args):
    server = args.postgres.rstrip("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        name = sql.Identifier(args.db_name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


# --- The server --------------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(base, path):
    """GET as wrk does: through the TLS proxy, as an anonymous visitor."""
    request = urllib.request.Request(base + path, headers={"X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


def start_server(args, env, port):
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / "browse-gunicorn.log"
    threads = args.worker_threads if args.worker_class == "gthread" else 1
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        f"--worker-class={args.worker_class}",
        f"--threads={threads}",
        "--keep-alive=5",
        "--log-level=warning",
    ]
    log = log_path.open("w")
    server = subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "bench.browse_settings"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.returncode}); see {log_path}")
        try:
            if http_get(base, "/health/")[0] == 200:
                return server, base
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    stop(server)
    raise SystemExit(f"/health/ did not answer 200 within 60 s; see {log_path}")


def deep_page(base, listings):
    """A deep page of the listings API: the cursor DEEP_HOPS `next` links from the first page,
    or, while the API numbers its pages, ?page=200 (or the last page of a small catalogue)."""
    status, body = http_get(base, API_LISTINGS)
    page = json.loads(body)
    if "cursor=" in (page.get("next") or ""):
        path = API_LISTINGS
        for _ in range(DEEP_HOPS):
            if not page.get("next"):
                break
            parts = urllib.parse.urlsplit(page["next"])
            path = f"{parts.path}?{parts.query}"
            page = json.loads(http_get(base, path)[1])
        return path, f"API deep page (cursor, {DEEP_HOPS} nexts)"
    page_size = len(page.get("results", [])) or 20
    number = max(1, min(DEEP_HOPS, listings // page_size))
    return f"{API_LISTINGS}?page={number}", f"API ?page={number} (page numbers)"


# --- Load --------------------------------------------------------------------------------------


def endpoints(deep_path, deep_label):
    """(kind, label, path) of the catalogue's endpoints, in the order they are measured."""
    searches = [
        ("search", f"API search {query!r}{note}", f"{API_LISTINGS}?{urlencode({'q': query})}")
        for query, note in SEARCHES
    ]
    return [
        ("first", "API page 1", API_LISTINGS),
        ("deep", deep_label, deep_path),
        *searches,
        ("browse", "HTML browse /listings/", "/listings/"),
        ("home", "HTML home /", "/"),
    ]


def run_wrk(args, base, path, *, seconds, bust):
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        f"--timeout={WRK_TIMEOUT}",
        f"--script={LUA_SCRIPT}",
        base + path,
    ]
    if bust:
        command += ["--", "bust", secrets.token_hex(4)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    raise SystemExit(f"wrk printed no result for {path}:\n{output}")


def figures(raw):
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "req_s": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "queries_per_request": (
            raw["queries"] / raw["queries_counted"] if raw["queries_counted"] else None
        ),
        "not_200": raw["not_200"],
        "socket_errors": errors - raw["errors"]["status"],
    }


def drain(base):
    """Wait until the server has finished what the last run left in its queues: wrk stops after
    its duration, but the requests it had sent are still served (minutes of them for a slow
    search at 1,000,000 listings), and would be counted against the next endpoint. A bare
    request answered quickly means the queues are empty."""
    deadline = time.monotonic() + DRAIN_LIMIT
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            http_get(base, BARE)
        except (TimeoutError, urllib.error.URLError) as error:
            if isinstance(getattr(error, "reason", error), TimeoutError):
                continue  # queued behind the backlog for the whole timeout: still busy
            raise
        if time.monotonic() - started < 0.25:
            return
    raise SystemExit(f"The server was still busy {DRAIN_LIMIT} s after a run ended.")


def measure(args, base, plan):
    """Rows of figures: the bare view, then each endpoint cached and uncached followed by the bare
    view again. Each endpoint's share of bare is against the mean of the bare runs either side of
    it. Returns (rows, the bare runs' req/s in order)."""
    say(f"Warm-up: {args.warmup} s per endpoint...")
    for _kind, _label, path in [("bare", "", BARE), *plan]:
        for bust in (False, True) if path != BARE else (False,):
            run_wrk(args, base, path, seconds=args.warmup, bust=bust)
            drain(base)
    bare_label = "bare DRF view"
    rows = [_measured(args, base, "bare", bare_label, BARE, bust=False)]
    bare_runs = [rows[0]["req_s"]]
    for kind, label, path in plan:
        endpoint_rows = [
            _measured(args, base, kind, label, path, bust=bust) for bust in (False, True)
        ]
        rows += endpoint_rows
        rows.append(_measured(args, base, "bare", bare_label, BARE, bust=False))
        bare_runs.append(rows[-1]["req_s"])
        around = (bare_runs[-2] + bare_runs[-1]) / 2
        for row in endpoint_rows:
            row["bare_req_s"] = around
            row["share_of_bare"] = row["req_s"] / around if around else None
    for row in rows:
        if row["kind"] == "bare":
            row["share_of_bare"] = None
    return rows, bare_runs


def _measured(args, base, kind, label, path, *, bust):
    variant = "" if kind == "bare" else ("uncached" if bust else "cached")
    say(f"  {' '.join(filter(None, (label, variant)))}: {args.duration} s...")
    seconds = args.duration
    result = figures(run_wrk(args, base, path, seconds=seconds, bust=bust))
    drain(base)
    enough = MIN_REQUESTS_PER_CONNECTION * args.connections
    if result["requests"] < enough and seconds < LONGEST_RUN:
        seconds = min(LONGEST_RUN, int(seconds * 1.2 * enough / max(result["requests"], 1)) + 1)
        say(f"    {result['requests']} requests only: again for {seconds} s...")
        result = figures(run_wrk(args, base, path, seconds=seconds, bust=bust))
        drain(base)
    result["seconds"] = seconds
    return {"kind": kind, "endpoint": label, "variant": variant, "path": path, **result}


# --- Report ------------------------------------------------------------------------------------


def machine(args, database_url, load_before):
    with psycopg.connect(database_url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cores": os.cpu_count(),
        "cpu": cpu,
        "postgres": postgres,
        "python": platform.python_version(),
        "listings": approved_listings(database_url),
        "server": (
            f"gunicorn {args.workers} x {args.worker_class}"
            + (f" ({args.worker_threads} threads)" if args.worker_class == "gthread" else "")
            + ", production settings"
        ),
        "load": f"wrk {args.connections} connections, {args.threads} threads, "
        f"{args.duration} s per run after a {args.warmup} s warm-up",
        "duration": args.duration,
        "load_average_before": load_before,
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
    }


def _ms(value):
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def table(rows, duration):
    header = (
        "endpoint",
        "variant",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "queries/req",
        "% bare",
        "requests",
    )
    lines = [
        (
            row["endpoint"],
            row["variant"],
            f"{row['req_s']:,.1f}",
            _ms(row["p50_ms"]),
            _ms(row["p95_ms"]),
            _ms(row["p99_ms"]),
            "-" if row["queries_per_request"] is None else f"{row['queries_per_request']:.1f}",
            "-" if row["share_of_bare"] is None else f"{100 * row['share_of_bare']:.1f}%",
            f"{row['requests']:,}"
            + (f" in {row['seconds']} s" if row["seconds"] != duration else ""),
        )
        for row in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    numeric = range(2, len(header))

    def fmt(cells):
        return " | ".join(
            str(cell).rjust(width) if index in numeric else str(cell).ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([fmt(header), "-|-".join("-" * width for width in widths), *map(fmt, lines)])


def targets(rows):
    """Issue #16's targets, per variant: (what, met?, the figures)."""
    verdicts = []
    for variant in ("cached", "uncached"):
        measured = [row for row in rows if row["variant"] == variant]
        first, deep, browse = (
            next(row for row in measured if row["kind"] == kind)
            for kind in ("first", "deep", "browse")
        )
        for name, row in (("API page 1", first), ("HTML browse", browse)):
            verdicts.append(
                (
                    f"{variant}: {name} >= {TARGET_SHARE_OF_BARE:.0%} of bare, "
                    f"p95 < {TARGET_P95_MS} ms",
                    row["share_of_bare"] >= TARGET_SHARE_OF_BARE and row["p95_ms"] < TARGET_P95_MS,
                    f"{row['share_of_bare']:.1%}, p95 {_ms(row['p95_ms'])} ms",
                )
            )
        verdicts.append(
            (
                f"{variant}: deep page within {1 - TARGET_DEEP_SHARE_OF_FIRST:.0%} of page 1",
                deep["req_s"] >= TARGET_DEEP_SHARE_OF_FIRST * first["req_s"],
                f"{deep['req_s'] / first['req_s']:.1%} of page 1's req/s",
            )
        )
        searches = [row for row in measured if row["kind"] == "search"]
        worst = max(row["p95_ms"] for row in searches)
        verdicts.append(
            (
                f"{variant}: search p95 < {TARGET_SEARCH_P95_MS} ms",
                worst < TARGET_SEARCH_P95_MS,
                f"worst p95 {_ms(worst)} ms",
            )
        )
    return verdicts


def report(info, rows, bare_runs):
    say("")
    say(f"bench/browse, {info['date']}, commit {info['commit']}")
    say(
        f"{info['listings']:,} approved listings; PostgreSQL {info['postgres']}; "
        f"{info['cores']} cores ({info['cpu']}); Python {info['python']}"
    )
    say(f"{info['server']}; {info['load']}")
    say(
        "Load average (1, 5, 15 min) before: "
        + ", ".join(f"{value:.2f}" for value in info["load_average_before"])
        + "; after: "
        + ", ".join(f"{value:.2f}" for value in info["load_average_after"])
        + f"; CPU stolen by the hypervisor during the runs: "
        f"{stolen_text(info['cpu_stolen_share'])}"
    )
    say("")
    say(table(rows, info["duration"]))
    say("")
    low, high = min(bare_runs), max(bare_runs)
    spread = f", {(high - low) / low:.0%} apart" if low else ""
    say(
        f"% bare: share of the mean req/s of the bare DRF view's runs just before and after the "
        f"endpoint's ({len(bare_runs)} bare runs from {low:,.1f} to {high:,.1f} req/s{spread})."
    )
    say(
        "cached: requests as visitors send them; uncached: each request adds a query "
        "parameter never used before, so no response cache can answer it."
    )
    failed = [row for row in rows if row["not_200"] or row["socket_errors"]]
    for row in failed:
        say(
            f"WARNING {row['endpoint']} {row['variant']}: {row['not_200']} responses not 200, "
            f"{row['socket_errors']} socket errors or timeouts"
        )
    say("")
    say("Targets of issue #16 (2 cores, one run):")
    if not all(row["req_s"] for row in rows):
        say("  not judged: an endpoint answered no request in its run")
        return
    for what, met, detail in targets(rows):
        say(f"  [{'met' if met else 'MISSED'}] {what}: {detail}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench/browse needs wrk: apt-get install wrk (Debian, Ubuntu).")
    load_before = [round(value, 2) for value in os.getloadavg()]
    database_url = f"{args.postgres.rstrip('/')}/{args.db_name}"
    env = production_env(args, database_url)
    made = prepare_database(args, env)
    keep = args.keep_db or args.reuse_db
    try:
        # The production pages load their CSS and JS through the static files manifest.
        manage(env, "collectstatic", "--noinput", "-v", "0")
        server, base = start_server(args, env, free_port())
        try:
            deep_path, deep_label = deep_page(base, args.listings)
            counters_before = cpu_counters()
            rows, bare_runs = measure(args, base, endpoints(deep_path, deep_label))
            stolen = stolen_share(counters_before, cpu_counters())
        finally:
            stop(server)
        info = machine(args, database_url, load_before)
    finally:
        if not keep:
            drop_database(args)
    info["database"] = f"{args.db_name} ({made}{', kept' if keep else ', dropped'})"
    info["cpu_stolen_share"] = stolen
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": rows}, indent=2) + "\n")
    report(info, rows, bare_runs)
    if args.json:
        say(f"\nWrote {args.json}")


if __name__ == "__main__":
    main()
