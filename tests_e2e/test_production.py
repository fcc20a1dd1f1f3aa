"""The production shape, run from docker-compose.yml's own commands (gunicorn web, Celery worker and beat)
against a PostgreSQL cluster and a Redis of this module's own; then R3: PostgreSQL restarted under them.

One stack serves the module (it takes some seconds to start); the restart comes last.
"""

import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests_e2e.stack import Stack, missing_tools, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.skipif(bool(missing_tools()), reason=missing_tools() or "")]

CHECKLIST = """# Shop go-live

## Ops

- [ ] Rollback plan ready {#rollback}
- [ ] Runbook reviewed {#runbook}
- [ ] Health answers {#health}
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
    - '[BODY].status == "ok"'
  -->
- [ ] Slow page answers {#slow}
  <!-- probe
  type: http
  request: GET /slow
  timeout: 20
  expect:
    - "[STATUS] == 200"
  -->
"""


class _Target(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(4)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def target():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack():
    with tempfile.TemporaryDirectory(prefix="ctrlready-stack-") as folder:
        stack = Stack(Path(folder))
        try:
            yield stack.up()
        except Exception:
            for service in stack.processes:
                print(f"--- {service} ---\n{stack.log(service)[-3000:]}")
            raise
        finally:
            stack.down()


@pytest.fixture(scope="module")
def shop(stack, target):
    """An admin's API client and a deployment of the shop checklist against the loopback target."""
    api = stack.api(stack.admin_token)
    assert api.post("checklists/import", json={"name": "Shop go-live", "markdown": CHECKLIST}).status_code == 201
    environment = api.post("environments", json={"service": "shop", "name": "production", "base_url": target})
    assert environment.status_code == 201, environment.text
    deployment = api.post(
        "deployments", json={"environment": environment.json()["id"], "checklist": "shop-go-live", "release": "v1"}
    )
    assert deployment.status_code == 201, deployment.text
    return api, deployment.json()["id"]


def item(api, deployment_id: int, key: str) -> dict:
    return next(i for i in api.get(f"deployments/{deployment_id}").json()["items"] if i["key"] == key)


def unfinished_runs(stack) -> list:
    return stack.sql("SELECT id, status FROM probes_proberun WHERE status IN ('queued', 'running')")


def test_web_answers_ready_from_the_compose_command(stack):
    import httpx

    answer = httpx.get(f"{stack.base}/health/ready", timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok"
    assert "gunicorn" in stack.command("web")[0] and stack.command("worker")[:3] == ["celery", "-A", "ctrlready"]


def test_a_new_deployments_probes_run_at_once_and_a_run_queued_through_the_api_completes(stack, shop):
    api, deployment_id = shop
    # Nobody asked: a new deployment queues its probes as soon as it is created.
    passed = wait_until(lambda: item(api, deployment_id, "health")["state"] == "passed", 30)
    assert passed, item(api, deployment_id, "health")
    first = item(api, deployment_id, "health")["probe"]["finished_at"]
    # Once that run has ended, asking again queues one more (a run in flight is never queued twice).
    queued = wait_until(lambda: api.post(f"deployments/{deployment_id}/runs", json={"items": ["health"]}).json() == {"queued": 1}, 30)
    assert queued
    again = wait_until(
        lambda: (probe := item(api, deployment_id, "health")["probe"])["finished_at"] not in (None, first)
        and probe["status"] == "passed",
        30,
    )
    assert again, item(api, deployment_id, "health")


def test_beats_schedule_fires_and_its_sweep_ends_an_overdue_run(stack, shop):
    (run_id,) = stack.sql("SELECT max(id) FROM probes_proberun")[0]
    stack.sql(
        "UPDATE probes_proberun SET status = 'running', finished_at = NULL, deadline = now() - interval '1 minute' "
        "WHERE id = %s",
        run_id,
    )
    ended = wait_until(
        lambda: (row := stack.sql("SELECT status, message FROM probes_proberun WHERE id = %s", run_id)[0])[0] == "error"
        and row,
        30,
    )
    assert ended and "did not finish in time" in ended[1], stack.log("beat")[-2000:]
    assert "Sending due task sweep-stuck-runs" in stack.log("beat")


def test_an_oversized_body_is_refused_at_once_before_it_is_read(stack):
    """300 MB announced, 64 KB sent, no session: the 413 comes back without the server waiting for the rest."""
    for path, expect in (("/checklists/", b"larger than 4 MB"), ("/api/v1/checklists/import", b'"error"')):
        with socket.create_connection(("127.0.0.1", stack.web_port), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 314572800\r\n\r\n".encode()
                + b"--b\r\n" + b"x" * 65536
            )
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith((b"}", b".")):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert expect in answer


def test_r3_postgresql_restarted_under_web_worker_and_beat(stack, shop):
    """Within 10 s of PostgreSQL being back: pages, ticks and runs work, nothing restarted; no run stays running."""
    api, deployment_id = shop
    browser = stack.login("admin", stack.ADMIN_PASSWORD)
    pids = {name: process.pid for name, process in stack.processes.items()}
    assert browser.get(f"/deployments/{deployment_id}/").status_code == 200

    # A run in flight across the restart: the target answers after 4 s.
    assert api.post(f"deployments/{deployment_id}/runs", json={"items": ["slow"]}).status_code == 202
    assert wait_until(lambda: stack.sql("SELECT 1 FROM probes_proberun WHERE status = 'running'"), 10)
    stack.postgres.stop()
    time.sleep(1)
    assert api.post(f"deployments/{deployment_id}/items/rollback", json={"state": "passed"}).status_code >= 500
    stack.postgres.start()
    back = time.monotonic()

    page = wait_until(lambda: browser.get(f"/deployments/{deployment_id}/").status_code == 200, 10)
    tick = wait_until(
        lambda: api.post(f"deployments/{deployment_id}/items/runbook", json={"state": "passed"}).status_code == 200, 10
    )
    queued = wait_until(
        lambda: api.post(f"deployments/{deployment_id}/runs", json={"items": ["health"]}).status_code == 202, 10
    )
    ran = wait_until(lambda: not unfinished_runs(stack), 10 - (time.monotonic() - back), interval=0.3)
    elapsed = time.monotonic() - back
    assert page and tick and queued, (page, tick, queued)
    assert ran, unfinished_runs(stack)
    assert elapsed <= 10.5, f"{elapsed:.1f} s after PostgreSQL was back"
    assert item(api, deployment_id, "runbook")["state"] == "passed"
    assert item(api, deployment_id, "slow")["state"] == "passed"  # the run in flight kept its result
    assert {name: process.pid for name, process in stack.processes.items()} == pids
    assert all(process.poll() is None for process in stack.processes.values())
