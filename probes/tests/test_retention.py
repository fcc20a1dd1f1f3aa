"""Runs are kept while they mean something: the latest N of each item, every run that changed its
item, the runs a sign-off saw.  Pruning deletes the rest in short batches and never touches events."""

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from checklists.deployments import deployment_create
from checklists.models import Deployment, ItemState, SignOff
from checklists.selectors import deployment_snapshot, digest_of, item_rows
from checklists.signoffs import deployment_reopen, signoff_record
from checklists.tests.test_carry_over import checklist, production, sign, staging, start  # noqa: F401 (fixtures)
from core.models import Event
from probes.models import ProbeRun
from probes.runners.base import Observation
from probes.services import results_record, runs_prune, runs_prune_recent


@pytest.fixture
def kept(settings):
    settings.CTRLREADY_RUNS_KEPT = 3
    return 3


def finished_runs(deployment, key: str, count: int, *, status: str = "passed") -> list[ProbeRun]:
    """`count` runs of an item that ended without changing it (as beat's re-checks of a steady item do)."""
    item = deployment.version.items.get(key=key)
    now = timezone.now()
    return ProbeRun.objects.bulk_create(
        ProbeRun(deployment=deployment, item=item, status=status, deadline=now, started_at=now, finished_at=now)
        for _ in range(count)
    )


def run_ids(deployment, key: str) -> list[int]:
    return list(ProbeRun.objects.filter(deployment=deployment, item__key=key).order_by("id").values_list("id", flat=True))


def test_a_run_that_changed_its_item_survives_pruning_however_old(deployment, probe_result, kept):
    failed = probe_result(deployment, "health", "failed")
    recovered = probe_result(deployment, "health", "passed")
    steady = [probe_result(deployment, "health", "passed") for _ in range(8)]
    ProbeRun.objects.filter(pk__in=[failed.pk, recovered.pk]).update(
        requested_at=timezone.now() - timedelta(days=400), finished_at=timezone.now() - timedelta(days=400)
    )
    assert [run.changed_state for run in (failed, recovered, *steady)] == [True, True] + [False] * 8

    assert runs_prune() == 5
    assert run_ids(deployment, "health") == [failed.pk, recovered.pk] + [run.pk for run in steady[-kept:]]
    # Every event that names a run still names one that exists, and no event went.
    named = [event.data["run"] for event in Event.objects.filter(deployment_ref=deployment.pk, kind="probe_result")]
    assert named == [failed.pk, recovered.pk]
    assert ProbeRun.objects.filter(pk__in=named).count() == 2


def test_the_latest_runs_of_each_item_survive_per_deployment(deployment, people, probe_result, small_checklist, kept):
    other = deployment_create(
        environment=deployment.environment, checklist_slug=small_checklist.checklist.slug, release="v2",
        actor=people["engineer"], source="api",
    )
    probe_result(deployment, "health", "passed")
    probe_result(other, "health", "passed")
    older = finished_runs(deployment, "health", 6) + finished_runs(other, "health", 2)
    newest = probe_result(deployment, "health", "passed")
    unfinished = ProbeRun.objects.create(
        deployment=other, item=older[0].item, status="queued", deadline=timezone.now() + timedelta(hours=1)
    )
    before_other = run_ids(other, "health")

    assert runs_prune() == 4
    ids = run_ids(deployment, "health")
    assert ids[-kept:] == [older[4].pk, older[5].pk, newest.pk] and len(ids) == kept + 1  # + the first, which changed it
    assert run_ids(other, "health") == before_other  # 1 changed + 2 + 1 queued: nothing over its 3
    assert ProbeRun.objects.filter(pk=unfinished.pk, status="queued").exists()
    assert runs_prune() == 0


def test_an_unfinished_run_is_never_pruned(deployment, kept):
    item = deployment.version.items.get(key="health")
    stuck = ProbeRun.objects.create(deployment=deployment, item=item, status="running", deadline=timezone.now())
    finished_runs(deployment, "health", 5)
    assert runs_prune() == 2
    assert ProbeRun.objects.filter(pk=stuck.pk).exists()  # the sweep still has to end it


def pages_of(client, deployment) -> list[str]:
    """The deployment page and its history as a person sees them (less the per-request CSRF token and nonce)."""
    return [
        re.sub(r'[A-Za-z0-9]{64}|nonce="[^"]*"', "", client.get(url).content.decode())
        for url in (f"/deployments/{deployment.pk}/", f"/deployments/{deployment.pk}/history/")
    ]


