"""POST deployments/<id>/runs: who may, what is recorded, and nothing when the queue is down."""

import pytest

from core.models import Event
from probes.models import ProbeRun


def runs_url(deployment):
    return f"deployments/{deployment.pk}/runs"


def test_engineer_queues_every_automated_item(api, deployment, django_capture_on_commit_callbacks, monkeypatch):
    published = []
    monkeypatch.setattr(
        "probes.services.task_send", lambda name, args, **limits: published.append((args, limits))
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("engineer", runs_url(deployment), {})
    assert response.status_code == 202 and response.json() == {"queued": 1}
    run = ProbeRun.objects.get(deployment=deployment)
    assert run.item.key == "health" and run.status == "queued" and run.deadline > run.requested_at
    [(args, limits)] = published
    assert args == ([run.pk],) and 0 < limits["soft_time_limit"] < limits["time_limit"]
    event = Event.objects.get(deployment_ref=deployment.pk, kind="run_requested")
    assert (event.actor_name, event.source) == ("engineer", "api")


def test_viewer_may_not_run_probes(api, deployment):
    response = api.post("viewer", runs_url(deployment), {})
    assert response.status_code == 403
    assert not ProbeRun.objects.exists()


def test_manual_item_has_no_probe_to_run(api, deployment):
    response = api.post("engineer", runs_url(deployment), {"items": ["rollback"]})
    assert response.status_code == 400 and "manual" in response.json()["error"]


def test_unknown_item_is_404(api, deployment):
    assert api.post("engineer", runs_url(deployment), {"items": ["nope"]}).status_code == 404


def test_queue_down_answers_503_and_records_nothing(api, deployment):
    from ctrlready.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = api.post("engineer", runs_url(deployment), {})
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert "queue" in response.json()["error"]
    assert not ProbeRun.objects.exists()
    assert not Event.objects.filter(kind="run_requested").exists()


@pytest.mark.django_db
def test_locked_deployment_runs_nothing(api, deployment):
    from checklists.models import Deployment

    Deployment.objects.filter(pk=deployment.pk).update(status="signed_off")
    assert api.post("engineer", runs_url(deployment), {}).status_code == 409


def test_a_second_request_does_not_queue_what_is_already_queued(api, deployment, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("probes.services.task_send", lambda name, args, **limits: None)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("engineer", runs_url(deployment), {}).json() == {"queued": 1}
        assert api.post("engineer", runs_url(deployment), {}).json() == {"queued": 0}
    assert ProbeRun.objects.filter(deployment=deployment).count() == 1


def test_a_batch_the_queue_refuses_ends_at_once_as_an_error(api, deployment, django_capture_on_commit_callbacks, monkeypatch):
    def refuse(args, **limits):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr("probes.services.task_send", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("engineer", runs_url(deployment), {}).status_code == 202
    run = ProbeRun.objects.get(deployment=deployment)
    assert run.status == "error" and "queue could not be reached" in run.message
