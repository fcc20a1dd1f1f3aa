"""Probe runs: requesting them, claiming them, recording what they saw, ending the stuck ones."""

import json
import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from checklists.environments import environment_secrets, ssh_host_credentials
from checklists.models import Deployment, Environment, Item, ItemState
from checklists.probe_results import RunResult, item_results_apply, item_runs_mark
from checklists.spec import PUSHED_TYPES, REMOTE_TYPES
from core import roles
from core.actors import SYSTEM, actor_user
from core.db import db_retry, rows_save
from core.errors import Conflict, InvalidInput, NotFound, TooLarge, Unavailable
from core.events import event_append
from core.models import Event, Source
from core.queue import broker_reachable, task_send
from core.text import excerpt
from probes.models import ProbeRun
from probes.runners import judge_pushed, run_batch
from probes.runners.base import Observation, SSHTarget, Target

log = logging.getLogger(__name__)
State = ItemState.State
BATCH_CONCURRENCY = 20
DEFAULT_TIMEOUT = 10
#: The task that runs a batch (probes/tasks.py), sent by name.
EXECUTE_RUNS = "probes.execute_runs"


@dataclass(frozen=True)
class BatchLimits:
    soft: int
    hard: int


def batch_limits(specs: list[dict]) -> BatchLimits:
    """How long one task may take for these probes: the slowest wave of the batch, plus margin."""
    longest = max((_span(spec) for spec in specs), default=DEFAULT_TIMEOUT)
    waves = math.ceil(len(specs) / BATCH_CONCURRENCY) or 1
    # Load probes run one after another, and so do the ssh and host probes of each host.
    load = sum(_span(spec) for spec in specs if spec.get("type") in ("load", "ssh", "host"))
    hard = min(int(longest * waves + load + 45), settings.CTRLREADY_MAX_TASK_SECONDS)
    return BatchLimits(soft=hard - 15, hard=hard)


def _span(spec: dict) -> float:
    """The longest one probe can take: every attempt to its timeout, and the waits between them."""
    retries = int(spec.get("retries", 0))
    requests = len(spec.get("steps", ())) + (1 if spec.get("auth") else 0) or 1
    return float(spec.get("timeout", DEFAULT_TIMEOUT)) * requests * (retries + 1) + float(spec.get("retry_delay", 0)) * retries


def broker_check() -> None:
    if not broker_reachable(timeout=2.0):
        raise Unavailable("The probe queue cannot be reached right now; nothing was queued. Try again in a minute.")


def _deployment_for(deployment_id: int, actor) -> Deployment:
    """The deployment whose probes `actor` may run (404 where they may not see it, 403 where they only read it)."""
    deployment = Deployment.objects.select_related("environment__service").filter(pk=deployment_id).first()
    if deployment is None:
        raise NotFound("This deployment does not exist.")
    roles.require(actor, "run", team=deployment.owner_team_id)
    return deployment


