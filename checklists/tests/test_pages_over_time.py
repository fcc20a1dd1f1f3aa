"""Pages that do not grow with time: the same queries for a small and a large fleet, a short and a long history."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checklists.deployments import deployment_create
from checklists.items import item_state_set
from checklists.models import Environment, Service
from checklists.tests.test_events_page import add_events


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def fleet(people, small_checklist, environments: int) -> None:
    """`environments` more environments, two per service, each with a deployment in progress."""
    for n in range(Environment.objects.count(), Environment.objects.count() + environments):
        service, _ = Service.objects.get_or_create(name=f"service-{n // 2}")
        environment = Environment.objects.create(
            service=service, name=("staging", "production")[n % 2], base_url="http://127.0.0.1:9"
        )
        deployment = deployment_create(
            environment=environment, checklist_slug=small_checklist.checklist.slug, release=f"v{n}",
            actor=people["engineer"], source="api",
        )
        item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="api")


@pytest.fixture
def counted_dashboard(client, people, small_checklist):
    client.force_login(people["viewer"])

    def count(environments: int) -> int:
        fleet(people, small_checklist, environments - Environment.objects.count())
        assert Environment.objects.count() == environments
        return queries(client, reverse("dashboard"))

    return count


def test_dashboard_takes_the_same_queries_for_2_and_20_environments(counted_dashboard):
    small = counted_dashboard(2)
    assert counted_dashboard(20) == small <= 10


def test_history_takes_the_same_queries_for_200_and_2000_events(client, people, deployment, small_checklist):
    other = deployment_create(
        environment=deployment.environment, checklist_slug=small_checklist.checklist.slug, release="v2",
        actor=people["engineer"], source="api",
    )
    add_events(deployment, people, 199)
    add_events(other, people, 1999)
    client.force_login(people["viewer"])
    counts = {}
    for label, each in (("200", deployment), ("2000", other)):
        url = reverse("deployment-history", args=[each.pk])
        counts[label] = (queries(client, url), queries(client, url + "?page=4"), queries(client, url + "?kind=note"))
    assert counts["200"] == counts["2000"], counts
    assert max(counts["2000"]) <= 15
