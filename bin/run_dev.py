"""Serve Bazaar locally: Django's development server plus a Celery worker with embedded beat.

With no REDIS_URL the worker uses kombu's filesystem transport (var/celery/), so nothing but
Python is needed. Ctrl-C, or a SIGTERM / SIGHUP to this process (`kill`, a closed terminal),
stops both: nothing is left holding the port.

The demo logins are printed last: once the server answers on its port, the worker has said it
is ready, and their startup output (the emails the seed queued, one line each) has settled, so
they are not scrolled away by what follows.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Celery's own line once the worker consumes (celery.apps.worker: "celery@<host> ready.").
WORKER_READY = r"celery@\S+ ready\."


class Stop(Exception):
    """A signal asked us to stop."""


def _stop(signum, frame):
    raise Stop(signum)


def port_open(host, port):
    """A readiness check: something answers on host:port."""

    def check(output):
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            return False

    return check


def output_matches(pattern):
    """A readiness check: a child printed a line matching `pattern` (a regular expression)."""
    compiled = re.compile(pattern)

    def check(output):
        return any(compiled.search(line) for line in output.lines())

    return check


class Output:
    """The children's lines, copied to our stdout as they come, and when the last one came."""

    def __init__(self, stream):
        self.stream = stream
        self._lines = []
        self._lock = threading.Lock()
        self.last_at = time.monotonic()

    def copy(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode(errors="replace")
            self.write(line)
        pipe.close()

    def write(self, text):
        with self._lock:
            self._lines.append(text)
            self.last_at = time.monotonic()
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.stream.flush()

    def lines(self):
        with self._lock:
            return list(self._lines)


def _announce(output, *, ready_when, text, settle, timeout):
    """Print `text` once every check holds and the children have been quiet for `settle`
    seconds (waiting at most `timeout` in all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(check(output) for check in ready_when):
            break
        time.sleep(0.2)
    while time.monotonic() < deadline and time.monotonic() - output.last_at < settle:
        time.sleep(0.1)
    output.write(text)


def supervise(
    commands,
    *,
    cwd=ROOT,
    env=None,
    banner="",
    ready_when=(),
    ready_text="",
    settle=2.0,
    ready_timeout=120,
    stream=None,
):
    """Start `commands` (argument lists), wait for the last one to end, then stop them all: on
    its own end, Ctrl-C, SIGTERM or SIGHUP. Returns the last one's exit code when it ended on
    its own, 0 when we were asked to stop.

    Their output is copied to `stream` (stdout) line by line. With `ready_text`, it is printed
    once every check in `ready_when` (port_open, output_matches) holds and the output has been
    quiet for `settle` seconds, so it is the last thing on the screen."""
    output = Output(stream or sys.stdout)
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    processes, copiers, asked_to_stop = [], [], False
    try:
        if banner:
            output.write(banner)
        for command in commands:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            processes.append(process)
            copier = threading.Thread(target=output.copy, args=(process.stdout,), daemon=True)
            copier.start()
            copiers.append(copier)
        if ready_text:
            threading.Thread(
                target=_announce,
                args=(output,),
                kwargs={
                    "ready_when": ready_when,
                    "text": ready_text,
                    "settle": settle,
                    "timeout": ready_timeout,
                },
                daemon=True,
            ).start()
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
        for copier in copiers:
            copier.join(timeout=2)  # their last lines (a worker's shutdown) still show
    if asked_to_stop:
        return 0
    return (processes[-1].returncode or 0) if processes else 1


def development_env():
    """The children's environment: ours, unbuffered so their lines show as they come."""
    return os.environ | {"PYTHONUNBUFFERED": "1"}


def main():
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
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
    return supervise(
        [worker, web],
        env=development_env(),
        banner=f"\n  Bazaar is starting on http://{host}:{port}/  (Ctrl-C to stop)\n",
        ready_when=[port_open(host, port), output_matches(WORKER_READY)],
        ready_text=ready,
    )


if __name__ == "__main__":
    sys.exit(main())
