"""A long history through the API: `GET deployments/<id>/events` whole, and in batches by cursor.

One deployment with 40,000 events (a deployment left open for a year gathers about that many, most
of them beat's `run_requested`). Reports SQL queries, the median server time (request in, answer out)
and the answer's size: the whole history at once, the first batch of 1,000 and the last one.

    .venv/bin/python bench/events.py   (needs the local PostgreSQL)
"""

import statistics
import sys
import time
from datetime import timedelta

from _setup import django_on_bench_database

EVENTS, BATCH, REQUESTS = 40_000, 1_000, {"whole": 3, "batch": 15}


def main() -> None:
    django_on_bench_database("ctrlready_bench_events")
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from checklists.models import Environment, Service
    from conftest import make_user
    from core.actors import SYSTEM
    from core.models import Event

    viewer = make_user("bench-viewer", "viewer")
    environment = Environment.objects.create(service=Service.objects.create(name="bench"), name="x", base_url="http://127.0.0.1:9")
    version = checklist_import(markdown="# Events\n\n## Ops\n\n- [ ] One\n", name="events", actor=SYSTEM, source="cli").version
    deployment = deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=SYSTEM, source="cli"
    )
    start = timezone.now() - timedelta(days=365)
    Event.objects.bulk_create(
        [
            Event(at=start + timedelta(minutes=15 * n), actor_name="system", kind=Event.Kind.RUN_REQUESTED, source="probe",
                  deployment_ref=deployment.pk, environment_ref=environment.pk, item_key="", item_text="",
                  note="Re-check of every automated item.", data={})
            for n in range(EVENTS - 1)
        ],
        batch_size=5_000,
    )
    with connection.cursor() as cursor:  # statistics, as autovacuum gathers them on a database in use
        cursor.execute("ANALYZE")
    ids = list(Event.objects.filter(deployment_ref=deployment.pk).order_by("at", "id").values_list("pk", flat=True))
    base = f"/api/v1/deployments/{deployment.pk}/events"
    client = Client()
    client.force_login(viewer)
    urls = {
        f"whole history ({len(ids):,} events)": (base, "whole"),
        f"first batch of {BATCH:,}": (f"{base}?limit={BATCH}", "batch"),
        f"last batch of {BATCH:,}": (f"{base}?limit={BATCH}&after={ids[-BATCH - 1]}", "batch"),
    }
    print("GET deployments/<id>/events: median server time")
    for label, (url, kind) in urls.items():
        client.get(url)  # warm caches (connections)
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        timings = []
        for _ in range(REQUESTS[kind]):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"    {label:<28}: {len(queries):2d} queries, {statistics.median(timings):7.1f} ms, "
              f"{len(response.content) / 1024:.0f} KB, {len(response.json()['events']):,} events")


if __name__ == "__main__":
    sys.exit(main())
