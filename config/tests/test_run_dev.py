"""`make run`'s supervisor (bin/run_dev.py) stops the server and the worker however it is told
to stop: a `kill` (SIGTERM) or a closed terminal (SIGHUP) must not leave them on the port."""

import os
import signal
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
