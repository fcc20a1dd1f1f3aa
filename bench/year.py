"""A year of a 100-service company in PostgreSQL, and the plans of the queries that must not grow with it.

    .venv/bin/python bench/year.py build     # makes the database `ctrlready_bench_year` (~10 GB, ~15 min)
    .venv/bin/python bench/year.py explain   # migrates it to this checkout, then EXPLAIN ANALYZE every query
    .venv/bin/python bench/year.py sizes     # rows and bytes per table, per row, per deployment

The company: 100 services, each with a staging and a production environment, releasing weekly (each
release goes to staging, then a day later to production) with the bundled checklist (229 items, 151
probes).  A deployment stays open two days, re-checked by beat every 15 minutes, then is signed off;
the latest deployment of every environment is still open.  Ten deployments were abandoned open a year
ago: beat has re-checked them ever since (a year of `run_requested` events, one probe flapping every
two hours), and their last 30 days of runs were never pruned (what `prune_runs` meets the first time).
Runs are as retention keeps them: per item, the latest 20 and the ones that changed the item.

`explain` runs the pages through Django's test client (dashboard, history first and deepest page,
environment page, API lists, deployment page) and the services (beat's re-check of one deployment,
the stuck-run sweep, pruning), captures every SQL statement, and runs each again under
EXPLAIN (ANALYZE, BUFFERS) — writes inside a transaction that is rolled back.  It prints each page's
statements with the planner's cost and the measured time, and the plans of the slowest.
"""

import json
import sys
import time
from datetime import UTC, datetime, timedelta

from _setup import ROOT, django_on_bench_database

NAME = "ctrlready_bench_year"
SERVICES, WEEKS, KEPT, ABANDONED, UNPRUNED_DAYS = 100, 52, 20, 10, 30
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=365)
CONDITIONS = json.dumps([
    {"expr": "[STATUS] == 200", "ok": True, "observed": 200},
    {"expr": '[BODY].status == "ok"', "ok": True, "observed": "ok"},
])


def sql(cursor, statement: str, params=None, label: str = "") -> None:
    started = time.perf_counter()
    cursor.execute(statement, params)
    if label:
        print(f"  {label:<44} {cursor.rowcount:>11,} rows  {time.perf_counter() - started:6.1f} s", flush=True)


