"""Compare any two deployments: the same release in two environments, two releases in one environment."""

import re

import pytest
from django.urls import reverse

from checklists.conditions import ConditionResult
from checklists.deployments import deployment_create
from checklists.imports import checklist_import
from checklists.items import item_state_set
from checklists.models import Environment
from core.actors import SYSTEM
from probes.models import ProbeRun
from probes.runners.base import Observation
from probes.services import results_record, runs_request

V1 = """# Shop

## Checks

- [ ] `GET /health` answers quickly {#health}
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
    - "[RESPONSE_TIME] < 100"
  -->
- [ ] Certificate valid {#cert}
  <!-- probe
  type: tls
  expect:
    - "[CERT_DAYS_LEFT] > 14"
  -->
- [ ] Rollback plan ready {#rollback}
- [ ] Old dashboard retired {#old-dashboard}
"""
V2 = V1.replace("- [ ] Old dashboard retired {#old-dashboard}\n", "- [ ] Feature flags documented {#flags}\n")


@pytest.fixture
def shop(environment):
    production = Environment.objects.create(service=environment.service, name="production", base_url="http://127.0.0.1:9")
    return {"staging": environment, "production": production}


def start(environment, people, release):
    return deployment_create(
        environment=environment, checklist_slug="shop", release=release, actor=people["engineer"], source="api"
    )


def observe(deployment, people, key, conditions):
    """Record a finished run of `key` that saw `conditions`: [(expr, ok, observed)]."""
    runs_request(deployment_id=deployment.pk, keys=[key], actor=people["engineer"], source="api")
    run = ProbeRun.objects.filter(deployment=deployment, item__key=key).latest("id")
    ok = all(held for _, held, _ in conditions)
    results_record({run.pk: Observation(
        status="passed" if ok else "failed", duration_ms=30, message="" if ok else "A condition did not hold.",
        conditions=[ConditionResult(*condition) for condition in conditions],
    )})


@pytest.fixture
def releases(shop, people, broker_up):
    """v1 in staging and production (a response time and a certificate's days that moved), v2 in production."""
    checklist_import(markdown=V1, name="Shop", actor=SYSTEM, source="cli")
    staging, production = start(shop["staging"], people, "v1"), start(shop["production"], people, "v1")
    observe(staging, people, "health", [("[STATUS] == 200", True, 200), ("[RESPONSE_TIME] < 100", True, 12.5)])
    observe(production, people, "health", [("[STATUS] == 200", True, 200), ("[RESPONSE_TIME] < 100", True, 48.0)])
    for deployment in (staging, production):
        observe(deployment, people, "cert", [("[CERT_DAYS_LEFT] > 14", True, 61)])
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", note="Runbook §4",
                       actor=people["engineer"], source="api")
    checklist_import(markdown=V2, name="Shop", actor=SYSTEM, source="cli")
    newer = start(shop["production"], people, "v2")
    observe(newer, people, "health", [("[STATUS] == 200", True, 200), ("[RESPONSE_TIME] < 100", True, 48.0)])
    observe(newer, people, "cert", [("[CERT_DAYS_LEFT] > 14", True, 60)])
    item_state_set(deployment_id=newer.pk, key="rollback", state="passed", note="Runbook §4",
                   actor=people["engineer"], source="api")
    return {"staging": staging, "production": production, "newer": newer}


def by_key(body):
    return {item["key"]: item for item in body["items"]}


def test_api_compares_one_release_in_staging_and_production(api, releases):
    staging, production = releases["staging"], releases["production"]
    answer = api.get("viewer", f"deployments/{staging.pk}/compare/{production.pk}")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["a"]["id"], body["a"]["release"], body["b"]["id"]) == (staging.pk, "v1", production.pk)
    assert body["summary"] == {"same": 3, "changed": 1, "added": 0, "removed": 0}
    items = by_key(body)
    health = items["health"]
    assert (health["change"], health["moved"]) == ("changed", ["observed"])
    assert (health["a"]["state"], health["b"]["state"]) == ("passed", "passed")
    assert health["a"]["observed"] == [
        {"expr": "[STATUS] == 200", "ok": True, "observed": 200},
        {"expr": "[RESPONSE_TIME] < 100", "ok": True, "observed": 12.5},
    ]
    assert health["b"]["observed"][1] == {"expr": "[RESPONSE_TIME] < 100", "ok": True, "observed": 48.0}
    rollback = items["rollback"]
    assert rollback["change"] == "same"
    assert (rollback["a"]["by"], rollback["a"]["note"], rollback["a"]["observed"]) == ("engineer", "Runbook §4", None)


