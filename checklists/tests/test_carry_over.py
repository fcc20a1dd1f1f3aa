"""Evidence that carries over: `POST deployments` with `from`, its refusals, and what a carried state is."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checklists.deployments import deployment_create
from checklists.imports import checklist_import
from checklists.items import item_state_set
from checklists.models import Deployment, Environment, ItemState, Service
from checklists.selectors import (
    deployment_digest,
    deployment_overview,
    deployment_snapshot,
    deployment_summaries,
)
from checklists.signoffs import deployment_reopen, signoff_record
from core.actors import SYSTEM
from core.models import Event

TEXT = """# Carry

## Release

- [ ] Pen test of the release {#pentest}
  <!-- item
  scope: release
  -->
- [ ] Contract tests green in CI {#contract}
  <!-- item
  scope: release
  -->
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
  -->
- [ ] Licences reviewed {#licences}
  <!-- item
  scope: release
  -->
- [ ] Docs for the release: {#docs}
  - [ ] API reference updated {#docs-api} <!-- item scope: release -->
  - [ ] Runbook updated {#docs-runbook} <!-- item scope: release -->

## Here

- [ ] Smoke test in this environment {#smoke}
"""
DONE_IN_STAGING = ("pentest", "docs-api", "docs-runbook", "smoke")


@pytest.fixture
def checklist(db):
    return checklist_import(markdown=TEXT, name="Carry", actor=SYSTEM, source="cli").version


@pytest.fixture
def production(environment):
    return Environment.objects.create(service=environment.service, name="production", base_url="http://127.0.0.1:9")


def start(environment, people, release="v2", **extra):
    return deployment_create(
        environment=environment, checklist_slug=extra.pop("checklist_slug", "carry"), release=release,
        actor=people["engineer"], source="api", **extra,
    )


def sign(deployment, people):
    signoff_record(
        deployment_id=deployment.pk, role="lead", digest=deployment_snapshot(deployment).digest,
        actor=people["lead"], source="web",
    )
    deployment.refresh_from_db()


@pytest.fixture
def staging(environment, checklist, people, probe_result):
    """v2 signed off in staging: the contract probe passed, licences waived, the rest ticked."""
    deployment = start(environment, people)
    for key in DONE_IN_STAGING:
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", note=f"{key} done",
                       evidence_url=f"https://ci.example.com/{key}", actor=people["engineer"], source="api")
    item_state_set(deployment_id=deployment.pk, key="licences", state="waived", note="Legal signed it off by mail",
                   actor=people["lead"], source="api")
    probe_result(deployment, "contract", "passed")
    sign(deployment, people)
    return deployment


def state(deployment, key) -> ItemState:
    return ItemState.objects.get(deployment=deployment, item__key=key)


def test_api_creates_a_deployment_from_a_signed_off_one_with_its_defaults(api, staging, production):
    answer = api.post("engineer", "deployments", {"environment": production.pk, "from": staging.pk})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["release"], body["checklist"], body["version"]) == ("v2", "carry", 1)
    items = {item["key"]: item for item in body["items"]}
    origin = {"deployment": staging.pk, "release": "v2", "environment": "staging"}
    assert items["pentest"]["carried_from"] == origin
    assert (items["pentest"]["state"], items["pentest"]["note"]) == ("passed", "pentest done")
    assert items["pentest"]["evidence_url"] == "https://ci.example.com/pentest"
    assert (items["licences"]["state"], items["licences"]["waiver_reason"], items["licences"]["waived_by"]) == (
        "waived", "Legal signed it off by mail", "lead")
    assert (items["smoke"]["state"], items["smoke"]["carried_from"]) == ("pending", None)


def test_parent_follows_its_carried_children(staging, production, people):
    deployment = start(production, people, from_id=staging.pk)
    assert state(deployment, "docs").state == "passed"
    assert state(deployment, "docs").carried_from_id is None  # it follows its children; it is not carried
    follows = Event.objects.get(deployment_ref=deployment.pk, item_key="docs")
    assert (follows.kind, follows.after, follows.note) == ("state", "passed", "Follows its children.")


def test_a_carried_probe_result_keeps_its_run_and_stays_fresh_until_a_run_here_replaces_it(
    staging, production, people, probe_result
):
    ItemState.objects.filter(deployment=staging, item__key="contract").update(
        last_passed_at=timezone.now() - timedelta(days=2)
    )
    deployment = start(production, people, from_id=staging.pk)
    carried = next(row for row in deployment_snapshot(deployment).rows if row.item.key == "contract")
    assert (carried.state.state, carried.stale, carried.state.carried.deployment_id) == ("passed", False, staging.pk)
    assert carried.run.status == "passed"

    probe_result(deployment, "contract", "failed")
    contract = state(deployment, "contract")
    assert (contract.state, contract.carried_from_id) == ("failed", None)


def test_changing_a_carried_state_makes_it_this_deployments_own(staging, production, people):
    deployment = start(production, people, from_id=staging.pk)
    item_state_set(deployment_id=deployment.pk, key="pentest", note="Re-read the report here",
                   actor=people["engineer"], source="api")
    pentest = state(deployment, "pentest")  # a note adds to the evidence; the state is still the one carried
    assert (pentest.state, pentest.carried_from_id, pentest.note) == ("passed", staging.pk, "Re-read the report here")
    item_state_set(deployment_id=deployment.pk, key="pentest", state="pending", actor=people["engineer"], source="api")
    pentest = state(deployment, "pentest")
    assert (pentest.state, pentest.carried_from_id, pentest.updated_by_name) == ("pending", None, "engineer")


def test_carried_evidence_names_where_it_was_attested_through_several_hops(staging, environment, production, people):
    preprod = Environment.objects.create(service=environment.service, name="preprod", base_url="http://127.0.0.1:9")
    middle = start(preprod, people, from_id=staging.pk)
    item_state_set(deployment_id=middle.pk, key="smoke", state="passed", actor=people["engineer"], source="api")
    item_state_set(deployment_id=middle.pk, key="contract", state="na", note="Not here", actor=people["lead"], source="api")
    sign(middle, people)
    last = start(production, people, from_id=middle.pk)
    assert state(last, "pentest").carried_from_id == staging.pk
    assert state(last, "pentest").updated_by_name == "engineer"


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"release": "v3"}, 400, "is of release `v2`, not `v3`"),
        ({"from": 999999}, 404, "There is no deployment 999999"),
        ({"checklist": "other"}, 400, "evidence carries over only within one checklist"),
    ],
)
def test_from_refused_unless_same_release_and_checklist(api, staging, production, change, status, message):
    checklist_import(markdown="# Other\n## S\n- [ ] x\n", name="Other", actor=SYSTEM, source="cli")
    answer = api.post("engineer", "deployments", {"environment": production.pk, "from": staging.pk, **change})
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert not Deployment.objects.filter(environment=production).exists()


def test_from_refused_for_another_service(api, staging, people):
    elsewhere = Environment.objects.create(
        service=Service.objects.create(name="billing"), name="production", base_url="http://127.0.0.1:9"
    )
    answer = api.post("engineer", "deployments", {"environment": elsewhere.pk, "from": staging.pk})
    assert answer.status_code == 400
    assert "evidence carries over only within one service" in answer.json()["error"]


def test_from_refused_while_the_origin_is_not_signed_off(api, staging, production, people):
    deployment_reopen(deployment_id=staging.pk, reason="Found a bug", actor=people["lead"], source="api")
    answer = api.post("engineer", "deployments", {"environment": production.pk, "from": staging.pk})
    assert answer.status_code == 409
    assert "is not signed off" in answer.json()["error"]
    assert not Deployment.objects.filter(environment=production).exists()


def test_viewer_may_not_promote(client, staging, production, people):
    client.force_login(people["viewer"])
    answer = client.post(f"/deployments/{staging.pk}/promote/", {"environment": production.pk})
    assert answer.status_code == 403
    assert not Deployment.objects.filter(environment=production).exists()


def test_signed_off_deployment_stays_as_it_was_signed(staging, clock):
    as_signed = deployment_snapshot(staging).digest
    clock(days=2)  # its probe result is long past the freshness window now
    snapshot = deployment_snapshot(staging)
    assert (snapshot.digest, snapshot.progress["stale"], snapshot.blocking) == (as_signed, 0, [])
    assert deployment_snapshot(staging, now=timezone.now()).progress["stale"] == 1  # judged now, it would be stale


def agree_with_the_snapshot(deployment) -> dict:
    """The page's panels, the dashboard's summary and the signer's digest, each checked against the snapshot."""
    snapshot = deployment_snapshot(deployment)
    summary = deployment_summaries([deployment.pk])[deployment.pk]
    overview = deployment_overview(deployment)
    for key, value in snapshot.progress.items():
        assert summary[key] == value == overview.progress[key], (deployment.release, key)
    assert [line.key for line in overview.blocking] == [row.item.key for row in snapshot.blocking]
    assert deployment_digest(deployment) == snapshot.digest
    return snapshot.progress


def test_every_read_judges_carried_evidence_and_a_signed_off_deployment_as_the_snapshot_does(
    staging, production, people, clock
):
    deployment = start(production, people, from_id=staging.pk)
    clock(days=2)  # the contract probe's result is long past the freshness window
    assert agree_with_the_snapshot(deployment)["stale"] == 0  # the carried probe result is the release's evidence
    assert agree_with_the_snapshot(staging)["stale"] == 0  # judged as it was signed


def test_every_read_judges_a_lapsed_attestation_as_the_snapshot_does(environment, people, clock):
    text = "# Valid\n\n## Ops\n\n- [ ] Restore drilled {#restore}\n  <!-- item\n  valid: 1h\n  -->\n- [ ] Rollback plan {#rollback}\n"
    checklist_import(markdown=text, name="Valid", actor=SYSTEM, source="cli")
    deployment = start(environment, people, checklist_slug="valid")
    for key in ("restore", "rollback"):
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
    assert agree_with_the_snapshot(deployment)["blocking"] == 0
    clock(hours=2)
    progress = agree_with_the_snapshot(deployment)
    assert (progress["stale"], progress["blocking"]) == (1, 1)