def build(services: int) -> None:
    django_on_bench_database(NAME)
    from django.db import connection

    from checklists.imports import checklist_import
    from conftest import make_user
    from core.actors import SYSTEM
    from demo.loader import BUNDLED_CHECKLIST

    version = checklist_import(markdown=BUNDLED_CHECKLIST.read_text(encoding="utf-8"), actor=SYSTEM, source="cli").version
    people = [make_user(f"engineer-{n}", "engineer") for n in range(10)] + [make_user(f"lead-{n}", "lead") for n in range(3)]
    make_user("viewer", "viewer")
    p = {
        "version": version.pk, "start": START, "now": NOW, "services": services, "weeks": WEEKS, "kept": KEPT,
        "engineer": people[0].pk, "lead": people[10].pk, "conditions": CONDITIONS, "abandoned": ABANDONED,
        "unpruned": UNPRUNED_DAYS * 96,
    }
    p["queued"] = f"{version.items.filter(probe__isnull=False).count()} probe(s) queued"
    print(f"Building {NAME}: {services} services × 2 environments × {WEEKS} weekly releases")
    with connection.cursor() as c:
        sql(c, """INSERT INTO checklists_service (name, created_at)
                  SELECT 'service-' || lpad(s::text, 3, '0'), %(start)s FROM generate_series(1, %(services)s) s""",
            p, "services")
        sql(c, """INSERT INTO checklists_environment (service_id, name, base_url, allowed_hosts, variables, ca_bundle,
                      dns_servers, created_at)
                  SELECT s.id, e.name, 'https://' || e.name || '.' || s.name || '.example.com', '[]', '{}', '', '[]',
                         %(start)s
                  FROM checklists_service s CROSS JOIN (VALUES ('staging'), ('production')) e(name)
                  ORDER BY s.id, e.name DESC""", p, "environments")
        # Abandoned first (opened a year ago), then every week's releases in the order they were opened.
        sql(c, """INSERT INTO checklists_deployment (environment_id, version_id, release, status, created_at,
                      created_by_id, signed_off_at)
                  SELECT e.id, %(version)s, 'v0.9', 'open', %(start)s, %(engineer)s, NULL
                  FROM checklists_environment e WHERE e.name = 'production' ORDER BY e.id LIMIT %(abandoned)s""",
            p, "abandoned deployments")
        sql(c, """INSERT INTO checklists_deployment (environment_id, version_id, release, status, created_at,
                      created_by_id, signed_off_at)
                  SELECT environment_id, %(version)s, release, status, created_at, %(engineer)s,
                         CASE WHEN status = 'signed_off' THEN created_at + interval '2 days' END
                  FROM (
                      SELECT e.id AS environment_id, '1.' || w || '.0' AS release,
                             CASE WHEN w = %(weeks)s - 1 THEN 'open' ELSE 'signed_off' END AS status,
                             %(start)s + w * interval '7 days' + (e.id %% 24) * interval '1 hour'
                                 + CASE WHEN e.name = 'production' THEN interval '1 day' ELSE interval '0' END
                                 AS created_at
                      FROM checklists_environment e CROSS JOIN generate_series(0, %(weeks)s - 1) w
                  ) planned ORDER BY created_at""", p, "deployments")
        # When each deployment stopped being re-checked: at sign-off, or now for the open ones.
        sql(c, """CREATE TEMP TABLE window_ AS
                  SELECT d.id, d.environment_id, d.created_at, coalesce(d.signed_off_at, %(now)s) AS closed_at,
                         d.release = 'v0.9' AS abandoned,
                         row_number() OVER (ORDER BY d.created_at, d.id) AS n
                  FROM checklists_deployment d""", p)
        sql(c, """CREATE TEMP TABLE probe_item AS
                  SELECT id, key, text, row_number() OVER (ORDER BY position) AS n
                  FROM checklists_item WHERE version_id = %(version)s AND probe IS NOT NULL""", p)
        sql(c, "CREATE INDEX ON window_ (n)")
        # Runs, in the order they were requested (so the table is laid out by time, as in life):
        # the first of each item (it changed the item), one that failed and one that recovered for
        # every 11th item, then the latest 20; the abandoned keep 30 days unpruned and one flapping probe.
        chunk = 400
        c.execute("SELECT max(n) FROM window_")
        total = c.fetchone()[0]
        for first in range(1, total + 1, chunk):
            q = {**p, "first": first, "last": first + chunk - 1}
            sql(c, """INSERT INTO probes_proberun (deployment_id, item_id, status, not_configured, requested_by_id,
                          requested_at, deadline, started_at, finished_at, duration_ms, message, conditions, observed,
                          batch, changed_state, flaky, hosts)
                      SELECT deployment_id, item_id, status, false, NULL, at, at + interval '115 seconds',
                             at + interval '1 second', at + interval '2 seconds', 5 + (item_id * 7 + k) %% 190,
                             CASE WHEN status = 'failed' THEN 'The health check answered 503.' ELSE '' END,
                             %(conditions)s::jsonb, '{}'::jsonb, md5(deployment_id || '-' || k), changed, false,
                             '[]'::jsonb
                      FROM (
                          SELECT w.id AS deployment_id, i.id AS item_id, 0 AS k, w.created_at + interval '5 minutes' AS at,
                                 CASE WHEN (w.id + i.n) %% 11 = 0 THEN 'failed' ELSE 'passed' END AS status, true AS changed
                          FROM window_ w CROSS JOIN probe_item i WHERE w.n BETWEEN %(first)s AND %(last)s
                          UNION ALL
                          SELECT w.id, i.id, 1, w.created_at + interval '50 minutes', 'passed', true
                          FROM window_ w CROSS JOIN probe_item i
                          WHERE w.n BETWEEN %(first)s AND %(last)s AND (w.id + i.n) %% 11 = 0
                          UNION ALL
                          SELECT w.id, i.id, 1 + k, w.closed_at - (r - k) * interval '15 minutes', 'passed', false
                          FROM window_ w CROSS JOIN probe_item i
                          CROSS JOIN LATERAL (SELECT CASE WHEN w.abandoned THEN %(unpruned)s ELSE %(kept)s END AS r) kept
                          CROSS JOIN LATERAL generate_series(1, kept.r) k
                          WHERE w.n BETWEEN %(first)s AND %(last)s
                          UNION ALL
                          SELECT w.id, i.id, 100000 + f, w.created_at + f * interval '2 hours',
                                 CASE WHEN f %% 2 = 0 THEN 'passed' ELSE 'failed' END, true
                          FROM window_ w CROSS JOIN probe_item i CROSS JOIN generate_series(1, 4379) f
                          WHERE w.n BETWEEN %(first)s AND %(last)s AND w.abandoned AND i.n = 1
                      ) planned ORDER BY at""", q, f"runs of deployments {first}–{min(first + chunk - 1, total)}")
        sql(c, "ANALYZE probes_proberun")
        sql(c, """INSERT INTO checklists_itemstate (deployment_id, item_id, state, note, evidence_url, updated_by_id,
                      updated_by_name, updated_at, latest_run_id, result, last_passed_at, run_state, waived_by_name,
                      waiver_reason)
                  SELECT w.id, i.id,
                         CASE WHEN i.probe IS NOT NULL THEN r.status
                              WHEN i.optional THEN 'na'
                              WHEN NOT w.abandoned AND w.closed_at = %(now)s AND (w.id + i.position) %% 5 < 2 THEN 'pending'
                              ELSE 'passed' END,
                         CASE WHEN (w.id + i.position) %% 10 = 0 THEN 'Checked with the on-call runbook.' ELSE '' END,
                         '', CASE WHEN i.probe IS NULL THEN %(engineer)s END,
                         CASE WHEN i.probe IS NULL THEN 'engineer-0' ELSE 'system' END,
                         w.created_at + interval '1 hour', r.id,
                         CASE WHEN r.id IS NOT NULL THEN jsonb_build_object(
                             'run', r.id, 'status', r.status, 'not_configured', false, 'reached', true,
                             'started_at', r.started_at, 'finished_at', r.finished_at, 'duration_ms', r.duration_ms,
                             'message', r.message, 'conditions', r.conditions) END,
                         CASE WHEN r.status = 'passed' THEN r.finished_at END, '', '', ''
                  FROM window_ w CROSS JOIN checklists_item i
                  LEFT JOIN LATERAL (
                      SELECT * FROM probes_proberun r WHERE r.deployment_id = w.id AND r.item_id = i.id
                      ORDER BY r.requested_at DESC LIMIT 1
                  ) r ON i.probe IS NOT NULL
                  WHERE i.version_id = %(version)s
                  ORDER BY w.n, i.position""", p, "item states")
        sql(c, """INSERT INTO checklists_signoff (deployment_id, user_id, username, role, comment, digest, at, voided_at)
                  SELECT id, %(lead)s, 'lead-0', 'lead', 'Go.', md5(id::text) || md5(id::text || 'x'), signed_off_at, NULL
                  FROM checklists_deployment WHERE status = 'signed_off' ORDER BY signed_off_at""", p, "sign-offs")
        # Events: opened; beat's run request every 15 minutes while open; one per run that changed an
        # item; a tick or n/a for every manual item, a note on one in ten; the sign-off.
        for first in range(1, total + 1, chunk):
            q = {**p, "first": first, "last": first + chunk - 1}
            sql(c, """INSERT INTO core_event (at, actor_id, actor_name, kind, source, deployment_ref, environment_ref,
                          item_key, item_text, before, after, note, data)
                      SELECT at, actor_id, actor_name, kind, source, deployment_ref, environment_ref, item_key,
                             item_text, before, after, note, data::jsonb
                      FROM (
                          SELECT w.created_at AS at, %(engineer)s AS actor_id, 'engineer-0' AS actor_name,
                                 'deployment_created' AS kind, 'api' AS source, w.id AS deployment_ref,
                                 w.environment_id AS environment_ref, '' AS item_key, '' AS item_text, '' AS before,
                                 '' AS after, '' AS note, '{}' AS data
                          FROM window_ w WHERE w.n BETWEEN %(first)s AND %(last)s
                          UNION ALL
                          SELECT w.created_at + s * interval '15 minutes', NULL, 'system', 'run_requested', 'probe',
                                 w.id, w.environment_id, '', '', '', '', %(queued)s, '{"all": true}'
                          FROM window_ w
                          CROSS JOIN generate_series(0, (extract(epoch FROM w.closed_at - w.created_at) / 900)::int - 1) s
                          WHERE w.n BETWEEN %(first)s AND %(last)s
                          UNION ALL
                          SELECT r.finished_at, NULL, 'system', 'probe_result', 'probe', w.id, w.environment_id,
                                 i.key, i.text, 'pending', r.status, r.message, '{"run": ' || r.id || '}'
                          FROM window_ w JOIN probes_proberun r ON r.deployment_id = w.id AND r.changed_state
                          JOIN probe_item i ON i.id = r.item_id
                          WHERE w.n BETWEEN %(first)s AND %(last)s
                          UNION ALL
                          SELECT w.created_at + interval '1 hour' + i.position * interval '20 seconds', %(engineer)s,
                                 'engineer-0', 'state', 'web', w.id, w.environment_id, i.key, i.text, 'pending', s.state,
                                 '', '{}'
                          FROM window_ w JOIN checklists_itemstate s ON s.deployment_id = w.id
                          JOIN checklists_item i ON i.id = s.item_id AND i.probe IS NULL
                          WHERE w.n BETWEEN %(first)s AND %(last)s AND s.state <> 'pending'
                          UNION ALL
                          SELECT w.created_at + interval '2 hours' + i.position * interval '20 seconds', %(engineer)s,
                                 'engineer-0', 'note', 'web', w.id, w.environment_id, i.key, i.text, s.state, s.state,
                                 s.note, '{}'
                          FROM window_ w JOIN checklists_itemstate s ON s.deployment_id = w.id AND s.note <> ''
                          JOIN checklists_item i ON i.id = s.item_id
                          WHERE w.n BETWEEN %(first)s AND %(last)s
                          UNION ALL
                          SELECT w.closed_at, %(lead)s, 'lead-0', kind, 'web', w.id, w.environment_id, '', '', '', after,
                                 '', '{}'
                          FROM window_ w JOIN checklists_deployment d ON d.id = w.id AND d.status = 'signed_off'
                          CROSS JOIN (VALUES ('signoff', 'lead'), ('signed_off', 'signed_off')) k(kind, after)
                          WHERE w.n BETWEEN %(first)s AND %(last)s
                      ) planned ORDER BY at""", q, f"events of deployments {first}–{min(first + chunk - 1, total)}")
    connection.close()
    import psycopg

    with psycopg.connect(_dsn(connection), autocommit=True) as raw:
        started = time.perf_counter()
        raw.execute("VACUUM ANALYZE")
        print(f"  VACUUM ANALYZE {time.perf_counter() - started:55.1f} s")
    sizes()


