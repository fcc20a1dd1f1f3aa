"""No silent overwrite (`seen`) and bulk changes through the API: one transaction, one event per item changed."""

import pytest

from checklists.models import ItemState
from core.models import Event


def state(deployment, key):
    return ItemState.objects.get(deployment=deployment, item__key=key).state


def events(deployment, kind=None):
    found = Event.objects.filter(deployment_ref=deployment.pk).exclude(kind="deployment_created")
    return found.filter(kind=kind) if kind else found


def test_change_over_a_state_its_author_never_saw_is_refused_with_the_item_as_it_is(api, deployment, probe_result):
    probe_result(deployment, "health", "failed")
    before = events(deployment).count()
    response = api.post("lead", f"deployments/{deployment.pk}/items/health", {"state": "na", "note": "n/a", "seen": "pending"})
    assert response.status_code == 409
    body = response.json()
    assert "set this item from pending to failed" in body["error"] and "nothing was changed" in body["error"]
    assert body["current"]["key"] == "health" and body["current"]["state"] == "failed"
    assert body["current"]["probe"]["status"] == "failed"
    assert state(deployment, "health") == "failed" and events(deployment).count() == before


def test_change_over_the_state_its_author_saw_goes_through(api, deployment):
    response = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"state": "passed", "seen": "pending"})
    assert response.status_code == 200 and response.json()["state"] == "passed"


def test_seen_must_be_a_state(api, deployment):
    response = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"state": "passed", "seen": "blue"})
    assert response.status_code == 400


def test_bulk_waive_writes_one_event_per_item_in_one_answer(api, deployment):
    response = api.post("lead", f"deployments/{deployment.pk}/items", {
        "keys": ["rollback", "alerts-down", "alerts-errors"], "state": "waived", "note": "Accepted for the pilot",
        "seen": {"rollback": "pending"},
    })
    assert response.status_code == 200, response.json()
    items = response.json()["items"]
    assert [item["key"] for item in items] == ["rollback", "alerts-down", "alerts-errors"]
    assert {item["state"] for item in items} == {"waived"}
    assert {item["waiver_reason"] for item in items} == {"Accepted for the pilot"}
    waives = events(deployment, "waive")
    assert sorted(waives.values_list("item_key", flat=True)) == ["alerts-down", "alerts-errors", "rollback"]
    assert set(waives.values_list("note", flat=True)) == {"Accepted for the pilot"}


def test_bulk_refusal_names_every_refused_item_and_changes_nothing(api, deployment, probe_result):
    probe_result(deployment, "health", "failed")
    before = events(deployment).count()
    response = api.post("engineer", f"deployments/{deployment.pk}/items", {
        "keys": ["rollback", "health", "alerts"], "state": "passed", "seen": {"rollback": "pending"},
    })
    assert response.status_code == 400
    body = response.json()
    assert {entry["key"] for entry in body["refused"]} == {"health", "alerts"}
    assert "checked by its probe" in body["error"] and "set its children instead" in body["error"]
    assert "nothing was" in body["error"]
    assert state(deployment, "rollback") == "pending" and events(deployment).count() == before


def test_bulk_refused_when_one_item_moved_since_its_author_looked(api, people, deployment):
    from checklists.items import item_state_set

    item_state_set(deployment_id=deployment.pk, key="rollback", state="failed", actor=people["engineer"], source="api")
    response = api.post("engineer", f"deployments/{deployment.pk}/items", {
        "keys": ["rollback", "alerts-down"], "state": "na", "note": "not ours", "seen": {"rollback": "pending", "alerts-down": "pending"},
    })
    assert response.status_code == 409
    assert response.json()["refused"][0]["key"] == "rollback"
    assert state(deployment, "alerts-down") == "pending"


@pytest.mark.parametrize("who, body, status", [
    ("viewer", {"keys": ["rollback"], "state": "passed"}, 403),
    ("engineer", {"keys": [], "state": "passed"}, 400),
    ("engineer", {"keys": ["rollback"], "state": "waived", "note": "x"}, 403),
    ("engineer", {"keys": ["nope"], "state": "passed"}, 404),
])
def test_bulk_refusals(api, deployment, who, body, status):
    response = api.post(who, f"deployments/{deployment.pk}/items", body)
    assert response.status_code == status, response.json()
    assert response.json()["error"]
