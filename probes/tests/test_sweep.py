"""The sweep ends every run that outlived its limit, started or not, without inventing a result."""

from datetime import timedelta

from django.utils import timezone

from checklists.models import ItemState
from core.models import Event
from probes.models import ProbeRun
from probes.runners.base import Observation
from probes.services import results_record, runs_claim, runs_sweep


def make_run(deployment, key, **fields):
    item = deployment.version.items.get(key=key)
    return ProbeRun.objects.create(deployment=deployment, item=item, deadline=timezone.now() + timedelta(minutes=2), **fields)


def test_overdue_runs_end_as_errors_whether_started_or_not(deployment):
    queued = make_run(deployment, "health")
    running = make_run(deployment, "health", status="running", started_at=timezone.now())
    assert runs_sweep() == 0  # nothing is overdue yet
    assert runs_sweep(now=timezone.now() + timedelta(minutes=3)) == 2
    queued.refresh_from_db(), running.refresh_from_db()
    assert queued.status == running.status == "error"
    assert "No worker picked this probe up" in queued.message
    assert "did not finish in time" in running.message


def test_a_swept_run_keeps_the_item_as_it_was(deployment):
    passed = make_run(deployment, "health", status="running")
    results_record({passed.pk: Observation(status="passed", message="", duration_ms=5)})
    assert ItemState.objects.get(deployment=deployment, item__key="health").state == "passed"
    make_run(deployment, "health", status="running")
    runs_sweep(now=timezone.now() + timedelta(minutes=3))
    state = ItemState.objects.get(deployment=deployment, item__key="health")
    assert state.state == "passed" and state.result["status"] == "error" and not state.result["reached"]
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="probe_result").count() == 1


def test_a_late_result_after_the_sweep_is_not_recorded(deployment):
    run = make_run(deployment, "health")
    assert [claimed.pk for claimed in runs_claim([run.pk])] == [run.pk]
    assert runs_claim([run.pk]) == []  # a redelivered task claims nothing
    runs_sweep(now=timezone.now() + timedelta(minutes=3))
    assert results_record({run.pk: Observation(status="passed", message="", duration_ms=5)}) == 0
    run.refresh_from_db()
    assert run.status == "error"


def test_a_result_arriving_after_sign_off_changes_nothing_in_the_deployment(deployment):
    from checklists.models import Deployment

    run = make_run(deployment, "health", status="running")
    Deployment.objects.filter(pk=deployment.pk).update(status="signed_off")
    assert results_record({run.pk: Observation(status="failed", message="down", duration_ms=5)}) == 1
    run.refresh_from_db()
    state = ItemState.objects.get(deployment=deployment, item__key="health")
    assert run.status == "failed"  # the run itself ends, so it never hangs
    assert (state.state, state.latest_run_id) == ("pending", None)
    assert not Event.objects.filter(deployment_ref=deployment.pk, kind="probe_result").exists()
