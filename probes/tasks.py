"""Celery tasks: take ids, hand off to the services.  Services send them by name (`probes.…`)."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from checklists.deployments import FIRST_RUNS_TASK
from checklists.facts import stale_results_note
from probes import services

log = logging.getLogger(__name__)


@shared_task(name=services.EXECUTE_RUNS, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_runs(run_ids: list[int]) -> int:
    try:
        return services.runs_execute(run_ids, interrupts=(SoftTimeLimitExceeded,))
    except* SoftTimeLimitExceeded:
        # The limit fired outside the probes (claiming, recording): end what is left of the batch now.
        log.warning("probe batch hit its time limit", extra={"runs": len(run_ids)})
        services.runs_sweep_batch(run_ids, "The probe did not finish within its time limit.")
    return 0


@shared_task(name=FIRST_RUNS_TASK, ignore_result=True)
def run_new_deployment(deployment_id: int) -> int:
    return services.deployment_first_runs(deployment_id)


@shared_task(name="probes.sweep_stuck_runs", ignore_result=True)
def sweep_stuck_runs() -> int:
    return services.runs_sweep()


@shared_task(name="probes.recheck_open_deployments", ignore_result=True)
def recheck_open_deployments() -> int:
    return services.recheck_open_deployments()


@shared_task(name="probes.prune_runs", ignore_result=True)
def prune_runs() -> int:
    return services.runs_prune_recent()


@shared_task(name="probes.note_stale_results", ignore_result=True)
def note_stale_results() -> int:
    return stale_results_note()
