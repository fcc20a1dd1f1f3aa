"""P4: a probe result written → visible on an open deployment page.

gunicorn serves the dashboard, a real Celery worker on Redis runs the probe against a loopback
HTTP server, and headless Chromium keeps the deployment page open.  For each round the page's
"Run" button is clicked; the figure is the time from the run's `finished_at` (written by the
worker) to the moment the row shows the result.

    .venv/bin/python bench/live.py   (needs the local PostgreSQL, Redis and /usr/bin/chromium)
"""

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

from _setup import ROOT, django_on_bench_database

ROUNDS = 8


def main() -> None:
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain blocking reads.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    django_on_bench_database("ctrlready_bench_live")
    from django.db import connection
    from playwright.sync_api import sync_playwright
    from ticks import free_port

    from checklists.models import Environment, Service
    from checklists.services import checklist_import, deployment_create
    from conftest import make_user
    from core.actors import SYSTEM
    from probes.models import ProbeRun
    from probes.tests.test_worker import checklist_with
    from probes.tests.worker import Worker, http_target

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    engineer = make_user("engineer", "engineer")
    version = checklist_import(markdown=checklist_with(1, "/health"), name="live", actor=SYSTEM, source="cli").version
    delays = []
    with http_target() as base_url:
        environment = Environment.objects.create(service=Service.objects.create(name="live"), name="x", base_url=base_url)
        deployment = deployment_create(
            environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=engineer, source="cli"
        )
        port = free_port()
        env = {**os.environ, "DEBUG": "1", "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1", "CTRLREADY_QUEUE": queue}
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ctrlready.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        )
        worker = Worker(connection, queue, concurrency=1).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
                )
                # bypass_csp: wait_for_function evaluates its predicate as a string, which the page's CSP forbids.
                page = browser.new_page(base_url=f"http://127.0.0.1:{port}", bypass_csp=True)
                for _ in range(100):
                    try:
                        page.goto("/accounts/login/")
                        break
                    except Exception:
                        time.sleep(0.1)
                page.get_by_label("Username").fill("engineer")
                page.get_by_label("Password").fill("pw-engineer")
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"http://127.0.0.1:{port}/")
                page.goto(f"/deployments/{deployment.pk}/")
                stamp = "document.querySelector('[data-item-key=\"probe-0\"] .run time')?.getAttribute('datetime') || ''"
                for _ in range(ROUNDS):
                    previous = page.evaluate(stamp)
                    page.locator('[data-item-key="probe-0"]').get_by_role("button", name="Run").click()
                    page.wait_for_function(f"({stamp}) !== {previous!r}", timeout=30_000)
                    seen = datetime.now(UTC)
                    run = ProbeRun.objects.filter(deployment=deployment).order_by("-pk").first()
                    assert run.status == "passed" and run.finished_at
                    delays.append((seen - run.finished_at).total_seconds())
                    time.sleep(0.5)
                browser.close()
        finally:
            worker.stop()
            os.killpg(web.pid, signal.SIGTERM)
            web.wait()
    print(f"P4  probe result written → visible on the open deployment page, {ROUNDS} rounds")
    print(f"    median {statistics.median(delays):.2f} s, worst {max(delays):.2f} s  (target ≤ 3 s)")


if __name__ == "__main__":
    sys.exit(main())
