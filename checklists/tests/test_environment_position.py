"""Environments stand in the order a release travels (dev → staging → production), not alphabetically."""

import pytest
from django.urls import reverse

from checklists.environments import environment_create, environment_position_default, environment_update
from checklists.models import Environment
from core.errors import InvalidInput
from core.models import Source


@pytest.mark.parametrize(
    "name, position",
    [
        ("dev", 10), ("development", 10), ("local", 10), ("ci-test", 10),
        ("staging", 20), ("qa", 20), ("eu-uat", 20), ("local-demo", 20), ("canary", 20),
        ("production", 30), ("prod-eu", 30), ("live", 30), ("Production", 30),
    ],
)
def test_an_environment_takes_its_place_from_its_name(name, position):
    assert environment_position_default(name) == position


def _create(name, people, **extra):
    return environment_create(
        service_name="shop", name=name, base_url=f"http://{name}.example.com", actor=people["admin"],
        source=Source.API, **extra,
    )


def test_the_dashboard_lists_production_after_staging_and_dev_first(client, people):
    created = {name: _create(name, people) for name in ("production", "staging", "dev")}
    assert list(Environment.objects.filter(service__name="shop").values_list("name", flat=True)) == [
        "dev", "staging", "production"
    ]
    client.force_login(people["viewer"])
    page = client.get(reverse("dashboard")).content.decode()
    links = [page.index(reverse("environment", args=[created[name].pk]) + '"') for name in ("dev", "staging", "production")]
    assert links == sorted(links)


def test_an_admin_moves_an_environment_and_a_bad_position_is_refused_as_a_sentence(client, people):
    canary = _create("canary", people, position=25)
    assert canary.position == 25
    environment_update(environment=canary, position=5, actor=people["admin"], source=Source.API)
    assert Environment.objects.get(pk=canary.pk).position == 5
    with pytest.raises(InvalidInput, match="a whole number from 0 to 999; lower comes first"):
        environment_update(environment=canary, position=1000, actor=people["admin"], source=Source.API)
    client.force_login(people["admin"])
    answer = client.post(reverse("environment-edit", args=[canary.pk]), {"base_url": "http://canary.example.com", "position": "40"})
    assert answer.status_code == 302
    assert Environment.objects.get(pk=canary.pk).position == 40


def test_the_api_takes_a_position_and_refuses_one_out_of_range(api):
    body = {"service": "shop", "name": "perf", "base_url": "http://perf.example.com"}
    assert api.post("admin", "environments", body | {"position": 1000}).status_code == 400
    assert api.post("admin", "environments", body | {"position": 15}).status_code == 201
    assert Environment.objects.get(name="perf").position == 15
