"""The service page: trends over a service's deployments as server-drawn SVG charts, each with its table."""

import re
import xml.etree.ElementTree as ET

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checklists.deployments import deployment_create
from checklists.items import item_state_set
from checklists.models import Environment, Service
from checklists.selectors import deployment_snapshot
from checklists.signoffs import signoff_record

SVG = "{http://www.w3.org/2000/svg}"


def service_with(count: int, environment, people, probe_result):
    """`count` deployments of the small checklist, alternating staging and production, most signed off."""
    production = Environment.objects.create(service=environment.service, name="production", base_url="http://127.0.0.1:9")
    deployments = []
    for n in range(count):
        deployment = deployment_create(
            environment=(environment, production)[n % 2], checklist_slug="small-checklist", release=f"v1.{n}",
            actor=people["engineer"], source="api",
        )
        for key in ("rollback", "alerts-down", "alerts-errors"):
            item_state_set(deployment_id=deployment.pk, key=key, state="passed", actor=people["engineer"], source="api")
        probe_result(deployment, "health", "passed")
        if n % 3 == 0:  # a flaky health check: passing, then failing, then passing again
            probe_result(deployment, "health", "failed")
            probe_result(deployment, "health", "passed")
        if n % 4 == 1:
            item_state_set(deployment_id=deployment.pk, key="rollback", state="failed", actor=people["engineer"], source="api")
            item_state_set(deployment_id=deployment.pk, key="rollback", state="waived", note="Rollback is a redeploy",
                           actor=people["lead"], source="api")
        if n < count - 2:
            signoff_record(deployment_id=deployment.pk, role="lead", digest=deployment_snapshot(deployment).digest,
                           actor=people["lead"], source="web")
        deployments.append(deployment)
    return deployments


def charts_in(html: str) -> dict[str, ET.Element]:
    found = {}
    for match in re.finditer(r"<svg .*?</svg>", html, re.S):
        svg = ET.fromstring(match.group(0))
        found[svg.find(f"{SVG}title").get("id")] = svg
    return found


def page(client, service):
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(reverse("service", args=[service.pk]))
    assert answer.status_code == 200
    return answer.content.decode(), len(queries)


def test_service_page_draws_its_trends_as_accessible_svg_with_tables(client, people, small_checklist, environment, probe_result):
    deployments = service_with(10, environment, people, probe_result)
    client.force_login(people["viewer"])
    html, queries = page(client, environment.service)

    charts = charts_in(html)
    assert set(charts) == {"signoff-title", "blockers-title", "flaky-title", "waivers-title"}
    for cid, svg in charts.items():
        assert svg.get("role") == "img"
        assert svg.get("aria-labelledby") == f"{cid} {cid.replace('-title', '-desc')}"
        assert svg.find(f"{SVG}desc").text
    signoff = charts["signoff-title"]
    assert len(signoff.findall(f"{SVG}g[@class='bar bar-ok']")) == 8  # one column per signed-off deployment
    flaky = charts["flaky-title"].findall(f"{SVG}g")
    assert [bar.find(f"{SVG}text[@class='label']").text for bar in flaky] == ["Health answers"]
    assert flaky[0].find(f"{SVG}text[@class='value']").text == "4"  # deployments 0, 3, 6, 9 relapsed once each
    blockers = charts["blockers-title"].findall(f"{SVG}g")
    assert [(bar.find(f"{SVG}text[@class='label']").text, bar.find(f"{SVG}text[@class='value']").text)
            for bar in blockers] == [("Health answers", "4"), ("Rollback plan ready", "3")]

    # Each chart has its numbers in a table beside it.
    tables = re.findall(r'<table class="grid chart-table">.*?</table>', html, re.S)
    assert len(tables) == 4
    assert "Rollback plan ready" in tables[1] and ">3</td>" in tables[1]
    assert all(f">{d.release}</a>" in html for d in deployments)
    # Waivers in force: the latest deployment of each environment (v1.9 production, v1.8 staging).
    in_force = re.search(r"<h3>In force</h3>.*?</table>", html, re.S).group(0)
    assert "v1.9" in in_force and "Rollback is a redeploy" in in_force

    # Within P1's query budget, and the same whatever the number of deployments.
    assert queries <= 20, queries


def test_service_page_queries_do_not_grow_with_deployments(client, people, small_checklist, environment, probe_result):
    service_with(3, environment, people, probe_result)
    client.force_login(people["viewer"])
    _, few = page(client, environment.service)
    other = Environment.objects.create(
        service=Service.objects.create(name="other"), name="staging", base_url="http://127.0.0.1:9"
    )
    service_with(12, other, people, probe_result)
    _, many = page(client, other.service)
    # session, user, roles; service, environments, deployments, their progress, blockers, flaky probes, waivers
    assert few == many == 10


def test_service_page_needs_a_role(client, people, environment):
    client.force_login(people["outsider"])
    assert client.get(reverse("service", args=[environment.service.pk])).status_code == 404
    client.force_login(people["viewer"])
    html = client.get(reverse("service", args=[environment.service.pk])).content.decode()
    assert "No deployment of this service is signed off yet." in html


def test_dashboard_and_environment_link_to_the_service(client, people, environment):
    client.force_login(people["viewer"])
    url = reverse("service", args=[environment.service.pk])
    assert url in client.get(reverse("dashboard")).content.decode()
    assert url in client.get(reverse("environment", args=[environment.pk])).content.decode()
