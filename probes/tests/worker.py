"""A real Celery worker process on Redis, sharing the test database; and a small loopback HTTP target."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def require_worker_services(connection) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("A real worker shares the test database: set DATABASE_URL to PostgreSQL (CI does).")
    if not os.environ.get("REDIS_URL"):
        pytest.skip("A real worker needs Redis: set REDIS_URL (CI does).")


def database_url(connection) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    def __init__(self, connection, queue: str, concurrency: int = 2):
        self.queue = queue
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(connection),
            "CTRLREADY_QUEUE": queue,
            "PYTHONUNBUFFERED": "1",
            "CONN_MAX_AGE": "0",
        }
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None
        self.log = ROOT / "var" / f"worker-{queue}.log"

    def start(self) -> "Worker":
        self.log.parent.mkdir(exist_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "ctrlready", "worker", "--queues", self.queue,
            "--concurrency", str(self.concurrency), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--hostname", f"{uuid.uuid4().hex}@test",
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b" ready." in self.log.read_bytes():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"The worker exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("The worker did not become ready in 30 s")

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.read_bytes()  # keep for reading after the test
        # the log is left under var/ for a failed test to be read


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(self.delay)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def http_target(delay: float = 0.0):
    handler = type("Handler", (_Handler,), {"delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_until(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
