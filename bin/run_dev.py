"""Serve Bazaar locally: Django's development server plus a Celery worker with embedded beat.

With no REDIS_URL the worker uses kombu's filesystem transport (var/celery/), so nothing but
Python is needed. Ctrl-C stops both.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main():
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--beat",
            "--loglevel=INFO",
            "--concurrency=2",
        ],
        cwd=ROOT,
        env=env,
    )
    print(f"\n  Bazaar is starting on http://{host}:{port}/  (Ctrl-C to stop)\n", flush=True)
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"{host}:{port}"], cwd=ROOT, env=env
    )
    try:
        web.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in (web, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (web, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return web.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
