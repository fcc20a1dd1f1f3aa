"""The outbox: a notification is written in the transaction of its event, and only for what someone hears about."""

import pytest
from django.db import transaction

from checklists.facts import stale_results_note
from checklists.items import item_state_set
from checklists.models import Environment, Service
from checklists.selectors import deployment_snapshot
from checklists.signoffs import deployment_reopen, signoff_record
from core.actors import SYSTEM
from core.events import event_append
from core.models import Event
from notify.models import Delivery, PersonalSetting
from notify.outbox import outbox_write
from notify.services import personal_email_set

pytestmark = pytest.mark.django_db


def kinds(deployment) -> list[str]:
    return list(Event.objects.filter(deployment_ref=deployment.pk).values_list("kind", flat=True))


def fail(deployment, people, key="rollback"):
    return item_state_set(deployment_id=deployment.pk, key=key, state="failed", actor=people["engineer"], source="api")


def test_a_change_nobody_hears_about_costs_no_query(subscribe, deployment, django_assert_num_queries):
    subscribe()
    event = Event(kind=Event.Kind.NOTE, source="api", deployment_ref=deployment.pk)
    with django_assert_num_queries(0):
        assert outbox_write([event]) == []


def test_a_note_costs_the_same_queries_with_or_without_subscriptions(deployment, people, subscribe, sent, django_assert_num_queries):
    def note(text):
        item_state_set(deployment_id=deployment.pk, key="rollback", note=text, actor=people["engineer"], source="api")

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as before:
        note("first")
    subscribe()
    with django_assert_num_queries(len(before.captured_queries)):
        note("second")


def test_a_failed_item_writes_one_delivery_per_matching_subscription(deployment, people, subscribe, team, sent, django_capture_on_commit_callbacks):
    service = deployment.environment.service
    service.team = team
    service.save()
    other = Environment.objects.create(service=Service.objects.create(name="other"), name="prod", base_url="http://127.0.0.1:9")
    everything = subscribe().subscription
    failures = subscribe(events=["item_failed"], environment=deployment.environment_id).subscription
    of_team = subscribe(events=["item_failed"], team="payments").subscription
    of_service = subscribe(events=["item_failed"], service=service.name).subscription
    subscribe(events=["signed_off"])  # another kind
    subscribe(environment=other.pk)  # another environment
    subscribe(service="other")  # another service

    with django_capture_on_commit_callbacks(execute=True):
        fail(deployment, people)

    deliveries = Delivery.objects.filter(kind="item_failed")
    assert {d.subscription_id for d in deliveries} == {everything.pk, failures.pk, of_team.pk, of_service.pk}
    assert all(d.status == "pending" and d.event.item_key == "rollback" for d in deliveries)
    assert sorted(args[0] for _, args, _ in sent) == sorted(str(d.pk) for d in deliveries)
    assert {name for name, _, _ in sent} == {"notify.deliver"}


def test_a_rolled_back_change_notifies_no_one(deployment, people, subscribe, sent, django_capture_on_commit_callbacks):
    subscribe()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                fail(deployment, people)
                assert Delivery.objects.count() == 1  # written with the event...
                raise RuntimeError("the change is abandoned")
    assert not Delivery.objects.exists()  # ...and gone with it
    assert callbacks == [] and sent == []
    assert "item_failed" not in kinds(deployment)


def test_deliveries_are_queued_only_once_their_event_commits(deployment, people, subscribe, sent, django_capture_on_commit_callbacks):
    subscribe()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        fail(deployment, people)
        assert sent == []
    [queue] = [callback for callback in callbacks if "outbox_write" in callback.__qualname__]
    queue()
    assert [args[0] for _, args, _ in sent] == [str(Delivery.objects.get().pk)]


