"""Who an item waits on: taking it, handing it back, a lead assigning anyone, the checklist's default owners."""

import pytest

from checklists.assignments import item_assign
from checklists.deployments import deployment_create
from checklists.imports import checklist_import
from checklists.models import ItemState
from checklists.selectors import deployment_snapshot
from checklists.signoffs import signoff_record
from conftest import make_user
from core.actors import SYSTEM
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import Event


def assignee(deployment, key="rollback"):
    return ItemState.objects.get(deployment=deployment, item__key=key).assignee_name


def assign(deployment, who, to, key="rollback"):
    return item_assign(deployment_id=deployment.pk, key=key, assignee=to, actor=who, source="api")


def test_an_engineer_takes_an_item_and_an_event_names_them(deployment, people):
    assign(deployment, people["engineer"], "engineer")
    assert assignee(deployment) == "engineer"
    event = Event.objects.get(deployment_ref=deployment.pk, kind=Event.Kind.ASSIGNED)
    assert (event.actor_name, event.item_key, event.after, event.data["user"]) == ("engineer", "rollback", "engineer", "engineer")


def test_an_engineer_hands_back_their_own_item(deployment, people):
    assign(deployment, people["engineer"], "engineer")
    assign(deployment, people["engineer"], None)
    assert assignee(deployment) is None
    last = Event.objects.filter(kind=Event.Kind.ASSIGNED).last()
    assert (last.before, last.after, last.data["user"]) == ("engineer", "", None)


def test_an_engineer_may_not_assign_someone_else(deployment, people):
    with pytest.raises(Forbidden, match="Only a lead assigns an item to someone else; you can take it yourself."):
        assign(deployment, people["engineer"], "lead")
    assert assignee(deployment) is None


def test_an_engineer_may_not_take_or_drop_an_item_someone_else_holds(deployment, people):
    other = make_user("erin", "engineer")
    assign(deployment, people["lead"], "erin")
    with pytest.raises(Conflict, match="This item is assigned to erin; ask them or a lead to hand it over."):
        assign(deployment, people["engineer"], "engineer")
    with pytest.raises(Conflict, match="assigned to erin"):
        assign(deployment, people["engineer"], None)
    assign(deployment, other, None)
    assert assignee(deployment) is None


@pytest.mark.parametrize(("who", "refusal"), [("viewer", Forbidden), ("outsider", NotFound)])
def test_a_viewer_may_not_take_an_item_and_an_outsider_does_not_see_it(deployment, people, who, refusal):
    with pytest.raises(refusal):
        assign(deployment, people[who], who)


def test_a_lead_assigns_anyone_who_may_read_and_reassigns(deployment, people):
    assign(deployment, people["lead"], "viewer")
    assert assignee(deployment) == "viewer"
    assign(deployment, people["lead"], "engineer")
    assert assignee(deployment) == "engineer"
    assert Event.objects.filter(kind=Event.Kind.ASSIGNED).count() == 2


def test_a_lead_may_not_assign_someone_without_a_role(deployment, people):
    with pytest.raises(InvalidInput, match="outsider may not read this deployment"):
        assign(deployment, people["lead"], "outsider")


def test_assigning_a_user_who_does_not_exist_is_refused(deployment, people):
    with pytest.raises(NotFound, match="There is no user `ghost`"):
        assign(deployment, people["lead"], "ghost")


def test_assigning_the_same_person_again_appends_nothing(deployment, people):
    assign(deployment, people["engineer"], "engineer")
    assign(deployment, people["engineer"], "engineer")
    assert Event.objects.filter(kind=Event.Kind.ASSIGNED).count() == 1


def test_nothing_is_assigned_in_a_signed_off_deployment(deployment, people, small_checklist):
    for key in ("rollback", "alerts-down", "alerts-errors"):
        from checklists.items import item_state_set

        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    item_state_set(deployment_id=deployment.pk, key="health", state="na", note="no http", actor=people["lead"], source="api")
    signoff_record(
        deployment_id=deployment.pk, role="lead", digest=deployment_snapshot(deployment).digest,
        actor=people["lead"], source="api",
    )
    with pytest.raises(Conflict, match="signed off and locked"):
        assign(deployment, people["engineer"], "engineer")


def test_assignee_comes_with_the_rows_and_the_api(api, deployment, people):
    assign(deployment, people["engineer"], "engineer")
    body = api.get("viewer", f"deployments/{deployment.pk}").json()
    by_key = {item["key"]: item for item in body["items"]}
    assert by_key["rollback"]["assignee"] == "engineer"
    assert by_key["nice"]["assignee"] is None


def test_the_api_takes_assigns_and_unassigns(api, deployment, people):
    taken = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"assignee": "engineer"})
    assert taken.status_code == 200, taken.json()
    assert taken.json()["assignee"] == "engineer"
    refused = api.post("engineer", f"deployments/{deployment.pk}/items/nice", {"assignee": "lead"})
    assert refused.status_code == 403
    assert refused.json() == {"error": "Only a lead assigns an item to someone else; you can take it yourself."}
    cleared = api.post("lead", f"deployments/{deployment.pk}/items/rollback", {"assignee": None})
    assert cleared.json()["assignee"] is None


def test_state_and_assignee_in_one_call_change_together_or_not_at_all(api, deployment, people):
    refused = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"state": "passed", "assignee": "lead"})
    assert refused.status_code == 403
    assert ItemState.objects.get(deployment=deployment, item__key="rollback").state == "pending"
    both = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"state": "passed", "assignee": "engineer"})
    assert (both.json()["state"], both.json()["assignee"]) == ("passed", "engineer")


OWNED = """# Owned checklist

## Database <!-- ctrlready owner: dba -->

- [ ] Restore drilled {#restore}
- [ ] Replica lag alert {#lag}
  <!-- item
  owner: ghost
  -->

## Web

- [ ] TLS renewed {#tls}
  <!-- item
  owner: engineer
  -->
- [ ] Nobody's {#free}
"""


def test_the_checklists_owners_who_exist_are_assigned_when_a_deployment_starts(people, environment):
    make_user("dba", "engineer")
    version = checklist_import(markdown=OWNED, name="Owned", actor=SYSTEM, source="cli").version
    deployment = deployment_create(
        environment=environment, checklist_slug=version.checklist.slug, release="v1", actor=people["lead"], source="api"
    )
    assert {key: assignee(deployment, key) for key in ("restore", "lag", "tls", "free")} == {
        "restore": "dba", "lag": None, "tls": "engineer", "free": None,
    }
    events = Event.objects.filter(deployment_ref=deployment.pk, kind=Event.Kind.ASSIGNED)
    assert sorted((event.item_key, event.data["user"]) for event in events) == [("restore", "dba"), ("tls", "engineer")]
