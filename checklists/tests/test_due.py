"""A deployment's planned go-live: given at creation, and one `due_soon` from the schedule while anything blocks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.deployments import deployment_create, deployment_due_set
from checklists.items import item_state_set
from checklists.reminders import reminders_send
from checklists.tasks import send_reminders
from core.errors import Conflict, Forbidden, InvalidInput
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


def test_moving_the_due_time_arms_due_soon_again_and_is_recorded(people, environment, small_checklist, clock):
    deployment = start(people, environment, small_checklist, due_at=timezone.now() + timedelta(hours=2))
    assert reminders_send() == 1  # due within the window, items block
    later = timezone.now() + timedelta(hours=48)

    moved = deployment_due_set(deployment_id=deployment.pk, due_at=later, actor=people["engineer"], source="web")
    assert (moved.due_at, moved.due_soon_at) == (later, None)
    event = Event.objects.get(deployment_ref=deployment.pk, kind=Event.Kind.DUE_MOVED)
    assert (event.actor_name, event.source, event.data["due_at"]) == ("engineer", "web", later.isoformat())
    assert event.note.startswith(f"Due {later:%Y-%m-%d %H:%M} UTC (was ")
    deployment_due_set(deployment_id=deployment.pk, due_at=later, actor=people["engineer"], source="web")  # the same
    assert Event.objects.filter(deployment_ref=deployment.pk, kind=Event.Kind.DUE_MOVED).count() == 1

    assert reminders_send() == 0  # 48 hours away: outside the window
    clock(hours=25)
    assert reminders_send() == 1  # the new time's reminder
    assert due_soon(deployment).count() == 2

    cleared = deployment_due_set(deployment_id=deployment.pk, due_at=None, actor=people["lead"], source="api")
    assert cleared.due_at is None
    assert Event.objects.filter(kind=Event.Kind.DUE_MOVED).last().note.startswith("No longer due at ")


def test_moving_the_due_time_is_refused_to_a_viewer_into_the_past_and_once_signed_off(
    people, environment, small_checklist, deployment
):
    started = start(people, environment, small_checklist)
    with pytest.raises(Forbidden):
        deployment_due_set(deployment_id=started.pk, due_at=None, actor=people["viewer"], source="web")
    with pytest.raises(InvalidInput, match="The due time is in the past"):
        deployment_due_set(
            deployment_id=started.pk, due_at=timezone.now() - timedelta(hours=1), actor=people["engineer"], source="web"
        )
    started.status = "signed_off"
    started.save(update_fields=["status"])
    with pytest.raises(Conflict, match="signed off and locked"):
        deployment_due_set(
            deployment_id=started.pk, due_at=timezone.now() + timedelta(days=1), actor=people["lead"], source="web"
        )
    assert not Event.objects.filter(kind=Event.Kind.DUE_MOVED).exists()


def test_the_api_and_the_page_move_the_due_time(api, client, people, environment, small_checklist):
    started = start(people, environment, small_checklist)
    answer = api.put("engineer", f"deployments/{started.pk}/due", {"due_at": "2099-03-01T09:30:00Z"})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["due_at"].startswith("2099-03-01T09:30:00")
    refused = api.put("engineer", f"deployments/{started.pk}/due", {"due_at": "2001-01-01T00:00:00Z"})
    assert refused.status_code == 400 and "The due time is in the past" in refused.json()["error"]
    assert api.put("viewer", f"deployments/{started.pk}/due", {"due_at": None}).status_code == 403

    client.force_login(people["engineer"])
    page = client.get(f"/deployments/{started.pk}/").content.decode()
    assert "Move the due time" in page and 'value="2099-03-01T09:30"' in page
    assert client.post(f"/deployments/{started.pk}/due/", {"due_at": "2099-04-02T10:00"}).status_code == 302
    started.refresh_from_db()
    assert f"{started.due_at:%Y-%m-%d %H:%M}" == "2099-04-02 10:00"
    client.post(f"/deployments/{started.pk}/due/", {"due_at": ""})
    started.refresh_from_db()
    assert started.due_at is None
    client.force_login(people["viewer"])
    assert "Move the due time" not in client.get(f"/deployments/{started.pk}/").content.decode()