def runs_request(*, deployment_id: int, keys: list[str] | None, actor, source: str) -> int:
    """Queue runs for the given automated items (all of them when `keys` is None); returns how many."""
    deployment = _deployment_for(deployment_id, actor)
    if deployment.locked:
        raise Conflict("This deployment is locked; a lead can reopen it before probes run again.")
    items = Item.objects.filter(version_id=deployment.version_id, probe__isnull=False).order_by("position")
    if keys is not None:
        wanted = list(dict.fromkeys(keys))
        items = list(items.filter(key__in=wanted))
        pushed = [item.key for item in items if item.probe.get("type") in PUSHED_TYPES]
        if pushed:
            raise InvalidInput(
                f"`{pushed[0]}` is checked by a result CI pushes (POST deployments/{deployment_id}/results), not by a probe run."
            )
        found = {item.key for item in items}
        missing = [key for key in wanted if key not in found]
        if missing:
            manual = set(Item.objects.filter(version_id=deployment.version_id, key__in=missing).values_list("key", flat=True))
            if manual:
                raise InvalidInput(f"`{excerpt(sorted(manual)[0])}` is a manual item: it has no probe to run.")
            raise NotFound(f"This deployment's checklist has no item `{excerpt(missing[0])}`.")
    else:
        items = [item for item in items if item.probe.get("type") not in PUSHED_TYPES]
    in_flight = set(
        ProbeRun.objects.filter(
            deployment=deployment, status__in=[ProbeRun.Status.QUEUED, ProbeRun.Status.RUNNING]
        ).values_list("item_id", flat=True)
    )
    items = [item for item in items if item.pk not in in_flight]  # a second click does not queue twice
    if not items:
        return 0
    broker_check()

    now = timezone.now()
    grace = timedelta(seconds=settings.CTRLREADY_RUN_GRACE_SECONDS)
    with transaction.atomic():
        size = settings.CTRLREADY_PROBE_BATCH_SIZE
        # Network probes and SSH probes go in batches of their own: an HTTP result is not held back
        # while the batch's slower commands run on the hosts, and each kind keeps one loop or one
        # connection per host per batch.
        network = [item for item in items if item.probe.get("type") not in REMOTE_TYPES]
        remote = [item for item in items if item.probe.get("type") in REMOTE_TYPES]
        batches = [group[i : i + size] for group in (network, remote) for i in range(0, len(group), size)]
        for batch_items in batches:
            limits = batch_limits([item.probe for item in batch_items])
            batch = uuid.uuid4().hex
            runs = ProbeRun.objects.bulk_create(
                [
                    ProbeRun(
                        deployment=deployment,
                        item=item,
                        requested_by=actor_user(actor),
                        deadline=now + timedelta(seconds=limits.hard) + grace,
                        batch=batch,
                    )
                    for item in batch_items
                ]
            )
            run_ids = [run.pk for run in runs]
            item_runs_mark(
                deployment_id=deployment.pk, item_ids=[item.pk for item in batch_items],
                run_state=ItemState.RunState.QUEUED,
            )
            transaction.on_commit(lambda ids=run_ids, limits=limits: _publish(ids, limits))
        event_append(
            kind=Event.Kind.RUN_REQUESTED,
            source=source,
            actor=actor,
            deployment=deployment,
            note=f"{len(items)} probe(s) queued",
            data={"items": [item.key for item in items]} if keys is not None else {"all": True},
        )
    return len(items)


def _publish(run_ids: list[int], limits: BatchLimits) -> None:
    """Hand a batch to the queue; if the queue went away since the check, end its runs now, not at the sweep."""
    try:
        task_send(EXECUTE_RUNS, args=(run_ids,), soft_time_limit=limits.soft, time_limit=limits.hard)
    except Exception:
        log.exception("could not publish a probe batch", extra={"runs": len(run_ids)})
        message = "The probe queue could not be reached, so this run never started. Run it again."
        observation = Observation(status="error", message=message, duration_ms=0, conditions=[], observed={})
        results_record({pk: observation for pk in run_ids}, observed_target=False)


def runs_claim(run_ids: list[int]) -> list[ProbeRun]:
    """Move the still-queued runs among `run_ids` to running; a redelivered task gets only what is left."""
    with transaction.atomic():
        claimable = list(
            ProbeRun.objects.select_for_update(skip_locked=True)
            .filter(pk__in=run_ids, status=ProbeRun.Status.QUEUED)
            .values_list("pk", flat=True)
        )
        if not claimable:
            return []
        ProbeRun.objects.filter(pk__in=claimable, status=ProbeRun.Status.QUEUED).update(
            status=ProbeRun.Status.RUNNING, started_at=timezone.now()
        )
        claimed = list(
            ProbeRun.objects.filter(pk__in=claimable).values_list("deployment_id", "item_id").order_by("deployment_id")
        )
        for deployment_id in {deployment_id for deployment_id, _ in claimed}:
            item_runs_mark(
                deployment_id=deployment_id,
                item_ids=[item_id for d, item_id in claimed if d == deployment_id],
                run_state=ItemState.RunState.RUNNING,
            )
    return list(
        ProbeRun.objects.filter(pk__in=claimable).select_related("item", "deployment__environment__service").order_by("pk")
    )


def environment_target(environment: Environment, deployment: Deployment | None = None) -> Target:
    secrets = environment_secrets(environment)
    ssh = []
    for host in environment.ssh_hosts.all():
        private_key, password = ssh_host_credentials(host)
        ssh.append(SSHTarget(
            host=host.host, port=host.port, username=host.username, private_key=private_key, password=password,
            host_key=host.host_key or None, role=host.role,
        ))
    return Target(
        base_url=environment.base_url,
        allowed_hosts=tuple(environment.allowed_hosts or ()),
        variables=dict(environment.variables or {}),
        secrets=secrets,
        ssh=tuple(ssh),
        ca_bundle=environment.ca_bundle or None,
        dns_servers=tuple(environment.dns_servers or ()),
        context={
            "environment.name": environment.name,
            "service.name": environment.service.name,
            **({"deployment.release": deployment.release} if deployment is not None else {}),
        },
    )


