"""Importing checklists through the JSON API, and reading a version back."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checklists.models import Checklist, ChecklistVersion, Item
from core.models import Event

MESSY = (
    "\ufeff# Payments team go-live\r\n"
    "\r\n"
    "Read this first: [runbook](https://wiki.example.com/runbook).\r\n"
    "\r\n"
    "## Before the release\r\n"
    "\r\n"
    "| check | owner |\r\n"
    "| --- | --- |\r\n"
    "| [ ] table cell, not an item | ops |\r\n"
    "\r\n"
    "1. [ ] Database migrated\r\n"
    "2. [x] Feature flags set\r\n"
    "    - [ ] Flag `new-checkout` off\r\n"
    "    - [ ] Flag `new-refunds` off\r\n"
    "3. [ ] HTTP \u00e2\u2020\u2019 HTTPS redirect on\r\n"
    "\r\n"
    "- plain bullet, not an item\r\n"
    "\r\n"
    "```\r\n"
    "- [ ] inside a code block, not an item\r\n"
    "```\r\n"
    "\r\n"
    "## After the release (Optional)\r\n"
    "\r\n"
    "* [ ] Announce in **#releases**\r\n"
    "     + [ ] Post on the status page\r\n"
)


def stored_rows() -> dict:
    return {
        "checklists": Checklist.objects.count(),
        "versions": ChecklistVersion.objects.count(),
        "items": Item.objects.count(),
        "events": Event.objects.count(),
    }


def checklist_of(count: int, title: str = "Generated") -> str:
    lines = [f"# {title}", "", "## Only section", "", "### Group", ""]
    lines += [f"- [ ] Item number {n} {{#item-{n}}}" for n in range(count)]
    return "\n".join(lines) + "\n"


def test_seed_checklist_imports_with_its_counts(api, seed_text):
    response = api.post("admin", "checklists/import", {"name": "FastAPI backend production readiness", "markdown": seed_text})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["checklist"] == "fastapi-backend-production-readiness"
    assert body["version"] == 1
    assert len(body["sha256"]) == 64
    counts = body["counts"]
    assert {key: counts[key] for key in ("sections", "groups", "items", "optional_items")} == {
        "sections": 14,
        "groups": 39,
        "items": 229,
        "optional_items": 16,
    }
    assert counts["automated_items"] >= 0


def test_identical_reimport_answers_200_with_the_same_version(api, seed_text):
    first = api.post("admin", "checklists/import", {"name": "Readiness", "markdown": seed_text}).json()
    before = stored_rows()

    again = api.post("admin", "checklists/import", {"name": "Readiness", "markdown": seed_text})

    assert again.status_code == 200
    assert again.json() == first
    assert stored_rows() == before


def test_changed_text_makes_a_new_version(api):
    api.post("admin", "checklists/import", {"name": "Generated", "markdown": checklist_of(3)})

    response = api.post("admin", "checklists/import", {"name": "Generated", "markdown": checklist_of(4)})

    assert response.status_code == 201
    assert response.json()["version"] == 2
    assert api.get("viewer", "checklists/generated/versions/1").status_code == 200


def test_name_defaults_to_the_title(api):
    response = api.post("admin", "checklists/import", {"markdown": checklist_of(2, title="Edge proxy readiness")})

    assert response.status_code == 201
    assert response.json()["checklist"] == "edge-proxy-readiness"


def test_messy_checklist_is_imported_as_its_author_meant(api):
    response = api.post("admin", "checklists/import", {"name": "Payments go-live", "markdown": MESSY})
    assert response.status_code == 201, response.json()
    assert response.json()["counts"] == {
        "sections": 2,
        "groups": 0,
        "items": 7,
        "optional_items": 2,
        "automated_items": 0,
    }

    version = api.get("viewer", "checklists/payments-go-live/versions/1").json()

    assert version["title"] == "Payments team go-live"
    assert version["required_roles"] == ["lead"]
    before, after = version["sections"]
    assert (before["title"], before["optional"]) == ("Before the release", False)
    assert [item["text"] for item in before["items"]] == [
        "Database migrated",
        "Feature flags set",
        "HTTP → HTTPS redirect on",
    ]
    flags = before["items"][1]
    assert [child["text"] for child in flags["children"]] == ["Flag `new-checkout` off", "Flag `new-refunds` off"]
    assert (after["title"], after["optional"]) == ("After the release (Optional)", True)
    announce = after["items"][0]
    assert announce["text"] == "Announce in **#releases**"
    assert announce["optional"] is True
    assert [child["text"] for child in announce["children"]] == ["Post on the status page"]
    texts = json.dumps([section["items"] for section in version["sections"]])
    assert "table cell" not in texts and "plain bullet" not in texts and "code block" not in texts
    descriptions = json.dumps([version["description"], *(section["description"] for section in version["sections"])])
    assert "table cell" in descriptions and "plain bullet" in descriptions  # prose is the sections' description


def test_version_tree_shows_probes_and_nesting(api, small_checklist):
    version = api.get("viewer", "checklists/small-checklist/versions/1").json()

    ops, extras = version["sections"]
    assert ops == {
        "title": "Ops",
        "description": "",
        "optional": False,
        "sections": [],
        "items": [
            {"key": "rollback", "text": "Rollback plan ready", "optional": False, "automated": False, "probe": None, "children": []},
            {
                "key": "alerts",
                "text": "Alerts configured for:",
                "optional": False,
                "automated": False,
                "probe": None,
                "children": [
                    {"key": "alerts-down", "text": "Service down", "optional": False, "automated": False, "probe": None, "children": []},
                    {"key": "alerts-errors", "text": "High error rate", "optional": False, "automated": False, "probe": None, "children": []},
                ],
            },
            ops["items"][2],
        ],
    }
    health = ops["items"][2]
    assert health["key"] == "health" and health["automated"] is True
    assert health["probe"]["type"] == "http"
    assert extras["optional"] is True and extras["items"][0]["optional"] is True


def test_version_tree_takes_the_same_number_of_queries_for_any_size(api, people):
    api.post("admin", "checklists/import", {"name": "Short", "markdown": checklist_of(3, "Short")})
    api.post("admin", "checklists/import", {"name": "Long", "markdown": checklist_of(300, "Long")})
    api.get("viewer", "checklists/short/versions/1")  # the token's first use is recorded once

    with CaptureQueriesContext(connection) as short:
        assert api.get("viewer", "checklists/short/versions/1").status_code == 200
    with CaptureQueriesContext(connection) as long:
        response = api.get("viewer", "checklists/long/versions/1")

    assert len(response.json()["sections"][0]["sections"][0]["items"]) == 300
    assert len(long) == len(short) <= 8


def test_unknown_version_is_404_with_a_sentence(api, small_checklist):
    response = api.get("viewer", "checklists/small-checklist/versions/9")

    assert response.status_code == 404
    assert "version 9" in response.json()["error"]


@pytest.mark.parametrize("who, status", [(None, 401), ("outsider", 403), ("viewer", 403), ("engineer", 403), ("lead", 403)])
def test_only_an_admin_imports(api, who, status):
    before = stored_rows()

    response = api.post(who, "checklists/import", {"name": "Generated", "markdown": checklist_of(2)})

    assert response.status_code == status
    assert response.json()["error"]
    assert stored_rows() == before


def test_outsider_cannot_read_a_version(api, small_checklist):
    assert api.get("outsider", "checklists/small-checklist/versions/1").status_code == 403


BROKEN_PROBE = """# Broken

