"""Pruning on a busy table, on PostgreSQL: ticks and probe results carry on between its batches."""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from checklists.items import item_state_set
from checklists.models import ItemState
from core.models import Event
from probes.models import ProbeRun
from probes.runners.base import Observation
from probes.services import results_record, runs_prune

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks are what is tested; SQLite serialises every writer (set DATABASE_URL to PostgreSQL)",
    ),
]

KEPT, STEADY, BATCH, ROUNDS = 5, 300, 20, 6


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    from django.contrib.auth.models import Group

    for name in ("viewer", "engineer", "lead", "admin"):
        Group.objects.get_or_create(name=name)


def test_pruning_goes_in_batches_while_ticks_and_results_go_on(deployment, people, settings):
    settings.CTRLREADY_RUNS_KEPT = KEPT
    item = deployment.version.items.get(key="health")
    now = timezone.now()
    ProbeRun.objects.bulk_create(
        ProbeRun(deployment=deployment, item=item, status="passed", deadline=now, started_at=now, finished_at=now)
        for _ in range(STEADY)
    )
    batch_done, tick_done = threading.Event(), threading.Event()
    deleted_per_batch, waited_too_long, outcome = [], [], {}

    def between_batches(execute, sql, params, many, context):
        """After each DELETE, let the main thread tick and record a result before the next batch."""
        result = execute(sql, params, many, context)
        if sql.startswith("DELETE"):
            deleted_per_batch.append(context["cursor"].rowcount)
            if len(deleted_per_batch) <= ROUNDS:
                batch_done.set()
                if not tick_done.wait(timeout=10):
                    waited_too_long.append(len(deleted_per_batch))
                tick_done.clear()
        return result

    def prune():
        try:
            with connection.execute_wrapper(between_batches):
                outcome["deleted"] = runs_prune(deployment_ids=[deployment.pk], batch_size=BATCH)
        except Exception as error:  # noqa: BLE001 - the test reports it
            outcome["error"] = error
        finally:
            connections.close_all()

    pruner = threading.Thread(target=prune)
    pruner.start()
    recorded = []
    for round_ in range(ROUNDS):
        assert batch_done.wait(timeout=15), "no batch ended while the ticks waited: the pruner holds a lock"
        batch_done.clear()
        # A tick (it locks the deployment and an item) and a probe result (runs, items, the deployment).
        item_state_set(
            deployment_id=deployment.pk, key="rollback", note=f"checked {round_}", actor=people["engineer"],
            source="api",
        )
        run = ProbeRun.objects.create(deployment=deployment, item=item, status="running", deadline=timezone.now())
        assert results_record({run.pk: Observation(status="passed", message="", duration_ms=4)}) == 1
        recorded.append(run.pk)
        tick_done.set()
    pruner.join(timeout=60)

    assert not pruner.is_alive() and "error" not in outcome, outcome
    assert not waited_too_long, f"a tick waited on the pruner in batch(es) {waited_too_long}"
    assert all(0 < count <= BATCH for count in deleted_per_batch[:-1]) and len(deleted_per_batch) >= STEADY // BATCH
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="note").count() == ROUNDS
    state = ItemState.objects.get(deployment=deployment, item=item)
    assert state.latest_run_id == recorded[-1] and state.state == "passed"
    # One more pass leaves exactly what the rule keeps: the latest 5, and the run that passed the item.
    runs_prune(deployment_ids=[deployment.pk])
    kept = list(ProbeRun.objects.filter(deployment=deployment).order_by("id").values_list("id", flat=True))
    assert kept == sorted({recorded[0], *recorded[-KEPT:]})
    assert outcome["deleted"] >= STEADY - KEPT