def test_a_broker_that_is_down_leaves_deliveries_pending_for_the_sweep(deployment, people, subscribe, monkeypatch, django_capture_on_commit_callbacks):
    from notify.services import deliveries_sweep

    subscribe()

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr("notify.outbox.task_send", down)
    with django_capture_on_commit_callbacks(execute=True):
        response = fail(deployment, people)
    assert response.state == "failed"  # the change itself went through
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 0

    queued = []
    monkeypatch.setattr("notify.outbox.task_send", lambda name, *, args=(), **o: queued.append(args[0]))
    assert deliveries_sweep(grace_seconds=0) == 1
    assert queued == [str(delivery.pk)]


# --- The facts people are told about ------------------------------------------------------------


def test_a_person_failing_an_item_appends_item_failed(deployment, people):
    fail(deployment, people)
    failed = Event.objects.get(deployment_ref=deployment.pk, kind="item_failed")
    assert (failed.item_key, failed.actor_name, failed.after) == ("rollback", "engineer", "failed")


def test_a_probe_failing_an_item_appends_item_failed(deployment, probe_result):
    probe_result(deployment, "health", "failed")
    failed = Event.objects.get(deployment_ref=deployment.pk, kind="item_failed")
    assert (failed.item_key, failed.actor_name, failed.source) == ("health", "system", "probe")
    assert "503" in failed.note


def test_ready_for_signoff_is_appended_once_when_the_last_blocker_clears(deployment, people, probe_result):
    for key in ("rollback", "alerts-down"):
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    probe_result(deployment, "health", "passed")
    assert "ready_for_signoff" not in kinds(deployment)  # alerts-errors still blocks
    item_state_set(deployment_id=deployment.pk, key="alerts-errors", state="na", note="no budget", actor=people["engineer"], source="api")
    assert kinds(deployment).count("ready_for_signoff") == 1
    item_state_set(deployment_id=deployment.pk, key="nice", state="passed", actor=people["engineer"], source="api")
    assert kinds(deployment).count("ready_for_signoff") == 1  # an optional item changes nothing
    assert not deployment_snapshot(deployment).blocking


def test_ready_for_signoff_comes_from_the_probe_that_clears_the_last_blocker(deployment, people, probe_result):
    for key in ("rollback", "alerts-down", "alerts-errors"):
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    probe_result(deployment, "health", "passed")
    ready = Event.objects.get(deployment_ref=deployment.pk, kind="ready_for_signoff")
    assert (ready.actor_name, ready.source) == ("system", "probe")


def test_a_passing_result_that_goes_stale_is_noted_once(ready_deployment, settings):
    from datetime import timedelta

    from django.utils import timezone

    assert stale_results_note() == 0
    later = timezone.now() + timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES + 1)
    assert stale_results_note(now=later) == 1
    assert stale_results_note(now=later) == 0  # noted once
    stale = Event.objects.get(deployment_ref=ready_deployment.pk, kind="stale")
    assert stale.item_key == "health" and "blocks" in stale.note


def test_a_fresh_pass_after_a_stale_note_may_go_stale_again(ready_deployment, settings, probe_result):
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES + 1)
    assert stale_results_note(now=later) == 1
    probe_result(ready_deployment, "health", "passed")
    much_later = timezone.now() + timedelta(minutes=2 * settings.CTRLREADY_RESULT_TTL_MINUTES + 2)
    assert stale_results_note(now=much_later) == 1


def test_signed_off_and_reopened_are_notified_reopen_as_reopened(ready_deployment, people, subscribe, sent):
    subscribe()
    digest = deployment_snapshot(ready_deployment).digest
    signoff_record(deployment_id=ready_deployment.pk, role="lead", digest=digest, actor=people["lead"], source="api")
    deployment_reopen(deployment_id=ready_deployment.pk, reason="hotfix first", actor=people["lead"], source="api")
    assert list(Delivery.objects.order_by("created_at").values_list("kind", flat=True)) == ["signed_off", "reopened"]


# --- Personal notifications -------------------------------------------------------------------


def assign(deployment, actor, user: str, kind=Event.Kind.ASSIGNED):
    return event_append(
        kind=kind, source="api", actor=actor, deployment=deployment, note="", data={"user": user},
    )


