"""The report of a signed-off deployment of the seed checklist, in all four forms.

The probes run for real against a server on loopback that echoes the API token back in its answers,
so the secret is in play — and must appear in none of the reports.
"""

import hashlib
import json
import re
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from checklists.environments import secret_set
from checklists.items import item_state_set
from checklists.models import ItemState
from checklists.reports import canonical, plain
from checklists.selectors import deployment_snapshot
from checklists.signoffs import signoff_record
from checklists.tasks import draw_report
from probes.models import ProbeRun
from probes.services import runs_execute, runs_request

SECRET = "tok-4f9c2d7e1b8a6053"


class EchoingBackend(BaseHTTPRequestHandler):
    """Answers everything as a healthy JSON backend would — and leaks the Authorization header it got."""

    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.seen.append(self.headers.get("Authorization", ""))
        payload = json.dumps({"status": "ok", "workflows": [self.headers.get("Authorization", "")]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_OPTIONS = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # load probes open 100 connections at once


@contextmanager
def echoing_backend():
    server = Server(("127.0.0.1", 0), EchoingBackend)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def backend():
    with echoing_backend() as url:
        yield url


@pytest.fixture
def signed_off(seed_deployment, people, backend, fernet_key, broker_up):
    """The seed checklist's deployment: probes run, manual items ticked, one optional item failed, the
    rest waived with a reason, signed off by the lead."""
    environment = seed_deployment.environment
    environment.base_url = backend
    environment.save()
    secret_set(environment=environment, name="API_TOKEN", value=SECRET, actor=people["admin"], source="api")
    EchoingBackend.seen.clear()
    runs_request(deployment_id=seed_deployment.pk, keys=None, actor=people["engineer"], source="api")
    runs_execute(list(ProbeRun.objects.filter(deployment=seed_deployment).values_list("pk", flat=True)))
    assert f"Bearer {SECRET}" in EchoingBackend.seen  # the secret went out, and came back in answers

    states = ItemState.objects.filter(deployment=seed_deployment).select_related("item").order_by("item__position")
    for state in states:
        if state.item.probe is None and not state.item.has_children and state.state == "pending":
            item_state_set(deployment_id=seed_deployment.pk, key=state.item.key, state="passed",
                           actor=people["engineer"], source="api")
    item_state_set(deployment_id=seed_deployment.pk, key=vulnerabilities_key(seed_deployment), state="failed",
                   note="Two moderate advisories open", actor=people["engineer"], source="api")
    for row in deployment_snapshot(seed_deployment).blocking:
        item_state_set(deployment_id=seed_deployment.pk, key=row.item.key, state="waived",
                       note="No SSH or public DNS in this environment", actor=people["lead"], source="api")
    signoff_record(deployment_id=seed_deployment.pk, role="lead", digest=deployment_snapshot(seed_deployment).digest,
                   comment="Ready for the change board", actor=people["lead"], source="web")
    seed_deployment.refresh_from_db()
    assert seed_deployment.status == "signed_off"
    return seed_deployment


FAILED_ITEM = "Metrics collection configured"


def vulnerabilities_key(deployment) -> str:
    """The optional manual item the engineer fails (named for what the report says about it)."""
    return ItemState.objects.get(deployment=deployment, item__text=FAILED_ITEM).item.key


def squeezed(text: str) -> str:
    """Text without any whitespace: a PDF wraps lines where it likes."""
    return re.sub(r"\s+", "", text)


def test_report_in_four_forms_for_a_signed_off_seed_deployment(
    client, api, people, signed_off, report_queue, django_capture_on_commit_callbacks
):
    client.force_login(people["viewer"])
    # The PDF is drawn by the worker: the first ask queues it and answers a page that says so.
    with django_capture_on_commit_callbacks(execute=True):
        waiting = client.get(reverse("deployment-report", args=[signed_off.pk, "pdf"]))
    assert waiting.status_code == 202 and "The PDF is being drawn" in waiting.content.decode()
    assert len(report_queue) == 1
    assert draw_report(report_queue[0])  # the task, run here as the worker runs it
    forms = {}
    for fmt in ("json", "md", "pdf", "xml"):
        answer = client.get(reverse("deployment-report", args=[signed_off.pk, fmt]))
        assert answer.status_code == 200, answer.content[:300]
        assert f"-{signed_off.pk}-report.{fmt}" in answer["Content-Disposition"]
        forms[fmt] = answer.content
    assert len(report_queue) == 1  # the PDF was the kept one: nothing queued again
    assert api.get("viewer", f"deployments/{signed_off.pk}/report.json").content == forms["json"]
    assert api.get("viewer", f"deployments/{signed_off.pk}/report.xml").content == forms["xml"]
    assert api.get("viewer", f"deployments/{signed_off.pk}/report.pdf").content == forms["pdf"]
    texts = [item.text for item in signed_off.version.items.order_by("position")]
    assert len(texts) == 229

    # JSON: its sha256 is that of its own content, and it carries the sign-off's digest.
    doc = json.loads(forms["json"])
    content = {key: value for key, value in doc.items() if key != "sha256"}
    assert doc["sha256"] == hashlib.sha256(canonical(content)).hexdigest()
    assert hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest() == doc["sha256"]
    assert [(s["role"], s["user"], s["digest"]) for s in doc["signoffs"]] == [
        ("lead", "lead", signed_off.signoffs.get().digest)
    ]
    assert doc["deployment"]["status"] == "signed_off" and len(doc["items"]) == 229
    failed = {item["key"]: item for item in doc["items"] if item["state"] == "failed"}  # optional ones only
    assert failed[vulnerabilities_key(signed_off)]["note"] == "Two moderate advisories open"
    assert all(item["optional"] for item in failed.values())
    assert doc["waivers"] and all(w["reason"] == "No SSH or public DNS in this environment" for w in doc["waivers"])
    health = next(item for item in doc["items"] if item["text"] == '`GET /health` returns `{"status":"ok"}`')
    assert health["probe"]["status"] == "passed"
    assert health["probe"]["conditions"][0] == {"expr": "[STATUS] == 200", "ok": True, "observed": 200}
    assert json.loads(client.get(reverse("deployment-report", args=[signed_off.pk, "json"])).content)["sha256"] == doc["sha256"]

    # Markdown: every item, its state, the sign-off digest, the report's sha256.
    markdown = forms["md"].decode()
    assert all(text in markdown for text in texts)
    assert signed_off.signoffs.get().digest in markdown and doc["sha256"] in markdown

    # PDF: a real PDF whose text has every item in it.
    assert forms["pdf"].startswith(b"%PDF-")
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (Debian's poppler-utils) is needed; .ci/run installs it"
    pdf_text = squeezed(subprocess.run([pdftotext, "-", "-"], input=forms["pdf"], capture_output=True, check=True).stdout.decode())
    missing = [text for text in texts if squeezed(plain(text)) not in pdf_text]
    assert not missing, missing[:5]
    assert doc["sha256"] in pdf_text

    # JUnit XML: one case per item; the failing item is a <failure>, waivers are skipped.
    root = ET.fromstring(forms["xml"])
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 229 and root.get("tests") == "229"
    failures = {case.get("name"): case.find("failure") for case in cases if case.find("failure") is not None}
    assert set(failures) == {f"{plain(item['text'])} [{key}]" for key, item in failed.items()}
    vulnerabilities = failures[f"{FAILED_ITEM} [{vulnerabilities_key(signed_off)}]"]
    assert vulnerabilities.get("type") == "failed" and "Two moderate advisories open" in vulnerabilities.text
    assert root.get("failures") == str(len(failed))
    assert int(root.get("skipped")) >= len(doc["waivers"])

    # No secret, in any form (the PDF's text included).
    for fmt, data in {**forms, "pdf text": pdf_text.encode()}.items():
        assert SECRET.encode() not in data, fmt
    assert "[redacted]" in markdown  # what the probe saw of it, redacted before it was ever stored


def test_report_of_an_open_deployment_shows_what_blocks(client, people, deployment):
    client.force_login(people["viewer"])
    root = ET.fromstring(client.get(reverse("deployment-report", args=[deployment.pk, "xml"])).content)
    kinds = {case.get("name"): (case.find("failure").get("type") if case.find("failure") is not None else None)
             for case in root.iter("testcase")}
    assert kinds["Rollback plan ready [rollback]"] == "pending"
    assert kinds["Nice to have [nice]"] is None  # optional: skipped, not failed
    doc = json.loads(client.get(reverse("deployment-report", args=[deployment.pk, "json"])).content)
    assert doc["signoffs"] == [] and doc["deployment"]["status"] == "open"


def test_report_needs_a_role_and_a_known_format(client, api, people, deployment):
    assert api.get("outsider", f"deployments/{deployment.pk}/report.json").status_code == 404
    assert api.get("viewer", f"deployments/{deployment.pk}/report.exe").status_code in (400, 404)
    client.force_login(people["viewer"])
    assert client.get(f"/deployments/{deployment.pk}/report.exe").status_code == 404
