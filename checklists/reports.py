"""A deployment's report in its four forms — JSON, Markdown, PDF and JUnit XML — made from one read.

`selectors.deployment_report` gathers what the report says; this module only writes it out, so the
four forms say the same and none can show more than the read let in (no variables, no secrets).
The JSON carries `sha256`: the SHA-256 of its own canonical form without that key (UTF-8, keys
sorted, no spaces: `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`);
the other forms print it, so a PDF on a change board's desk can be matched to its JSON.

The PDF takes seconds to draw, so a worker draws it and it is kept (`checklists.report_files`);
the other three forms are written in the request.
"""

import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from datetime import timezone as dt_timezone

from django.template.loader import render_to_string
from django.utils.html import strip_tags

from checklists.selectors import deployment_report
from checklists.templatetags.ctrlready import STATE_LABELS, inline_md, observed
from core.errors import Unavailable

FORMATS = {
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
    "xml": "application/xml; charset=utf-8",
}
# Characters XML 1.0 cannot carry (control characters other than tab and newlines).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def report_document(report: dict) -> dict:
    """The report with its `sha256` (of everything else in it)."""
    content = {key: value for key, value in report.items() if key != "sha256"}
    return {**content, "sha256": hashlib.sha256(canonical(content)).hexdigest()}


def report_content_sha256(doc: dict) -> str:
    """The SHA-256 of what the report says apart from when it was read (`deployment.as_of`).

    It stays the same for as long as nothing the report shows changes — a tick, a probe result, a
    result going stale, a sign-off or a renamed service each change it — so a PDF drawn from one
    reading serves every later one with the same content. A signed-off deployment's report is read
    as of its sign-off, so there it changes only if the deployment is reopened.
    """
    content = {key: value for key, value in doc.items() if key != "sha256"}
    content["deployment"] = {key: value for key, value in content["deployment"].items() if key != "as_of"}
    return hashlib.sha256(canonical(content)).hexdigest()


def report_json(doc: dict) -> bytes:
    """The JSON as served: indented for reading; its `sha256` is of the canonical form."""
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode() + b"\n"


def plain(text: str) -> str:
    """An item's Markdown text as a reader sees it: `GET /health` → GET /health."""
    return html.unescape(strip_tags(inline_md(text)))


def depths(doc: dict) -> dict[str, int]:
    """How deep each item is nested under its parents (items come in document order)."""
    found: dict[str, int] = {}
    for item in doc["items"]:
        found[item["key"]] = found[item["parent"]] + 1 if item["parent"] in found else 0
    return found


TIME_KEYS = frozenset({"at", "created_at", "signed_off_at", "as_of", "finished_at", "expires_at"})


