"""Checklists: the list, import with a preview step, versions, and the diff of two versions."""

import base64
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from checklists.imports import checklist_import
from checklists.models import Checklist, ChecklistVersion
from checklists.selectors import version_diff
from core.actors import SYSTEM
from core.models import Event

V1 = """# Release gate

## Ops

- [ ] Rollback plan ready {#rollback}
- [ ] Alerts configured {#alerts}
- [ ] Old item {#old}
"""

V2 = """# Release gate

## Ops

- [ ] Rollback plan ready and rehearsed {#rollback}
- [ ] Alerts configured {#alerts}
- [ ] Health answers {#health}
  <!-- probe
  type: http
  request: GET /health
  expect:
    - "[STATUS] == 200"
  -->

## Extras (Optional)

- [ ] New dashboard {#dashboard}
"""


def _preview(client, **data):
    return client.post(reverse("checklists"), {"step": "preview", **data})


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def test_list_shows_checklists_and_their_latest_version(client, people):
    checklist_import(markdown=V1, name="Release gate", actor=SYSTEM, source="cli")
    checklist_import(markdown=V2, name="Release gate", actor=SYSTEM, source="cli")
    client.force_login(people["viewer"])
    html = client.get(reverse("checklists")).content.decode()
    assert 'href="/checklists/release-gate/"' in html and "v2" in html
    assert "Import a checklist" not in html  # only admins import


def test_paste_preview_counts_and_saves_nothing(client, people):
    client.force_login(people["admin"])
    response = _preview(client, markdown=V2)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<dt>Items</dt><dd>4</dd>" in html and "<dt>Probes</dt><dd>1</dd>" in html
    assert "<dt>Sections</dt><dd>2</dd>" in html and "<dt>Optional</dt><dd>1</dd>" in html
    assert "creates the checklist <strong>Release gate</strong>" in html
    assert not Checklist.objects.exists() and not Event.objects.filter(kind="import").exists()