def test_api_compares_two_releases_in_one_environment(api, releases):
    production, newer = releases["production"], releases["newer"]
    body = api.get("viewer", f"deployments/{production.pk}/compare/{newer.pk}").json()
    assert body["summary"] == {"same": 2, "changed": 1, "added": 1, "removed": 1}
    items = by_key(body)
    assert (items["flags"]["change"], items["flags"]["a"], items["flags"]["b"]["state"]) == ("added", None, "pending")
    assert (items["old-dashboard"]["change"], items["old-dashboard"]["b"]) == ("removed", None)
    cert = items["cert"]
    assert (cert["change"], cert["moved"]) == ("changed", ["observed"])
    assert [c["observed"] for c in (cert["a"]["observed"][0], cert["b"]["observed"][0])] == [61, 60]
    assert [item["key"] for item in body["items"]] == ["health", "cert", "rollback", "old-dashboard", "flags"]


def test_compare_refuses_an_unknown_deployment_and_people_without_a_role(api, releases):
    answer = api.get("viewer", f"deployments/{releases['staging'].pk}/compare/999999")
    assert answer.status_code == 404
    assert api.get("outsider", f"deployments/{releases['staging'].pk}/compare/{releases['newer'].pk}").status_code == 404


def rows_of(html: str) -> dict[str, str]:
    return {
        match.group(1): match.group(0)
        for match in re.finditer(r'<tr id="item-([^"]+)".*?</tr>\s*(?:<tr class="compare-conditions.*?</table>\s*</td>\s*</tr>)?', html, re.S)
    }


def test_page_shows_what_moved_highlighted_and_filters_to_changes(client, people, releases):
    production, newer = releases["production"], releases["newer"]
    client.force_login(people["viewer"])
    url = reverse("deployment-compare", args=[production.pk, newer.pk])
    html = client.get(url).content.decode()
    rows = rows_of(html)
    assert set(rows) == {"health", "cert", "rollback", "old-dashboard", "flags"}
    assert 'data-change="changed"' in rows["cert"] and "changed: observed" in rows["cert"]
    moved = re.search(r'<tr class="moved" data-moved="true">.*?</tr>', rows["cert"], re.S).group(0)
    assert "[CERT_DAYS_LEFT] &gt; 14" in moved and "<code>61</code>" in moved and "<mark><code>60</code></mark>" in moved
    assert 'data-change="added"' in rows["flags"] and "added in B" in rows["flags"]
    assert 'data-change="removed"' in rows["old-dashboard"] and "not in B's checklist version" in rows["old-dashboard"]
    assert 'data-change="same"' in rows["rollback"]

    changed_only = client.get(url + "?show=changed").content.decode()
    assert set(rows_of(changed_only)) == {"cert", "old-dashboard", "flags"}


def test_compare_is_reached_from_the_deployment_page_and_history(client, people, releases):
    staging, production, newer = releases["staging"], releases["production"], releases["newer"]
    client.force_login(people["viewer"])
    page = client.get(reverse("deployment", args=[production.pk])).content.decode()
    assert reverse("deployment-compare", args=[staging.pk, production.pk]) in page  # v1 in staging
    newer_page = client.get(reverse("deployment", args=[newer.pk])).content.decode()
    assert reverse("deployment-compare", args=[production.pk, newer.pk]) in newer_page  # the previous one here
    history = client.get(reverse("deployment-history", args=[newer.pk])).content.decode()
    assert reverse("deployment-compare", args=[production.pk, newer.pk]) in history
    environment = client.get(reverse("environment", args=[newer.environment_id])).content.decode()
    assert reverse("deployment-compare", args=[production.pk, newer.pk]) in environment