def _dsn(connection) -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


TABLES = ("probes_proberun", "core_event", "checklists_itemstate", "checklists_deployment", "checklists_signoff")


def sizes() -> None:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM checklists_deployment")
        deployments = c.fetchone()[0]
        print(f"\n{'table':<24} {'rows':>12} {'table':>10} {'indexes':>10} {'B/row':>7} {'rows/depl.':>10}")
        total = 0
        for table in TABLES:
            c.execute(f"SELECT count(*), pg_table_size('{table}'), pg_indexes_size('{table}') FROM {table}")
            rows, heap, indexes = c.fetchone()
            total += heap + indexes
            print(f"{table:<24} {rows:>12,} {heap / 2**20:>8.0f}MB {indexes / 2**20:>8.0f}MB "
                  f"{(heap + indexes) / max(rows, 1):>7.0f} {rows / deployments:>10.0f}")
        print(f"{'total':<24} {'':>12} {total / 2**30:>19.2f} GB for {deployments:,} deployments")
        print("\nindexes of the biggest tables")
        for table in TABLES[:3]:
            c.execute(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
                "WHERE indrelid = %s::regclass ORDER BY 2 DESC", [table]
            )
            for name, size in c.fetchall():
                print(f"  {name:<56} {size / 2**20:>8.0f} MB")