def test_a_signed_off_deployment_reads_the_same_after_pruning(
    ready_deployment, people, api, client, probe_result, kept
):
    deployment = ready_deployment
    seen = probe_result(deployment, "health", "passed").pk  # still passing: it changed nothing
    assert ItemState.objects.get(deployment=deployment, item__key="health").latest_run_id == seen
    signoff = signoff_record(
        deployment_id=deployment.pk, role="lead", digest=deployment_snapshot(deployment).digest,
        actor=people["lead"], source="api",
    )
    # Runs still in flight at sign-off end afterwards: they are recorded, but the item keeps what was signed.
    item = deployment.version.items.get(key="health")
    late = ProbeRun.objects.bulk_create(
        ProbeRun(deployment=deployment, item=item, status="running", deadline=timezone.now()) for _ in range(5)
    )
    results_record({run.pk: Observation(status="failed", message="down", duration_ms=3) for run in late})
    deployment.refresh_from_db()
    digest = deployment_snapshot(deployment).digest
    before = api.get("viewer", f"deployments/{deployment.pk}").json()
    client.force_login(people["viewer"])
    pages = pages_of(client, deployment)
    events_before = list(Event.objects.filter(deployment_ref=deployment.pk).values_list("id", flat=True))

    assert runs_prune() == 2  # of 7: the first (it passed the item), the one the sign-off saw, the latest 3 stay
    assert ProbeRun.objects.filter(pk=seen).exists()
    assert deployment_snapshot(deployment).digest == digest
    # What the signer saw (the same rows, while the deployment was still open) still reads the same.
    deployment.status = Deployment.Status.OPEN
    assert digest_of(deployment, item_rows(deployment)) == SignOff.objects.get(pk=signoff.pk).digest
    assert api.get("viewer", f"deployments/{deployment.pk}").json() == before
    assert pages_of(client, deployment) == pages
    assert list(Event.objects.filter(deployment_ref=deployment.pk).values_list("id", flat=True)) == events_before


def test_a_run_carried_to_a_later_deployment_survives_pruning_of_its_own(
    staging, production, people, probe_result, kept  # noqa: F811 (the fixtures imported above)
):
    """Evidence carried over names a run of the deployment it was attested in, which may go on."""
    deployment_reopen(deployment_id=staging.pk, reason="One more look", actor=people["lead"], source="api")
    seen = probe_result(staging, "contract", "passed").pk  # passed again: it changed nothing
    staging.refresh_from_db()
    sign(staging, people)
    later = start(production, people, from_id=staging.pk)
    assert ItemState.objects.get(deployment=later, item__key="contract").latest_run_id == seen
    deployment_reopen(deployment_id=staging.pk, reason="Re-checked since", actor=people["lead"], source="api")
    newer = [probe_result(staging, "contract", "passed").pk for _ in range(kept + 1)]
    digest = deployment_snapshot(later).digest

    assert runs_prune() == 1  # of staging's 6: the first (it passed the item), the carried one, the latest 3
    assert ProbeRun.objects.filter(pk=seen).exists() and not ProbeRun.objects.filter(pk=newer[0]).exists()
    assert deployment_snapshot(later).digest == digest


def test_beat_prunes_open_and_lately_signed_off_deployments_only(deployment, people, small_checklist, kept):
    long_signed = deployment_create(
        environment=deployment.environment, checklist_slug=small_checklist.checklist.slug, release="v0",
        actor=people["engineer"], source="api",
    )
    lately_signed = deployment_create(
        environment=deployment.environment, checklist_slug=small_checklist.checklist.slug, release="v0.9",
        actor=people["engineer"], source="api",
    )
    now = timezone.now()
    Deployment.objects.filter(pk=long_signed.pk).update(status="signed_off", signed_off_at=now - timedelta(days=3))
    Deployment.objects.filter(pk=lately_signed.pk).update(status="signed_off", signed_off_at=now - timedelta(hours=2))
    for each in (deployment, long_signed, lately_signed):
        finished_runs(each, "health", 5)

    assert runs_prune_recent(now=now) == 4  # 2 each from the open one and the one signed off today
    assert len(run_ids(long_signed, "health")) == 5  # untouched until `prune_runs` goes over everything
    assert runs_prune() == 2


def test_pruning_goes_in_batches(deployment, kept, django_assert_max_num_queries):
    finished_runs(deployment, "health", 3 + 25)
    with django_assert_max_num_queries(12) as captured:
        assert runs_prune(deployment_ids=[deployment.pk], batch_size=10) == 25
    deletes = [query["sql"] for query in captured.captured_queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 3


def test_prune_runs_command_says_how_many(deployment, kept, capsys):
    finished_runs(deployment, "health", 4)
    call_command("prune_runs")
    assert capsys.readouterr().out.strip() == "Deleted 1 probe run."
    call_command("prune_runs")
    assert capsys.readouterr().out.strip() == "Deleted 0 probe runs."


@pytest.mark.django_db(transaction=True)
def test_runs_recorded_before_marking_existed_are_marked_from_their_events(deployment):
    """The migration that adds the mark finds the runs that changed their items in the history."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("probes", "0002_flaky_hosts")])
    apps = executor.loader.project_state([("probes", "0002_flaky_hosts")]).apps
    OldRun = apps.get_model("probes", "ProbeRun")
    now = timezone.now()
    item_id = deployment.version.items.get(key="health").pk
    changed, steady = (
        OldRun.objects.create(deployment_id=deployment.pk, item_id=item_id, status="passed", deadline=now)
        for _ in range(2)
    )
    Event.objects.create(kind="probe_result", source="probe", deployment_ref=deployment.pk, data={"run": changed.pk})
    Event.objects.create(kind="run_requested", source="probe", deployment_ref=deployment.pk, data={"all": True})

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert dict(ProbeRun.objects.values_list("pk", "changed_state")) == {changed.pk: True, steady.pk: False}
