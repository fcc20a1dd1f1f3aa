"""A waiver's reason and author change only by a lead's action; an engineer's note stays beside it."""

import pytest
from django.urls import reverse

from checklists.items import item_state_set
from checklists.models import ItemState
from core.errors import Forbidden
from core.models import Event


def state_of(deployment, key) -> ItemState:
    return ItemState.objects.get(deployment=deployment, item__key=key)


def waive(deployment, people, key="rollback", reason="Covered by the platform team"):
    return item_state_set(
        deployment_id=deployment.pk, key=key, state="waived", note=reason, actor=people["lead"], source="api"
    )


def test_engineers_note_on_a_waived_item_keeps_the_leads_reason_and_stamp(deployment, people):
    waived = waive(deployment, people)
    item_state_set(
        deployment_id=deployment.pk, key="rollback", note="Ran the drill anyway: fine", actor=people["engineer"],
        source="api",
    )
    after = state_of(deployment, "rollback")
    assert after.state == "waived"
    assert after.waiver_reason == "Covered by the platform team"
    assert (after.waived_by_name, after.waived_at) == ("lead", waived.waived_at)
    assert (after.updated_by_name, after.updated_at) == ("lead", waived.updated_at)
    assert after.note == "Ran the drill anyway: fine"


def test_engineer_cannot_erase_the_reason_with_an_empty_note(deployment, people):
    waive(deployment, people)
    item_state_set(deployment_id=deployment.pk, key="rollback", note="", actor=people["engineer"], source="api")
    assert state_of(deployment, "rollback").waiver_reason == "Covered by the platform team"


def test_engineer_cannot_rewrite_the_reason_by_waiving_again(deployment, people):
    waive(deployment, people)
    with pytest.raises(Forbidden):
        item_state_set(
            deployment_id=deployment.pk, key="rollback", state="waived", note="nah", actor=people["engineer"],
            source="api",
        )
    assert state_of(deployment, "rollback").waiver_reason == "Covered by the platform team"


def test_a_lead_changes_the_reason_and_the_waiver_becomes_theirs(deployment, people):
    from conftest import make_user

    other_lead = make_user("lead2", "lead")
    waive(deployment, people)
    item_state_set(
        deployment_id=deployment.pk, key="rollback", state="waived", note="Platform team owns rollbacks now",
        actor=other_lead, source="api",
    )
    after = state_of(deployment, "rollback")
    assert (after.waiver_reason, after.waived_by_name) == ("Platform team owns rollbacks now", "lead2")
    kinds = list(Event.objects.filter(deployment_ref=deployment.pk, item_key="rollback").values_list("kind", "note"))
    assert kinds[-1] == ("waive", "Platform team owns rollbacks now")


def test_leaving_waived_clears_the_waiver_and_keeps_the_note(deployment, people):
    item_state_set(deployment_id=deployment.pk, key="rollback", note="Drill booked", actor=people["engineer"], source="api")
    waive(deployment, people)
    item_state_set(deployment_id=deployment.pk, key="rollback", state="pending", actor=people["lead"], source="api")
    after = state_of(deployment, "rollback")
    assert (after.state, after.waiver_reason, after.waived_by_name, after.waived_at) == ("pending", "", "", None)
    assert after.note == "Drill booked"


def test_api_shows_note_and_waiver_side_by_side(api, deployment):
    base = f"deployments/{deployment.pk}/items/rollback"
    assert api.post("lead", base, {"state": "waived", "note": "Covered by the platform team"}).status_code == 200
    response = api.post("engineer", base, {"note": "Ran the drill anyway"})
    assert response.status_code == 200
    item = response.json()
    assert item["state"] == "waived" and item["by"] == "lead"
    assert item["note"] == "Ran the drill anyway"
    assert item["waiver_reason"] == "Covered by the platform team"
    assert item["waived_by"] == "lead" and item["waived_at"]
    listed = next(i for i in api.get("viewer", f"deployments/{deployment.pk}").json()["items"] if i["key"] == "rollback")
    assert (listed["note"], listed["waiver_reason"]) == ("Ran the drill anyway", "Covered by the platform team")


def test_the_row_shows_both_the_reason_and_the_note(client, deployment, people):
    waive(deployment, people)
    item_state_set(
        deployment_id=deployment.pk, key="rollback", note="Ran the drill anyway", actor=people["engineer"], source="api"
    )
    client.force_login(people["viewer"])
    html = client.get(reverse("deployment", args=[deployment.pk])).content.decode()
    row = html[html.index('data-item-key="rollback"') :]
    row = row[: row.index("</li>")]
    assert "Waived by lead:</strong> Covered by the platform team" in row
    assert "Ran the drill anyway" in row


def test_a_lead_changes_the_reason_of_a_waived_item_from_its_form(client, deployment, people):
    waive(deployment, people)
    item_state_set(deployment_id=deployment.pk, key="rollback", note="Drill booked", actor=people["engineer"], source="api")
    url = reverse("item", args=[deployment.pk, "rollback"])
    client.force_login(people["lead"])
    form = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "Reason for the waiver" in form and ">Change the reason</button>" in form
    assert ">Covered by the platform team</textarea>" in form  # the reason to change, not the engineer's note
    answer = client.post(url, {"state": "waived", "note": "Platform team owns rollbacks now"}, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    row = answer.content.decode()
    assert "Waived by lead:</strong> Platform team owns rollbacks now" in row and "Drill booked" in row
    after = state_of(deployment, "rollback")
    assert (after.state, after.waiver_reason, after.note) == ("waived", "Platform team owns rollbacks now", "Drill booked")


def test_a_pending_items_form_offers_to_waive_with_an_empty_reason(client, deployment, people):
    client.force_login(people["lead"])
    form = client.get(reverse("item", args=[deployment.pk, "rollback"]), headers={"HX-Request": "true"}).content.decode()
    assert "Reason to waive" in form and ">Waive</button>" in form
    assert 'required></textarea>' in form
