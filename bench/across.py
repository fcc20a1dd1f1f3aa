"""Across deployments: the compare page and the reports of the seed (229 items), the service page of 10.

Two deployments of the bundled checklist (staging and production, half their probes with a recorded
result, half their manual items ticked); eight more in the service for its page. Reports SQL queries
and the median server time (request in, answer out) of each.

    .venv/bin/python bench/across.py   (needs the local PostgreSQL)
"""

import statistics
import sys
import time

from _setup import django_on_bench_database

from core.actors import SYSTEM

REQUESTS = {"page": 15, "report": 5, "pdf": 3}


def main() -> None:
    django_on_bench_database("ctrlready_bench_across")
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from checklists.models import Environment, ItemState, Service
    from conftest import make_user
    from demo.loader import BUNDLED_CHECKLIST
    from probes.models import ProbeRun
    from probes.services import run_result

    engineer = make_user("bench-engineer", "engineer")
    service = Service.objects.create(name="bench")
    environments = [
        Environment.objects.create(service=service, name=name, base_url="http://127.0.0.1:9")
        for name in ("staging", "production")
    ]
    version = checklist_import(
        markdown=BUNDLED_CHECKLIST.read_text(encoding="utf-8"), name="bench", actor=SYSTEM, source="cli"
    ).version
    deployments = []
    for n in range(10):
        deployment = deployment_create(
            environment=environments[n % 2], checklist_slug=version.checklist.slug, release=f"v1.{n // 2}",
            actor=engineer, source="cli",
        )
        states = list(ItemState.objects.filter(deployment=deployment).select_related("item"))
        now = timezone.now()
        runs = ProbeRun.objects.bulk_create([
            ProbeRun(deployment=deployment, item=state.item, status="passed", deadline=now, started_at=now,
                     finished_at=now, duration_ms=12 + n, message="",
                     conditions=[{"expr": "[RESPONSE_TIME] < 100", "ok": True, "observed": 12.5 + n}])
            for state in states[n % 2::2] if state.item.probe
        ])
        by_item = {run.item_id: run for run in runs}
        for i, state in enumerate(states):
            if state.item_id in by_item:
                run = by_item[state.item_id]
                state.latest_run_id, state.result = run.pk, run_result(run)
                state.state, state.last_passed_at = "passed", now
            elif not state.item.probe and i % 2 == 0 and not state.item.has_children:
                state.state, state.updated_by, state.updated_by_name, state.updated_at = "passed", engineer, "bench", now
        ItemState.objects.bulk_update(
            states, ["latest_run_id", "result", "state", "last_passed_at", "updated_by", "updated_by_name", "updated_at"]
        )
        deployments.append(deployment)
    staging, production = deployments[-2], deployments[-1]

    client = Client()
    client.force_login(engineer)
    urls = {
        "compare page (229 items)": (f"/deployments/{staging.pk}/compare/{production.pk}/", "page"),
        "service page (10 deployments)": (f"/services/{service.pk}/", "page"),
        "report.json (229 items)": (f"/deployments/{production.pk}/report.json", "report"),
        "report.md": (f"/deployments/{production.pk}/report.md", "report"),
        "report.xml (JUnit)": (f"/deployments/{production.pk}/report.xml", "report"),
        "report.pdf (WeasyPrint)": (f"/deployments/{production.pk}/report.pdf", "pdf"),
    }
    print("Across deployments: median server time")
    for label, (url, kind) in urls.items():
        client.get(url)  # warm caches (templates, fonts, connections)
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        timings = []
        for _ in range(REQUESTS[kind]):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"    {label:<31}: {len(queries):2d} queries, {statistics.median(timings):7.1f} ms, "
              f"{len(response.content) / 1024:.0f} KB")


if __name__ == "__main__":
    sys.exit(main())