# --- EXPLAIN ---------------------------------------------------------------------------


def explain() -> None:
    django_on_bench_database(NAME, fresh=False)  # applies this checkout's migrations (its indexes)
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    import probes.services as probe_services
    from checklists.models import Deployment, Environment
    from core.actors import SYSTEM
    from core.models import Event

    with connection.cursor() as c:
        c.execute("ANALYZE")
    client = Client()
    client.force_login(User.objects.get(username="viewer"))
    abandoned = Deployment.objects.filter(release="v0.9").order_by("pk").first()
    open_one = Deployment.objects.filter(status="open").exclude(release="v0.9").order_by("-pk").first()
    signed = Deployment.objects.filter(status="signed_off").order_by("-pk")[50]
    environment = Environment.objects.get(pk=open_one.environment_id)
    deep = -(-Event.objects.filter(deployment_ref=abandoned.pk).count() // 50)
    probe_services.broker_reachable = lambda timeout=2.0: True  # the re-check is rolled back: nothing is sent

    def page(url):
        return lambda: client.get(url)

    def rolled_back(call):
        def run():
            with transaction.atomic():
                call()
                transaction.set_rollback(True)
        return run

    cases = [
        ("dashboard", page("/")),
        (f"history, {signed.pk} (signed off), page 1", page(f"/deployments/{signed.pk}/history/")),
        (f"history, {abandoned.pk} (a year open), page 1", page(f"/deployments/{abandoned.pk}/history/")),
        (f"history, {abandoned.pk}, page {deep} (last)", page(f"/deployments/{abandoned.pk}/history/?page={deep}")),
        (f"history, {abandoned.pk}, kind=note", page(f"/deployments/{abandoned.pk}/history/?kind=note")),
        ("environment page (deployments list)", page(f"/environments/{environment.pk}/")),
        ("API deployments?environment=", page(f"/api/v1/deployments?environment={environment.pk}")),
        ("API deployments (newest 100)", page("/api/v1/deployments")),
        (f"API events of {abandoned.pk} (a year open)", page(f"/api/v1/deployments/{abandoned.pk}/events")),
        (f"deployment page {open_one.pk}", page(f"/deployments/{open_one.pk}/")),
        ("beat: re-check one open deployment", rolled_back(lambda: probe_services.runs_request(
            deployment_id=open_one.pk, keys=None, actor=SYSTEM, source="probe"))),
        ("beat: sweep stuck runs", probe_services.runs_sweep),
        ("beat: prune the 200 open deployments (steady)", rolled_back(lambda: probe_services.runs_prune(
            deployment_ids=list(Deployment.objects.filter(status="open").exclude(release="v0.9").values_list("pk", flat=True))
        ))),
        (f"prune {abandoned.pk}: 30 days unpruned, 1st batch", rolled_back(lambda: _first_batch(abandoned.pk))),
    ]
    cases += _keyset_cases(abandoned.pk)
    report = {}
    for label, call in cases:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            call()
            wall = (time.perf_counter() - started) * 1000
        plans = [
            _explain(connection, query["sql"]) for query in captured.captured_queries
            if query["sql"].lstrip().split(" ", 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
        ]
        report[label] = {"wall_ms": wall, "queries": plans}
        cost = sum(plan["cost"] for plan in plans)
        took = sum(plan["ms"] for plan in plans)
        print(f"\n{label}: {len(plans)} queries, {wall:.0f} ms in Django; SQL: cost {cost:,.0f}, {took:.1f} ms")
        for plan in sorted(plans, key=lambda plan: -plan["ms"])[:3]:
            print(f"  {plan['ms']:8.2f} ms  cost {plan['cost']:>12,.0f}  {plan['sql'][:150]}")
        slowest = max(plans, key=lambda plan: plan["ms"], default=None)
        if slowest and slowest["ms"] > 5:
            print("    " + slowest["text"].replace("\n", "\n    "))
    out = ROOT / "var" / f"year-explain-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nall plans: {out}")


def _first_batch(deployment_id: int) -> None:
    """What pruning a deployment that was never pruned costs: one select of a batch, one delete."""
    from probes.models import ProbeRun
    from probes.services import PRUNE_BATCH, runs_prunable

    ProbeRun.objects.filter(pk__in=runs_prunable(deployment_id=deployment_id, limit=PRUNE_BATCH)).delete()


def _keyset_cases(deployment_id: int) -> list:
    try:
        from checklists.selectors import deployment_events_page
    except ImportError:
        return []
    from core.models import Event

    deep = Event.objects.filter(deployment_ref=deployment_id).order_by("at", "id").values_list("id", flat=True)[60]
    return [
        (f"selector: events of {deployment_id}, page 1", lambda: deployment_events_page(deployment_id=deployment_id)),
        (f"selector: events of {deployment_id}, oldest page",
         lambda: deployment_events_page(deployment_id=deployment_id, before=deep)),
        (f"selector: events of {deployment_id}, kind=note",
         lambda: deployment_events_page(deployment_id=deployment_id, filters={"kind": "note"})),
    ]


def _explain(connection, statement: str) -> dict:
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as c:
        c.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement)
        plan = c.fetchone()[0][0]
        c.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement)
        text = "\n".join(row[0] for row in c.fetchall())
        transaction.set_rollback(True)
    return {"sql": statement, "cost": plan["Plan"]["Total Cost"], "ms": plan["Execution Time"], "text": text}


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "explain"
    if command == "build":
        build(int(sys.argv[2]) if len(sys.argv) > 2 else SERVICES)
    elif command == "sizes":
        django_on_bench_database(NAME, fresh=False)
        sizes()
    else:
        explain()