def test_upload_preview_with_an_error_names_the_line(client, people):
    client.force_login(people["admin"])
    broken = V2.replace("type: http", "type: carrier-pigeon").encode()
    response = _preview(client, file=SimpleUploadedFile("gate.md", broken, content_type="text/markdown"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "<strong>Line 8:</strong>" in html and "carrier-pigeon" in html
    assert "cannot be imported" in html and 'value="confirm"' not in html
    assert not Checklist.objects.exists()


def test_binary_upload_is_refused_in_preview(client, people):
    client.force_login(people["admin"])
    response = _preview(client, file=SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\n\x00\x00", content_type="image/png"))
    assert response.status_code == 400 and "not a text file" in response.content.decode()


def test_preview_needs_a_file_or_text(client, people):
    client.force_login(people["admin"])
    response = _preview(client, markdown="   ")
    assert response.status_code == 400 and "Choose a Markdown file or paste" in response.content.decode()


def test_confirm_imports_what_was_previewed(client, people):
    client.force_login(people["admin"])
    html = _preview(client, markdown=V1, name="Gate").content.decode()
    response = client.post(
        reverse("checklists"), {"step": "confirm", "name": _hidden(html, "name"), "source": _hidden(html, "source")}
    )
    assert response.status_code == 302 and response["Location"] == reverse("checklist", args=["gate"])
    version = ChecklistVersion.objects.get(checklist__slug="gate")
    assert version.number == 1 and version.counts["items"] == 3 and version.created_by == people["admin"]
    assert Event.objects.filter(kind="import", source="web", actor_name="admin").exists()


def test_pasted_crlf_text_is_the_same_version_as_the_file(client, people):
    checklist_import(markdown=V1, name="Release gate", actor=SYSTEM, source="cli")
    client.force_login(people["admin"])
    html = _preview(client, markdown=V1.replace("\n", "\r\n")).content.decode()
    assert "This text is already version 1 of" in html and "importing it changes nothing" in html
    response = client.post(
        reverse("checklists"), {"step": "confirm", "name": "", "source": _hidden(html, "source")}, follow=True
    )
    assert "already version 1" in response.content.decode()
    assert ChecklistVersion.objects.filter(checklist__slug="release-gate").count() == 1


def test_preview_of_a_new_version_says_which_checklist_it_adds_to(client, people):
    checklist_import(markdown=V1, name="Release gate", actor=SYSTEM, source="cli")
    client.force_login(people["admin"])
    html = _preview(client, markdown=V2, name="Release Gate").content.decode()
    assert "This adds a version to" in html and "(now at v1)" in html


def test_confirm_with_a_mangled_source_is_refused(client, people):
    client.force_login(people["admin"])
    response = client.post(reverse("checklists"), {"step": "confirm", "source": "!!not base64!!"})
    assert response.status_code == 400 and "upload or paste it again" in response.content.decode()


def test_confirm_of_a_broken_file_is_refused_and_stores_nothing(client, people):
    client.force_login(people["admin"])
    source = base64.b64encode(b"no checklist here\n").decode()
    response = client.post(reverse("checklists"), {"step": "confirm", "source": source})
    assert response.status_code == 400
    assert not Checklist.objects.exists()


def test_lead_cannot_confirm_an_import(client, people):
    client.force_login(people["lead"])
    source = base64.b64encode(V1.encode()).decode()
    assert client.post(reverse("checklists"), {"step": "confirm", "source": source}).status_code == 403
    assert not Checklist.objects.exists()


def test_too_large_file_is_refused(client, people):
    client.force_login(people["admin"])
    big = V1.encode() + b"x" * (2 * 1024 * 1024)
    response = _preview(client, file=SimpleUploadedFile("big.md", big, content_type="text/markdown"))
    assert response.status_code == 400 and "larger than 2 MB" in response.content.decode()


def test_checklist_page_lists_versions_and_the_items_of_one(client, people):
    checklist_import(markdown=V1, name="Release gate", actor=SYSTEM, source="cli")
    checklist_import(markdown=V2, name="Release gate", actor=SYSTEM, source="cli")
    client.force_login(people["viewer"])
    url = reverse("checklist", args=["release-gate"])
    latest = client.get(url).content.decode()
    assert 'href="?version=1"' in latest and 'href="?version=2"' in latest
    assert 'data-item-key="health"' in latest and 'data-item-key="old"' not in latest
    first = client.get(url + "?version=1").content.decode()
    assert 'data-item-key="old"' in first
    assert client.get(url + "?version=9").status_code == 404
    assert 'action="/checklists/release-gate/diff/"' in latest


def test_diff_page_shows_added_removed_and_changed(client, people):
    checklist_import(markdown=V1, name="Release gate", actor=SYSTEM, source="cli")
    checklist_import(markdown=V2, name="Release gate", actor=SYSTEM, source="cli")
    client.force_login(people["viewer"])
    html = client.get(reverse("checklist-diff", args=["release-gate"]) + "?from=1&to=2").content.decode()
    added = html.split('id="added-title"')[1].split("</section>")[0]
    removed = html.split('id="removed-title"')[1].split("</section>")[0]
    changed = html.split('id="changed-title"')[1].split("</section>")[0]
    assert set(re.findall(r'data-item-key="([^"]+)"', added)) == {"health", "dashboard"}
    assert set(re.findall(r'data-item-key="([^"]+)"', removed)) == {"old"}
    assert set(re.findall(r'data-item-key="([^"]+)"', changed)) == {"rollback"}
    assert "<del>Rollback plan ready</del> <ins>Rollback plan ready and rehearsed</ins>" in changed


def test_diff_needs_existing_versions(client, people):
    checklist_import(markdown=V1, name="Release gate", actor=SYSTEM, source="cli")
    client.force_login(people["viewer"])
    url = reverse("checklist-diff", args=["release-gate"])
    assert client.get(url + "?from=1&to=5").status_code == 404
    assert client.get(url + "?from=x&to=1").status_code == 400
    assert "same items" in client.get(url + "?from=1&to=1").content.decode()


def test_version_diff_by_key(db):
    a = checklist_import(markdown=V1, name="Release gate", actor=SYSTEM, source="cli").version
    b = checklist_import(markdown=V2, name="Release gate", actor=SYSTEM, source="cli").version
    diff = version_diff(a, b)
    assert [row["key"] for row in diff.added] == ["health", "dashboard"]
    assert [row["key"] for row in diff.removed] == ["old"]
    assert [(change.key, change.fields) for change in diff.changed] == [("rollback", ["text"])]
    assert version_diff(b, a).added == diff.removed
    assert version_diff(a, a).unchanged