_OUTCOME = {
    "passed": ProbeRun.Status.PASSED,
    "failed": ProbeRun.Status.FAILED,
    "error": ProbeRun.Status.ERROR,
    "not_configured": ProbeRun.Status.ERROR,
}


def results_record(results: dict[int, Observation], *, finished_at=None, observed_target: bool = True) -> int:
    """Write finished runs, the item states they change and their events, in one transaction.

    `observed_target` is False when the run ended without reaching the environment (the worker
    died, the queue was down): the run is ended but its item keeps its state.
    Only runs still `running` are written, so a result that arrives after the sweep ended
    its run, or twice from a redelivered task, is not recorded again.  Returns how many were written.
    """
    if not results:
        return 0
    finished_at = finished_at or timezone.now()
    with transaction.atomic():
        runs = list(
            ProbeRun.objects.select_for_update()
            .filter(pk__in=list(results), status__in=[ProbeRun.Status.RUNNING, ProbeRun.Status.QUEUED])
            .select_related("item", "deployment")
            .order_by("pk")
        )
        for run in runs:
            observation = results[run.pk]
            run.status = _OUTCOME[observation.status]
            run.not_configured = observation.status == "not_configured"
            run.finished_at = finished_at
            run.duration_ms = max(0, int(observation.duration_ms))
            run.message = observation.message[:2000]
            run.conditions = [
                {"expr": c.expr, "ok": c.ok, "observed": c.observed} for c in observation.conditions
            ]
            run.observed = observation.observed
            run.flaky = observation.flaky
            run.hosts = observation.hosts
        rows_save(
            runs,
            ["status", "not_configured", "finished_at", "duration_ms", "message", "conditions", "observed", "flaky", "hosts"],
        )
        changed = item_results_apply([
            RunResult(
                run_id=run.pk, deployment_id=run.deployment_id, item_id=run.item_id,
                result=run_result(run, reached=observed_target), finished_at=run.finished_at,
                passed=run.status == ProbeRun.Status.PASSED,
            )
            for run in runs
        ])
        if changed:  # these runs explain the item's history: pruning keeps them however old
            ProbeRun.objects.filter(pk__in=changed).update(changed_state=True)
    return len(runs)


def run_result(run: ProbeRun, *, reached: bool = True) -> dict:
    """What an item keeps of its latest run (`ItemState.result`): what the pages and the API show."""
    return {
        "run": run.pk,
        "status": run.status,
        "not_configured": run.not_configured,
        "reached": reached,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_ms": run.duration_ms,
        "message": run.message,
        "conditions": run.conditions,
        "flaky": run.flaky,
        "hosts": [
            {"host": h.get("host"), "role": h.get("role"), "status": h.get("status"), "message": h.get("message"),
             "conditions": h.get("conditions", [])}
            for h in run.hosts
        ],
        **({"details_url": run.observed["DETAILS_URL"]} if isinstance(run.observed, dict) and run.observed.get("DETAILS_URL") else {}),
    }


def runs_execute(run_ids: list[int], *, interrupts: tuple[type[BaseException], ...] = ()) -> int:
    """Claim the runs, probe the environment once for all of them, record the results.

    `interrupts` stop the batch (the task's time limit): what finished is recorded, the rest end as errors.
    Claiming and recording ride out a database restart (both are safe to repeat), so a run in
    flight while PostgreSQL restarts still ends with its result instead of waiting for the sweep.
    """
    runs = db_retry(lambda: runs_claim(run_ids))
    if not runs:
        return 0
    deployment = runs[0].deployment
    try:
        target = environment_target(deployment.environment, deployment)
    except Exception as error:  # a secret that no longer decrypts, say
        observation = Observation(
            status="error", message=f"The environment's settings cannot be read: {error}", duration_ms=0,
            conditions=[], observed={},
        )
        return db_retry(lambda: results_record({run.pk: observation for run in runs}))
    observations = run_batch(
        {run.pk: run.item.probe for run in runs}, target, max_concurrency=BATCH_CONCURRENCY, interrupts=interrupts
    )
    return db_retry(lambda: results_record(observations))


