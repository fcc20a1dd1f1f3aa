"""A deployment through the JSON API, from all-pending to signed off and reopened, with every rule."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checklists.deployments import deployment_create
from checklists.models import ItemState
from core.models import Event


def items_by_key(body: dict) -> dict:
    return {item["key"]: item for item in body["items"]}


def test_engineer_starts_a_deployment_against_the_latest_version(api, environment, small_checklist):
    response = api.post(
        "engineer", "deployments", {"environment": environment.pk, "checklist": "small-checklist", "release": "v2.0.0"}
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["release"], body["environment"], body["checklist"], body["version"]) == (
        "open", "v2.0.0", environment.pk, "small-checklist", 1,
    )
    assert body["progress"] == {"total": 6, "passed": 0, "failed": 0, "pending": 6, "waived": 0, "na": 0, "blocking": 5}
    assert body["required_roles"] == ["lead"] and body["signoffs"] == []
    assert len(body["digest"]) == 64
    health = items_by_key(body)["health"]
    assert (health["automated"], health["state"], health["probe"], health["section"]) == (True, "pending", None, ["Ops"])
    assert items_by_key(body)["alerts-down"]["parent"] == "alerts"


@pytest.mark.parametrize(
    "who, body, status",
    [
        (None, {"checklist": "small-checklist", "release": "v2"}, 401),
        ("viewer", {"checklist": "small-checklist", "release": "v2"}, 403),
        ("outsider", {"checklist": "small-checklist", "release": "v2"}, 404),  # may not even see the environment
        ("engineer", {"checklist": "no-such-checklist", "release": "v2"}, 404),
        ("engineer", {"checklist": "small-checklist", "release": "v2", "version": 7}, 404),
        ("engineer", {"checklist": "small-checklist", "release": "   "}, 400),
        ("engineer", {"checklist": "small-checklist"}, 400),
    ],
)
def test_deployment_creation_refusals(api, environment, small_checklist, who, body, status):
    response = api.post(who, "deployments", {"environment": environment.pk, **body})

    assert response.status_code == status
    assert response.json()["error"]


def test_deployment_in_unknown_environment_is_404(api, small_checklist):
    response = api.post("engineer", "deployments", {"environment": 999, "checklist": "small-checklist", "release": "v2"})

    assert response.status_code == 404
    assert "environment 999" in response.json()["error"]


def test_deployment_from_pending_to_signed_off_and_reopened(api, deployment):
    base = f"deployments/{deployment.pk}"

    # Nobody without a token; nobody without a role sees the deployment is there (404), nor lists any (403).
    assert api.get(None, base).status_code == 401
    assert api.post(None, f"{base}/items/rollback", {"state": "passed"}).status_code == 401
    assert api.get("outsider", base).status_code == 404
    assert api.get("outsider", f"{base}/events").status_code == 404
    assert api.get("outsider", f"{base}/gate").status_code == 404
    assert api.get("outsider", "deployments").status_code == 403
    start = api.get("viewer", base).json()
    assert start["progress"]["pending"] == 6

    # A viewer reads but does not tick.
    refused = api.post("viewer", f"{base}/items/rollback", {"state": "passed"})
    assert refused.status_code == 403 and "engineer" in refused.json()["error"]

    # The gate is closed, and says why.
    gate = api.get("viewer", f"{base}/gate")
    assert gate.status_code == 409
    assert gate.json()["go"] is False
    assert set(gate.json()["blocking"]) == {"rollback", "alerts", "alerts-down", "alerts-errors", "health"}
    assert gate.json()["missing_roles"] == ["lead"]

    # An engineer ticks manual items; the parent follows its children.
    ticked = api.post("engineer", f"{base}/items/rollback", {"state": "passed", "evidence_url": "https://ci.example.com/1"})
    assert ticked.status_code == 200
    assert (ticked.json()["state"], ticked.json()["by"], ticked.json()["evidence_url"]) == ("passed", "engineer", "https://ci.example.com/1")
    assert api.post("engineer", f"{base}/items/alerts-down", {"state": "passed"}).status_code == 200
    assert items_by_key(api.get("viewer", base).json())["alerts"]["state"] == "pending"
    assert api.post("engineer", f"{base}/items/alerts-errors", {"state": "na", "note": "no error budget yet"}).status_code == 200
    assert items_by_key(api.get("viewer", base).json())["alerts"]["state"] == "passed"

    # A parent is not ticked directly; an unknown key is 404.
    parent = api.post("engineer", f"{base}/items/alerts", {"state": "failed"})
    assert parent.status_code == 400 and "children" in parent.json()["error"]
    assert api.post("engineer", f"{base}/items/no-such-item", {"state": "passed"}).status_code == 404

    # The automated item is the probe's to pass; an engineer cannot waive; a lead must say why.
    automated = api.post("lead", f"{base}/items/health", {"state": "passed"})
    assert automated.status_code == 400 and "probe" in automated.json()["error"]
    assert api.post("engineer", f"{base}/items/health", {"state": "waived", "note": "later"}).status_code == 403
    no_reason = api.post("lead", f"{base}/items/health", {"state": "waived"})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]

    # Sign-off is refused while anything blocks, naming what blocks.
    blocked = api.post("lead", f"{base}/signoffs", {"role": "lead", "digest": api.get("lead", base).json()["digest"]})
    assert blocked.status_code == 409
    assert blocked.json()["blocking"] == ["health"]

    waived = api.post("lead", f"{base}/items/health", {"state": "waived", "note": "probed by hand in the meeting"})
    assert waived.status_code == 200 and waived.json()["state"] == "waived"

    # A digest read before a change is stale.
    stale_digest = api.get("lead", base).json()["digest"]
    assert api.post("engineer", f"{base}/items/nice", {"note": "maybe next release"}).status_code == 200
    stale = api.post("lead", f"{base}/signoffs", {"role": "lead", "digest": stale_digest})
    assert stale.status_code == 409 and "changed" in stale.json()["error"]

    # Only a lead signs.
    current = api.get("lead", base).json()
    assert current["progress"]["blocking"] == 0
    assert api.post("engineer", f"{base}/signoffs", {"role": "lead", "digest": current["digest"]}).status_code == 403
    signed = api.post("lead", f"{base}/signoffs", {"role": "lead", "digest": current["digest"], "comment": "Go."})
    assert signed.status_code == 201, signed.json()
    assert (signed.json()["role"], signed.json()["user"], signed.json()["deployment_status"]) == ("lead", "lead", "signed_off")

    gate = api.get("viewer", f"{base}/gate")
    assert (gate.status_code, gate.json()) == (200, {"go": True})
    after = api.get("viewer", base).json()
    assert after["status"] == "signed_off"
    assert [(s["role"], s["user"], s["comment"]) for s in after["signoffs"]] == [("lead", "lead", "Go.")]
    assert after["missing_roles"] == []

    # Locked: nothing changes, not even by a lead; a second sign-off is refused.
    locked = api.post("engineer", f"{base}/items/nice", {"state": "passed"})
    assert locked.status_code == 409 and "locked" in locked.json()["error"]
    assert api.post("lead", f"{base}/items/nice", {"state": "waived", "note": "x"}).status_code == 409
    assert api.post("lead", f"{base}/signoffs", {"role": "lead", "digest": after["digest"]}).status_code == 409

    # Reopen: a lead's, with a reason; the sign-off is voided.
    assert api.post("engineer", f"{base}/reopen", {"reason": "hotfix"}).status_code == 403
    assert api.post("lead", f"{base}/reopen", {"reason": "  "}).status_code == 400
    reopened = api.post("lead", f"{base}/reopen", {"reason": "hotfix v1.0.1 goes in first"})
    assert reopened.status_code == 200
    assert (reopened.json()["status"], reopened.json()["signoffs"]) == ("open", [])
    assert api.post("lead", f"{base}/reopen", {"reason": "again"}).status_code == 409
    gate = api.get("viewer", f"{base}/gate")
    assert gate.status_code == 409 and gate.json() | {"error": ""} == {
        "error": "", "go": False, "blocking": [], "missing_roles": ["lead"],
    }

    # The history lists every step, oldest first, with who and from where.
    events = api.get("viewer", f"{base}/events").json()["events"]
    steps = [(e["kind"], e["actor"], e["item"], e["before"], e["after"], e["source"]) for e in events]
    assert steps == [
        ("deployment_created", "engineer", None, "", "", "api"),
        ("state", "engineer", "rollback", "pending", "passed", "api"),
        ("state", "engineer", "alerts-down", "pending", "passed", "api"),
        ("state", "engineer", "alerts-errors", "pending", "na", "api"),
        ("state", "engineer", "alerts", "pending", "passed", "api"),
        ("waive", "lead", "health", "pending", "waived", "api"),
        ("ready_for_signoff", "lead", None, "", "", "api"),  # the waiver cleared the last blocker
        ("note", "engineer", "nice", "pending", "pending", "api"),
        ("signoff", "lead", None, "", "lead", "api"),
        ("signed_off", "lead", None, "open", "signed_off", "api"),
        ("reopen", "lead", None, "signed_off", "open", "api"),
    ]
    assert events[5]["note"] == "probed by hand in the meeting"
    assert events[-1]["note"] == "hotfix v1.0.1 goes in first"
    assert all(e["at"] for e in events)


def test_setting_the_same_state_again_records_nothing(api, deployment):
    base = f"deployments/{deployment.pk}"
    api.post("engineer", f"{base}/items/rollback", {"state": "passed"})
    count = Event.objects.count()

    again = api.post("engineer", f"{base}/items/rollback", {"state": "passed"})

    assert again.status_code == 200
    assert Event.objects.count() == count


def test_engineer_cannot_undo_a_waiver(api, deployment):
    base = f"deployments/{deployment.pk}"
    api.post("lead", f"{base}/items/rollback", {"state": "waived", "note": "not this time"})

    assert api.post("engineer", f"{base}/items/rollback", {"state": "pending"}).status_code == 403
    assert api.post("lead", f"{base}/items/rollback", {"state": "pending"}).json()["state"] == "pending"


def test_waived_parent_can_be_unwaived_and_follows_its_children_again(api, deployment):
    base = f"deployments/{deployment.pk}"
    api.post("engineer", f"{base}/items/alerts-down", {"state": "failed"})
    assert api.post("lead", f"{base}/items/alerts", {"state": "waived", "note": "paging is manual"}).json()["state"] == "waived"

    unwaived = api.post("lead", f"{base}/items/alerts", {"state": "pending"})

    assert unwaived.status_code == 200
    assert unwaived.json()["state"] == "failed"


def test_evidence_link_must_be_a_url(api, deployment):
    response = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"evidence_url": "javascript:alert(1)"})

    assert response.status_code == 400
    assert "URL" in response.json()["error"]


def test_item_body_needs_something_to_change(api, deployment):
    response = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {})

    assert response.status_code == 400
    assert "state" in response.json()["error"]


def test_unknown_state_is_400_naming_the_field(api, deployment):
    response = api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"state": "done"})

    assert response.status_code == 400
    assert "`state`" in response.json()["error"]


def test_signoff_for_a_role_the_checklist_does_not_need_is_400(api, deployment, people):
    api.post("engineer", f"deployments/{deployment.pk}/items/rollback", {"state": "passed"})
    digest = api.get("admin", f"deployments/{deployment.pk}").json()["digest"]

    response = api.post("admin", f"deployments/{deployment.pk}/signoffs", {"role": "admin", "digest": digest})

    assert response.status_code in (400, 409)
    assert response.json()["error"]


def test_keys_with_dots_work_in_the_url(api, environment):
    markdown = "# Dotted\n\n## Before the release\n\n- [ ] Database migrated\n- [ ] Flags set\n  - [ ] Flag off\n"
    assert api.post("admin", "checklists/import", {"name": "Dotted", "markdown": markdown}).status_code == 201
    created = api.post("engineer", "deployments", {"environment": environment.pk, "checklist": "dotted", "release": "r1"}).json()
    key = "before-the-release.flags-set.flag-off"
    assert key in items_by_key(created)

    response = api.post("engineer", f"deployments/{created['id']}/items/{key}", {"state": "passed"})

    assert response.status_code == 200
    assert (response.json()["key"], response.json()["parent"]) == (key, "before-the-release.flags-set")
    assert items_by_key(api.get("viewer", f"deployments/{created['id']}").json())["before-the-release.flags-set"]["state"] == "passed"


def test_unknown_deployment_is_404_everywhere(api, people):
    for path in ("deployments/999", "deployments/999/events", "deployments/999/gate"):
        response = api.get("viewer", path)
        assert response.status_code == 404, path
        assert response.json()["error"]
    assert api.post("engineer", "deployments/999/items/x", {"state": "passed"}).status_code == 404
    assert api.post("lead", "deployments/999/signoffs", {"digest": "x"}).status_code == 404
    assert api.post("lead", "deployments/999/reopen", {"reason": "x"}).status_code == 404


def test_deployment_list_is_newest_first_and_filters(api, people, environment, small_checklist):
    from checklists.models import Environment

    other = Environment.objects.create(service=environment.service, name="production", base_url="https://example.com")
    first = deployment_create(environment=environment, checklist_slug="small-checklist", release="v1", actor=people["engineer"], source="api")
    second = deployment_create(environment=other, checklist_slug="small-checklist", release="v2", actor=people["engineer"], source="api")
    third = deployment_create(environment=environment, checklist_slug="small-checklist", release="v3", actor=people["engineer"], source="api")
    api.post("engineer", f"deployments/{third.pk}/items/rollback", {"state": "passed"})

    listed = api.get("viewer", "deployments").json()["deployments"]
    assert [d["id"] for d in listed] == [third.pk, second.pk, first.pk]
    assert listed[0] | {"created_at": None} == {
        "id": third.pk,
        "release": "v3",
        "status": "open",
        "environment": environment.pk,
        "checklist": "small-checklist",
        "version": 1,
        "progress": {"total": 6, "passed": 1, "failed": 0, "pending": 5, "waived": 0, "na": 0, "blocking": 4},
        "created_at": None,
    }
    in_staging = api.get("viewer", "deployments", environment=environment.pk).json()["deployments"]
    assert [d["id"] for d in in_staging] == [third.pk, first.pk]
    assert api.get("viewer", "deployments", status="signed_off").json()["deployments"] == []
    assert len(api.get("viewer", "deployments", status="open").json()["deployments"]) == 3
    bad = api.get("viewer", "deployments", status="finished")
    assert bad.status_code == 400 and "`status`" in bad.json()["error"]


def test_deployment_list_takes_the_same_queries_for_one_or_many(api, people, environment, small_checklist):
    def create():
        deployment_create(environment=environment, checklist_slug="small-checklist", release="r", actor=people["engineer"], source="api")

    create()
    api.get("viewer", "deployments")
    with CaptureQueriesContext(connection) as one:
        api.get("viewer", "deployments")
    for _ in range(5):
        create()
    with CaptureQueriesContext(connection) as six:
        assert len(api.get("viewer", "deployments").json()["deployments"]) == 6

    assert len(six) == len(one)


def test_deployment_page_takes_the_same_queries_whatever_its_state(api, deployment):
    base = f"deployments/{deployment.pk}"
    api.get("viewer", base)
    with CaptureQueriesContext(connection) as before:
        api.get("viewer", base)
    api.post("engineer", f"{base}/items/rollback", {"state": "passed"})
    api.post("lead", f"{base}/items/health", {"state": "waived", "note": "n/a here"})
    with CaptureQueriesContext(connection) as after:
        api.get("viewer", base)

    assert len(after) == len(before) <= 8


def test_probe_result_is_shown_on_the_item(api, deployment):
    from django.utils import timezone

    from probes.models import ProbeRun
    from probes.services import run_result

    state = ItemState.objects.get(deployment=deployment, item__key="health")
    now = timezone.now()
    run = ProbeRun.objects.create(
        deployment=deployment, item=state.item, status="passed", deadline=now, started_at=now, finished_at=now,
        duration_ms=12, conditions=[{"expr": "[STATUS] == 200", "ok": True, "observed": 200}],
    )
    ItemState.objects.filter(pk=state.pk).update(
        latest_run_id=run.pk, result=run_result(run), state="passed", last_passed_at=now
    )

    health = items_by_key(api.get("viewer", f"deployments/{deployment.pk}").json())["health"]

    assert health["state"] == "passed" and health["stale"] is False
    assert health["probe"]["status"] == "passed"
    assert health["probe"]["duration_ms"] == 12
    assert health["probe"]["conditions"] == [{"expr": "[STATUS] == 200", "ok": True, "observed": 200}]


def test_stale_probe_result_blocks(api, deployment):
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - timedelta(hours=3)
    ItemState.objects.filter(deployment=deployment, item__key="health").update(state="passed", last_passed_at=long_ago)

    body = api.get("viewer", f"deployments/{deployment.pk}").json()

    health = items_by_key(body)["health"]
    assert (health["stale"], health["blocking"]) == (True, True)
    assert "health" in api.get("viewer", f"deployments/{deployment.pk}/gate").json()["blocking"]


def test_the_history_is_read_in_batches_that_follow_each_other_without_a_gap(api, deployment, environment, small_checklist):
    base = f"deployments/{deployment.pk}"
    for key in ("rollback", "alerts-down", "alerts-errors"):
        assert api.post("engineer", f"{base}/items/{key}", {"state": "passed"}).status_code == 200
    whole = api.get("viewer", f"{base}/events").json()
    assert whole["next"] is None and len(whole["events"]) == 5  # created, three ticks, the parent following them

    batches, after = [], None
    while True:
        query = f"?limit=2&after={after}" if after else "?limit=2"
        answer = api.get("viewer", f"{base}/events{query}")
        assert answer.status_code == 200, answer.json()
        batches.append([event["id"] for event in answer.json()["events"]])
        after = answer.json()["next"]
        if after is None:
            break
    assert batches == [[e["id"] for e in whole["events"][i : i + 2]] for i in (0, 2, 4)]
    assert api.get("viewer", f"{base}/events?limit=5").json()["next"] is None  # exactly all: nothing to read on

    other = api.post("engineer", "deployments", {"environment": environment.pk, "checklist": "small-checklist", "release": "v9"})
    elsewhere = api.get("viewer", f"deployments/{other.json()['id']}/events").json()["events"][0]["id"]
    for query, said in (
        (f"?after={elsewhere}", "is not in this deployment's history; give `after` the `next` of the previous answer"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
    ):
        refused = api.get("viewer", f"{base}/events{query}")
        assert refused.status_code == 400, (query, refused.json())
        assert said in refused.json()["error"]
