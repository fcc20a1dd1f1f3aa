"""Import refuses what it cannot hold honestly: too many items, a name that collides by slug; and keeps
every heading with the prose under it."""

import pytest
from django.urls import reverse

from checklists.imports import checklist_import
from checklists.models import Checklist, ChecklistVersion, Section
from core.actors import SYSTEM
from core.errors import InvalidInput


def items(count: int) -> str:
    return "# Big\n\n## All\n\n" + "".join(f"- [ ] Item {n}\n" for n in range(count))


def test_a_checklist_over_the_item_cap_is_refused_naming_the_line(db, settings):
    settings.CTRLREADY_MAX_ITEMS = 50
    with pytest.raises(InvalidInput) as caught:
        checklist_import(markdown=items(51), actor=SYSTEM, source="cli")
    assert "more than 50 items" in caught.value.message and "CTRLREADY_MAX_ITEMS" in caught.value.message
    assert caught.value.extra["line"] == 5 + 50
    assert not ChecklistVersion.objects.exists()
    checklist_import(markdown=items(50), actor=SYSTEM, source="cli")


def test_the_item_cap_counts_children_and_defaults_to_5000(db, settings):
    assert settings.CTRLREADY_MAX_ITEMS == 5000
    settings.CTRLREADY_MAX_ITEMS = 3
    text = "# T\n\n- [ ] a\n  - [ ] b\n  - [ ] c\n  - [ ] d\n"
    with pytest.raises(InvalidInput, match="more than 3 items"):
        checklist_import(markdown=text, actor=SYSTEM, source="cli")


def test_api_refuses_5001_items_with_a_sentence(api):
    response = api.post("admin", "checklists/import", {"name": "Huge", "markdown": items(5_001)})
    assert response.status_code == 400
    assert "more than 5,000 items" in response.json()["error"]


def test_a_name_that_slugifies_like_another_checklists_name_is_refused(api):
    first = api.post("admin", "checklists/import", {"name": "Release: web!", "markdown": items(1)})
    assert first.status_code == 201
    clash = api.post("admin", "checklists/import", {"name": "Release web", "markdown": items(2)})
    assert clash.status_code == 409
    error = clash.json()["error"]
    assert "“Release: web!”" in error and "release-web" in error
    assert ChecklistVersion.objects.count() == 1 and Checklist.objects.get().name == "Release: web!"


def test_the_same_name_in_other_case_or_spacing_adds_a_version(api):
    api.post("admin", "checklists/import", {"name": "Release web", "markdown": items(1)})
    again = api.post("admin", "checklists/import", {"name": "release  Web", "markdown": items(2)})
    assert again.status_code == 201 and again.json()["version"] == 2


def test_import_page_preview_refuses_a_colliding_name(client, people):
    checklist_import(markdown=items(1), name="Release: web!", actor=SYSTEM, source="cli")
    client.force_login(people["admin"])
    response = client.post(reverse("checklists"), {"name": "Release web", "markdown": items(2)})
    assert response.status_code == 400
    assert "already belongs to the checklist" in response.content.decode()


WITH_PROSE = """# Launch

Read this before **every** launch.

## Ops

Run these in order.

- [ ] Rollback plan ready

## References

- [Runbook](https://runbooks.example.com/launch)
- [On-call](https://oncall.example.com)

<script>alert(1)</script>
"""


def test_a_heading_without_items_is_a_section_with_its_prose(api):
    response = api.post("admin", "checklists/import", {"name": "Launch", "markdown": WITH_PROSE})
    assert response.status_code == 201
    assert response.json()["counts"]["sections"] == 2
    version = api.get("viewer", "checklists/launch/versions/1").json()
    assert version["description"] == "Read this before **every** launch."
    titles = [(s["title"], s["description"]) for s in version["sections"]]
    assert titles[0] == ("Ops", "Run these in order.")
    assert titles[1][0] == "References" and "[Runbook](https://runbooks.example.com/launch)" in titles[1][1]
    assert Section.objects.filter(title="References", items__isnull=True).exists()


def test_deployment_page_shows_empty_sections_and_renders_prose_sanitised(client, people, environment):
    from checklists.deployments import deployment_create

    checklist_import(markdown=WITH_PROSE, actor=SYSTEM, source="cli")
    deployment = deployment_create(
        environment=environment, checklist_slug="launch", release="v1", actor=people["engineer"], source="api"
    )
    client.force_login(people["viewer"])
    html = client.get(reverse("deployment", args=[deployment.pk])).content.decode()
    assert ">References<" in html
    assert '<a href="https://runbooks.example.com/launch">Runbook</a>' in html
    assert "<strong>every</strong>" in html and "Run these in order." in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
