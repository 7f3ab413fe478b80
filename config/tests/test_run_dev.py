"""`make run`'s supervisor (bin/run_dev.py) stops the server and the worker however it is told
to stop: a `kill` (SIGTERM) or a closed terminal (SIGHUP) must not leave them on the port. It
prints the demo logins last, once the server answers and the worker is ready, and emails show as
one line each, not as their HTML."""

import io
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUN_DEV = Path(__file__).resolve().parents[2] / "bin" / "run_dev.py"
SUPERVISE_TWO_SLEEPS = (
    "import runpy, sys; "
    f"run_dev = runpy.run_path({str(RUN_DEV)!r}); "
    "sys.exit(run_dev['supervise']([['sleep', '300'], ['sleep', '301']]))"
)


def children_of(pid):
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def alive(pid):
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return False
    return "State:\tZ" not in status.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_supervisor_stops_its_children(sig):
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISE_TWO_SLEEPS])
    deadline = time.monotonic() + 20
    while len(children_of(supervisor.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = children_of(supervisor.pid)
    assert len(children) == 2

    os.kill(supervisor.pid, sig)

    assert supervisor.wait(timeout=20) == 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in children)


# A server that opens its port a moment after starting, and a worker that says it is ready
# later still, then works through a backlog (the emails the seed queued) line by line.
FAKE_SERVER = """
import socket, sys, time
print("server: starting", flush=True)
time.sleep(0.5)
listener = socket.socket()
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen()
print("server: listening", flush=True)
while True:
    listener.accept()[0].close()
"""
FAKE_WORKER = """
import time
print("worker: banner", flush=True)
time.sleep(2)
print("2026-12-06 15:46:40,372 INFO celery.apps.worker [-] celery@test-host ready.", flush=True)
for n in range(4):
    time.sleep(0.4)
    print(f"worker: email {n} saved to var/mail/{n}.eml", flush=True)
time.sleep(300)
"""
SUPERVISE_FAKES = """
import runpy, sys
run_dev = runpy.run_path({run_dev!r})
port = sys.argv[1]
sys.exit(run_dev["supervise"](
    [[sys.executable, "-c", {worker!r}], [sys.executable, "-c", {server!r}, port]],
    ready_when=[
        run_dev["port_open"]("127.0.0.1", port),
        run_dev["output_matches"](run_dev["WORKER_READY"]),
    ],
    ready_text="LOGINS: sam@bazaar.local",
    settle=1.0,
))
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_logins_come_last_once_the_server_answers_and_the_worker_is_ready():
    script = SUPERVISE_FAKES.format(run_dev=str(RUN_DEV), worker=FAKE_WORKER, server=FAKE_SERVER)
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script, str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = supervisor.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("LOGINS"):
                break
        time.sleep(1.5)  # anything printed after the logins would be here by now
    finally:
        os.kill(supervisor.pid, signal.SIGTERM)
        rest, _ = supervisor.communicate(timeout=20)
    lines += [line for line in rest.splitlines() if line.strip()]

    assert "LOGINS: sam@bazaar.local" in lines, lines
    logins = lines.index("LOGINS: sam@bazaar.local")
    assert logins == len(lines) - 1, lines  # nothing after them
    # After the port, the worker's ready line and the backlog the worker printed next.
    for earlier in ("server: listening", "worker: email 3 saved to var/mail/3.eml"):
        assert lines.index(earlier) < logins
    assert any("celery@test-host ready." in line for line in lines[:logins])


def test_the_worker_ready_pattern_matches_celerys_line():
    run_dev = runpy.run_path(str(RUN_DEV))
    matches = run_dev["output_matches"](run_dev["WORKER_READY"])

    class Seen:
        def __init__(self, *lines):
            self._lines = lines

        def lines(self):
            return self._lines

    assert matches(Seen("[2026-12-06 15:46:40,372: INFO/MainProcess] celery@vm ready."))
    assert matches(Seen("2026-12-06 15:46:40 INFO celery.apps.worker [-] celery@vm.local ready."))
    assert not matches(Seen("celery@vm v5.4.0 (opalescent)", "beat: Starting..."))


def test_an_email_sent_under_make_run_is_one_line_on_the_console_not_its_html(
    tmp_path, monkeypatch
):
    """With run_dev's environment (a shell with no EMAIL_URL, as `make run` is started), an
    email is saved to a file and the console shows one line naming it: no HTML body among the
    demo's output."""
    for name in list(os.environ):
        if name.startswith(("DJANGO_", "EMAIL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EMAIL_FILE_PATH", str(tmp_path))
    run_dev = runpy.run_path(str(RUN_DEV))
    env = run_dev["development_env"]()
    send = (
        "from django.core.mail import EmailMultiAlternatives as E; "
        "m = E('Your order #7 was paid', 'Plain words', to=['sam@example.com']); "
        "m.attach_alternative('<html><body><p>Paid</p></body></html>', 'text/html'); m.send()"
    )
    console = io.StringIO()

    code = run_dev["supervise"](
        [[sys.executable, "manage.py", "shell", "-c", send]], env=env, stream=console
    )

    assert code == 0, console.getvalue()
    [saved] = tmp_path.glob("*.eml")
    assert b"<p>Paid</p>" in saved.read_bytes()
    shown = console.getvalue()
    assert f"'Your order #7 was paid' saved to {saved}" in shown
    assert "<html" not in shown and "<p>" not in shown and "Plain words" not in shown