#: A pushed `data` document larger than this (as JSON) is refused.
MAX_PUSHED_BYTES = 256 * 1024


def external_result_record(
    *,
    deployment_id: int,
    key: str,
    status: str,
    summary: str = "",
    details_url: str = "",
    data: object = None,
    at=None,
    actor,
    source: str,
) -> ProbeRun:
    """A result CI pushes for an `external` item: a probe run, judged by the item's conditions on `data`,
    recorded on the item through the same path as a worker's results."""
    deployment = _deployment_for(deployment_id, actor)
    if status not in ("passed", "failed"):
        raise InvalidInput("`status` is `passed` or `failed`: what the CI job concluded.")
    data = {} if data is None else data
    try:
        size = len(json.dumps(data))
    except (TypeError, ValueError):
        raise InvalidInput("`data` must be a JSON document.") from None
    if size > MAX_PUSHED_BYTES:
        raise TooLarge(f"`data` is larger than {MAX_PUSHED_BYTES // 1024} KB; push a summary and link the rest with `details_url`.")
    summary = (summary or "").strip()[:500]
    details_url = (details_url or "").strip()
    if details_url and not details_url.lower().startswith(("http://", "https://")) or len(details_url) > 1000:
        raise InvalidInput("`details_url` must be an http(s) link to the CI run, up to 1000 characters.")
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        at = timezone.make_aware(at, timezone.UTC)
    if at > now + timedelta(minutes=5):
        raise InvalidInput("`at` is in the future: give when the CI job produced the result.")
    if deployment.locked:
        raise Conflict("This deployment is locked; a lead can reopen it before results are pushed again.")
    item = Item.objects.filter(version_id=deployment.version_id, key=key).first()
    if item is None:
        raise NotFound(f"This deployment's checklist has no item `{key}`.")
    if not item.probe or item.probe.get("type") != "external":
        raise InvalidInput(f"`{key}` is not an `external` item: only those take pushed results.")
    observation = judge_pushed(
        item.probe, status=status, data=data, age_minutes=(now - at).total_seconds() / 60,
        secrets=list(environment_secrets(deployment.environment).values()),
    )
    if summary:
        observation.message = f"{summary} — {observation.message}"
    if details_url:
        observation.observed["DETAILS_URL"] = details_url
    with transaction.atomic():
        run = ProbeRun.objects.create(
            deployment=deployment, item=item, requested_by=actor_user(actor), deadline=now,
            status=ProbeRun.Status.RUNNING, started_at=at, batch="pushed",
        )
        results_record({run.pk: observation}, finished_at=now)
        event_append(
            kind=Event.Kind.RUN_REQUESTED, source=source, actor=actor, deployment=deployment,
            note=f"Result pushed for {key}: {status}", data={"items": [key], "pushed": True},
        )
    run.refresh_from_db()
    return run


def runs_sweep(*, now=None) -> int:
    """End every run still unfinished past its deadline — started or not — as an error."""
    now = now or timezone.now()
    overdue = list(
        ProbeRun.objects.filter(
            status__in=[ProbeRun.Status.QUEUED, ProbeRun.Status.RUNNING], deadline__lt=now
        ).values_list("pk", "status")
    )
    if not overdue:
        return 0
    results = {}
    for pk, status in overdue:
        message = (
            "The probe did not finish in time: its worker was stopped or lost its connection. Run it again."
            if status == ProbeRun.Status.RUNNING
            else "No worker picked this probe up in time: check that a Celery worker is running, then run it again."
        )
        results[pk] = Observation(status="error", message=message, duration_ms=0, conditions=[], observed={})
    return results_record(results, finished_at=now, observed_target=False)


def runs_sweep_batch(run_ids: list[int], message: str) -> int:
    """End the unfinished runs of one batch as errors (its task ran out of time)."""
    unfinished = ProbeRun.objects.filter(
        pk__in=run_ids, status__in=[ProbeRun.Status.QUEUED, ProbeRun.Status.RUNNING]
    ).values_list("pk", flat=True)
    observation = Observation(status="error", message=message, duration_ms=0, conditions=[], observed={})
    return results_record({pk: observation for pk in unfinished}, observed_target=False)


def deployment_first_runs(deployment_id: int) -> int:
    """A new deployment's automated items, queued at once; nothing if it is gone, locked or the queue is down
    (beat's re-check runs them then)."""
    try:
        return runs_request(deployment_id=deployment_id, keys=None, actor=SYSTEM, source=Source.PROBE)
    except (Unavailable, Conflict, NotFound):
        return 0