## Ops

- [ ] Health answers
  <!-- probe
  type: http
  request: GET /health
  expect: [unclosed
  -->
"""

UNKNOWN_PROBE = """# Unknown

## Ops

- [ ] FTP answers
  <!-- probe
  type: ftp
  expect:
    - "[STATUS] == 200"
  -->
"""

DUPLICATE_KEYS = """# Duplicates

## Ops

- [ ] First {#same}
- [ ] Second {#same}
"""


@pytest.mark.parametrize(
    "markdown, lines",
    [
        pytest.param("# Nothing to tick\n\nJust prose.\n\n## Notes\n\n- a bullet\n", None, id="no-items"),
        pytest.param("# Binary\n\n- [ ] one\n\x00\x01\x02\xff\xfe", [4], id="binary"),
        pytest.param(BROKEN_PROBE, range(6, 11), id="broken-probe"),
        pytest.param(UNKNOWN_PROBE, range(6, 11), id="unknown-probe-type"),
        pytest.param(DUPLICATE_KEYS, [5, 6], id="duplicate-keys"),
    ],
)
def test_bad_checklist_is_refused_with_a_sentence_and_nothing_is_stored(api, small_checklist, markdown, lines):
    before = stored_rows()

    response = api.post("admin", "checklists/import", {"name": "Refused", "markdown": markdown})

    assert response.status_code == 400, response.json()
    body = response.json()
    assert len(body["error"]) > 20
    if lines is not None:
        assert body["line"] in lines
        assert f"line {body['line']}" in body["error"]
    assert stored_rows() == before


def test_checklist_over_2_mb_is_413_and_nothing_is_stored(api):
    before = stored_rows()
    markdown = checklist_of(3) + ("filler prose " * 1000 + "\n") * 170

    response = api.post("admin", "checklists/import", {"name": "Huge", "markdown": markdown})

    assert response.status_code == 413
    assert "2 MB" in response.json()["error"]
    assert stored_rows() == before


def test_request_body_over_the_upload_limit_is_413(api):
    body = json.dumps({"name": "Huge", "markdown": "x" * (4 * 1024 * 1024)})

    response = api.post("admin", "checklists/import", body)

    assert response.status_code == 413
    assert response.json()["error"]


def test_missing_markdown_names_the_field(api):
    response = api.post("admin", "checklists/import", {"name": "No text"})

    assert response.status_code == 400
    assert "`markdown`" in response.json()["error"]


def test_body_that_is_not_json_is_400_with_a_sentence(api):
    response = api.post("admin", "checklists/import", "{not json")

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_import_records_an_event(api):
    api.post("admin", "checklists/import", {"name": "Generated", "markdown": checklist_of(2)})

    event = Event.objects.get(kind="import")
    assert (event.actor_name, event.source, event.data["checklist"], event.data["version"]) == ("admin", "api", "generated", 1)


# --- Preview: the same rules as import, nothing stored ----------------------------------


def test_preview_says_what_an_import_would_do_and_stores_nothing(api, seed_text):
    before = stored_rows()
    response = api.post("admin", "checklists/preview", {"markdown": seed_text, "name": "Production readiness"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checklist"] == "production-readiness" and body["exists"] is False
    assert body["latest_version"] is None and body["identical_version"] is None
    assert body["counts"]["items"] == 229 and body["required_roles"] == ["lead"]
    assert sum(section["items"] for section in body["sections"]) == 229
    assert stored_rows() == before


def test_preview_names_the_version_an_identical_text_already_is(api):
    api.post("admin", "checklists/import", {"markdown": MESSY})
    body = api.post("admin", "checklists/preview", {"markdown": MESSY}).json()
    assert (body["checklist"], body["exists"], body["latest_version"], body["identical_version"]) == (
        "payments-team-go-live", True, 1, 1
    )
    changed = api.post("admin", "checklists/preview", {"markdown": MESSY + "- [ ] One more\n"}).json()
    assert (changed["latest_version"], changed["identical_version"]) == (1, None)


def test_preview_refuses_what_import_refuses(api):
    broken = "# Gate\n\n## Ops\n\n- [ ] Health\n  <!-- probe\n  type: carrier-pigeon\n  -->\n"
    response = api.post("admin", "checklists/preview", {"markdown": broken})
    assert response.status_code == 400 and response.json()["line"] == 6
    unnamed = api.post("admin", "checklists/preview", {"markdown": MESSY, "name": "!!!"})
    assert unnamed.status_code == 400 and "letters or digits" in unnamed.json()["error"]
    assert api.post("engineer", "checklists/preview", {"markdown": MESSY}).status_code == 403
    assert api.post(None, "checklists/preview", {"markdown": MESSY}).status_code == 401
