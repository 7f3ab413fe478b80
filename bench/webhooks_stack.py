"""What bench/webhooks and bench/release share: a PostgreSQL database made from the migrations,
the production environment of every process they start, gunicorn and a Celery worker on Redis,
and the peak memory of each.

Every Django process runs with DJANGO_SETTINGS_MODULE=bench.webhooks_settings: production
settings (DEBUG off, a secret key generated per run, test-mode Stripe keys) with the Stripe
sandbox answering in-process and timed. Logs go to var/bench/.
"""

import base64
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
LOG_DIR = BASE_DIR / "var" / "bench"
SETTINGS = "bench.webhooks_settings"
# The Redis counters of the sandbox's timed HTTP client (bench/webhooks_sandbox.py).
SECONDS = "bench:stripe:seconds"
CALLS = "bench:stripe:calls"


def say(message):
    print(message, flush=True)


def production_env(*, database_url, redis_url, site_url, **extra):
    """The environment of every Django process of the bench: production settings with values
    generated for this run (no secret is written anywhere)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "STRIPE_", "CELERY_", "REDIS_"))
    }
    env.update(
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE=SETTINGS,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Test-mode keys: the sandbox takes any (dj-stripe wants sk_test_ and 24 characters).
        STRIPE_SECRET_KEY="sk_test_" + secrets.token_hex(16),
        STRIPE_PUBLISHABLE_KEY="pk_test_" + secrets.token_hex(16),
        # A Fernet key for sellers' Amazon tokens (none here): production refuses to start without.
        AMAZON_CREDENTIALS_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SITE_URL=site_url,
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def manage(env, *command, capture=False):
    done = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=BASE_DIR,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return done.stdout


def create_database(postgres, name):
    """An empty database `name` (dropped first if it exists)."""
    server = postgres.rstrip("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    return f"{server}/{name}"


def database_exists(postgres, name):
    with psycopg.connect(f"{postgres.rstrip('/')}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def flush_redis(redis_url):
    """The bench's Redis database emptied: no queued task or counter of an earlier run."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def stripe_counters(redis_url):
    """(seconds, calls) the sandbox has spent answering Stripe requests so far, in every process
    of the bench (bench/webhooks_sandbox.py adds to them)."""
    import redis

    seconds, calls = redis.Redis.from_url(redis_url).mget(SECONDS, CALLS)
    return float(seconds or 0), int(calls or 0)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(command, env, log_name):
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / log_name
    process = subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = log_path
    return process


def start_gunicorn(env, port, *, workers, threads):
    server = _spawn(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            "--worker-class=gthread",
            f"--threads={threads}",
            "--keep-alive=5",
            "--log-level=warning",
        ],
        env,
        "webhooks-gunicorn.log",
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.returncode}); see {server.log_path}")
        try:
            request = urllib.request.Request(
                base + "/health/", headers={"X-Forwarded-Proto": "https"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                if response.status == 200:
                    return server, base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    stop(server)
    raise SystemExit(f"/health/ did not answer 200 within 120 s; see {server.log_path}")


def start_worker(env, *, concurrency, log_name="webhooks-celery.log"):
    """A Celery worker on the bench's Redis (prefork, `concurrency` processes)."""
    worker = _spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--concurrency={concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env,
        log_name,
    )
    # Ready once its pool's processes exist (the worker says nothing at WARNING).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the Celery worker exited; see {worker.log_path}")
        if len(children(worker.pid)) >= concurrency:
            time.sleep(1)
            return worker
        time.sleep(0.3)
    stop(worker)
    raise SystemExit(f"the Celery worker did not start within 60 s; see {worker.log_path}")


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- Memory -------------------------------------------------------------------------------------


def children(pid):
    """The ids of `pid`'s child processes."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def peak_rss_mb(pid):
    """The process's peak resident memory (VmHWM), in MB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_peak_rss_mb(process):
    """The largest peak RSS among the process's own and its children's (gunicorn's workers,
    Celery's pool): each serves requests or runs tasks on its own, so each is held to the
    target. Read before the processes stop."""
    return max([peak_rss_mb(process.pid), *(peak_rss_mb(c) for c in children(process.pid))])


# --- The machine --------------------------------------------------------------------------------


def cpu_counters(stat=Path("/proc/stat")):
    """The machine's CPU time counters so far (the first line of /proc/stat: user, nice, system,
    idle, iowait, irq, softirq, steal, ...), or None where the system keeps none."""
    try:
        first = stat.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return [int(value) for value in first[1:]] if first and first[0] == "cpu" else None


def stolen_share(before, after):
    """Of the CPU time that passed between two cpu_counters() readings, the share the hypervisor
    gave to other machines (steal), or None when it cannot be told. A virtual machine's benches
    slow down by that much and more, whatever else its own load average says."""
    if not before or not after or len(before) < 8 or len(after) < 8:
        return None
    # Guest time is counted in user and nice already: the first eight counters are the whole.
    passed = [later - earlier for earlier, later in zip(before[:8], after[:8], strict=True)]
    total = sum(passed)
    return passed[7] / total if total > 0 else None


def stolen_text(share):
    return "not known" if share is None else f"{share:.1%}"


def machine():
    load = os.getloadavg()
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
