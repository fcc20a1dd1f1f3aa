"""A deployment's planned go-live: given at creation, and one `due_soon` from the schedule while anything blocks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.deployments import deployment_create
from checklists.items import item_state_set
from checklists.reminders import reminders_send
from checklists.tasks import send_reminders
from core.errors import InvalidInput
from core.models import Event
from ctrlready.celery import app


def start(people, environment, small_checklist, **extra):
    return deployment_create(
        environment=environment, checklist_slug=small_checklist.checklist.slug, release="v9", actor=people["engineer"],
        source="api", **extra,
    )


def due_soon(deployment):
    return Event.objects.filter(deployment_ref=deployment.pk, kind=Event.Kind.DUE_SOON)


def test_due_soon_is_appended_once_when_due_within_the_window_while_anything_blocks(people, environment, small_checklist, clock):
    deployment = start(people, environment, small_checklist, due_at=timezone.now() + timedelta(hours=30))
    assert reminders_send() == 0
    clock(hours=7)  # due in 23 hours: within CTRLREADY_DUE_SOON_HOURS (24)
    assert reminders_send() == 1
    assert reminders_send() == 0
    (event,) = due_soon(deployment)
    assert event.actor_name == "system"
    assert "item(s) still block sign-off" in event.note
    assert event.data["blocking"] == 5


def test_nothing_is_appended_for_a_deployment_that_nothing_blocks(people, environment, small_checklist):
    deployment = start(people, environment, small_checklist, due_at=timezone.now() + timedelta(hours=2))
    for key in ("rollback", "alerts-down", "alerts-errors"):
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    item_state_set(deployment_id=deployment.pk, key="health", state="na", note="n/a", actor=people["lead"], source="api")
    assert reminders_send() == 0
    assert not due_soon(deployment).exists()


def test_the_window_follows_the_setting(people, environment, small_checklist, settings):
    settings.CTRLREADY_DUE_SOON_HOURS = 1
    start(people, environment, small_checklist, due_at=timezone.now() + timedelta(hours=2))
    assert reminders_send() == 0


def test_a_due_time_in_the_past_is_refused(people, environment, small_checklist):
    with pytest.raises(InvalidInput, match="The due time is in the past"):
        start(people, environment, small_checklist, due_at=timezone.now() - timedelta(days=1))


def test_the_api_takes_due_at_and_shows_it(api, environment, small_checklist):
    answer = api.post("engineer", "deployments", {
        "environment": environment.pk, "checklist": small_checklist.checklist.slug, "release": "v2",
        "due_at": "2099-01-02T03:04:05Z",
    })
    assert answer.status_code == 201, answer.json()
    assert answer.json()["due_at"].startswith("2099-01-02T03:04:05")
    again = api.get("viewer", f"deployments/{answer.json()['id']}").json()
    assert again["due_at"] == answer.json()["due_at"]


def test_beat_sends_the_reminders_every_minute_to_a_registered_task(settings, people, environment, small_checklist):
    entry = settings.CELERY_BEAT_SCHEDULE["send-reminders"]
    assert (entry["task"], entry["schedule"]) == ("checklists.send_reminders", 60.0)
    assert entry["task"] in app.tasks and send_reminders.name == entry["task"]
    start(people, environment, small_checklist, due_at=timezone.now() + timedelta(hours=1))
    assert send_reminders() == 1
