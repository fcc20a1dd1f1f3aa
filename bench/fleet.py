"""P6: a fleet — 20 environments × 50 probes re-checked 5 times by one worker (concurrency 4).

Each environment has its own loopback HTTP target and an open deployment of a 50-probe checklist.
Beat's re-check (`recheck_open_deployments`) queues every probe of every open deployment; one real
Celery worker (4 processes) on Redis runs them; the next round starts when every run of the last has
ended.  Reported: every run ends; runs per second beside the bare rate of P2's httpx loop (the same
1,000 requests at P2's concurrency, same run); probe-run rows before and after `prune_runs`; the
dashboard's and the history page's queries and median server time at 2 and 20 environments, 200 and
2,000 events (the history's first and last page, and the keyset selector's deepest page).

    .venv/bin/python bench/fleet.py   (needs the local PostgreSQL and Redis)
"""

import asyncio
import contextlib
import statistics
import sys
import time
import uuid

from _setup import django_on_bench_database

ENVIRONMENTS, PROBES, ROUNDS, CONCURRENCY = 20, 50, 5, 4
KEPT = 2  # below ROUNDS, so that pruning has something to do here (the default is 20)
REQUESTS = 40


async def bare_loop(urls: list[str], concurrency: int) -> float:
    import httpx

    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10, follow_redirects=False) as client:

        async def one(url):
            async with semaphore:
                response = await client.get(url)
                assert response.status_code == 200 and response.json()["status"] == "ok"

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started


def timed(*calls) -> list[tuple[int, float]]:
    """[(SQL queries, median ms)] of each call — a page through the whole middleware stack, or a
    selector — timed in turns, so that a busy moment of the machine weighs on each alike."""
    from django.db import connection

    counts, timings = [], [[] for _ in calls]
    for call in calls:
        call()  # warm caches (templates, connections)
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
            call()
        counts.append(len(queries))
    for _ in range(REQUESTS):
        for call, times in zip(calls, timings, strict=True):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
    return [(count, statistics.median(times)) for count, times in zip(counts, timings, strict=True)]


