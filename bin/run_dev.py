"""Serve Bazaar locally: Django's development server plus a Celery worker with embedded beat.

With no REDIS_URL the worker uses kombu's filesystem transport (var/celery/), so nothing but
Python is needed. Ctrl-C, or a SIGTERM / SIGHUP to this process (`kill`, a closed terminal),
stops both: nothing is left holding the port.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Stop(Exception):
    """A signal asked us to stop."""


def _stop(signum, frame):
    raise Stop(signum)


def announce_when_up(host, port, text, *, timeout=120):
    """Print `text` once something answers on host:port, below the startup logs."""

    def wait():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, int(port)), timeout=1):
                    print(text, flush=True)
                    return
            except OSError:
                time.sleep(0.5)

    threading.Thread(target=wait, daemon=True).start()


def supervise(commands, *, cwd=ROOT, env=None, banner=""):
    """Start `commands` (argument lists), wait for the last one to end, then stop them all: on
    its own end, Ctrl-C, SIGTERM or SIGHUP. Returns the last one's exit code when it ended on
    its own, 0 when we were asked to stop."""
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    processes, asked_to_stop = [], False
    try:
        for command in commands:
            processes.append(subprocess.Popen(command, cwd=cwd, env=env))
        if banner:
            print(banner, flush=True)
        processes[-1].wait()
    except (KeyboardInterrupt, Stop):
        asked_to_stop = True
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if asked_to_stop:
        return 0
    return (processes[-1].returncode or 0) if processes else 1


def main():
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    worker = [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--beat",
        "--loglevel=INFO",
        "--concurrency=2",
    ]
    web = [sys.executable, "manage.py", "runserver", f"{host}:{port}"]
    logins = ROOT / "var" / "demo-logins.txt"
    ready = f"\n  Bazaar is up on http://{host}:{port}/  (Ctrl-C to stop)\n"
    if logins.exists():
        ready += "\n" + logins.read_text()
    if not os.environ.get("EMAIL_URL"):
        ready += "  Emails are saved in var/mail/ (EMAIL_URL is unset); the logs name each file.\n"
    announce_when_up(host, port, ready)
    return supervise(
        [worker, web],
        env=env,
        banner=f"\n  Bazaar is starting on http://{host}:{port}/  (Ctrl-C to stop)\n",
    )


if __name__ == "__main__":
    sys.exit(main())
