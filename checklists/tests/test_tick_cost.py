"""What one tick costs the database: the queries a tick through the API and an htmx tick issue, pinned.

In these tests every request runs inside the test's transaction, so the tick's `transaction.atomic()`
shows as a SAVEPOINT and its RELEASE; served for real they are the BEGIN and COMMIT of its transaction.
"""

import pytest
from django.urls import reverse

from checklists.models import ItemState
from core.models import Event

HX = {"HTTP_HX_REQUEST": "true"}


def _statements(captured) -> list[str]:
    """Each query as its verb and first table: `SELECT core_apitoken`, `UPDATE checklists_itemstate`."""
    out = []
    for query in captured:
        words = query["sql"].replace('"', "").replace("(", " ").split()
        verb = words[0]
        if verb == "SELECT":
            table = words[words.index("FROM") + 1]
        elif verb in ("UPDATE", "INSERT", "DELETE"):
            table = words[1] if verb == "UPDATE" else words[2]
        else:
            table = ""
        out.append(f"{verb} {table}".strip())
    return out


def test_a_tick_through_the_api_costs_six_queries_in_one_transaction_and_one_after(
    api, deployment, django_assert_num_queries, django_capture_on_commit_callbacks
):
    api.get("engineer", f"deployments/{deployment.pk}")  # the token's last use is recorded (at most once a minute)
    path = f"deployments/{deployment.pk}/items/rollback"
    with django_assert_num_queries(9) as context, django_capture_on_commit_callbacks(execute=True):
        response = api.post("engineer", path, {"state": "passed"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "passed" and response.json()["parent"] is None
    assert _statements(context.captured_queries) == [
        "SELECT core_apitoken",  # 1. the token and its user, joined
        "SELECT auth_group",  # 2. the person's roles, site-wide and per team, read before the lock is taken
        "SAVEPOINT",  # BEGIN
        "SELECT checklists_deployment",  # 3. the deployment's row locked, with its version, environment, service
        #                                   (whose team the role check names)
        "SELECT checklists_itemstate",  # 4. the item's state locked, with its item (has_children, probe) and parent
        "UPDATE checklists_itemstate",  # 5. the new state
        "INSERT core_event",  # 6. its event (whether anything else still blocks, for `ready_for_signoff`,
        #                        was asked with 4, as an EXISTS beside the item's state)
        "RELEASE",  # COMMIT
        "SELECT checklists_itemstate",  # 7. after commit, outside any lock: does anything still block? (a tick
        #                                  of another item, running beside this one, may have cleared it)
    ]
    assert ItemState.objects.get(deployment=deployment, item__key="rollback").state == "passed"
    assert Event.objects.filter(deployment_ref=deployment.pk, item_key="rollback", after="passed").count() == 1


def test_an_htmx_tick_costs_its_writes_and_reads_only_its_row_and_the_panels(
    client, people, deployment, django_assert_num_queries
):
    client.force_login(people["engineer"])
    url = reverse("item", args=[deployment.pk, "rollback"])
    with django_assert_num_queries(14) as context:
        response = client.post(url, {"state": "passed"}, **HX)
    assert response.status_code == 200, response.content[:300]
    assert 'data-item-key="rollback" data-item-state="passed"' in response.content.decode()
    assert _statements(context.captured_queries) == [
        "SELECT django_session",  # 1. the session
        "SELECT auth_user",  # 2. its user
        "SELECT auth_group",  # 3. the person's roles, site-wide and per team
        "SAVEPOINT",  # BEGIN
        "SELECT checklists_deployment",  # 4. the lock, which also gives the answer its deployment
        "SELECT checklists_itemstate",  # 5. the item's state with its item
        "UPDATE checklists_itemstate",  # 6. the new state
        "INSERT core_event",  # 7. its event
        "RELEASE",  # COMMIT
        "SELECT checklists_itemstate",  # 8. the answer's rows: the item and its parents
        "SELECT checklists_section",  # 9. the outline, for the section's progress
        "SELECT checklists_itemstate",  # 10. progress counted by section
        "SELECT checklists_itemstate",  # 11. the first items that block sign-off
        "SELECT checklists_signoff",  # 12. the sign-offs
    ]


@pytest.mark.parametrize("key, queries", [("rollback", 8), ("alerts-down", 10)])
def test_a_tick_answer_names_the_parent_without_asking_for_it(api, deployment, key, queries, django_assert_num_queries):
    api.get("engineer", f"deployments/{deployment.pk}")
    with django_assert_num_queries(queries):  # a child's tick also locks its parent's state and reads its siblings
        response = api.post("engineer", f"deployments/{deployment.pk}/items/{key}", {"state": "passed"})
    assert response.status_code == 200, response.content
    assert response.json()["parent"] == ("alerts" if key == "alerts-down" else None)