def test_assigned_and_mentioned_reach_the_person_by_email(deployment, people):
    people["engineer"].email = "engineer@example.com"
    people["engineer"].save()
    assign(deployment, people["lead"], "engineer")
    assign(deployment, people["lead"], "engineer", kind=Event.Kind.MENTIONED)
    personal = Delivery.objects.filter(recipient=people["engineer"])
    assert sorted(d.kind for d in personal) == ["assigned", "mentioned"]
    assert all(d.subscription_id is None for d in personal)


def test_no_personal_email_when_switched_off_without_an_address_or_for_ones_own_doing(deployment, people):
    assign(deployment, people["lead"], "engineer")  # no address
    people["engineer"].email = "engineer@example.com"
    people["engineer"].save()
    assign(deployment, people["engineer"], "engineer")  # took it themselves
    personal_email_set(user=people["engineer"], enabled=False)
    assign(deployment, people["lead"], "engineer")  # switched off
    assign(deployment, people["lead"], "nobody-by-that-name")
    assert not Delivery.objects.exists()
    assert PersonalSetting.objects.get(user=people["engineer"]).email is False


def test_system_events_without_deployment_still_notify(subscribe, people, sent):
    subscribe(events=["due_soon"])
    event_append(kind=Event.Kind.DUE_SOON, source="probe", actor=SYSTEM, note="in 3 hours")
    assert Delivery.objects.get().kind == "due_soon"


def test_every_task_beat_sends_is_registered_under_its_name(settings):
    from ctrlready.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"notify.sweep_deliveries", "probes.note_stale_results"} <= scheduled
    assert scheduled <= set(app.tasks)
    assert "notify.deliver" in app.tasks


def test_completing_a_parent_is_not_ready_while_another_item_blocks(deployment, people):
    for key in ("alerts-down", "alerts-errors"):
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    assert "ready_for_signoff" not in kinds(deployment)  # rollback and health still block


def test_ready_for_signoff_through_nested_parents(people, environment):
    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import

    text = "# Nested\n\n## Ops\n\n- [ ] Top {#top}\n  - [ ] Middle {#middle}\n    - [ ] Leaf a {#leaf-a}\n    - [ ] Leaf b {#leaf-b}\n"
    version = checklist_import(markdown=text, name="Nested", actor=SYSTEM, source="cli").version
    deployment = deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=people["engineer"], source="api"
    )
    item_state_set(deployment_id=deployment.pk, key="leaf-a", state="passed", actor=people["engineer"], source="api")
    assert "ready_for_signoff" not in kinds(deployment)
    item_state_set(deployment_id=deployment.pk, key="leaf-b", state="passed", actor=people["engineer"], source="api")
    assert kinds(deployment).count("ready_for_signoff") == 1
    assert not deployment_snapshot(deployment).blocking


def test_a_mention_and_an_assignment_reach_their_people_and_a_comment_its_subscribers(deployment, people, subscribe, sent):
    from checklists.assignments import item_assign
    from checklists.comments import comment_add

    for name in ("engineer", "lead"):
        people[name].email = f"{name}@example.com"
        people[name].save()
    comments = subscribe(events=["comment"]).subscription
    comment_add(deployment_id=deployment.pk, key="rollback", text="@engineer can you write it?", actor=people["lead"], source="api")
    item_assign(deployment_id=deployment.pk, key="rollback", assignee="engineer", actor=people["lead"], source="api")
    item_assign(deployment_id=deployment.pk, key="alerts-down", assignee="lead", actor=people["lead"], source="api")  # took it
    personal = sorted(Delivery.objects.filter(recipient__isnull=False).values_list("recipient__username", "kind"))
    assert personal == [("engineer", "assigned"), ("engineer", "mentioned")]
    assert list(Delivery.objects.filter(subscription=comments).values_list("kind", flat=True)) == ["comment"]