def recheck_open_deployments() -> int:
    """Beat: re-run the automated items of every open deployment."""
    queued = 0
    for deployment_id in Deployment.objects.filter(status=Deployment.Status.OPEN).values_list("pk", flat=True):
        try:
            queued += runs_request(deployment_id=deployment_id, keys=None, actor=SYSTEM, source=Source.PROBE)
        except Unavailable:
            break
    return queued


# --- Retention ---------------------------------------------------------------------

#: Runs deleted per statement (each its own short transaction), so pruning never holds a long lock.
PRUNE_BATCH = 1000
#: Beat prunes the open deployments, and those signed off this recently (their last runs ended since).
PRUNE_LOOKBACK = timedelta(days=1)

# A deployment's runs that nothing needs any more: older than the latest `kept` of their item,
# finished, not a run that changed their item's state, and not a run an item shows (`latest_run_id`
# of the deployment's own items — in a signed-off deployment, the runs its sign-off saw — or of
# items that carried its evidence over to a later deployment).  Ranked over all the item's runs, so
# "the latest N" counts every run; the (deployment, item, -requested_at) index hands them over item
# by item (an incremental sort orders each item's few), so the LIMIT ends the scan early.
_PRUNABLE_SQL = """
SELECT ranked.id FROM (
    SELECT id, status, changed_state,
           ROW_NUMBER() OVER (PARTITION BY item_id ORDER BY id DESC) AS newer
    FROM {runs} WHERE deployment_id = %(deployment)s
) ranked
WHERE ranked.newer > %(kept)s AND NOT ranked.changed_state AND ranked.status IN (%(passed)s, %(failed)s, %(error)s)
  AND ranked.id NOT IN (
      SELECT latest_run_id FROM {states}
      WHERE (deployment_id = %(deployment)s OR carried_from_id = %(deployment)s) AND latest_run_id IS NOT NULL
  )
LIMIT %(limit)s
"""


def runs_prune(*, deployment_ids: Iterable[int] | None = None, batch_size: int = PRUNE_BATCH) -> int:
    """Delete the probe runs that no longer mean anything; returns how many.

    Per item of a deployment, kept: the latest `CTRLREADY_RUNS_KEPT` runs, every run that changed
    the item's state, the run the item shows (in a signed-off deployment, the run its sign-off saw)
    and every unfinished run.  Events are never touched.  Every deployment when `deployment_ids`
    is None.  At most `batch_size` rows go per statement, each in its own transaction, so ticks and
    results carry on meanwhile: nothing but the deleted rows themselves is ever locked.
    """
    if deployment_ids is None:
        deployment_ids = list(Deployment.objects.order_by("pk").values_list("pk", flat=True))
    deleted = 0
    for deployment_id in deployment_ids:
        while True:
            ids = runs_prunable(deployment_id=deployment_id, limit=batch_size)
            if ids:
                deleted += ProbeRun.objects.filter(pk__in=ids, changed_state=False).delete()[0]
            if len(ids) < batch_size:
                break
    return deleted


def runs_prunable(*, deployment_id: int, limit: int) -> list[int]:
    """Up to `limit` ids of the deployment's runs that retention no longer keeps (see `runs_prune`)."""
    sql = _PRUNABLE_SQL.format(
        runs=connection.ops.quote_name(ProbeRun._meta.db_table),
        states=connection.ops.quote_name(ItemState._meta.db_table),
    )
    kept = max(settings.CTRLREADY_RUNS_KEPT, 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "deployment": deployment_id, "kept": kept, "limit": limit,
            "passed": ProbeRun.Status.PASSED, "failed": ProbeRun.Status.FAILED, "error": ProbeRun.Status.ERROR,
        })
        return [row[0] for row in cursor.fetchall()]


def runs_prune_recent(*, now=None) -> int:
    """Beat: prune the deployments that can have new runs — the open ones and the lately signed off."""
    since = (now or timezone.now()) - PRUNE_LOOKBACK
    ids = list(
        Deployment.objects.filter(Q(status=Deployment.Status.OPEN) | Q(signed_off_at__gte=since))
        .order_by("pk").values_list("pk", flat=True)
    )
    return runs_prune(deployment_ids=ids)