def main() -> None:
    django_on_bench_database("ctrlready_bench_fleet")
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from checklists.models import Environment, Service
    from checklists.selectors import deployment_events_page
    from checklists.tests.test_events_page import add_events
    from conftest import make_user
    from core.actors import SYSTEM
    from ctrlready.celery import app
    from probes.models import ProbeRun
    from probes.services import BATCH_CONCURRENCY, recheck_open_deployments
    from probes.tests.test_worker import checklist_with
    from probes.tests.worker import Worker, http_target, wait_until

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    engineer = make_user("bench-engineer", "engineer")
    viewer = make_user("bench-viewer", "viewer")
    people = {"engineer": engineer, "lead": make_user("bench-lead", "lead")}
    version = checklist_import(markdown=checklist_with(PROBES, "/health"), name="fleet", actor=SYSTEM, source="cli").version
    client = Client()
    client.force_login(viewer)
    pages = {}

    def page(url: str):
        def get():
            assert client.get(url).status_code == 200
        return get

    def unfinished() -> int:
        return ProbeRun.objects.exclude(status__in=ProbeRun.FINISHED).count()

    def recheck_until_done(expected_total: int) -> None:
        queued = recheck_open_deployments()
        assert queued, "nothing was queued"
        done = wait_until(lambda: ProbeRun.objects.filter(status__in=ProbeRun.FINISHED).count() >= expected_total,
                          timeout=600, interval=0.05)
        assert done and not unfinished(), f"{unfinished()} runs did not end"

    with contextlib.ExitStack() as stack:
        targets = [stack.enter_context(http_target()) for _ in range(ENVIRONMENTS)]
        deployments = []

        def add_environments(count: int) -> None:
            for base_url in targets[len(deployments):len(deployments) + count]:
                n = len(deployments)
                service, _ = Service.objects.get_or_create(name=f"service-{n // 2:02d}")
                environment = Environment.objects.create(
                    service=service, name=("staging", "production")[n % 2], base_url=base_url
                )
                deployments.append(deployment_create(
                    environment=environment, checklist_slug=version.checklist.slug, release="v1",
                    actor=engineer, source="cli",
                ))

        worker = Worker(connection, queue, concurrency=CONCURRENCY).start()
        stack.callback(worker.stop)
        # The dashboard with 2 environments, their probes run once.
        add_environments(2)
        recheck_until_done(2 * PROBES)
        pages["dashboard, 2 environments"], = timed(page("/"))

        add_environments(ENVIRONMENTS - 2)
        started = time.perf_counter()
        for round_ in range(1, ROUNDS + 1):
            recheck_until_done(2 * PROBES + round_ * ENVIRONMENTS * PROBES)
        fleet_s = time.perf_counter() - started
        pages["dashboard, 20 environments"], = timed(page("/"))

        urls = [f"{base_url}/health?n={i}" for base_url in targets for i in range(PROBES)]
        bare_s = statistics.median(asyncio.run(bare_loop(urls, BATCH_CONCURRENCY)) for _ in range(3))

    runs = ProbeRun.objects.count()
    statuses = ", ".join(
        f"{ProbeRun.objects.filter(status=status).count():,} {status}" for status in ProbeRun.FINISHED
    )
    settings.CTRLREADY_RUNS_KEPT = KEPT
    call_command("prune_runs", stdout=open("/dev/null", "w"))
    after = ProbeRun.objects.count()
    changed = ProbeRun.objects.filter(changed_state=True).count()

    # History: a deployment with 200 events, one with 2,000 (ticks, notes, results, requests).
    histories = {}
    for count in (200, 2000):
        deployment = deployment_create(
            environment=deployments[0].environment, checklist_slug=version.checklist.slug, release=f"h{count}",
            actor=engineer, source="cli",
        )
        histories[count] = (f"/deployments/{deployment.pk}/history/", deployment, add_events(deployment, people, count - 1))
    (short, d200, ids200), (long, d2000, ids2000) = histories[200], histories[2000]
    for label, calls in (
        ("history, {} events, page 1", (page(short), page(long))),
        ("history, {} events, last page (OFFSET)", (page(f"{short}?page=4"), page(f"{long}?page=40"))),
        ("selector, {} events, oldest page (keyset)", (
            lambda: deployment_events_page(deployment_id=d200.pk, before=ids200[50]),
            lambda: deployment_events_page(deployment_id=d2000.pk, before=ids2000[50]),
        )),
    ):
        pages[label.format(200)], pages[label.format("2,000")] = timed(*calls)

    rate, bare_rate = ROUNDS * ENVIRONMENTS * PROBES / fleet_s, len(urls) / bare_s
    print(f"P6  {ENVIRONMENTS} environments × {PROBES} probes, re-checked {ROUNDS} times, one worker "
          f"(concurrency {CONCURRENCY})")
    print(f"    runs            : {runs:,} ended ({statuses}; the first 2 environments' first round "
          "included); none left queued or running")
    print(f"    real path       : {fleet_s:6.1f} s, {rate:6.0f} runs/s  (beat → Redis → worker → httpx → PostgreSQL)")
    print(f"    bare httpx loop : {bare_s:6.2f} s, {bare_rate:6.0f} requests/s  (P2's loop, concurrency "
          f"{BATCH_CONCURRENCY}, the same {len(urls):,} URLs)  → real path at {rate / bare_rate:.2f}× the bare rate")
    print(f"    rows            : {runs:,} runs before prune_runs, {after:,} after (CTRLREADY_RUNS_KEPT={KEPT}: "
          f"{ENVIRONMENTS * PROBES:,} items × {KEPT} kept + {changed:,} that changed their item)")
    for label, (queries, median) in pages.items():
        print(f"    {label:<44}: {queries:2d} queries, {median:6.1f} ms")
    ratio = lambda a, b: pages[b][1] / pages[a][1]  # noqa: E731
    print(f"    dashboard 20 / 2 environments : {ratio('dashboard, 2 environments', 'dashboard, 20 environments'):.2f}×")
    print("    history 2,000 / 200 events    : " + ", ".join(
        f"{name} {ratio(label.format(200), label.format('2,000')):.2f}×" for name, label in (
            ("page 1", "history, {} events, page 1"),
            ("last page", "history, {} events, last page (OFFSET)"),
            ("keyset", "selector, {} events, oldest page (keyset)"),
        )
    ) + "  (target ≤ 2×)")


if __name__ == "__main__":
    sys.exit(main())
