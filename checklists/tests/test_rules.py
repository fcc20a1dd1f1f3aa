"""The rules of the domain, through the services every caller uses."""

import pytest

from checklists.items import item_state_set
from checklists.models import Deployment, ItemState
from checklists.selectors import deployment_snapshot
from checklists.signoffs import deployment_reopen, signoff_record
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Event


def tick(deployment, key, state, who, note=None):
    return item_state_set(deployment_id=deployment.pk, key=key, state=state, note=note, actor=who, source="api")


def state_of(deployment, key):
    return ItemState.objects.get(deployment=deployment, item__key=key).state


def finish_everything(deployment, people):
    for key in ("rollback", "alerts-down", "alerts-errors"):
        tick(deployment, key, "passed", people["engineer"])
    tick(deployment, "health", "waived", people["lead"], note="probed by hand in the meeting")


def test_new_deployment_has_every_item_pending_and_blocking(deployment):
    snapshot = deployment_snapshot(deployment)
    assert snapshot.progress["pending"] == 6
    assert {row.item.key for row in snapshot.blocking} == {"rollback", "alerts", "alerts-down", "alerts-errors", "health"}


def test_parent_is_done_when_all_children_are(deployment, people):
    tick(deployment, "alerts-down", "passed", people["engineer"])
    assert state_of(deployment, "alerts") == "pending"
    tick(deployment, "alerts-errors", "na", people["engineer"])
    assert state_of(deployment, "alerts") == "passed"
    tick(deployment, "alerts-errors", "failed", people["engineer"])
    assert state_of(deployment, "alerts") == "failed"


def test_parent_cannot_be_ticked_directly(deployment, people):
    with pytest.raises(InvalidInput, match="children"):
        tick(deployment, "alerts", "passed", people["engineer"])


def test_viewer_cannot_tick(deployment, people):
    with pytest.raises(Forbidden):
        tick(deployment, "rollback", "passed", people["viewer"])


def test_engineer_cannot_waive_and_lead_must_say_why(deployment, people):
    with pytest.raises(Forbidden):
        tick(deployment, "rollback", "waived", people["engineer"], note="meh")
    with pytest.raises(InvalidInput, match="reason"):
        tick(deployment, "rollback", "waived", people["lead"])
    tick(deployment, "rollback", "waived", people["lead"], note="covered by the platform team")
    assert state_of(deployment, "rollback") == "waived"


def test_automated_item_is_not_passed_by_a_person(deployment, people):
    with pytest.raises(InvalidInput, match="probe"):
        tick(deployment, "health", "passed", people["lead"])
    with pytest.raises(Forbidden):
        tick(deployment, "health", "na", people["engineer"], note="no health endpoint")
    tick(deployment, "health", "na", people["lead"], note="no health endpoint here")
    assert state_of(deployment, "health") == "na"


def test_every_change_appends_one_event_with_actor_and_source(deployment, people):
    before = Event.objects.filter(deployment_ref=deployment.pk).count()
    tick(deployment, "rollback", "passed", people["engineer"])
    tick(deployment, "rollback", "passed", people["engineer"])  # no change, no event
    item_state_set(deployment_id=deployment.pk, key="rollback", note="see runbook", actor=people["engineer"], source="web")
    events = list(Event.objects.filter(deployment_ref=deployment.pk).order_by("id"))[before:]
    assert [(e.kind, e.before, e.after, e.actor_name, e.source) for e in events] == [
        ("state", "pending", "passed", "engineer", "api"),
        ("note", "passed", "passed", "engineer", "web"),
    ]


def test_signoff_refused_while_item_blocks(deployment, people):
    snapshot = deployment_snapshot(deployment)
    with pytest.raises(Conflict) as refused:
        signoff_record(deployment_id=deployment.pk, role="lead", digest=snapshot.digest, actor=people["lead"], source="api")
    assert "rollback" in refused.value.extra["blocking"]


def test_signoff_refused_when_the_digest_is_stale(deployment, people):
    finish_everything(deployment, people)
    seen = deployment_snapshot(deployment).digest
    item_state_set(deployment_id=deployment.pk, key="nice", state="passed", actor=people["engineer"], source="api")
    with pytest.raises(Conflict, match="changed"):
        signoff_record(deployment_id=deployment.pk, role="lead", digest=seen, actor=people["lead"], source="api")


def test_signoff_locks_and_reopen_unlocks(deployment, people):
    finish_everything(deployment, people)
    digest = deployment_snapshot(deployment).digest
    with pytest.raises(Forbidden):
        signoff_record(deployment_id=deployment.pk, role="lead", digest=digest, actor=people["engineer"], source="api")
    signoff_record(deployment_id=deployment.pk, role="lead", digest=digest, actor=people["lead"], source="api")
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.SIGNED_OFF
    with pytest.raises(Conflict, match="locked"):
        tick(deployment, "nice", "passed", people["engineer"])
    with pytest.raises(InvalidInput, match="reason"):
        deployment_reopen(deployment_id=deployment.pk, reason=" ", actor=people["lead"], source="api")
    deployment_reopen(deployment_id=deployment.pk, reason="hotfix v1.0.1", actor=people["lead"], source="api")
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.OPEN
    assert deployment.signoffs.filter(voided_at__isnull=True).count() == 0
    kinds = list(Event.objects.filter(deployment_ref=deployment.pk).values_list("kind", flat=True))
    assert kinds[-3:] == ["signoff", "signed_off", "reopen"]


def test_stale_probe_result_blocks(deployment, people, settings):
    from datetime import timedelta

    from django.utils import timezone

    finish_everything(deployment, people)
    health = ItemState.objects.get(deployment=deployment, item__key="health")
    health.state, health.last_passed_at = "passed", timezone.now() - timedelta(minutes=90)
    health.save()
    settings.CTRLREADY_RESULT_TTL_MINUTES = 60
    snapshot = deployment_snapshot(deployment)
    assert [row.item.key for row in snapshot.blocking] == ["health"]
    assert snapshot.blocking[0].stale
