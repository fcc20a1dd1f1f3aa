"""P1: the deployment page for the seed (229 items) and a synthetic 2,290-item checklist; and a tick's answer.

Both deployments are of the bundled checklist (with its probes), half of their automated items
with a recorded probe result, half of the manual ones ticked.  Reports SQL queries and the median
server time (request in, HTML out, through the whole middleware stack) over 25 requests each, of the
page and of a tick's htmx answer (its row, its parents and the panels: it should cost about the same
for both sizes), with the CPU time of the process beside it (the machine is shared: wall time is noisy).

    .venv/bin/python bench/page.py   (needs the local PostgreSQL)
"""

import statistics
import sys
import time

from _setup import django_on_bench_database

from core.actors import SYSTEM

REQUESTS = 25


def main() -> None:
    django_on_bench_database("ctrlready_bench_page")
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from checklists.models import Environment, ItemState, Service
    from conftest import _repeat_checklist, make_user
    from demo.loader import BUNDLED_CHECKLIST
    from probes.models import ProbeRun
    from probes.services import run_result

    engineer = make_user("bench-engineer", "engineer")
    environment = Environment.objects.create(service=Service.objects.create(name="bench"), name="x", base_url="http://127.0.0.1:9")
    seed = BUNDLED_CHECKLIST.read_text(encoding="utf-8")
    pages, ticks = {}, {}
    for label, text in (("229 items", seed), ("2,290 items", _repeat_checklist(seed, 10))):
        version = checklist_import(markdown=text, name=f"bench {label}", actor=SYSTEM, source="cli").version
        deployment = deployment_create(
            environment=environment, checklist_slug=version.checklist.slug, release=label, actor=engineer, source="cli"
        )
        states = list(ItemState.objects.filter(deployment=deployment).select_related("item"))
        now = timezone.now()
        runs = ProbeRun.objects.bulk_create(
            [
                ProbeRun(deployment=deployment, item=state.item, status="passed", deadline=now, started_at=now,
                         finished_at=now, duration_ms=12, message="",
                         conditions=[{"expr": "[STATUS] == 200", "ok": True, "observed": 200}])
                for state in states[::2] if state.item.probe
            ]
        )
        by_item = {run.item_id: run for run in runs}
        for i, state in enumerate(states):
            if state.item_id in by_item:
                run = by_item[state.item_id]
                state.latest_run_id, state.result = run.pk, run_result(run)
                state.state, state.last_passed_at = "passed", now
            elif not state.item.probe and i % 2 == 0 and not state.item.has_children:
                state.state, state.updated_by, state.updated_by_name, state.updated_at = "passed", engineer, "bench", now
        ItemState.objects.bulk_update(states, ["latest_run_id", "result", "state", "last_passed_at", "updated_by", "updated_by_name", "updated_at"])
        pages[label] = f"/deployments/{deployment.pk}/"

        manual = deployment.version.items.filter(probe__isnull=True, has_children=False).order_by("position")
        ticks[label] = f"/deployments/{deployment.pk}/items/{manual.values_list('key', flat=True)[1]}/"

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum does soon after a load: plans as in a live database

    client = Client()
    client.force_login(engineer)
    states = {label: iter(["passed", "pending"] * (REQUESTS + 2)) for label in ticks}
    page_results = measure(
        {label: (lambda url=url: client.get(url)) for label, url in pages.items()}, connection
    )
    tick_results = measure(
        {
            label: (lambda label=label: client.post(ticks[label], {"state": next(states[label])}, HTTP_HX_REQUEST="true"))
            for label in ticks
        },
        connection,
    )
    report(f"P1  deployment page, median of {REQUESTS} requests", page_results,
           "targets: same queries ≤ 20; 229 page ≤ 80 ms; ratio ≤ 10×")
    report(f"    a tick's htmx answer (its row, its parents, the panels), median of {REQUESTS}", tick_results,
           "targets: same queries; ratio ≤ 1.5×")


def measure(requests: dict, connection) -> dict[str, tuple[int, float, float, int]]:
    """Per label: queries, median wall and CPU milliseconds, and size of the answer to `requests[label]()`.

    The sizes take turns, request by request, so a load that comes and goes on the machine weighs on both.
    """
    results, walls, cpus = {}, {label: [] for label in requests}, {label: [] for label in requests}
    for label, request in requests.items():
        request()  # warm caches (templates, connections)
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
            response = request()
        assert response.status_code == 200, response.status_code
        results[label] = (len(queries), len(response.content))
    for _ in range(REQUESTS):
        for label, request in requests.items():
            wall, cpu = time.perf_counter(), time.process_time()
            request()
            walls[label].append((time.perf_counter() - wall) * 1000)
            cpus[label].append((time.process_time() - cpu) * 1000)
    return {
        label: (queries, statistics.median(walls[label]), statistics.median(cpus[label]), size)
        for label, (queries, size) in results.items()
    }


def report(title: str, results: dict, targets: str) -> None:
    print(title)
    for label, (queries, wall, cpu, size) in results.items():
        print(f"    {label:<12}: {queries:2d} queries, {wall:6.1f} ms (CPU {cpu:6.1f} ms), {size / 1024:.0f} KB of HTML")
    small, big = results["229 items"], results["2,290 items"]
    print(f"    ratio       : {big[1] / small[1]:.2f}× (CPU {big[2] / small[2]:.2f}×)  ({targets})")


if __name__ == "__main__":
    sys.exit(main())
