"""P2: 500 HTTP probes through the real path vs a bare httpx loop, same server, same concurrency, one run.

Real path: POST /api/v1/deployments/<id>/runs → Redis → a Celery worker process → httpx → PostgreSQL,
timed until the last run is recorded.  Bare loop: one httpx.AsyncClient making the same 500 requests
with the same cap on concurrent requests.

    .venv/bin/python bench/probes.py   (needs the local PostgreSQL and Redis)
"""

import asyncio
import statistics
import sys
import time
import uuid

from _setup import django_on_bench_database

N = 500
ROUNDS = 3


async def bare_loop(base_url: str, concurrency: int) -> float:
    import httpx

    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10, follow_redirects=False) as client:

        async def one(i):
            async with semaphore:
                response = await client.get(f"{base_url}/health?n={i}")
                assert response.status_code == 200 and response.json()["status"] == "ok"

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(N)))
        return time.perf_counter() - started


def main() -> None:
    django_on_bench_database("ctrlready_bench_probes")
    from django.db import connection
    from django.test import Client

    from checklists.models import Environment, Service
    from checklists.services import checklist_import, deployment_create
    from conftest import make_user
    from core.actors import SYSTEM
    from core.tokens import api_token_create
    from ctrlready.celery import app
    from probes.models import ProbeRun
    from probes.services import BATCH_CONCURRENCY
    from probes.tests.test_worker import checklist_with
    from probes.tests.worker import Worker, http_target, wait_until

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    engineer = make_user("bench-engineer", "engineer")
    token = api_token_create(user=engineer)
    version = checklist_import(markdown=checklist_with(N, "/health"), name="bench", actor=SYSTEM, source="cli").version
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    real, bare = [], []
    with http_target() as base_url:
        environment = Environment.objects.create(
            service=Service.objects.create(name="bench"), name="local", base_url=base_url
        )
        worker = Worker(connection, queue, concurrency=1).start()
        try:
            for _ in range(ROUNDS):
                bare.append(asyncio.run(bare_loop(base_url, BATCH_CONCURRENCY)))
                deployment = deployment_create(
                    environment=environment, checklist_slug=version.checklist.slug, release="bench",
                    actor=engineer, source="cli",
                )
                started = time.perf_counter()
                response = client.post(
                    f"/api/v1/deployments/{deployment.pk}/runs", {}, content_type="application/json"
                )
                assert response.status_code == 202, response.content
                done = wait_until(
                    lambda: ProbeRun.objects.filter(deployment=deployment, status__in=ProbeRun.FINISHED).count() == N,
                    timeout=300, interval=0.05,
                )
                real.append(time.perf_counter() - started)
                assert done, "not every run finished"
                assert ProbeRun.objects.filter(deployment=deployment, status="passed").count() == N
        finally:
            worker.stop()
    real_s, bare_s = statistics.median(real), statistics.median(bare)
    print(f"P2  {N} HTTP probes, concurrency {BATCH_CONCURRENCY}, median of {ROUNDS} rounds")
    print(f"    bare httpx loop : {bare_s:6.2f} s")
    print(f"    real path       : {real_s:6.2f} s  (API → Redis → worker → httpx → PostgreSQL)")
    print(f"    ratio           : {real_s / bare_s:6.2f}×  (target ≤ 2×)")


if __name__ == "__main__":
    sys.exit(main())
