"""P2: 500 HTTP probes through the real path vs a bare httpx loop, same server, same concurrency, one run;
then the same 500 with 100 host probes mixed in, each run on both of two real sshd hosts (200 host checks).

Real path: POST /api/v1/deployments/<id>/runs → Redis → a Celery worker process → httpx → PostgreSQL,
timed until the last run is recorded.  Bare loop: one httpx.AsyncClient making the same 500 requests
with the same cap on concurrent requests.  Host checks ride one SSH connection per host per batch.

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
HOST_PROBES = 100  # each on both hosts: 200 host checks


def mixed_checklist(n: int, hosts: int) -> str:
    """`n` http probes with `hosts` host probes spread among them, so every batch has both kinds."""
    lines = ["# Mixed load", "", "## Checks", ""]
    every = max(1, n // hosts)
    made_hosts = 0
    for i in range(n):
        lines += [f"- [ ] Endpoint answers {i} {{#http-{i}}}", "  <!-- probe", "  type: http",
                  f"  request: GET /health?n={i}", "  expect:", '    - "[STATUS] == 200"', "  -->"]
        if i % every == 0 and made_hosts < hosts:
            lines += [f"- [ ] Host file {made_hosts} {{#host-{made_hosts}}}", "  <!-- probe", "  type: host",
                      "  file: /etc/hostname", "  expect:", '    - "[EXISTS] == true"', "  -->"]
            made_hosts += 1
    return "\n".join(lines) + "\n"


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

    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from checklists.models import Environment, Service
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
            mixed_s = mixed_rounds(client, engineer, base_url, bare)
        finally:
            worker.stop()
    real_s, bare_s = statistics.median(real), statistics.median(bare)
    print(f"P2  {N} HTTP probes, concurrency {BATCH_CONCURRENCY}, median of {ROUNDS} rounds")
    print(f"    bare httpx loop : {bare_s:6.2f} s")
    print(f"    real path       : {real_s:6.2f} s  (API → Redis → worker → httpx → PostgreSQL)")
    print(f"    ratio           : {real_s / bare_s:6.2f}×  (target ≤ 2×)")
    http_s, host_rate, bare_rate = mixed_s
    print(f"    with {HOST_PROBES} host probes on 2 sshd hosts mixed in ({2 * HOST_PROBES} host checks):")
    print(f"    real path       : {http_s:6.2f} s until the {N} HTTP runs are recorded, ratio {http_s / bare_s:.2f}× (target ≤ 2×)")
    print(f"    host checks     : {host_rate:6.1f} checks/s through the real path")
    print(f"    bare SSH exec   : {bare_rate:6.1f} commands/s (paramiko, one connection per host, two threads)")
    print(f"    ratio           : {bare_rate / host_rate:6.2f}× slower than one bare command per check")


def bare_ssh_rate(hosts, commands: int) -> float:
    """One paramiko connection per host, `commands` execs of the same test each, the hosts in parallel."""
    import threading

    import paramiko

    from probes.runners.ssh import load_private_key

    def run(server):
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a benchmark against our own sshd
        client.connect(server.host, port=server.port, username=server.username,
                       pkey=load_private_key(server.keys["ed25519"]), allow_agent=False, look_for_keys=False)
        try:
            for _ in range(commands):
                channel = client.get_transport().open_session()
                channel.exec_command("test -e /etc/hostname")
                assert channel.recv_exit_status() == 0
                channel.close()
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(server,)) for server in hosts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return commands * len(hosts) / (time.perf_counter() - started)


def mixed_rounds(client, engineer, base_url: str, bare: list[float]) -> tuple[float, float, float]:
    """The 500 HTTP probes with 100 host probes among them, against two real sshd hosts; median of the rounds."""
    import tempfile
    from pathlib import Path

    from django.db.models import Max, Min

    from checklists.deployments import deployment_create
    from checklists.environments import environment_create
    from checklists.imports import checklist_import
    from core.actors import SYSTEM
    from probes.models import ProbeRun
    from probes.tests import servers
    from probes.tests.worker import wait_until

    version = checklist_import(markdown=mixed_checklist(N, HOST_PROBES), name="bench mixed", actor=SYSTEM, source="cli").version
    totals, rates = [], []
    with tempfile.TemporaryDirectory() as tmp, servers.sshd(Path(tmp) / "a") as web, servers.sshd(Path(tmp) / "b") as worker_host:
        admin = engineer.__class__.objects.get_or_create(username="bench-admin")[0]
        from django.contrib.auth.models import Group

        admin.groups.add(Group.objects.get_or_create(name="admin")[0])
        environment = environment_create(
            service_name="bench-mixed", name="local", base_url=base_url, actor=admin, source="cli",
            ssh=[
                {"role": role, "host": s.host, "port": s.port, "username": s.username,
                 "private_key": s.keys["ed25519"], "host_key": s.host_key}
                for role, s in (("web", web), ("worker", worker_host))
            ],
        )
        for _ in range(ROUNDS):
            deployment = deployment_create(
                environment=environment, checklist_slug=version.checklist.slug, release="bench", actor=engineer, source="cli"
            )
            started = time.perf_counter()
            response = client.post(f"/api/v1/deployments/{deployment.pk}/runs", {}, content_type="application/json")
            assert response.status_code == 202, response.content
            total = N + HOST_PROBES
            assert wait_until(
                lambda: ProbeRun.objects.filter(deployment=deployment, status__in=ProbeRun.FINISHED).count() == total,
                timeout=600, interval=0.05,
            ), "not every run finished"
            http_done = ProbeRun.objects.filter(deployment=deployment, item__key__startswith="http-").aggregate(
                last=Max("finished_at"), first=Min("requested_at")
            )
            totals.append((http_done["last"] - http_done["first"]).total_seconds())
            assert ProbeRun.objects.filter(deployment=deployment, status="passed").count() == total, list(
                ProbeRun.objects.filter(deployment=deployment).exclude(status="passed").values_list("message", flat=True)[:3]
            )
            span = ProbeRun.objects.filter(deployment=deployment, item__key__startswith="host-").aggregate(
                first=Min("started_at"), last=Max("finished_at")
            )
            rates.append(2 * HOST_PROBES / max(0.001, (span["last"] - span["first"]).total_seconds()))
        bare_rate = bare_ssh_rate((web, worker_host), HOST_PROBES)
    return statistics.median(totals), statistics.median(rates), bare_rate


if __name__ == "__main__":
    sys.exit(main())
