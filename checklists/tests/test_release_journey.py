"""One release through staging and on to production: probes against a real server on loopback, ticks,
sign-off, then "Promote to production" — what carries over, with its origin, and what does not."""

import re
from datetime import datetime, timedelta

import pytest
from django.urls import reverse

from checklists.deployments import deployment_create
from checklists.imports import checklist_import
from checklists.items import item_state_set
from checklists.models import Deployment, Environment, ItemState, Service
from checklists.selectors import deployment_snapshot, deployment_summaries
from checklists.signoffs import signoff_record
from core.actors import SYSTEM
from core.errors import Conflict
from core.models import Event
from probes.models import ProbeRun
from probes.services import runs_execute, runs_request
from probes.tests.servers import http_server

CHECKLIST = """# Shop readiness

## Release

- [ ] Security review of the release signed {#security-review}
  <!-- item
  scope: release
  -->
- [ ] Changelog reviewed {#changelog} <!-- item scope: release -->
- [ ] `GET /health` answers quickly {#health}
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
    - "[RESPONSE_TIME] < 5000"
  -->

## Operations

- [ ] Database restore drilled on a copy of production {#restore-drill}
  <!-- item
  valid: 1h
  -->
- [ ] On-call engineer available {#oncall}
"""
MANUAL = ("security-review", "changelog", "restore-drill", "oncall")


@pytest.fixture
def target():
    """The service itself: a real HTTP server on loopback that the probes reach."""
    with http_server() as server:
        yield server


@pytest.fixture
def shop(db, target):
    service = Service.objects.create(name="shop")
    environments = {
        name: Environment.objects.create(service=service, name=name, base_url=target.url)
        for name in ("staging", "production")
    }
    version = checklist_import(markdown=CHECKLIST, name="Shop readiness", actor=SYSTEM, source="cli").version
    return environments, version


def run_probes(deployment, people) -> None:
    """Queue the deployment's probes and run them here, against the real server (no queue in between)."""
    assert runs_request(deployment_id=deployment.pk, keys=None, actor=people["engineer"], source="api") == 1
    runs = list(ProbeRun.objects.filter(deployment=deployment, status=ProbeRun.Status.QUEUED).values_list("pk", flat=True))
    assert runs_execute(runs) == 1


def go_live(deployment, people, *, keys=MANUAL) -> Deployment:
    """Tick what is left, run the probes, and sign off as the lead."""
    run_probes(deployment, people)
    for key in keys:
        item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="web")
    digest = deployment_snapshot(deployment).digest
    signoff_record(deployment_id=deployment.pk, role="lead", digest=digest, actor=people["lead"], source="web")
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.SIGNED_OFF
    return deployment


def items_of(api, deployment) -> dict:
    answer = api.get("viewer", f"deployments/{deployment.pk}")
    assert answer.status_code == 200, answer.content
    return {item["key"]: item for item in answer.json()["items"]}


def row(html: str, key: str) -> str:
    match = re.search(rf'<li id="item-{re.escape(key)}".*?</li>', html, re.S)
    assert match, f"no row for {key}"
    return match.group(0)


