"""Waivers can expire (judged when read) and may need a second lead's approval (CTRLREADY_WAIVER_APPROVAL)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.deployments import deployment_create
from checklists.imports import checklist_import
from checklists.items import item_state_set, waiver_approve
from checklists.models import Environment, ItemState
from checklists.reminders import reminders_send
from checklists.selectors import deployment_digest, deployment_overview, deployment_snapshot, deployment_summaries
from checklists.signoffs import signoff_record
from checklists.tests.test_carry_over import TEXT as CARRY
from conftest import make_user
from core.actors import SYSTEM
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Event


def finish_all_but(deployment, people, key):
    """Pass or n/a every item except `key`."""
    for other in ("rollback", "alerts-down", "alerts-errors"):
        if other != key:
            item_state_set(deployment_id=deployment.pk, key=other, state="passed", actor=people["engineer"], source="api")
    item_state_set(deployment_id=deployment.pk, key="health", state="na", note="no http", actor=people["lead"], source="api")


def waive(deployment, who, key="rollback", **expiry):
    return item_state_set(
        deployment_id=deployment.pk, key=key, state="waived", note="Covered by the platform", actor=who,
        source="api", **expiry,
    )


def sign(deployment, people):
    return signoff_record(
        deployment_id=deployment.pk, role="lead", digest=deployment_snapshot(deployment).digest,
        actor=people["lead"], source="api",
    )


def test_a_waiver_for_days_ends_that_many_days_from_now(deployment, people):
    waived = waive(deployment, people["lead"], waiver_for_days=7)
    assert abs(waived.waiver_expires_at - (timezone.now() + timedelta(days=7))) < timedelta(seconds=5)
    event = Event.objects.filter(kind=Event.Kind.WAIVE).last()
    assert event.data["expires_at"] == waived.waiver_expires_at.isoformat()


def test_an_expiry_in_the_past_is_refused(deployment, people):
    with pytest.raises(InvalidInput, match="The waiver's expiry is in the past"):
        waive(deployment, people["lead"], waiver_expires_at=timezone.now() - timedelta(hours=1))


def test_an_expiry_without_a_waiver_is_refused(deployment, people):
    with pytest.raises(InvalidInput, match="An expiry .* goes with a waiver"):
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", waiver_for_days=3,
                       actor=people["engineer"], source="api")


def test_an_engineer_may_not_waive_with_an_expiry(deployment, people):
    with pytest.raises(Forbidden):
        waive(deployment, people["engineer"], waiver_for_days=3)


def test_past_its_expiry_the_item_blocks_again_with_no_schedule_run(deployment, people, clock):
    finish_all_but(deployment, people, "rollback")
    waive(deployment, people["lead"], waiver_expires_at=timezone.now() + timedelta(hours=2))
    assert deployment_snapshot(deployment).blocking == []
    clock(hours=3)
    snapshot = deployment_snapshot(deployment)
    assert [row.item.key for row in snapshot.blocking] == ["rollback"]
    assert snapshot.blocking[0].lapsed
    # Every reader agrees: the overview, the dashboard's counts, the digest; and a lapsed waiver is not done.
    overview = deployment_overview(deployment)
    summary = deployment_summaries([deployment.pk])[deployment.pk]
    for progress in (snapshot.progress, overview.progress, summary):
        assert (progress["blocking"], progress["waived"], progress["lapsed"]) == (1, 1, 1)
        assert (progress["done"], progress["total"]) == (4, 6)  # not the lapsed waiver, nor the optional item left pending
    assert [(section.done, section.total) for section in overview.sections if section.title == "Ops"] == [(4, 5)]
    assert deployment_digest(deployment) == snapshot.digest
    with pytest.raises(Conflict, match="1 item\\(s\\) still block sign-off"):
        sign(deployment, people)


def test_a_digest_read_before_the_expiry_cannot_sign_after_it(deployment, people, clock):
    finish_all_but(deployment, people, "rollback")
    waive(deployment, people["lead"], waiver_expires_at=timezone.now() + timedelta(minutes=30))
    seen = deployment_snapshot(deployment).digest
    clock(hours=1)
    with pytest.raises(Conflict):
        signoff_record(deployment_id=deployment.pk, role="lead", digest=seen, actor=people["lead"], source="api")


def test_a_signed_off_deployment_stays_as_it_was_signed(deployment, people, clock):
    finish_all_but(deployment, people, "rollback")
    waive(deployment, people["lead"], waiver_expires_at=timezone.now() + timedelta(hours=1))
    sign(deployment, people)
    deployment.refresh_from_db()
    signed_digest = deployment_snapshot(deployment).digest
    clock(hours=5)
    deployment.refresh_from_db()
    snapshot = deployment_snapshot(deployment)
    assert snapshot.blocking == []
    assert snapshot.digest == signed_digest
    assert reminders_send() == 0
    assert not Event.objects.filter(kind=Event.Kind.WAIVER_EXPIRED).exists()


def test_the_schedule_appends_waiver_expired_once(deployment, people, clock):
    waive(deployment, people["lead"], waiver_expires_at=timezone.now() + timedelta(hours=1))
    assert reminders_send() == 0
    clock(hours=2)
    assert reminders_send() == 1
    assert reminders_send() == 0
    event = Event.objects.get(kind=Event.Kind.WAIVER_EXPIRED)
    assert (event.actor_name, event.item_key) == ("system", "rollback")
    assert "blocks sign-off again" in event.note


def test_a_new_waiver_expires_and_is_told_about_afresh(deployment, people, clock):
    waive(deployment, people["lead"], waiver_expires_at=timezone.now() + timedelta(hours=1))
    clock(hours=2)
    reminders_send()
    item_state_set(deployment_id=deployment.pk, key="rollback", state="waived", note="Extended", waiver_for_days=1,
                   actor=people["lead"], source="api")
    assert "rollback" not in [row.item.key for row in deployment_snapshot(deployment).blocking]
    clock(days=2)
    assert reminders_send() == 1
    assert Event.objects.filter(kind=Event.Kind.WAIVER_EXPIRED).count() == 2


def test_the_api_waives_with_an_expiry_and_shows_it(api, deployment, clock):
    answer = api.post("lead", f"deployments/{deployment.pk}/items/rollback",
                      {"state": "waived", "note": "later", "for_days": 2})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["waiver_expires_at"] is not None
    assert answer.json()["blocking"] is False
    clock(days=3)
    item = {i["key"]: i for i in api.get("viewer", f"deployments/{deployment.pk}").json()["items"]}["rollback"]
    assert (item["waiver_expired"], item["blocking"]) == (True, True)
    report = api.get("viewer", f"deployments/{deployment.pk}/report.json").json()
    assert report["waivers"][0]["expires_at"][:23] == item["waiver_expires_at"][:23]  # the API's JSON keeps milliseconds


def test_the_api_refuses_expires_at_and_for_days_together(api, deployment):
    answer = api.post("lead", f"deployments/{deployment.pk}/items/rollback",
                      {"state": "waived", "note": "x", "for_days": 2, "expires_at": "2099-01-01T00:00:00Z"})
    assert answer.status_code == 400
    assert answer.json() == {"error": "Give the waiver's `expires_at` or its `for_days`, not both."}


# Approval by a second lead


@pytest.fixture
def approval(settings):
    settings.CTRLREADY_WAIVER_APPROVAL = True


def test_with_approval_on_a_waiver_of_a_required_item_is_proposed_and_blocks(deployment, people, approval):
    finish_all_but(deployment, people, "rollback")
    waived = waive(deployment, people["lead"])
    assert waived.waiver_proposed
    assert [row.item.key for row in deployment_snapshot(deployment).blocking] == ["rollback"]
    assert deployment_overview(deployment).progress["blocking"] == 1


def test_a_second_lead_approves_and_it_counts(deployment, people, approval):
    finish_all_but(deployment, people, "rollback")
    waive(deployment, people["lead"])
    second = make_user("lead2", "lead")
    approved = waiver_approve(deployment_id=deployment.pk, key="rollback", actor=second, source="api")
    assert (approved.waiver_proposed, approved.waiver_approved_by_name) == (False, "lead2")
    assert deployment_snapshot(deployment).blocking == []
    event = Event.objects.get(kind=Event.Kind.WAIVER_APPROVED)
    assert (event.actor_name, event.item_key) == ("lead2", "rollback")
    ready = Event.objects.filter(deployment_ref=deployment.pk, kind=Event.Kind.READY_FOR_SIGNOFF)
    assert [e.actor_name for e in ready] == ["lead2"]  # proposing it did not make it ready; approving did
    sign(deployment, people)


def test_a_lead_may_not_approve_their_own_waiver(deployment, people, approval):
    waive(deployment, people["lead"])
    with pytest.raises(Forbidden, match="You proposed this waiver; another lead must approve it."):
        waiver_approve(deployment_id=deployment.pk, key="rollback", actor=people["lead"], source="api")


def test_an_engineer_may_not_approve_a_waiver(deployment, people, approval):
    waive(deployment, people["lead"])
    with pytest.raises(Forbidden):
        waiver_approve(deployment_id=deployment.pk, key="rollback", actor=people["engineer"], source="api")


def test_nothing_to_approve_is_a_conflict(deployment, people, approval):
    with pytest.raises(Conflict, match="no waiver waiting for approval"):
        waiver_approve(deployment_id=deployment.pk, key="rollback", actor=people["admin"], source="api")


def test_a_waiver_of_an_optional_item_needs_no_approval(deployment, people, approval):
    assert not waive(deployment, people["lead"], key="nice").waiver_proposed


def test_without_the_setting_a_waiver_counts_at_once(deployment, people):
    assert not waive(deployment, people["lead"]).waiver_proposed


def test_the_api_approves_and_refuses_self_approval(api, deployment, people, approval):
    api.post("lead", f"deployments/{deployment.pk}/items/rollback", {"state": "waived", "note": "platform"})
    item = {i["key"]: i for i in api.get("viewer", f"deployments/{deployment.pk}").json()["items"]}["rollback"]
    assert (item["waiver_proposed"], item["blocking"]) == (True, True)
    own = api.post("lead", f"deployments/{deployment.pk}/items/rollback/approve")
    assert own.status_code == 403
    assert own.json() == {"error": "You proposed this waiver; another lead must approve it."}
    done = api.post("admin", f"deployments/{deployment.pk}/items/rollback/approve")
    assert done.status_code == 200
    assert (done.json()["waiver_proposed"], done.json()["waiver_approved_by"]) == (False, "admin")
    assert ItemState.objects.get(deployment=deployment, item__key="rollback").waiver_proposed is False


def test_a_carried_waiver_keeps_its_expiry_and_blocks_past_it(environment, people, probe_result, clock):
    checklist_import(markdown=CARRY, name="Carry", actor=SYSTEM, source="cli")
    staging = deployment_create(environment=environment, checklist_slug="carry", release="v2", actor=people["engineer"],
                                source="api")
    for key in ("pentest", "docs-api", "docs-runbook", "smoke"):
        item_state_set(deployment_id=staging.pk, key=key, state="passed", actor=people["engineer"], source="api")
    item_state_set(deployment_id=staging.pk, key="licences", state="waived", note="Legal by mail", waiver_for_days=2,
                   actor=people["lead"], source="api")
    probe_result(staging, "contract", "passed")
    sign(staging, people)
    production = Environment.objects.create(service=environment.service, name="production", base_url="http://127.0.0.1:9")
    carried = deployment_create(environment=production, from_id=staging.pk, actor=people["engineer"], source="api")
    licences = ItemState.objects.get(deployment=carried, item__key="licences")
    assert (licences.state, licences.waiver_expires_at) == ("waived", ItemState.objects.get(
        deployment=staging, item__key="licences").waiver_expires_at)
    clock(days=3)
    assert "licences" in [row.item.key for row in deployment_snapshot(carried).blocking]
