"""P3: 50 concurrent clients ticking items through the API under gunicorn.

Every client has its own token and ticks its own items (each tick a real change), all on one
deployment, so every write contends for the same deployment row.  Reports errors, events written
per tick, and latency percentiles.

    .venv/bin/python bench/ticks.py   (needs the local PostgreSQL)
"""

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

from _setup import ROOT, django_on_bench_database

CLIENTS = 50
TICKS_PER_CLIENT = 20
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
THREADS = int(os.environ.get("BENCH_THREADS", 4))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def client_loop(base, token, deployment_id, keys, latencies, errors):
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        for n in range(TICKS_PER_CLIENT):
            key = keys[n % len(keys)]
            state = "passed" if (n // len(keys)) % 2 == 0 else "failed"
            started = time.perf_counter()
            response = await client.post(f"/api/v1/deployments/{deployment_id}/items/{key}", json={"state": state})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors.append((response.status_code, response.text[:200]))


async def hammer(base, tokens, deployment_id, keys_per_client):
    latencies, errors = [], []
    started = time.perf_counter()
    await asyncio.gather(
        *(client_loop(base, tokens[i], deployment_id, keys_per_client[i], latencies, errors) for i in range(CLIENTS))
    )
    return time.perf_counter() - started, latencies, errors


def main() -> None:
    django_on_bench_database("ctrlready_bench_ticks")
    from checklists.models import Environment, Item, Service
    from checklists.services import checklist_import, deployment_create
    from conftest import make_user
    from core.actors import SYSTEM
    from core.models import Event
    from core.tokens import api_token_create

    lines = ["# Ticks", "", "## Items", ""] + [f"- [ ] Item {i} {{#item-{i}}}" for i in range(CLIENTS * 2)]
    version = checklist_import(markdown="\n".join(lines) + "\n", name="ticks", actor=SYSTEM, source="cli").version
    environment = Environment.objects.create(service=Service.objects.create(name="ticks"), name="x", base_url="http://127.0.0.1:9")
    people = [make_user(f"engineer-{i}", "engineer") for i in range(CLIENTS)]
    deployment = deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="bench", actor=people[0], source="cli"
    )
    tokens = [api_token_create(user=person) for person in people]
    keys = list(Item.objects.filter(version=version).order_by("position").values_list("key", flat=True))
    keys_per_client = [keys[2 * i : 2 * i + 2] for i in range(CLIENTS)]
    events_before = Event.objects.filter(deployment=deployment).count()

    port = free_port()
    env = {  # production settings, as gunicorn would run them behind a TLS proxy
        **os.environ, "DEBUG": "0", "SECRET_KEY": "bench-" + "x" * 50, "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "ctrlready.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(WORKERS), "--threads", str(THREADS), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    try:
        import httpx

        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        wall, latencies, errors = asyncio.run(hammer(f"http://127.0.0.1:{port}", tokens, deployment.pk, keys_per_client))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
    ticks = CLIENTS * TICKS_PER_CLIENT
    events = Event.objects.filter(deployment=deployment).count() - events_before
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(f"P3  {CLIENTS} clients × {TICKS_PER_CLIENT} ticks through the API, gunicorn {WORKERS} workers × {THREADS} threads")
    print(f"    errors          : {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))
    print(f"    events per tick : {events / ticks:.2f}  ({events} events for {ticks} ticks)")
    print(f"    latency ms      : p50 {statistics.median(latencies):.0f}  p95 {p(0.95):.0f}  p99 {p(0.99):.0f}  (target p99 ≤ 300)")
    print(f"    throughput      : {ticks / wall:.0f} ticks/s")


if __name__ == "__main__":
    sys.exit(main())
