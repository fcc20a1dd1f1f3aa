"""Beat's jobs and the worker's start-up check."""

import pytest

from checklists.models import Deployment
from core.models import Event
from probes.models import ProbeRun
from probes.services import batch_limits, recheck_open_deployments


def test_recheck_queues_the_probes_of_open_deployments_only(deployment, broker_up, django_capture_on_commit_callbacks, monkeypatch):
    published = []
    monkeypatch.setattr("probes.services.task_send", lambda name, args, **limits: published.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert recheck_open_deployments() == 1
    assert published and ProbeRun.objects.filter(deployment=deployment).count() == 1
    event = Event.objects.get(deployment_ref=deployment.pk, kind="run_requested")
    assert (event.actor_name, event.source) == ("system", "probe")

    Deployment.objects.filter(pk=deployment.pk).update(status="signed_off")
    ProbeRun.objects.all().delete()
    assert recheck_open_deployments() == 0


def test_task_limits_stay_below_the_redis_visibility_timeout(settings):
    from ctrlready.celery import check_visibility_timeout

    limits = batch_limits([{"type": "http", "timeout": 300}] * 1000)
    assert limits.soft < limits.hard <= settings.CTRLREADY_MAX_TASK_SECONDS
    check_visibility_timeout(settings.CELERY_BROKER_TRANSPORT_OPTIONS, settings.CTRLREADY_MAX_TASK_SECONDS)
    with pytest.raises(RuntimeError, match="visibility_timeout"):
        check_visibility_timeout({"visibility_timeout": 600}, settings.CTRLREADY_MAX_TASK_SECONDS)
