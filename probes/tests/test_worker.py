"""The real path: service → Redis → a Celery worker process → httpx → the database."""

import json
import os
import signal
import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from checklists.deployments import deployment_create
from checklists.environments import environment_create
from checklists.imports import checklist_import
from checklists.models import Environment, ItemState, Service
from core.actors import SYSTEM
from core.models import Event
from probes.models import ProbeRun
from probes.services import runs_request, runs_sweep
from probes.tests.worker import Worker, http_target, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def checklist_with(n: int, path: str) -> str:
    lines = ["# Probe load", "", "## Health", ""]
    for i in range(n):
        lines += [
            f"- [ ] Endpoint answers {i} {{#probe-{i}}}",
            "  <!-- probe",
            "  type: http",
            f"  request: GET {path}?n={i}",
            "  expect:",
            '    - "[STATUS] == 200"',
            '    - \'[BODY].status == "ok"\'',
            "  -->",
        ]
    return "\n".join(lines) + "\n"


def deployment_for(people, base_url: str, n: int, path: str = "/health"):
    version = checklist_import(markdown=checklist_with(n, path), name=f"Probe load {n} {path}", actor=SYSTEM, source="cli").version
    environment = Environment.objects.create(
        service=Service.objects.create(name=f"svc-{uuid.uuid4().hex[:6]}"), name="staging", base_url=base_url
    )
    return deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=people["engineer"], source="api"
    )


def finished(deployment) -> int:
    return ProbeRun.objects.filter(deployment=deployment, status__in=ProbeRun.FINISHED).count()


def test_a_new_deployment_queues_its_probes_at_once(people, queue, settings):
    settings.CTRLREADY_RUN_ON_CREATE = True
    with http_target() as base_url:
        worker = Worker(connection, queue).start()
        try:
            deployment = deployment_for(people, base_url, 3)  # nobody asks for a run
            assert wait_until(lambda: finished(deployment) == 3, timeout=30)
        finally:
            worker.stop()
    assert set(ItemState.objects.filter(deployment=deployment).values_list("state", flat=True)) == {"passed"}
    assert ProbeRun.objects.filter(deployment=deployment).count() == 3  # queued once


def test_requested_runs_reach_a_real_worker_and_change_item_states(people, queue):
    with http_target() as base_url:
        deployment = deployment_for(people, base_url, 3)
        worker = Worker(connection, queue).start()
        try:
            assert runs_request(deployment_id=deployment.pk, keys=None, actor=people["engineer"], source="api") == 3
            assert wait_until(lambda: finished(deployment) == 3, timeout=30)
        finally:
            worker.stop()
    runs = ProbeRun.objects.filter(deployment=deployment)
    assert {run.status for run in runs} == {"passed"}, {run.message for run in runs}
    assert all(run.conditions and all(c["ok"] for c in run.conditions) for run in runs)
    states = ItemState.objects.filter(deployment=deployment)
    assert {state.state for state in states} == {"passed"}
    events = Event.objects.filter(deployment_ref=deployment.pk, kind="probe_result")
    assert sorted(events.values_list("item_key", "before", "after", "source")) == [
        (f"probe-{i}", "pending", "passed", "probe") for i in range(3)
    ]
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="run_requested", actor_name="engineer").count() == 1


def test_worker_killed_mid_batch_every_run_ends_none_recorded_twice(people, queue, settings):
    settings.CTRLREADY_PROBE_BATCH_SIZE = 50  # four tasks, so some are still waiting when the pool dies
    with http_target(delay=0.1) as base_url:
        deployment = deployment_for(people, base_url, 200, path="/slow")
        worker = Worker(connection, queue, concurrency=2).start()
        try:
            runs_request(deployment_id=deployment.pk, keys=None, actor=people["engineer"], source="api")
            assert wait_until(lambda: ProbeRun.objects.filter(deployment=deployment, status="running").exists(), 30)
            time.sleep(0.3)
            for pid in worker.children():  # SIGKILL the pool processes in the middle of their batches
                os.kill(pid, signal.SIGKILL)
            orphaned = set(ProbeRun.objects.filter(deployment=deployment, status="running").values_list("pk", flat=True))
            assert orphaned, "the kill should have caught runs in flight"
            # The main process sees the lost processes, requeues their tasks and starts new ones; the
            # redelivered tasks find their runs already claimed and leave them alone, the rest go on.
            assert wait_until(
                lambda: not ProbeRun.objects.filter(deployment=deployment, status__in=["queued", "running"])
                .exclude(pk__in=orphaned)
                .exists(),
                timeout=90,
            )
        finally:
            worker.stop(signal.SIGKILL)
    # The runs that were in flight when their process died are ended by the sweep once past their deadline.
    latest_deadline = max(ProbeRun.objects.filter(deployment=deployment).values_list("deadline", flat=True))
    runs_sweep(now=latest_deadline + timezone.timedelta(seconds=1))
    runs = list(ProbeRun.objects.filter(deployment=deployment))
    assert len(runs) == 200
    assert all(run.status in ProbeRun.FINISHED for run in runs)
    assert all(run.message for run in runs if run.status == "error")
    per_item = {}
    for key in Event.objects.filter(deployment_ref=deployment.pk, kind="probe_result").values_list("item_key", flat=True):
        per_item[key] = per_item.get(key, 0) + 1
    assert max(per_item.values()) == 1, "an item's result was recorded twice"
    interrupted = [run for run in runs if run.status == "error"]
    passed = [run for run in runs if run.status == "passed"]
    assert passed and len(passed) + len(interrupted) == 200