def test_a_release_promoted_from_staging_carries_its_evidence_to_production(
    client, api, people, shop, target, broker_up, clock
):
    environments, version = shop
    # Production was signed off for the previous release, with the restore drill attested then.
    previous = deployment_create(
        environment=environments["production"], checklist_slug=version.checklist.slug, release="v1.0",
        actor=people["engineer"], source="api",
    )
    go_live(previous, people)
    clock(minutes=20)

    # v1.1 goes through staging: the probe meets the real server, people tick, the lead signs off.
    staging = deployment_create(
        environment=environments["staging"], checklist_slug=version.checklist.slug, release="v1.1",
        actor=people["engineer"], source="api",
    )
    go_live(staging, people)
    assert "/health" in target.paths
    staged = ItemState.objects.get(deployment=staging, item__key="security-review")

    # The signed-off staging page offers the promotion; the engineer clicks it.
    client.force_login(people["engineer"])
    html = client.get(reverse("deployment", args=[staging.pk])).content.decode()
    assert "Promote to production" in html
    answer = client.post(reverse("deployment-promote", args=[staging.pk]), {"environment": environments["production"].pk})
    production = Deployment.objects.get(environment=environments["production"], release="v1.1")
    assert answer.status_code == 302 and answer["Location"] == reverse("deployment", args=[production.pk])
    assert production.version_id == staging.version_id

    items = items_of(api, production)
    # Release-scoped items arrive done, showing where and by whom they were attested.
    for key in ("security-review", "changelog"):
        assert items[key]["state"] == "passed"
        assert items[key]["carried_from"] == {"deployment": staging.pk, "release": "v1.1", "environment": "staging"}
        assert items[key]["by"] == "engineer"
    attested = datetime.fromisoformat(items["security-review"]["at"])  # when it was attested, to the millisecond
    assert abs(attested - staged.updated_at) < timedelta(milliseconds=1)
    # Environment-scoped ones start over: the manual one pending, the probe not run here yet.
    assert (items["oncall"]["state"], items["oncall"]["carried_from"]) == ("pending", None)
    assert (items["health"]["state"], items["health"]["probe"]) == ("pending", None)
    # The 1-hour attestation of the restore drill comes from production's own previous deployment.
    assert items["restore-drill"]["state"] == "passed"
    assert items["restore-drill"]["carried_from"]["deployment"] == previous.pk
    assert items["restore-drill"]["stale"] is False

    carried = Event.objects.filter(deployment_ref=production.pk, kind="carried")
    assert sorted(carried.values_list("item_key", "before", "after")) == [
        ("changelog", "pending", "passed"),
        ("restore-drill", "pending", "passed"),
        ("security-review", "pending", "passed"),
    ]
    assert carried.get(item_key="security-review").data["from"] == staging.pk
    assert "Carried over from v1.1 in staging" in carried.get(item_key="security-review").note

    # The production page shows the origin on the row, linked.
    html = client.get(reverse("deployment", args=[production.pk])).content.decode()
    origin = reverse("deployment", args=[staging.pk])
    assert f'carried over from <a href="{origin}">v1.1 in staging</a>' in row(html, "security-review")
    assert "carried over" not in row(html, "oncall")

    # Production's own checks: the probe against the real server, the on-call engineer.
    run_probes(production, people)
    item_state_set(deployment_id=production.pk, key="oncall", state="passed", actor=people["engineer"], source="web")
    assert deployment_snapshot(production).blocking == []

    # An hour after the drill was attested, the attestation is stale: it blocks sign-off again.
    clock(minutes=41)
    snapshot = deployment_snapshot(production)
    assert [row.item.key for row in snapshot.blocking] == ["restore-drill"]
    assert items_of(api, production)["restore-drill"]["stale"] is True
    assert deployment_summaries([production.pk])[production.pk]["stale"] == 1
    with pytest.raises(Conflict) as refused:
        signoff_record(deployment_id=production.pk, role="lead", digest=snapshot.digest, actor=people["lead"], source="web")
    assert refused.value.extra["blocking"] == ["restore-drill"]
    html = client.get(reverse("deployment", args=[production.pk])).content.decode()
    assert "tag-stale" in row(html, "restore-drill")

    # Re-attested here, it holds again and the release can be signed off.
    item_state_set(deployment_id=production.pk, key="restore-drill", state="pending", actor=people["engineer"], source="web")
    item_state_set(deployment_id=production.pk, key="restore-drill", state="passed", actor=people["engineer"], source="web")
    run_probes(production, people)
    snapshot = deployment_snapshot(production)
    assert snapshot.blocking == []
    signoff_record(deployment_id=production.pk, role="lead", digest=snapshot.digest, actor=people["lead"], source="web")


def test_an_attestation_older_than_its_validity_does_not_carry_over(people, shop, broker_up, clock):
    environments, version = shop
    earlier = deployment_create(
        environment=environments["production"], checklist_slug=version.checklist.slug, release="v1.0",
        actor=people["engineer"], source="api",
    )
    go_live(earlier, people)
    clock(minutes=61)
    later = deployment_create(
        environment=environments["production"], checklist_slug=version.checklist.slug, release="v1.1",
        actor=people["engineer"], source="api",
    )
    drill = ItemState.objects.get(deployment=later, item__key="restore-drill")
    assert (drill.state, drill.carried_from_id) == ("pending", None)
    assert not Event.objects.filter(deployment_ref=later.pk, kind="carried").exists()


def test_an_attestation_of_another_environment_does_not_carry_over(people, shop, broker_up):
    environments, version = shop
    go_live(deployment_create(
        environment=environments["staging"], checklist_slug=version.checklist.slug, release="v1.0",
        actor=people["engineer"], source="api",
    ), people)
    production = deployment_create(
        environment=environments["production"], checklist_slug=version.checklist.slug, release="v1.1",
        actor=people["engineer"], source="api",
    )
    assert ItemState.objects.get(deployment=production, item__key="restore-drill").state == "pending"