def readable(value, key: str = ""):
    """The report with its ISO timestamps written for people (`2026-11-29 21:50:29 UTC`): Markdown and PDF."""
    if isinstance(value, dict):
        return {k: readable(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [readable(v) for v in value]
    if key in TIME_KEYS and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return value


def _title(doc: dict) -> str:
    d = doc["deployment"]
    return f"{d['release']} → {d['service']} / {d['environment']}"


def _shown(value) -> str:
    return observed(value)


# --- Markdown -----------------------------------------------------------------------------


def _md_block(text: str, indent: str) -> str:
    """A person's multi-line text (a note, a comment) indented under a list item."""
    return ("\n" + indent).join(text.splitlines() or [""])


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(doc: dict) -> str:
    doc = readable(doc)
    d = doc["deployment"]
    progress = d["progress"]
    lines = [
        f"# Readiness report: {_title(doc)}",
        "",
        "| | |",
        "| --- | --- |",
        f"| Deployment | {d['id']} |",
        f"| Status | {_md_cell(d['status'])}{' at ' + d['signed_off_at'] if d['signed_off_at'] else ''} |",
        f"| Checklist | {_md_cell(d['checklist_name'])} v{d['version']} (`{d['checklist_sha256'][:12]}`) |",
        f"| Created | {d['created_at']}{' by ' + _md_cell(d['created_by']) if d['created_by'] else ''} |",
        f"| As of | {d['as_of']} |",
        f"| Progress | {progress['total']} items: {progress['passed']} passed, {progress['failed']} failed, "
        f"{progress['pending']} pending, {progress['waived']} waived, {progress['na']} n/a; "
        f"{progress['blocking']} blocking |",
        f"| State digest | `{d['digest']}` |",
        f"| Report sha256 | `{doc['sha256']}` |",
        "",
        "## Sign-offs",
        "",
    ]
    if doc["signoffs"]:
        for s in doc["signoffs"]:
            comment = f" — “{_md_block(s['comment'], '  ')}”" if s["comment"] else ""
            lines.append(f"- **{s['role']}**: {s['user']}, {s['at']}{comment}; digest `{s['digest']}`")
    else:
        lines.append(f"Not signed off yet; required: {', '.join(d['required_roles'])}.")
    lines += ["", "## Waivers", ""]
    if doc["waivers"]:
        for w in doc["waivers"]:
            lines.append(
                f"- {w['text']} (`{w['key']}`) — waived by {w['by'] or 'unknown'}, {w['at'] or 'unknown'}; "
                f"expires {w['expires_at'] or 'never'}. Reason: {_md_block(w['reason'], '  ')}"
            )
    else:
        lines.append("None.")
    lines += ["", "## Items"]
    section = None
    depth = depths(doc)
    for item in doc["items"]:
        if item["section"] != section:
            section = item["section"]
            lines += ["", f"### {' › '.join(section)}", ""]
        indent = "  " * depth[item["key"]]
        box = "x" if item["state"] in ("passed", "waived", "na") else " "
        state = STATE_LABELS.get(item["state"], item["state"])
        flags = "".join(f" *{flag}*" for flag in ("optional", "stale", "blocking") if item.get(flag))
        who = f" by {item['by']}" if item["by"] else ""
        when = f", {item['at']}" if item["at"] else ""
        lines.append(f"{indent}- [{box}] {item['text']} — **{state}**{who}{when}{flags} (`{item['key']}`)")
        sub = indent + "  "
        if item["note"]:
            lines.append(f"{sub}- Note: {_md_block(item['note'], sub + '  ')}")
        if item["evidence_url"]:
            lines.append(f"{sub}- Evidence: <{item['evidence_url']}>")
        if item["carried_from"]:
            c = item["carried_from"]
            lines.append(f"{sub}- Carried over from {c['release']} in {c['environment']} (deployment {c['deployment']})")
        if item["valid"]:
            lines.append(f"{sub}- Valid for {item['valid']} after it is attested")
        probe = item["probe"]
        if probe:
            outcome = probe["status"] or "not run"
            took = f" in {probe['duration_ms']} ms" if probe["duration_ms"] is not None else ""
            at = f", {probe['finished_at']}" if probe["finished_at"] else ""
            lines.append(f"{sub}- Probe ({probe['type']}): {outcome}{took}{at}")
            if probe["message"]:
                lines.append(f"{sub}  - {_md_block(probe['message'], sub + '    ')}")
            for c in probe["conditions"]:
                verdict = "—" if c["ok"] is None else "held" if c["ok"] else "did not hold"
                lines.append(f"{sub}  - `{c['expr']}` observed `{_shown(c['observed'])}`: {verdict}")
    return "\n".join(lines) + "\n"


# --- JUnit XML ----------------------------------------------------------------------------


def _xml_text(value) -> str:
    return _NOT_XML.sub("", str(value))


def report_junit(doc: dict) -> bytes:
    """One test case per item, one suite per top-level section, as CI tools read JUnit.

    passed → a passing case; failed (optional or not), or required and stale or not done →
    `<failure>`; waived, n/a, or optional and not done (or stale) → `<skipped>`.
    """
    d = doc["deployment"]
    root = ET.Element("testsuites", name=_xml_text(f"ctrlready {_title(doc)}"))
    suites: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for item in doc["items"]:
        top = item["section"][0] if item["section"] else d["checklist_name"]
        suite = suites.get(top)
        if suite is None:
            suite = ET.SubElement(root, "testsuite", name=_xml_text(top), timestamp=d["as_of"] or "")
            properties = ET.SubElement(suite, "properties")
            for name, value in (
                ("deployment", d["id"]), ("release", d["release"]), ("service", d["service"]),
                ("environment", d["environment"]), ("status", d["status"]), ("digest", d["digest"]),
                ("report_sha256", doc["sha256"]),
            ):
                ET.SubElement(properties, "property", name=name, value=_xml_text(value))
            suite.set("tests", "0")
            suite.set("failures", "0")
            suite.set("skipped", "0")
            suite.set("errors", "0")
            suites[top] = suite
        case = ET.SubElement(
            suite, "testcase",
            classname=_xml_text(".".join([d["checklist"], *item["section"]])),
            name=_xml_text(f"{plain(item['text'])} [{item['key']}]"),
        )
        probe = item["probe"]
        if probe and probe["duration_ms"] is not None:
            case.set("time", f"{probe['duration_ms'] / 1000:.3f}")
        outcome = _junit_outcome(item)
        if outcome is not None:
            tag, kind, message = outcome
            element = ET.SubElement(case, tag, message=_xml_text(message))
            if tag == "failure":
                element.set("type", kind)
                element.text = _xml_text(_details(item))
        details = _details(item)
        if details and (outcome is None or outcome[0] != "failure"):
            ET.SubElement(case, "system-out").text = _xml_text(details)
        suite.set("tests", str(int(suite.get("tests")) + 1))
        totals["tests"] += 1
        if outcome is not None:
            key = "failures" if outcome[0] == "failure" else "skipped"
            suite.set(key, str(int(suite.get(key)) + 1))
            totals[key] += 1
    for name, value in totals.items():
        root.set(name, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _junit_outcome(item: dict) -> tuple[str, str, str] | None:
    state = item["state"]
    if state == "passed" and not item["stale"]:
        return None
    if state == "waived":
        return "skipped", "waived", f"Waived: {item['note']}"
    if state == "na":
        return "skipped", "na", "Not applicable" + (f": {item['note']}" if item["note"] else "")
    if state == "failed":
        probe = item["probe"]
        return "failure", "failed", (probe["message"] if probe and probe["message"] else "Failed")
    if item["optional"]:
        return "skipped", state, f"Optional, {'stale' if item['stale'] else STATE_LABELS.get(state, state).lower()}"
    if item["stale"]:
        return "failure", "stale", "Its evidence is stale: check it again."
    return "failure", "pending", "Not done yet: it blocks sign-off."


def _details(item: dict) -> str:
    lines = []
    if item["by"]:
        lines.append(f"{STATE_LABELS.get(item['state'], item['state'])} by {item['by']}, {item['at']}")
    if item["note"]:
        lines.append(f"Note: {item['note']}")
    if item["evidence_url"]:
        lines.append(f"Evidence: {item['evidence_url']}")
    if item["carried_from"]:
        c = item["carried_from"]
        lines.append(f"Carried over from {c['release']} in {c['environment']} (deployment {c['deployment']})")
    probe = item["probe"]
    if probe:
        lines.append(f"Probe ({probe['type']}): {probe['status'] or 'not run'}")
        lines += [
            f"  {c['expr']} observed {_shown(c['observed'])}: "
            + ("—" if c["ok"] is None else "held" if c["ok"] else "did not hold")
            for c in probe["conditions"]
        ]
    return "\n".join(lines)


# --- PDF ----------------------------------------------------------------------------------


def report_html(doc: dict) -> str:
    """The report as one printable HTML page (what the PDF is drawn from)."""
    doc = readable(doc)
    depth = depths(doc)
    items = [
        {**item, "depth": depth[item["key"]], "label": STATE_LABELS.get(item["state"], item["state"])}
        for item in doc["items"]
    ]
    return render_to_string("checklists/report.html", {"doc": doc, "d": doc["deployment"], "items": items})


def report_pdf(doc: dict) -> bytes:
    """The report drawn by WeasyPrint; nothing is fetched while drawing it (item text may hold image links)."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except OSError as error:  # Pango missing: the rest of the site keeps working
        raise Unavailable(
            "PDF reports need Pango on the server (Debian: libpango-1.0-0 libpangoft2-1.0-0); "
            f"the other formats work. ({error.__class__.__name__})"
        ) from None

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            raise ValueError("A report fetches nothing.")

    return HTML(string=report_html(doc), base_url=None, url_fetcher=NoFetch()).write_pdf()


def report_for(deployment) -> dict:
    """The deployment's report, with its `sha256`."""
    return report_document(deployment_report(deployment))


def report_render(doc: dict, fmt: str) -> bytes:
    """The report in one of the forms written in the request: `json`, `md` or `xml` (the PDF is drawn by a worker)."""
    if fmt == "json":
        return report_json(doc)
    if fmt == "md":
        return report_markdown(doc).encode()
    if fmt == "xml":
        return report_junit(doc)
    raise ValueError(f"The {fmt} report is not written in the request.")


def report_filename(deployment, fmt: str) -> str:
    """The name the report is saved under: service, environment, release and the deployment's id."""
    named = f"{deployment.environment.service.name}-{deployment.environment.name}-{deployment.release}"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", named).strip("-")[:120]
    return f"{stem or 'deployment'}-{deployment.pk}-report.{fmt}"