def test_a_secret_in_a_probe_url_never_reaches_the_worker_log(people, queue, fernet_key):
    token = f"tok-{uuid.uuid4().hex}"
    with http_target() as base_url:
        version = checklist_import(
            markdown=(
                "# Secret in a URL\n\n## Health\n\n- [ ] Health with a token {#health}\n  <!-- probe\n  type: http\n"
                "  request: GET /health?token={{ secrets.API_TOKEN }}\n  expect:\n    - \"[STATUS] == 200\"\n  -->\n"
            ),
            name="Secret in a URL", actor=SYSTEM, source="cli",
        ).version
        environment = environment_create(
            service_name=f"svc-{uuid.uuid4().hex[:6]}", name="staging", base_url=base_url,
            secrets={"API_TOKEN": token}, actor=people["admin"], source="api",
        )
        deployment = deployment_create(
            environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=people["engineer"], source="api"
        )
        worker = Worker(connection, queue)
        worker.env["CTRLREADY_SECRET_KEYS"] = fernet_key
        worker.env["LOG_LEVEL"] = "DEBUG"  # the loudest the log gets: still no secret
        worker.start()
        try:
            runs_request(deployment_id=deployment.pk, keys=None, actor=people["engineer"], source="api")
            assert wait_until(lambda: finished(deployment) == 1, timeout=30)
        finally:
            worker.stop()
    run = ProbeRun.objects.get(deployment=deployment)
    assert run.status == "passed", run.message
    log = worker.log.read_text()
    assert "execute_runs" in log  # the worker did log the task
    assert token not in log and token[4:20] not in log


def test_a_two_step_probe_keeps_its_token_out_of_the_database_and_the_log(people, queue, fernet_key):
    from probes.tests import servers

    with servers.http_server() as target:
        version = checklist_import(
            markdown=(
                "# Two steps\n\n## Auth\n\n- [ ] Log in, then read the private page {#private}\n  <!-- probe\n"
                "  type: http\n  steps:\n"
                "    - request: POST /login\n      json: {user: probe, password: \"{{ secrets.PASSWORD }}\"}\n"
                "      expect: [\"[STATUS] == 200\"]\n      save: {TOKEN: \"[BODY].access_token\"}\n"
                "    - request: GET /private?token={{ saved.TOKEN }}\n"
                "      headers: {Authorization: \"Bearer {{ saved.TOKEN }}\"}\n"
                "      expect: [\"[STATUS] == 200\", \"[BODY].you contains tok_\"]\n  -->\n"
            ),
            name="Two steps", actor=SYSTEM, source="cli",
        ).version
        environment = environment_create(
            service_name=f"svc-{uuid.uuid4().hex[:6]}", name="staging", base_url=target.url,
            secrets={"PASSWORD": servers.PASSWORD}, actor=people["admin"], source="api",
        )
        deployment = deployment_create(
            environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=people["engineer"], source="api"
        )
        worker = Worker(connection, queue)
        worker.env["CTRLREADY_SECRET_KEYS"] = fernet_key
        worker.env["LOG_LEVEL"] = "DEBUG"
        worker.start()
        try:
            runs_request(deployment_id=deployment.pk, keys=None, actor=people["engineer"], source="api")
            assert wait_until(lambda: finished(deployment) == 1, timeout=30)
        finally:
            worker.stop()
        tokens = list(target.server.issued)
    run = ProbeRun.objects.get(deployment=deployment)
    assert run.status == "passed", run.message
    assert len(tokens) == 1
    stored = json.dumps([run.message, run.conditions, run.observed, ItemState.objects.get(deployment=deployment).result])
    log = worker.log.read_text()
    for text in (stored, log):
        assert tokens[0] not in text and tokens[0][4:20] not in text
        assert servers.PASSWORD not in text
