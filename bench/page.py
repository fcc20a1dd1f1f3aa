"""P1: the deployment page for the seed (229 items) and a synthetic 2,290-item checklist.

Both deployments are of the bundled checklist (with its probes), half of their automated items
with a recorded probe result, half of the manual ones ticked.  Reports SQL queries and the median
server time (request in, HTML out, through the whole middleware stack) over 25 requests each.

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

    from checklists.models import Environment, ItemState, Service
    from checklists.services import checklist_import, deployment_create
    from conftest import _repeat_checklist, make_user
    from demo.loader import BUNDLED_CHECKLIST
    from probes.models import ProbeRun
    from probes.services import run_result

    engineer = make_user("bench-engineer", "engineer")
    environment = Environment.objects.create(service=Service.objects.create(name="bench"), name="x", base_url="http://127.0.0.1:9")
    seed = BUNDLED_CHECKLIST.read_text(encoding="utf-8")
    pages = {}
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

    client = Client()
    client.force_login(engineer)
    results = {}
    for label, url in pages.items():
        client.get(url)  # warm caches (templates, connections)
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
            response = client.get(url)
        assert response.status_code == 200
        timings = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        results[label] = (len(queries), statistics.median(timings), len(response.content))
    small, big = results["229 items"], results["2,290 items"]
    print(f"P1  deployment page, median of {REQUESTS} requests")
    for label, (queries, median, size) in results.items():
        print(f"    {label:<12}: {queries:2d} queries, {median:6.1f} ms, {size / 1024:.0f} KB of HTML")
    print(f"    ratio       : {big[1] / small[1]:.1f}×  (targets: same queries ≤ 20; 229 page ≤ 80 ms; ratio ≤ 10×)")


if __name__ == "__main__":
    sys.exit(main())
